//! The metadata cutover keeps inside the dataset, in `.cutover/`: one
//! manifest per snapshot (every entry's path, type, size, mode, mtime and
//! BLAKE3) and an index of all snapshots (source path, time, counts, what
//! the source's own metadata files held). Written under a temporary name
//! and renamed, so a reader sees a whole file or the previous one.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::files::meta::{Kind, Stat};
use crate::migrate::tree_sync::walk::read_sorted;
use crate::names;
use crate::verify::hash::hash_file;

/// The metadata directory's name at the dataset's root.
pub const DIR: &str = ".cutover";
/// The index's file name inside [`DIR`].
pub const INDEX: &str = "index.json";

/// One entry of a snapshot's tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Path relative to the snapshot's root (names encoded, see [`crate::names`]).
    pub path: String,
    /// `file`, `directory`, `symlink`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// Bytes (a symlink: its target's length).
    pub size: u64,
    /// Permission bits.
    pub mode: u32,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
    /// Nanoseconds of the modification time.
    pub mtime_ns: i64,
    /// BLAKE3 of a file's content (hex); `None` for other types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blake3: Option<String>,
    /// The source file's inode number: a BTRFS snapshot keeps it for an
    /// unchanged file, so equal stats of another inode prove nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ino: Option<u64>,
}

impl Entry {
    /// Whether the source file with stat `st` is this entry's file, unchanged:
    /// same inode, size, mode and mtime to the nanosecond. Two different
    /// files written within one tick of the clock can share every other
    /// field (a snapshot directory copied file by file), so without the
    /// inode only the content can tell.
    pub fn same_file(&self, st: &Stat) -> bool {
        self.stat_matches(st) && self.ino == Some(st.ino)
    }

    /// Size, mode and mtime (to the nanosecond) equal; the inode may differ.
    pub fn stat_matches(&self, st: &Stat) -> bool {
        self.kind == "file"
            && st.kind == Kind::File
            && self.size == st.size
            && self.mode == st.mode
            && (self.mtime, self.mtime_ns) == (st.mtime, st.mtime_nsec)
    }
}

/// One snapshot's manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The snapshot's name.
    pub snapshot: String,
    /// Its entries, in walk order (parents before children).
    pub entries: Vec<Entry>,
}

/// One snapshot as the index lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexEntry {
    /// The snapshot's name.
    pub name: String,
    /// The source snapshot it was migrated from.
    pub source: PathBuf,
    /// When it was migrated (UTC, RFC 3339).
    pub migrated_at: String,
    /// Entries (files, links, directories) of its tree.
    pub entries: u64,
    /// Bytes of its files.
    pub bytes: u64,
    /// Entries written compared with the snapshot before it.
    pub changed: u64,
    /// Entries deleted compared with the snapshot before it.
    pub deleted: u64,
    /// What the source snapshot's metadata files (`HEAD`, `.snap/…`) held.
    pub metadata: BTreeMap<String, String>,
}

/// Every snapshot migrated into the dataset, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    /// The dataset.
    pub dataset: String,
    /// The source repository.
    pub source: PathBuf,
    /// Its snapshots.
    pub snapshots: Vec<IndexEntry>,
}

impl Index {
    /// Put `entry` in place of an earlier one of that name (a redone
    /// snapshot), or after the others.
    pub fn upsert(&mut self, entry: IndexEntry) {
        match self.snapshots.iter_mut().find(|e| e.name == entry.name) {
            Some(old) => *old = entry,
            None => self.snapshots.push(entry),
        }
    }
}

/// Where a snapshot's manifest lives under the dataset's root.
pub fn manifest_path(root: &Path, snapshot: &str) -> PathBuf {
    root.join(DIR)
        .join("manifests")
        .join(format!("{snapshot}.json"))
}

/// Where the index lives under the dataset's root.
pub fn index_path(root: &Path) -> PathBuf {
    root.join(DIR).join(INDEX)
}

/// Read a JSON file cutover wrote; the reason if it is missing or does not parse.
pub fn read<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, String> {
    let text = std::fs::read(path).map_err(|e| format!("{}: {e}", names::display(path)))?;
    serde_json::from_slice(&text)
        .map_err(|e| format!("{} does not parse: {e}", names::display(path)))
}

/// Write `value` as JSON to `path` (temporary name, fsync, rename).
pub fn write<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    // Buffered: serde writes token by token, and every write is a request
    // to a FUSE filesystem such as zfs-fuse.
    let mut f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&tmp)?);
    serde_json::to_writer(&mut f, value).map_err(std::io::Error::other)?;
    f.write_all(b"\n")?;
    let f = f.into_inner().map_err(|e| e.into_error())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// Visit every entry of the tree at `root` (its root's `skip` names left
/// out), parents before children, directories in name order.
fn walk(
    root: &Path,
    skip: &[&str],
    mut visit: impl FnMut(&Path, &Stat) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let mut listed = read_sorted(&root.join(&rel))?;
        if rel.as_os_str().is_empty() {
            listed.retain(|(n, _)| !skip.iter().any(|s| n.as_bytes() == s.as_bytes()));
        }
        let mut subdirs = Vec::new();
        for (name, st) in listed {
            let child = rel.join(&name);
            visit(&child, &st)?;
            if st.kind == Kind::Dir {
                subdirs.push(child);
            }
        }
        stack.extend(subdirs.into_iter().rev());
    }
    Ok(())
}

/// An entry without its hash.
fn entry_of(rel: &Path, st: &Stat) -> Entry {
    Entry {
        path: names::encode(rel.as_os_str().as_bytes()),
        kind: st.kind.name().to_string(),
        size: if st.kind == Kind::Dir { 0 } else { st.size },
        mode: st.mode,
        mtime: st.mtime,
        mtime_ns: st.mtime_nsec,
        blake3: None,
        ino: (st.kind == Kind::File).then_some(st.ino),
    }
}

/// The manifest of the tree at `root` (its root's `skip` names left out).
/// A file whose size, mode and mtime equal its entry in `previous` keeps
/// that entry's hash instead of being read again.
pub fn build(
    root: &Path,
    snapshot: &str,
    skip: &[&str],
    previous: Option<&Manifest>,
) -> std::io::Result<Manifest> {
    let known: HashMap<&str, &Entry> = previous
        .map(|m| m.entries.iter().map(|e| (e.path.as_str(), e)).collect())
        .unwrap_or_default();
    let mut entries = Vec::new();
    walk(root, skip, |rel, st| {
        let mut entry = entry_of(rel, st);
        if st.kind == Kind::File {
            let reuse = known.get(entry.path.as_str()).filter(|e| e.same_file(st));
            entry.blake3 = match reuse.and_then(|e| e.blake3.clone()) {
                Some(h) => Some(h),
                None => Some(hash_file(&root.join(rel))?.0.to_hex().to_string()),
            };
        }
        entries.push(entry);
        Ok(())
    })?;
    Ok(Manifest {
        snapshot: snapshot.to_string(),
        entries,
    })
}

/// Every difference between the tree at `root` and `manifest`: entries
/// missing or extra, another type, size or mode, and the content of each
/// file `hash_it` picks (by relative path bytes) — from `known` (hashes
/// already read from this same tree) or by reading it. Paths are named.
/// Also how many files were read to be hashed.
pub fn differences(
    root: &Path,
    manifest: &Manifest,
    skip: &[&str],
    known: &HashMap<PathBuf, blake3::Hash>,
    hash_it: impl Fn(&[u8]) -> bool,
) -> std::io::Result<(Vec<String>, u64)> {
    let mut actual = Vec::new();
    walk(root, skip, |rel, st| {
        actual.push(entry_of(rel, st));
        Ok(())
    })?;
    let mut diffs = Vec::new();
    let mut hashed = 0;
    let wanted: HashMap<&str, &Entry> = manifest
        .entries
        .iter()
        .map(|e| (e.path.as_str(), e))
        .collect();
    for e in actual
        .iter()
        .filter(|e| !wanted.contains_key(e.path.as_str()))
    {
        diffs.push(format!("{}: not in the manifest", e.path));
    }
    let have: HashMap<&str, &Entry> = actual.iter().map(|e| (e.path.as_str(), e)).collect();
    for want in &manifest.entries {
        let Some(got) = have.get(want.path.as_str()) else {
            diffs.push(format!("{}: in the manifest, missing", want.path));
            continue;
        };
        if got.kind != want.kind || got.size != want.size || got.mode != want.mode {
            diffs.push(format!(
                "{}: {} of {} bytes, mode {:o} in the manifest; {} of {} bytes, mode {:o} here",
                want.path, want.kind, want.size, want.mode, got.kind, got.size, got.mode
            ));
            continue;
        }
        let Some(expected) = want.blake3.as_deref() else {
            continue;
        };
        let rel = names::decode_path(&want.path).unwrap_or_default();
        if !hash_it(rel.as_os_str().as_bytes()) {
            continue;
        }
        let h = match known.get(&rel) {
            Some(h) => h.to_hex().to_string(),
            None => {
                hashed += 1;
                hash_file(&root.join(&rel))?.0.to_hex().to_string()
            }
        };
        if expected != h {
            diffs.push(format!(
                "{}: content differs from the manifest (blake3 {} there, {} here)",
                want.path,
                expected.get(..16).unwrap_or(expected),
                &h[..16]
            ));
        }
    }
    Ok((diffs, hashed))
}
