//! Walking a package directory: every entry (directories included, so empty
//! ones are kept), in a stable order, without following symlinks.

use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::files::meta::{lstat, Kind, Stat};
use crate::names;

/// An entry of a package: its path inside the package and its lstat.
pub struct PkgEntry {
    pub rel: PathBuf,
    pub stat: Stat,
}

impl PkgEntry {
    /// The encoded relative path, as recorded in metadata.
    pub fn key(&self) -> String {
        names::encode(self.rel.as_os_str().as_bytes())
    }
}

/// Packages walked at once by [`walk_packages`]: bounds what is held in
/// memory whatever the store's size.
const WINDOW: usize = 64;

/// Walk the directory of each of `items` (as [`walk_package`]) on
/// `threads` threads, a window of packages at a time, and hand each item
/// with its result to `each`, in `items`' order. A store not in memory is
/// read with several directories in flight.
pub fn walk_packages<T>(
    items: impl IntoIterator<Item = (T, PathBuf)>,
    threads: usize,
    mut each: impl FnMut(T, io::Result<Vec<PkgEntry>>),
) {
    let threads = threads.max(1);
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        let (keys, dirs): (Vec<T>, Vec<PathBuf>) = items.by_ref().take(WINDOW).unzip();
        let next = AtomicUsize::new(0);
        let parts = Mutex::new(Vec::with_capacity(dirs.len()));
        std::thread::scope(|s| {
            for _ in 0..threads.min(dirs.len()) {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(dir) = dirs.get(i) else { break };
                        mine.push((i, walk_package(dir)));
                    }
                    if let Ok(mut all) = parts.lock() {
                        all.extend(mine);
                    }
                });
            }
        });
        let mut walked: Vec<Option<io::Result<Vec<PkgEntry>>>> =
            (0..dirs.len()).map(|_| None).collect();
        for (i, w) in parts.into_inner().unwrap_or_default() {
            if let Some(slot) = walked.get_mut(i) {
                *slot = Some(w);
            }
        }
        for (key, w) in keys.into_iter().zip(walked) {
            each(
                key,
                w.unwrap_or_else(|| Err(io::Error::other("the walk did not run"))),
            );
        }
    }
}

/// Every entry under `dir` (not `dir` itself), depth first, names sorted.
pub fn walk_package(dir: &Path) -> io::Result<Vec<PkgEntry>> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let mut names: Vec<_> = std::fs::read_dir(dir.join(&rel))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<_>>()?;
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        let mut subdirs = Vec::new();
        for name in names {
            let child = rel.join(&name);
            let stat = lstat(&dir.join(&child))?;
            if stat.kind == Kind::Dir {
                subdirs.push(child.clone());
            }
            out.push(PkgEntry { rel: child, stat });
        }
        stack.extend(subdirs.into_iter().rev());
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn packages_are_walked_in_parallel_and_handed_over_in_order() {
        let tmp = tempfile::tempdir().unwrap();
        let mut dirs = Vec::new();
        for p in 0..150 {
            let d = tmp.path().join(format!("p{p:03}"));
            std::fs::create_dir_all(d.join("sub")).unwrap();
            for f in 0..(p % 7) {
                std::fs::write(d.join("sub").join(format!("f{f}")), b"x").unwrap();
            }
            dirs.push(d);
        }
        dirs.push(tmp.path().join("missing"));
        let mut seen = Vec::new();
        let items = dirs.iter().map(|d| (d.clone(), d.clone()));
        walk_packages(items, 4, |dir, walked| {
            seen.push((dir, walked.map(|w| w.len()).ok()));
        });
        assert_eq!(seen.len(), dirs.len());
        for (p, (dir, n)) in seen.iter().enumerate() {
            assert_eq!(dir, &dirs[p]);
            if p < 150 {
                assert_eq!(*n, Some(1 + p % 7), "{}", dir.display());
            } else {
                assert_eq!(*n, None, "a missing package is an error, in its place");
            }
        }
    }
}
