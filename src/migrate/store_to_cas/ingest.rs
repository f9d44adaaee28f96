//! Migrating one package: each distinct content is stored once as an object
//! (temporary name, then rename; read-only), the package's metadata is
//! written, and `store.db` records files, objects and space saved.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use super::check::SourceHashes;
use super::db::{self, Ingested};
use super::layout::{Entry, PackageMeta};
use super::readahead::ReadAhead;
use super::walk::walk_package;
use super::StoreToCas;
use crate::files::meta::Kind;
use crate::files::{sparse, xattr};
use crate::job::event::ItemReport;
use crate::job::{Item, ItemCtx, ItemError};
use crate::names;
use crate::verify::hash::{hash_file, with_buffer};

/// Files up to this size are read once into memory (hashed, then written).
const IN_MEMORY: u64 = 4 << 20;

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Ingest one package.
pub fn ingest(
    ts: &StoreToCas,
    item: &Item,
    ctx: &ItemCtx,
) -> Result<(ItemReport, SourceHashes), ItemError> {
    let result = ts.package_paths(item).and_then(|(name, src)| {
        ts.with_db(|c| db::begin_package(c, &item.key))?;
        ingest_inner(ts, item, &name, &src, ctx)
    });
    if let Err(e) = &result {
        if !ctx.cancelled() {
            ts.record_failure(&item.key, &e.0);
        }
    }
    result
}

/// Store one regular file of a package: its content once (unless it is
/// another name of an inode already stored), counted in `report`. Returns
/// its hash and whether it is another name of an inode this package
/// already met (`own_inodes`), which is never counted as saved.
fn store_file(
    ts: &StoreToCas,
    path: &Path,
    st: &crate::files::meta::Stat,
    report: &mut ItemReport,
    own_inodes: &mut std::collections::HashSet<(u64, u64)>,
    opened: Option<File>,
) -> Result<(String, bool), String> {
    report.files += 1;
    report.bytes += st.size;
    let linked = if st.nlink > 1 {
        ts.inode_hash(st.dev, st.ino)
    } else {
        None
    };
    // Another name of an inode this package already met. Names of an inode
    // other packages hold are decided by store.db, in the package's
    // transaction (packages run in parallel).
    let extra = st.nlink > 1 && !own_inodes.insert((st.dev, st.ino));
    let hex = match linked {
        // Another name of an inode already stored: counted once.
        Some(h) => h,
        None => {
            let (hex, saved, written) = store_content(ts, path, st.size, opened)?;
            if !saved {
                report.files_transferred += 1;
                report.bytes_transferred += written;
            }
            if st.nlink > 1 {
                ts.remember_inode(st.dev, st.ino, &hex);
            }
            hex
        }
    };
    Ok((hex, extra))
}

fn ingest_inner(
    ts: &StoreToCas,
    item: &Item,
    name: &std::ffi::OsStr,
    src: &Path,
    ctx: &ItemCtx,
) -> Result<(ItemReport, SourceHashes), ItemError> {
    let walked = walk_package(src).map_err(|e| {
        ItemError(format!(
            "package {}: cannot read {}: {e}",
            item.key,
            names::display(src)
        ))
    })?;
    let mut report = ItemReport::default();
    let mut entries = Vec::with_capacity(walked.len());
    // Multiply-linked files: (entry index, dev, ino), and the inodes seen.
    let mut links = Vec::new();
    let mut own_inodes = std::collections::HashSet::new();
    // Per entry: an extra name of an inode already counted (never "saved").
    let mut extra_names = Vec::with_capacity(walked.len());
    // What each file hashed to as it was read, for its verification.
    let mut hashes = SourceHashes::default();
    let mut ahead = ReadAhead::new(src, &walked, IN_MEMORY);
    for (index, e) in walked.iter().enumerate() {
        if ctx.cancelled() {
            return Err(ItemError("cancelled".into()));
        }
        let path = src.join(&e.rel);
        let st = &e.stat;
        let fail = |what: String| {
            ItemError(format!(
                "package {}: {}: {what}",
                item.key,
                names::display(&e.rel)
            ))
        };
        let mut extra = false;
        let mut entry = Entry {
            path: e.key(),
            kind: String::new(),
            size: 0,
            mode: st.mode,
            hash: None,
            target: None,
            xattrs: xattr::read_text(&path)
                .map_err(|e| fail(format!("cannot read extended attributes: {e}")))?,
        };
        match st.kind {
            Kind::Dir => entry.kind = "dir".into(),
            Kind::Symlink => {
                let t = std::fs::read_link(&path).map_err(|e| fail(e.to_string()))?;
                entry.kind = "symlink".into();
                entry.target = Some(names::display(&t));
                report.files += 1;
                ctx.progress.add(1, 0);
            }
            Kind::File => {
                entry.kind = "file".into();
                entry.size = st.size;
                if st.nlink > 1 {
                    links.push((entries.len(), st.dev, st.ino));
                }
                let opened = ahead.take(index);
                let (hex, is_extra) =
                    store_file(ts, &path, st, &mut report, &mut own_inodes, opened)
                        .map_err(fail)?;
                extra = is_extra;
                hashes.0.insert(entry.path.clone(), (hex.clone(), *st));
                entry.hash = Some(hex);
                ctx.progress.add(1, st.size);
            }
            other => {
                return Err(fail(format!(
                    "a {} cannot be stored in a content-addressed store",
                    other.name()
                )))
            }
        }
        entries.push(entry);
        extra_names.push(extra);
    }
    let meta = PackageMeta {
        package: item.key.clone(),
        entries,
    };
    let tmp = ts
        .layout
        .package_tmp(name, TMP_COUNTER.fetch_add(1, Ordering::Relaxed));
    meta.write(&ts.layout.package(name), &tmp)
        .map_err(|e| ItemError(format!("package {}: cannot write metadata: {e}", item.key)))?;
    // Not durable yet: store.db records the package's files here, still
    // `in_progress`; it is `completed` only once verified and flushed
    // (`Migration::flush`), and only completed packages' objects count as
    // stored when a later run starts (`db::flushed_objects`).
    // Space saved is decided by store.db, in the package's own transaction:
    // exact whatever order packages finish in, and after any redo.
    report.space_saved_bytes = ts.with_db(|c| {
        db::record_package(
            c,
            &Ingested {
                package: &item.key,
                entries: &meta.entries,
                extra_names: &extra_names,
                links: &links,
                bytes: report.bytes,
            },
        )
    })?;
    Ok((report, hashes))
}

/// Hash a file and store it as an object unless that content is already
/// stored. Returns (hash, deduplicated?, bytes written).
/// `opened`: the file, if the read-ahead window opened it already.
fn store_content(
    ts: &StoreToCas,
    path: &Path,
    size: u64,
    opened: Option<File>,
) -> Result<(String, bool, u64), String> {
    let open = || {
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
            .map_err(|e| e.to_string())
    };
    if size <= IN_MEMORY {
        // Read once into this thread's buffer (one byte more than expected
        // to see growth), hash, and write from memory if the content is new.
        return with_buffer(IN_MEMORY as usize + 1, |buf| {
            let mut input = match opened {
                Some(file) => file,
                None => open()?,
            };
            let mut n = 0;
            while n < buf.len() {
                match input.read(&mut buf[n..]) {
                    Ok(0) => break,
                    Ok(k) => n += k,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e.to_string()),
                }
            }
            if n as u64 != size {
                return Err(format!(
                    "changed while being stored ({size} bytes expected, {n} read); the source must not change during migration"
                ));
            }
            let bytes = &buf[..n];
            let hex = blake3::hash(bytes).to_hex().to_string();
            if !ts.claim_object(&hex) {
                return Ok((hex, true, 0));
            }
            write_object(ts, &hex, |out| out.write_all(bytes)).map_err(|e| release(ts, &hex, e))?;
            ts.object_stored(&hex);
            Ok((hex, false, n as u64))
        });
    }
    let (hash, _) = hash_file(path).map_err(|e| e.to_string())?;
    let hex = hash.to_hex().to_string();
    if !ts.claim_object(&hex) {
        return Ok((hex, true, 0));
    }
    let mut written = 0u64;
    write_object(ts, &hex, |out| {
        let mut input = open().map_err(io::Error::other)?;
        // Holes stay holes: a sparse file's object is sparse too.
        let (again, n) = sparse::copy_hashing(&mut input, out, |_| {})?;
        written = n;
        if again != hash {
            return Err(io::Error::other(
                "changed while being stored (hash differs between reads); the source must not change during migration",
            ));
        }
        Ok(())
    })
    .map_err(|e| release(ts, &hex, e))?;
    ts.object_stored(&hex);
    Ok((hex, false, written))
}

/// Whether this process's umask takes a read bit from a new file's mode
/// (then objects are chmod-ed to 0444 after their write). Read from
/// `/proc/self/status`, once: setting the umask to learn it would race
/// with other threads creating files.
fn umask_hides_read() -> bool {
    static HIDES: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *HIDES.get_or_init(|| {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("Umask:"))
                    .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
            })
            .is_none_or(|mask| mask & 0o444 != 0)
    })
}

fn release(ts: &StoreToCas, hex: &str, e: io::Error) -> String {
    ts.unclaim_object(hex);
    format!("storing object {hex}: {e}")
}

/// Write an object under a temporary name, make it read-only, rename it in.
fn write_object(
    ts: &StoreToCas,
    hex: &str,
    fill: impl FnOnce(&mut File) -> io::Result<()>,
) -> io::Result<()> {
    let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let dest = ts.layout.object(hex);
    // The temporary name lives beside the object, so the rename stays in
    // one directory (no cross-directory rename lock, no hot shared dir).
    let tmp = ts.layout.tmp_object(hex, n);
    let result = (|| {
        // Read-only from its creation: the mode binds later opens, not
        // this descriptor, so no separate chmod is needed.
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o444)
            .open(&tmp)?;
        fill(&mut out)?;
        if umask_hides_read() {
            out.set_permissions(std::fs::Permissions::from_mode(0o444))?;
        }
        drop(out);
        std::fs::rename(&tmp, &dest)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
