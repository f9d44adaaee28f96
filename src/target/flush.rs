//! Flushing a target to stable storage before items are called verified,
//! with the cost shared: items that finish writing at about the same time
//! wait for one `syncfs` of the target's filesystem (group commit) instead of
//! each fsyncing every file it wrote.

use std::fs::File;
use std::io;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};

/// Group commit of `syncfs` on one filesystem.
///
/// [`SyncGroup::sync`] returns once a `syncfs` that *started after the call*
/// has finished, so everything the caller wrote before calling is on stable
/// storage. Callers arriving while one runs share the next one.
#[derive(Debug)]
pub struct SyncGroup {
    path: PathBuf,
    state: Mutex<Round>,
    done: Condvar,
}

#[derive(Debug, Default)]
struct Round {
    /// Rounds started so far.
    started: u64,
    /// Last round finished, and its error if it failed.
    finished: u64,
    failed: Option<(u64, String)>,
    running: bool,
    /// Rounds run (a figure for tests and benchmarks).
    calls: u64,
}

impl SyncGroup {
    /// Flushes the filesystem holding `path` (a file or directory that exists
    /// by the time [`SyncGroup::sync`] is first called).
    pub fn new(path: &Path) -> SyncGroup {
        SyncGroup {
            path: path.to_path_buf(),
            state: Mutex::new(Round::default()),
            done: Condvar::new(),
        }
    }

    /// Everything written before this call is on stable storage when it returns Ok.
    pub fn sync(&self) -> io::Result<()> {
        let mut g = self
            .state
            .lock()
            .map_err(|_| io::Error::other("flush state poisoned"))?;
        // A round already running may have started before our writes ended:
        // only a round started from now on covers them.
        let need = g.started + 1;
        loop {
            if g.finished >= need {
                return match &g.failed {
                    Some((round, msg)) if *round >= need => Err(io::Error::other(msg.clone())),
                    _ => Ok(()),
                };
            }
            if !g.running {
                g.running = true;
                g.started += 1;
                g.calls += 1;
                let round = g.started;
                drop(g);
                let result = syncfs_path(&self.path);
                g = self
                    .state
                    .lock()
                    .map_err(|_| io::Error::other("flush state poisoned"))?;
                g.running = false;
                g.finished = round;
                if let Err(e) = &result {
                    g.failed = Some((
                        round,
                        format!(
                            "flushing {} to disk: {e}",
                            crate::names::display(&self.path)
                        ),
                    ));
                }
                self.done.notify_all();
                continue;
            }
            g = self
                .done
                .wait(g)
                .map_err(|_| io::Error::other("flush state poisoned"))?;
        }
    }

    /// How many `syncfs` rounds ran.
    pub fn rounds(&self) -> u64 {
        self.state.lock().map(|g| g.calls).unwrap_or(0)
    }
}

/// `syncfs` of the filesystem that holds `path`.
pub fn syncfs_path(path: &Path) -> io::Result<()> {
    let file = File::open(path)?;
    // SAFETY: the descriptor is open for the life of `file`.
    let rc = unsafe { libc::syncfs(file.as_raw_fd()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// fsync one file or directory by path (for the few names a kind must make
/// durable on their own, such as a renamed database).
pub fn fsync_path(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn concurrent_callers_share_rounds() {
        let dir = tempfile::tempdir().expect("tempdir");
        let group = Arc::new(SyncGroup::new(dir.path()));
        let threads: Vec<_> = (0..16)
            .map(|i| {
                let g = group.clone();
                let p = dir.path().join(format!("f{i}"));
                std::thread::spawn(move || {
                    for n in 0..5 {
                        std::fs::write(&p, format!("{n}")).expect("write");
                        g.sync().expect("sync");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("join");
        }
        let rounds = group.rounds();
        assert!(rounds >= 1 && rounds <= 80, "{rounds} rounds");
    }

    #[test]
    fn a_missing_path_is_an_error_naming_it() {
        let group = SyncGroup::new(Path::new("/nonexistent/cutover-flush"));
        let err = group.sync().expect_err("must fail");
        assert!(err.to_string().contains("cutover-flush"), "{err}");
    }
}
