//! The source repository: its snapshots (directories, or BTRFS read-only
//! snapshot subvolumes) in natural name order, and what each snapshot's own
//! metadata files hold (carried into the index, never copied as content).

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::names;
use crate::sys::{btrfs, zfs};

/// Largest metadata file whose text is carried into the index.
const META_TEXT_MAX: u64 = 64 * 1024;

/// One snapshot of the source repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Its directory name, also the ZFS snapshot's name (`s3`).
    pub name: String,
    /// Where it is.
    pub path: PathBuf,
}

/// `a` before `b` in natural order: runs of digits compare as numbers
/// (`s2` before `s10`), the rest byte by byte.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    loop {
        match (x.first(), y.first()) {
            (None, None) => return a.cmp(b),
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(p), Some(q)) if p.is_ascii_digit() && q.is_ascii_digit() => {
                let n = x.iter().take_while(|c| c.is_ascii_digit()).count();
                let m = y.iter().take_while(|c| c.is_ascii_digit()).count();
                let (dx, dy) = (trim_zeros(&x[..n]), trim_zeros(&y[..m]));
                let ord = dx.len().cmp(&dy.len()).then_with(|| dx.cmp(dy));
                if ord != Ordering::Equal {
                    return ord;
                }
                x = &x[n..];
                y = &y[m..];
            }
            (Some(p), Some(q)) => {
                if p != q {
                    return p.cmp(q);
                }
                x = &x[1..];
                y = &y[1..];
            }
        }
    }
}

fn trim_zeros(digits: &[u8]) -> &[u8] {
    let z = digits.iter().take_while(|c| **c == b'0').count();
    &digits[z..]
}

/// Whether `name` reads like a snapshot of a series (`s1`, `s10`).
pub fn looks_like_snapshot(name: &str) -> bool {
    name.strip_prefix('s')
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The directories of `dir` not starting with `.` (symlinks not
/// followed), as (name, path) in natural order; `what` names them in
/// messages (`snapshot`), `check` refuses a name ZFS cannot take.
pub fn named_dirs(
    dir: &Path,
    what: &str,
    check: fn(&str) -> std::result::Result<(), String>,
) -> Result<Vec<(String, PathBuf)>> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        Error::bad(format!(
            "source {} cannot be read ({e}); check the path",
            names::display(dir)
        ))
    })?;
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("cannot read", dir, &e))?;
        let path = entry.path();
        if !std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
            continue;
        }
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            return Err(Error::bad(format!(
                "{what} {} has a name that is not UTF-8; ZFS cannot take it",
                names::display(&path)
            )));
        };
        if name.starts_with('.') {
            continue;
        }
        check(&name)
            .map_err(|why| Error::bad(format!("{what} {}: {why}", names::display(&path))))?;
        out.push((name, path));
    }
    out.sort_by(|a, b| natural_cmp(&a.0, &b.0));
    Ok(out)
}

/// The snapshots of `repo`: its directories not starting with `.`, in
/// natural order. A name ZFS cannot take is refused with the rule it breaks.
pub fn snapshots(repo: &Path) -> Result<Vec<Snapshot>> {
    let out: Vec<Snapshot> = named_dirs(repo, "snapshot", zfs::check_snapshot)?
        .into_iter()
        .map(|(name, path)| Snapshot { name, path })
        .collect();
    if out.is_empty() {
        return Err(Error::bad(format!(
            "source {} holds no snapshot directories (s1, s2, …)",
            names::display(repo)
        )));
    }
    Ok(out)
}

/// Whether `repo` is a repository of snapshots: it holds at least one
/// directory, and all its (non-hidden) entries are directories named like
/// `s1`…`sN`, or all are read-only BTRFS snapshots.
pub fn is_repository(repo: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(repo) else {
        return false;
    };
    let mut dirs = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name.as_encoded_bytes().starts_with(b".") {
            continue;
        }
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            return false;
        }
        dirs.push((name.to_string_lossy().into_owned(), entry.path()));
    }
    !dirs.is_empty()
        && (dirs.iter().all(|(n, _)| looks_like_snapshot(n))
            || dirs.iter().all(|(_, p)| btrfs::is_readonly(p)))
}

/// The repositories on the BTRFS mounted at `mount` (the filesystem's top
/// level): the directories holding its read-only snapshots (`btrfs
/// subvolume list`, which needs root), each a repository by
/// [`is_repository`], in natural order. Empty when `mount` is not such a
/// mount or nothing qualifies.
pub fn repositories_on_btrfs(mount: &Path) -> Vec<PathBuf> {
    if !btrfs::is_subvolume(mount) {
        return Vec::new();
    }
    let Ok(subvolumes) = btrfs::subvolumes(mount) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = subvolumes
        .iter()
        .filter(|s| s.readonly)
        .filter_map(|s| mount.join(&s.path).parent().map(Path::to_path_buf))
        .filter(|d| d.starts_with(mount) && d != mount)
        .collect();
    dirs.sort_by(|a, b| natural_cmp(&a.to_string_lossy(), &b.to_string_lossy()));
    dirs.dedup();
    dirs.retain(|d| is_repository(d));
    dirs
}

/// The text of a snapshot's metadata files (`HEAD`, files under `.snap/`),
/// by relative path; files over 64 KiB or not UTF-8 are noted by size.
pub fn metadata_of(snapshot: &Path, meta_names: &[String]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for name in meta_names {
        let path = snapshot.join(name);
        let Ok(md) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if md.is_file() {
            out.insert(name.clone(), text_of(&path, md.len()));
        } else if md.is_dir() {
            let mut files: Vec<_> = std::fs::read_dir(&path)
                .map(|d| d.flatten().map(|e| e.path()).collect())
                .unwrap_or_default();
            files.sort();
            for f in files {
                if let Ok(m) = std::fs::symlink_metadata(&f) {
                    if m.is_file() {
                        let rel = format!(
                            "{name}/{}",
                            f.file_name()
                                .map(|n| n.to_string_lossy())
                                .unwrap_or_default()
                        );
                        out.insert(rel, text_of(&f, m.len()));
                    }
                }
            }
        }
    }
    out
}

fn text_of(path: &Path, len: u64) -> String {
    let mut text = String::new();
    let read = len <= META_TEXT_MAX
        && std::fs::File::open(path)
            .and_then(|mut f| f.read_to_string(&mut text))
            .is_ok();
    if read {
        text
    } else {
        format!("({len} bytes, not carried)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order_puts_s2_before_s10() {
        let mut v = vec!["s10", "s2", "s1", "s02", "t1", "s"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, vec!["s", "s1", "s02", "s2", "s10", "t1"]);
        assert!(looks_like_snapshot("s12"));
        assert!(!looks_like_snapshot("s"));
        assert!(!looks_like_snapshot("src"));
    }
}
