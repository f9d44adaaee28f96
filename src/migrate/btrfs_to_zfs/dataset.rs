//! The target dataset: what it holds (snapshots, who created it, where it
//! is mounted), whether a job may continue it, and a read-only view of one
//! of its snapshots (`.zfs/snapshot/NAME`, or a temporary clone that is
//! destroyed when the view is dropped).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::names;
use crate::sys::cmd::CmdError;
use crate::sys::zfs;

/// User property marking a dataset cutover created; its value is the
/// creating job's token.
pub const CREATED: &str = "cutover:created";
/// User property marking a snapshot cutover made; its value is the job's token.
pub const JOB: &str = "cutover:job";

/// A ZFS command failure as an operator-facing error.
pub fn bad(e: CmdError) -> Error {
    Error::Io(e.to_string())
}

/// What the target dataset holds now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    /// Whether it exists.
    pub exists: bool,
    /// Its snapshots (names after `@`), oldest first.
    pub snapshots: Vec<String>,
    /// The token of the job that created it, if cutover did.
    pub created_by: Option<String>,
    /// Where it is mounted.
    pub mountpoint: Option<PathBuf>,
}

/// Read the dataset's state (ZFS commands; nothing changes).
pub fn state(dataset: &str) -> Result<State> {
    if !zfs::exists(dataset).map_err(bad)? {
        return Ok(State::default());
    }
    Ok(State {
        exists: true,
        snapshots: zfs::snapshots(dataset).map_err(bad)?,
        created_by: zfs::property(dataset, CREATED).map_err(bad)?,
        mountpoint: zfs::mountpoint(dataset).map_err(bad)?,
    })
}

/// The parent dataset of `dataset` (`pool/a` of `pool/a/b`).
pub fn parent(dataset: &str) -> Option<&str> {
    dataset.rsplit_once('/').map(|(p, _)| p)
}

/// Where `dataset` is or will be mounted: its own mountpoint, or its
/// parent's with its last name appended.
pub fn expected_mountpoint(dataset: &str) -> Result<PathBuf> {
    if let Some(m) = zfs::mountpoint(dataset).ok().flatten() {
        return Ok(m);
    }
    let (parent, leaf) = dataset.rsplit_once('/').ok_or_else(|| {
        Error::bad(format!(
            "target '{dataset}' is a pool; give POOL/REPO, a dataset inside it"
        ))
    })?;
    let base = zfs::mountpoint(parent).map_err(bad)?.ok_or_else(|| {
        Error::bad(format!(
            "parent dataset {parent} is not mounted; mount it or give another target"
        ))
    })?;
    Ok(base.join(leaf))
}

/// Whether snapshots `have` may be continued by a job migrating `source`
/// (names, in order): they must be the source's first ones. The reason if not.
pub fn continues(have: &[String], source: &[String]) -> std::result::Result<(), String> {
    for (i, h) in have.iter().enumerate() {
        match source.get(i) {
            Some(s) if s == h => {}
            Some(s) => {
                return Err(format!(
                    "its snapshot #{} is @{h} where the source's is {s}",
                    i + 1
                ))
            }
            None => {
                return Err(format!(
                    "it holds @{h}, which the source ({} snapshots) does not have",
                    source.len()
                ))
            }
        }
    }
    Ok(())
}

/// One ZFS change (snapshot, clone, destroy) at a time in this process:
/// zfs-fuse was seen to hang when clones of two datasets were made and
/// destroyed at once, and a snapshot is taken while the one before it is
/// read through a clone.
static CHANGING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Run `change`, a ZFS command that changes datasets, alone in this process.
pub fn one_change<T>(change: impl FnOnce() -> T) -> T {
    let _turn = CHANGING.lock().unwrap_or_else(|p| p.into_inner());
    change()
}

/// Destroy a temporary clone. zfs-fuse calls a dataset busy for a moment
/// after it was unmounted: each attempt is one change, and other changes
/// run between attempts.
fn destroy_clone(clone: &str) -> std::result::Result<(), CmdError> {
    zfs::retry_busy(|| one_change(|| zfs::destroy_once(clone, false)))
}

/// A snapshot's files, readable until dropped (or handed to a [`Reaper`]).
pub struct View {
    root: PathBuf,
    /// The temporary clone to destroy, if one was made.
    clone: Option<String>,
}

impl View {
    /// Open `dataset@snap`: through `.zfs/snapshot/` when the dataset
    /// mounted at `mountpoint` has it, else through a temporary clone
    /// (a leftover clone of an earlier, killed check is destroyed first).
    pub fn open(dataset: &str, snap: &str, mountpoint: &Path) -> std::result::Result<View, String> {
        if zfs::has_snapdir(mountpoint) {
            let root = mountpoint.join(".zfs").join("snapshot").join(snap);
            return Ok(View { root, clone: None });
        }
        let clone = clone_name(dataset, snap);
        if zfs::exists(&clone).unwrap_or(false) {
            destroy_clone(&clone).map_err(|e| e.to_string())?;
        }
        one_change(|| zfs::clone(&format!("{dataset}@{snap}"), &clone))
            .map_err(|e| e.to_string())?;
        let mut view = View {
            root: PathBuf::new(),
            clone: Some(clone.clone()),
        };
        view.root = zfs::ensure_mounted(&clone)?;
        Ok(view)
    }

    /// Where the snapshot's files are.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl Drop for View {
    fn drop(&mut self) {
        if let Some(clone) = self.clone.take() {
            if let Err(e) = destroy_clone(&clone) {
                tracing::warn!("cannot destroy the temporary clone {clone}: {e}");
            }
        }
    }
}

/// Views done with, dropped (their clones destroyed) on threads of their
/// own, so that a destroy — a quarter of a second on zfs-fuse — is not
/// waited for by the verification that made it; every one is waited for by
/// [`Reaper::wait`], and when the reaper is dropped.
#[derive(Default)]
pub struct Reaper {
    pending: std::sync::Mutex<Vec<std::thread::JoinHandle<()>>>,
}

impl Reaper {
    /// Drop `view` on a thread of its own.
    pub fn later(&self, view: View) {
        let handle = std::thread::spawn(move || drop(view));
        if let Ok(mut pending) = self.pending.lock() {
            pending.push(handle);
        }
    }

    /// Wait until every view handed over is dropped.
    pub fn wait(&self) {
        let handles = match self.pending.lock() {
            Ok(mut pending) => std::mem::take(&mut *pending),
            Err(_) => return,
        };
        for h in handles {
            let _ = h.join();
        }
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        self.wait();
    }
}

/// Destroy the temporary clones of `dataset`'s snapshots that a killed
/// process left (a check under way, or a clone whose destroy was still
/// pending): siblings named `DATASET.cutover-check.*` whose origin is a
/// snapshot of `dataset`. Only a writing job calls it, under its exclusive
/// lock: a verification (shared lock) may be reading its own clone.
/// The names destroyed.
pub fn sweep_clones(dataset: &str) -> std::result::Result<Vec<String>, CmdError> {
    let Some(parent) = parent(dataset) else {
        return Ok(Vec::new());
    };
    let out = crate::sys::cmd::run(
        "zfs",
        &[
            "list",
            "-H",
            "-o",
            "name,origin",
            "-t",
            "filesystem",
            "-d",
            "1",
            parent,
        ],
    )?;
    let mut swept = Vec::new();
    for name in leftover_clones(dataset, &out) {
        destroy_clone(&name)?;
        swept.push(name);
    }
    Ok(swept)
}

/// The leftover clones of `dataset` in a `zfs list -H -o name,origin`.
fn leftover_clones(dataset: &str, listing: &str) -> Vec<String> {
    let (prefix, origin) = (format!("{dataset}.cutover-check."), format!("{dataset}@"));
    zfs::parse_rows(listing)
        .into_iter()
        .filter_map(|row| match row.as_slice() {
            [name, from] if name.starts_with(&prefix) && from.starts_with(&origin) => {
                Some(name.clone())
            }
            _ => None,
        })
        .collect()
}

/// The temporary clone's name for checking `dataset@snap`: a sibling of
/// the dataset, so that it is never inside what is checked.
pub fn clone_name(dataset: &str, snap: &str) -> String {
    let safe: String = snap
        .chars()
        .map(|c| if c == ' ' { '_' } else { c })
        .collect();
    format!("{dataset}.cutover-check.{safe}")
}

/// One line naming `dataset@snap` for messages.
pub fn shown(dataset: &str, snap: &str) -> String {
    names::display(Path::new(&format!("{dataset}@{snap}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_dataset_continues_only_the_sources_first_snapshots() {
        let src = v(&["s1", "s2", "s3"]);
        assert_eq!(continues(&v(&[]), &src), Ok(()));
        assert_eq!(continues(&v(&["s1", "s2"]), &src), Ok(()));
        assert!(
            continues(&v(&["s2"]), &src).is_err_and(|w| w.contains("@s2 where the source's is s1"))
        );
        assert!(continues(&v(&["s1", "s2", "s3", "s4"]), &src).is_err_and(|w| w.contains("@s4")));
        assert_eq!(parent("tank/a/b"), Some("tank/a"));
        assert_eq!(clone_name("tank/r", "s 1"), "tank/r.cutover-check.s_1");
    }

    #[test]
    fn only_clones_of_the_datasets_own_snapshots_are_leftovers() {
        let listing = "tank/p\t-\n\
tank/p/r\t-\n\
tank/p/r.cutover-check.s1\ttank/p/r@s1\n\
tank/p/r.cutover-check.s_2\ttank/p/r@s 2\n\
tank/p/r.cutover-check.mine\t-\n\
tank/p/r.cutover-check.x\ttank/p/other@x\n\
tank/p/rr.cutover-check.s1\ttank/p/rr@s1\n";
        assert_eq!(
            leftover_clones("tank/p/r", listing),
            v(&["tank/p/r.cutover-check.s1", "tank/p/r.cutover-check.s_2"])
        );
    }
}
