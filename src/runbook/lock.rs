//! One run of a runbook at a time. `cutover runbook run`/`rollback` and a
//! console showing the runbook hold an `flock` on the runbook's lock file in
//! the state directory (`runbooks/HASH.lock`, HASH from the runbook's key)
//! while they may run its steps. A second run is refused naming the holder;
//! `runbook status` reads the holder without taking the lock, so a step left
//! `running` by a process that is gone shows as interrupted.

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::target::lock::{holder, LockMode, TargetLock};

/// The lock file of the runbook with `key` in `state_dir`.
pub fn lock_path(state_dir: &Path, key: &str) -> PathBuf {
    let digest = blake3::hash(key.as_bytes());
    state_dir
        .join("runbooks")
        .join(format!("{}.lock", &digest.to_hex()[..32]))
}

/// Hold the runbook `name` (key `key`) for this process, or a refusal
/// naming the process that holds it.
pub fn acquire(state_dir: &Path, key: &str, name: &str) -> Result<TargetLock> {
    let path = lock_path(state_dir, key);
    if let Some(dir) = path.parent() {
        crate::state_dir::create(dir)?;
    }
    TargetLock::acquire_file(
        &path,
        &format!("runbook '{name}'"),
        "run",
        LockMode::Exclusive,
        state_dir,
    )
}

/// Whether a live process holds the runbook with `key` now. Only when the
/// last holder still lives is the lock itself tried (shared, for an
/// instant), so a status rarely stands in a new run's way.
pub fn held(state_dir: &Path, key: &str) -> bool {
    let path = lock_path(state_dir, key);
    if holder(&path).is_none() {
        return false;
    }
    match TargetLock::acquire_file(&path, "runbook", "check", LockMode::Shared, state_dir) {
        Ok(_free) => false,
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_run_is_refused_and_a_dead_holder_is_not_held() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(!held(dir.path(), "/x.toml#move"));
        let first = acquire(dir.path(), "/x.toml#move", "move").expect("first");
        assert!(held(dir.path(), "/x.toml#move"));
        let err = acquire(dir.path(), "/x.toml#move", "move").expect_err("second refused");
        let msg = err.to_string();
        assert!(
            msg.contains("runbook 'move' is in use by cutover process"),
            "{msg}"
        );
        assert!(msg.contains(&std::process::id().to_string()), "{msg}");
        // Another runbook is not affected.
        let _other = acquire(dir.path(), "/y.toml#move", "move").expect("other runbook");
        drop(first);
        // The holder line stays in the file, naming this live process, but
        // the lock is free.
        assert!(!held(dir.path(), "/x.toml#move"));
        let again = acquire(dir.path(), "/x.toml#move", "move").expect("free again");
        drop(again);
    }
}
