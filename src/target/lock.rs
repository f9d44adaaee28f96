//! One writer per target. A job holds an `flock` on a lock file beside its
//! target (`PARENT/.NAME.cutover-lock`) for as long as it runs, whatever
//! state directory it uses: a second writer is refused with the holder's pid
//! and state directory; readers (`verify`, `store status --verify`)
//! take it shared; a dry run takes none. Plain `store status` takes none, so it can watch a
//! running migration.
//!
//! The lock file is left in place when the job ends: removing it would let a
//! process that opened it just before take a lock on a file nobody else sees.

use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::names;

/// How a lock is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    /// A job that writes the target: no one else may write or read-check it.
    Exclusive,
    /// A check that only reads the target: other readers may run beside it.
    Shared,
}

/// A held target lock; released when dropped.
#[derive(Debug)]
pub struct TargetLock {
    /// Held open for the lock's life: closing it releases the lock.
    _file: File,
    path: PathBuf,
    mode: LockMode,
}

/// The lock file of a target: beside it, named after it.
pub fn lock_path(target: &Path) -> Result<PathBuf> {
    let name = target.file_name().ok_or_else(|| {
        Error::bad(format!(
            "target {} has no name to lock; give a path such as /mnt/new/data",
            names::display(target)
        ))
    })?;
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut lock_name = std::ffi::OsString::from(".");
    lock_name.push(name);
    lock_name.push(".cutover-lock");
    // A name at the 255-byte limit cannot take the suffix: use its hash.
    if lock_name.len() > 255 {
        let digest = blake3::hash(std::os::unix::ffi::OsStrExt::as_bytes(name));
        lock_name = format!(".{}.cutover-lock", &digest.to_hex()[..32]).into();
    }
    Ok(parent.join(lock_name))
}

impl TargetLock {
    /// Take the lock of `target` without waiting. `state_dir` is recorded so
    /// that a refused process can say which cutover holds it.
    pub fn acquire(target: &Path, mode: LockMode, state_dir: &Path) -> Result<TargetLock> {
        let path = lock_path(target)?;
        let what = format!("target {}", names::display(target));
        let doing = match mode {
            LockMode::Exclusive => "write",
            LockMode::Shared => "check",
        };
        TargetLock::acquire_file(&path, &what, doing, mode, state_dir)
    }

    /// Take the lock file `path` of `what` without waiting. `what` and
    /// `doing` make the refusal: "target /mnt/x", "write"; "runbook 'move'",
    /// "run".
    pub fn acquire_file(
        path: &Path,
        what: &str,
        doing: &str,
        mode: LockMode,
        state_dir: &Path,
    ) -> Result<TargetLock> {
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| {
                Error::bad(format!(
                    "cannot create the lock file {} of {what} ({e}); check that its directory exists and is writable",
                    names::display(path),
                ))
            })?;
        let op = match mode {
            LockMode::Exclusive => libc::LOCK_EX,
            LockMode::Shared => libc::LOCK_SH,
        };
        // SAFETY: the descriptor is open for the life of `file`.
        let rc = unsafe { libc::flock(file.as_raw_fd(), op | libc::LOCK_NB) };
        if rc != 0 {
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::WouldBlock {
                return Err(Error::io("cannot lock", path, &err));
            }
            let holder = read_holder(&mut file);
            return Err(Error::Locked(refusal(what, doing, holder.as_deref())));
        }
        if mode == LockMode::Exclusive {
            let line = format!(
                "pid={} state_dir={}\n",
                std::process::id(),
                names::display(state_dir)
            );
            let written = file
                .set_len(0)
                .and_then(|_| file.rewind())
                .and_then(|_| file.write_all(line.as_bytes()));
            if let Err(e) = written {
                return Err(Error::io("cannot write the lock file", path, &e));
            }
        }
        Ok(TargetLock {
            _file: file,
            path: path.to_path_buf(),
            mode,
        })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How the lock is held.
    pub fn mode(&self) -> LockMode {
        self.mode
    }
}

/// The live process that last took the lock file `path` exclusively
/// ("pid=N state_dir=DIR"), without taking it: a status can ask whether a
/// run is going on without getting in that run's way.
pub fn holder(path: &Path) -> Option<String> {
    let mut file = File::open(path).ok()?;
    read_holder(&mut file)
}

/// Who wrote the lock file last: "pid=N state_dir=DIR", if that process lives.
fn read_holder(file: &mut File) -> Option<String> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.take(4096).read_to_string(&mut text).ok()?;
    let line = text.lines().next()?.trim().to_string();
    let pid: i32 = line.strip_prefix("pid=")?.split(' ').next()?.parse().ok()?;
    // SAFETY: kill with signal 0 only checks that the process exists.
    let alive = unsafe { libc::kill(pid, 0) } == 0
        || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    alive.then_some(line)
}

fn refusal(what: &str, doing: &str, holder: Option<&str>) -> String {
    let who = match holder {
        Some(h) => {
            let (pid, dir) = h.split_once(" state_dir=").unwrap_or((h, "?"));
            format!(
                "cutover process {} (state directory {dir})",
                pid.trim_start_matches("pid=")
            )
        }
        None => "another cutover process (a verification or status check)".to_string(),
    };
    format!(
        "{what} is in use by {who}; cannot {doing} it now — wait for that process to end (or stop it), then run again"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_exclusive_is_refused_naming_the_holder() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("data");
        let state = dir.path().join("state one");
        let held = TargetLock::acquire(&target, LockMode::Exclusive, &state).expect("first");
        let err = TargetLock::acquire(&target, LockMode::Exclusive, dir.path())
            .expect_err("second must be refused");
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("process {}", std::process::id())),
            "{msg}"
        );
        assert!(msg.contains("state one"), "{msg}");
        assert!(matches!(err, Error::Locked(_)));
        let shared = TargetLock::acquire(&target, LockMode::Shared, dir.path());
        assert!(
            shared.is_err(),
            "a reader must not check a target being written"
        );
        drop(held);
        TargetLock::acquire(&target, LockMode::Exclusive, dir.path()).expect("free again");
    }

    #[test]
    fn readers_share_and_keep_writers_out() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("cas");
        let a = TargetLock::acquire(&target, LockMode::Shared, dir.path()).expect("a");
        let _b = TargetLock::acquire(&target, LockMode::Shared, dir.path()).expect("b");
        let err = TargetLock::acquire(&target, LockMode::Exclusive, dir.path())
            .expect_err("writer refused");
        assert!(err.to_string().contains("verification or status"), "{err}");
        assert_eq!(a.mode(), LockMode::Shared);
    }

    #[test]
    fn long_names_stay_within_the_name_limit() {
        let long = "n".repeat(255);
        let p = lock_path(&Path::new("/tmp").join(&long)).expect("path");
        let name = p.file_name().expect("name");
        assert!(name.len() <= 255);
    }
}
