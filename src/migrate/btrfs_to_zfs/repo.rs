//! The repositories of a job — one (`--source REPO_DIR --target POOL/REPO`)
//! or each repository under a directory (`--source DIR_OF_REPOS --target
//! POOL/PARENT`, each into `POOL/PARENT/NAME`) — what planning found for
//! each, and the order kept between one repository's snapshots when
//! several repositories run in parallel.

use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use super::source::{self, Snapshot};
use crate::error::{Error, Result};
use crate::job::{ItemCtx, ItemError};
use crate::names;
use crate::sys::zfs;

/// One repository and its dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repo {
    /// Its name in item keys (`web` of `web/s3`); empty for a job of one.
    pub name: String,
    /// The directory of its snapshots.
    pub source: PathBuf,
    /// Its dataset.
    pub dataset: String,
}

impl Repo {
    /// The item key of its snapshot `snap`.
    pub fn key(&self, snap: &str) -> String {
        if self.name.is_empty() {
            snap.to_string()
        } else {
            format!("{}/{snap}", self.name)
        }
    }
}

/// Whether `dir` holds repositories rather than snapshots: it is not a
/// repository itself, and its entries (not starting with `.`) are all
/// repositories.
pub fn holds_repositories(dir: &Path) -> bool {
    if source::is_repository(dir) {
        return false;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    let mut any = false;
    for e in entries.flatten() {
        if e.file_name().as_encoded_bytes().starts_with(b".") {
            continue;
        }
        if !source::is_repository(&e.path()) {
            return false;
        }
        any = true;
    }
    any
}

/// The repositories of a job: `source` itself into `target`, or (when
/// `several`) each repository under `source` into `target/NAME`, in
/// natural order. A name ZFS cannot take is refused with its rule.
pub fn list(source: &Path, target: &str, several: bool) -> Result<Vec<Repo>> {
    if !several {
        return Ok(vec![Repo {
            name: String::new(),
            source: source.to_path_buf(),
            dataset: target.to_string(),
        }]);
    }
    let out: Vec<Repo> = source::named_dirs(source, "repository", zfs::check_child)?
        .into_iter()
        .map(|(name, path)| Repo {
            dataset: format!("{target}/{name}"),
            name,
            source: path,
        })
        .collect();
    if out.is_empty() {
        return Err(Error::bad(format!(
            "source {} holds no repositories",
            names::display(source)
        )));
    }
    Ok(out)
}

/// What planning found for one repository.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The repository.
    pub repo: Repo,
    /// The snapshots the plan covers, in order.
    pub snapshots: Vec<Snapshot>,
    /// Where its dataset is (or will be) mounted.
    pub mountpoint: PathBuf,
    /// Whether its dataset existed when planned.
    pub existed: bool,
}

/// How long a snapshot waits for the one before it to start in this
/// process when ZFS does not have it either (items start in plan order;
/// one not started by then is not in this run).
const NOT_STARTED_GRACE: Duration = Duration::from_secs(10);

/// How often a waiting snapshot looks at the operator's cancel.
const POLL: Duration = Duration::from_millis(500);

/// One repository's progress in this process.
#[derive(Debug, Clone, Default)]
struct Progress {
    /// Snapshots taken in ZFS, from the first: the next may be written.
    written: usize,
    /// Snapshots verified, from the first: the next may be verified with
    /// what this one's verification read back.
    verified: usize,
    /// A snapshot of it failed: later ones are not written.
    failed: bool,
    /// Snapshots whose writing began here.
    started: std::collections::HashSet<usize>,
    /// Snapshots whose verification began here.
    checking: std::collections::HashSet<usize>,
}

/// How far each repository's snapshots got in this process. Snapshot N+1
/// is written once N is taken in ZFS — here, or (a resumed job skips what
/// it verified) before — while N is still being verified: verification
/// reads N's ZFS snapshot, never the live dataset that N+1 changes. N+1 is
/// verified after N, so that it inherits what N's verification read back.
/// A failure stops the writing of later snapshots.
#[derive(Debug, Default)]
pub struct Order {
    state: Mutex<Vec<Progress>>,
    changed: Condvar,
}

impl Order {
    /// Room for `repos` repositories.
    pub fn new(repos: usize) -> Order {
        Order {
            state: Mutex::new(vec![Progress::default(); repos]),
            changed: Condvar::new(),
        }
    }

    /// Wait until snapshot `index` of repository `repo` may be written;
    /// `previous` is the full name of the ZFS snapshot before it. An
    /// earlier failure fails it.
    pub fn wait_turn(
        &self,
        repo: usize,
        index: usize,
        previous: Option<&str>,
        ctx: &ItemCtx,
    ) -> Result<(), ItemError> {
        let since = std::time::Instant::now();
        loop {
            let before_started = {
                let mut state = self.state.lock().map_err(|_| poisoned())?;
                let p = state.get_mut(repo).ok_or_else(poisoned)?;
                if p.failed {
                    return Err(ItemError(
                        "not written: an earlier snapshot of this repository failed".into(),
                    ));
                }
                if index == 0 || p.written >= index {
                    p.started.insert(index);
                    return Ok(());
                }
                let started = p.started.contains(&(index - 1));
                if started {
                    let _ = self
                        .changed
                        .wait_timeout(state, POLL)
                        .map_err(|_| poisoned())?;
                }
                started
            };
            if ctx.cancelled() {
                return Err(ItemError("cancelled".into()));
            }
            if before_started {
                continue;
            }
            let Some(previous) = previous else {
                return Ok(());
            };
            if zfs::exists(previous).unwrap_or(false) {
                let mut state = self.state.lock().map_err(|_| poisoned())?;
                if let Some(p) = state.get_mut(repo) {
                    p.started.insert(index);
                }
                return Ok(());
            }
            if since.elapsed() > NOT_STARTED_GRACE {
                return Err(ItemError(format!(
                    "not written: {previous}, the snapshot before it, is neither in ZFS nor being written"
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Snapshot `index` of `repo` is taken in ZFS: the next may be written.
    pub fn taken(&self, repo: usize, index: usize) {
        if let Ok(mut state) = self.state.lock() {
            if let Some(p) = state.get_mut(repo) {
                p.written = p.written.max(index + 1);
            }
        }
        self.changed.notify_all();
    }

    /// Wait until the snapshot before `index` of `repo` is verified, or
    /// failed, when its verification is part of this process.
    pub fn wait_to_verify(
        &self,
        repo: usize,
        index: usize,
        ctx: &ItemCtx,
    ) -> Result<(), ItemError> {
        let mut state = self.state.lock().map_err(|_| poisoned())?;
        loop {
            let p = state.get_mut(repo).ok_or_else(poisoned)?;
            p.checking.insert(index);
            let before = index.checked_sub(1);
            let ours = before.is_some_and(|b| p.started.contains(&b) || p.checking.contains(&b));
            if !ours || p.failed || p.verified >= index {
                return Ok(());
            }
            if ctx.cancelled() {
                return Err(ItemError("cancelled".into()));
            }
            state = self
                .changed
                .wait_timeout(state, POLL)
                .map_err(|_| poisoned())?
                .0;
        }
    }

    /// Snapshot `index` of `repo` finished: verified (`ok`), or failed
    /// (writing or verifying).
    pub fn finished(&self, repo: usize, index: usize, ok: bool) {
        if let Ok(mut state) = self.state.lock() {
            if let Some(p) = state.get_mut(repo) {
                if ok {
                    p.written = p.written.max(index + 1);
                    p.verified = p.verified.max(index + 1);
                } else {
                    p.failed = true;
                }
            }
        }
        self.changed.notify_all();
    }
}

fn poisoned() -> ItemError {
    ItemError("the order of snapshots is unknown (a panic)".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::Progress;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    /// What an item's context refers to.
    #[derive(Default)]
    struct Held {
        progress: Progress,
        cancel: AtomicBool,
    }

    impl Held {
        fn ctx(&self) -> ItemCtx<'_> {
            ItemCtx {
                progress: &self.progress,
                cancel: &self.cancel,
            }
        }
    }

    /// Run `wait` on `order` in a thread of its own, release it with
    /// `release` after 300 ms: `wait` returns Ok, and only then.
    fn waits_until_released(
        order: &Arc<Order>,
        wait: impl FnOnce(&Order, &ItemCtx) -> Result<(), ItemError> + Send + 'static,
        release: impl FnOnce(),
    ) {
        let waiting = {
            let order = order.clone();
            std::thread::spawn(move || {
                let held = Held::default();
                let ctx = held.ctx();
                let t = std::time::Instant::now();
                let r = wait(&order, &ctx);
                (r, t.elapsed())
            })
        };
        std::thread::sleep(Duration::from_millis(300));
        release();
        let (r, waited) = waiting
            .join()
            .unwrap_or((Err(ItemError("panic".into())), Duration::ZERO));
        assert_eq!(r, Ok(()));
        assert!(
            waited >= Duration::from_millis(250),
            "it waited: {waited:?}"
        );
    }

    #[test]
    fn a_snapshot_waits_for_the_one_before_and_stops_after_a_failure() {
        let order = Arc::new(Order::new(1));
        let held = Held::default();
        let ctx = held.ctx();
        assert_eq!(order.wait_turn(0, 0, None, &ctx), Ok(()));
        waits_until_released(
            &order,
            |o, ctx| o.wait_turn(0, 1, Some("tank/r@s1"), ctx),
            || order.finished(0, 0, true),
        );
        order.finished(0, 1, false);
        assert!(order.wait_turn(0, 2, Some("tank/r@s2"), &ctx).is_err());
    }

    /// Snapshot 2 is written once snapshot 1 is taken, and verified only
    /// after snapshot 1's verification ended.
    #[test]
    fn the_next_snapshot_is_written_while_this_one_is_verified() {
        let order = Arc::new(Order::new(1));
        let held = Held::default();
        let ctx = held.ctx();
        assert_eq!(order.wait_turn(0, 0, None, &ctx), Ok(()));
        order.taken(0, 0);
        assert_eq!(order.wait_to_verify(0, 0, &ctx), Ok(()));
        // Snapshot 1 is being verified: snapshot 2 may be written at once.
        assert_eq!(order.wait_turn(0, 1, Some("tank/r@s1"), &ctx), Ok(()));
        order.taken(0, 1);
        waits_until_released(
            &order,
            |o, ctx| o.wait_to_verify(0, 1, ctx),
            || order.finished(0, 0, true),
        );
        // A failed verification stops the writing of later snapshots, not
        // the verification of one written already.
        order.finished(0, 1, false);
        assert!(order.wait_turn(0, 2, Some("tank/r@s2"), &ctx).is_err());
        assert_eq!(order.wait_to_verify(0, 2, &ctx), Ok(()));
    }
}
