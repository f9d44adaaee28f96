//! Who may create, replace or remove which target path while items run in
//! parallel (see "Ownership of target paths" in `docs/architecture.md`):
//!
//! - The item of directory `D` owns `D`'s entries that are not directories
//!   of the plan, and the temporary names inside `D`.
//! - A directory is only ever *created* (mkdir, by its parent's item or by
//!   its own item, whichever comes first; both are idempotent) and never
//!   removed while items run, except by a final sync's deletion of a
//!   directory no item of the plan owns.
//! - A non-directory in the way of a directory is unlinked (never
//!   `remove_dir_all`): unlinking cannot delete what another item wrote.
//! - Files are written under a temporary name in their directory and renamed
//!   into place once complete, so no real name ever holds half a file.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path};

use super::meta::{self, lstat, Kind};

/// Prefix of temporary names inside target directories.
pub const TMP_PREFIX: &[u8] = b".cutover-tmp.";

/// The temporary name a file `name` is written under in its directory:
/// fixed per name (a redone item reuses it) and short whatever the name.
pub fn tmp_name(name: &OsStr) -> OsString {
    let digest = blake3::hash(name.as_bytes());
    let mut out = TMP_PREFIX.to_vec();
    out.extend_from_slice(digest.to_hex()[..24].as_bytes());
    OsString::from_vec(out)
}

/// Whether `name` is one of cutover's temporary names.
pub fn is_tmp_name(name: &OsStr) -> bool {
    name.as_bytes().starts_with(TMP_PREFIX)
}

fn mkdir_private(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().mode(0o700).create(path)
}

/// Make `path` a directory: create it if missing, unlink a non-directory
/// in the way. Never removes a directory, so any number of items may call
/// it at once for the same path: one that finds the file it saw already
/// replaced by a directory (another item's; `unlink` says EISDIR) tries
/// again and finds the directory.
pub fn ensure_one_dir(path: &Path) -> io::Result<()> {
    for _ in 0..8 {
        match mkdir_private(path) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => match lstat(path) {
                Ok(st) if st.kind == Kind::Dir => return Ok(()),
                Ok(_) => match std::fs::remove_file(path) {
                    Ok(()) => {}
                    Err(e)
                        if e.kind() == io::ErrorKind::NotFound
                            || e.raw_os_error() == Some(libc::EISDIR) => {}
                    Err(e) => return Err(e),
                },
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            },
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other(format!(
        "{} keeps changing while it is being created",
        crate::names::display(path)
    )))
}

/// Make `root/rel` and every directory between them exist, each with
/// [`ensure_one_dir`]. The directory itself is tried first; its ancestors
/// are only walked when one of them is missing (the parent's item usually
/// created it already). The target root's parent must exist.
pub fn ensure_dir_chain(root: &Path, rel: &Path) -> io::Result<()> {
    if rel
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "item path leaves the target",
        ));
    }
    let path = root.join(rel);
    match ensure_one_dir(&path) {
        Err(e)
            if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR) => {}
        done => return done,
    }
    ensure_one_dir(root)?;
    let mut path = root.to_path_buf();
    for part in rel.components() {
        if let Component::Normal(p) = part {
            path.push(p);
            ensure_one_dir(&path)?;
        }
    }
    Ok(())
}

/// Remove whatever is at `path` so a non-directory can take its place.
/// `owned_elsewhere` says whether a directory at `path` belongs to another
/// item of the plan; such a directory is never removed.
pub fn clear_for_entry(path: &Path, owned_elsewhere: bool) -> io::Result<()> {
    match lstat(path) {
        Ok(st) if st.kind == Kind::Dir => {
            if owned_elsewhere {
                Err(io::Error::other(
                    "is a directory in the target that its own item copies; the source changed its type during the sync — run the final sync again",
                ))
            } else {
                meta::remove_any(path)
            }
        }
        Ok(_) => match std::fs::remove_file(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn temp_names_are_short_and_recognised() {
        let long = OsString::from("x".repeat(255));
        let t = tmp_name(&long);
        assert!(t.len() < 64);
        assert!(is_tmp_name(&t));
        assert!(!is_tmp_name(OsStr::new("file")));
        assert_eq!(tmp_name(&long), t, "fixed per name");
    }

    #[test]
    fn concurrent_ensures_never_remove_a_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = Arc::new(dir.path().join("t"));
        // A file in the way of a directory, and many items ensuring at once.
        std::fs::create_dir(&*root).expect("root");
        std::fs::write(root.join("a"), b"in the way").expect("write");
        let threads: Vec<_> = (0..16)
            .map(|i| {
                let root = root.clone();
                std::thread::spawn(move || {
                    let rel = Path::new("a").join(format!("b{}", i % 4));
                    ensure_dir_chain(&root, &rel).expect("ensure");
                    std::fs::write(root.join(&rel).join(format!("f{i}")), b"data").expect("w");
                })
            })
            .collect();
        for t in threads {
            t.join().expect("join");
        }
        let mut count = 0;
        for b in 0..4 {
            count += std::fs::read_dir(root.join("a").join(format!("b{b}")))
                .expect("dir")
                .count();
        }
        assert_eq!(count, 16, "every file written survives");
    }

    /// Many items making one path a directory where a file stands: one
    /// unlinks the file and makes the directory while another, having seen
    /// the file, unlinks too and meets the directory (EISDIR). Repeated:
    /// the window is small.
    #[test]
    fn a_file_replaced_by_a_directory_meanwhile_is_no_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        for round in 0..2000 {
            let path = Arc::new(dir.path().join(format!("f{round}")));
            std::fs::write(&*path, b"in the way").expect("write");
            let barrier = Arc::new(std::sync::Barrier::new(6));
            let threads: Vec<_> = (0..6)
                .map(|_| {
                    let (path, barrier) = (path.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        ensure_one_dir(&path)
                    })
                })
                .collect();
            for t in threads {
                let done = t.join().expect("join");
                assert!(done.is_ok(), "round {round}: {done:?}");
            }
            assert!(path.is_dir());
        }
    }

    #[test]
    fn a_directory_another_item_owns_is_not_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().join("sub");
        std::fs::create_dir(&d).expect("mkdir");
        std::fs::write(d.join("f"), b"x").expect("write");
        assert!(clear_for_entry(&d, true).is_err());
        assert!(d.join("f").exists());
        clear_for_entry(&d, false).expect("not owned: removed");
        assert!(!d.exists());
    }
}
