//! Verification of one service. ZFS: the target holds a snapshot with the
//! source snapshot's guid, and the two snapshots' trees are equal (read
//! through `.zfs/snapshot/` where the node has it, else a temporary clone
//! beside the dataset, destroyed after); with `--final`, the live source
//! still equals its snapshot. A raw (encrypted) stream's target cannot be
//! read without the key, which stays on the source: its guid is checked,
//! its content not (a warning says so). rsync: the two directories are equal.

use std::path::PathBuf;
use std::sync::Mutex;

use super::route::{Planned, Route, Stream};
use super::state::inspect;
use super::ZfsTransfer;
use crate::job::event::ItemReport;
use crate::job::ItemError;
use crate::nodes::runner::NodeRunner;
use crate::nodes::tree::{compare, Compared};
use crate::nodes::zfs::NodeZfs;

/// The figures of one service's verification (`{"event":"check",…}`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CheckRow {
    /// The service.
    pub service: String,
    /// Entries compared.
    pub entries: u64,
    /// Files hashed on both sides.
    pub hashed: u64,
    /// Whether the two sides were equal.
    pub equal: bool,
    /// Seconds the verification took.
    pub seconds: f64,
}

/// One clone at a time (zfs-fuse mounts them one by one).
static CLONING: Mutex<()> = Mutex::new(());

/// A snapshot's files on its node: its `.zfs/snapshot/` directory, or a
/// temporary clone destroyed on drop.
struct View<'a> {
    runner: &'a NodeRunner<'a>,
    root: PathBuf,
    clone: Option<String>,
}

impl<'a> View<'a> {
    fn open(runner: &'a NodeRunner<'a>, dataset: &str, snap: &str) -> Result<Self, String> {
        let zfs = NodeZfs::new(runner);
        let node = &runner.node().name;
        if let Some(mp) = zfs.property(dataset, "mountpoint")? {
            let dir = PathBuf::from(&mp).join(".zfs/snapshot").join(snap);
            let ran = runner.run(&["test".into(), "-d".into(), dir.display().to_string()])?;
            if mp.starts_with('/') && ran.code == 0 {
                return Ok(View {
                    runner,
                    root: dir,
                    clone: None,
                });
            }
        }
        let _turn = CLONING.lock().unwrap_or_else(|p| p.into_inner());
        let safe: String = snap
            .chars()
            .map(|c| if c == ' ' { '_' } else { c })
            .collect();
        let clone = format!("{dataset}.cutover-check.{safe}");
        if zfs.exists(&clone)? {
            zfs.destroy(&clone, false)?;
        }
        let ran = runner.run(&[
            "zfs".into(),
            "clone".into(),
            format!("{dataset}@{snap}"),
            clone.clone(),
        ])?;
        if ran.code != 0 {
            return Err(format!(
                "node {node}: zfs clone {dataset}@{snap} {clone} failed: {}",
                ran.complaint()
            ));
        }
        let mut view = View {
            runner,
            root: PathBuf::new(),
            clone: Some(clone.clone()),
        };
        match zfs.property(&clone, "mountpoint")? {
            Some(m) if m.starts_with('/') => {
                view.root = PathBuf::from(m);
                Ok(view)
            }
            _ => Err(format!(
                "node {node}: the temporary clone {clone} has no mountpoint"
            )),
        }
    }
}

impl Drop for View<'_> {
    fn drop(&mut self) {
        if let Some(clone) = self.clone.take() {
            if let Err(e) = NodeZfs::new(self.runner).destroy(&clone, false) {
                tracing::warn!("cannot destroy the temporary clone {clone}: {e}");
            }
        }
    }
}

fn fill(report: &mut ItemReport, c: &Compared) {
    report.files = c.entries;
    report.bytes = report.bytes.max(c.bytes);
    report.files_hashed = c.hashed;
    report.warnings.extend(c.notes.iter().cloned());
}

/// Verify a service sent by ZFS, at source snapshot `snap`.
pub fn zfs(
    job: &ZfsTransfer,
    p: &Planned,
    snap: &str,
    report: &mut ItemReport,
) -> Result<(), ItemError> {
    let Route::Zfs { src, dst, .. } = &p.route else {
        return Err(ItemError("not a ZFS route".into()));
    };
    let rf = job.run_from();
    let rt = job.run_to();
    // Both sides read at once, one command each (over SSH a round trip
    // costs more than the zfs commands it carries).
    let (a, b) = std::thread::scope(|scope| {
        let there = scope.spawn(|| inspect(&rt, false, std::slice::from_ref(dst)));
        let here = inspect(&rf, false, std::slice::from_ref(src));
        let there = there
            .join()
            .unwrap_or_else(|_| Err("reading the target's snapshots failed".to_string()));
        (here, there)
    });
    let a = a.map_err(ItemError)?.1.pop().unwrap_or_default().snapshots;
    let b = b.map_err(ItemError)?.1.pop().unwrap_or_default().snapshots;
    let guid = a
        .iter()
        .find(|s| s.name == snap)
        .ok_or_else(|| ItemError(format!("{src}@{snap} is missing on node {}", job.from.name)))?
        .guid;
    let theirs = b.iter().find(|s| s.guid == guid).ok_or_else(|| {
        ItemError(format!(
            "{dst} on node {} has no snapshot with guid {guid} ({src}@{snap}'s)",
            job.to.name
        ))
    })?;
    if p.stream == Stream::Raw {
        // Received raw, still encrypted: its key stays on the source, so
        // the target cannot read the content to compare it. What is
        // checked there: the snapshot's guid (above), and every block's
        // checksum, which `zfs receive` checked as it wrote.
        report.warnings.push(format!(
            "{dst}@{} on node {}: content not compared — received raw (encrypted, its key stays on node {}); its guid matches {src}@{snap}'s",
            theirs.name, job.to.name, job.from.name
        ));
        if job.params.final_pass && !job.verify_only {
            let left = View::open(&rf, src, snap).map_err(ItemError)?;
            return final_check(job, src, snap, &left);
        }
        return Ok(());
    }
    let left = View::open(&rf, src, snap).map_err(ItemError)?;
    let right = View::open(&rt, dst, &theirs.name).map_err(ItemError)?;
    let c = compare(
        (&rf, &left.root),
        (&rt, &right.root),
        &job.params.verify,
        job.params.seed,
    )
    .map_err(ItemError)?;
    fill(report, &c);
    if !c.equal() {
        return Err(ItemError(format!(
            "{dst}@{} on node {} differs from {src}@{snap}: {}",
            theirs.name,
            job.to.name,
            c.summary()
        )));
    }
    drop(right);
    final_check(job, src, snap, &left)
}

/// With `--final`: the live source still equals its snapshot `snap`
/// (`left`), so nothing was written after the last increment.
fn final_check(job: &ZfsTransfer, src: &str, snap: &str, left: &View) -> Result<(), ItemError> {
    if job.params.final_pass && !job.verify_only {
        let rf = job.run_from();
        let zf = NodeZfs::new(&rf);
        let live = zf
            .property(src, "mountpoint")
            .map_err(ItemError)?
            .filter(|m| m.starts_with('/'))
            .ok_or_else(|| ItemError(format!("{src} is not mounted on node {}", job.from.name)))?;
        let after = compare(
            (&rf, &left.root),
            (&rf, std::path::Path::new(&live)),
            &crate::verify::VerifyMode::Full,
            job.params.seed,
        )
        .map_err(ItemError)?;
        if !after.equal() {
            return Err(ItemError(format!(
                "{src} changed on node {} after its snapshot {snap} (+ only in the snapshot, - only in the live source, * changed): {}; stop the service and run --final again",
                job.from.name,
                after.summary()
            )));
        }
    }
    Ok(())
}

/// Verify a service copied by rsync: the two directories are equal.
pub fn rsync(job: &ZfsTransfer, p: &Planned, report: &mut ItemReport) -> Result<(), ItemError> {
    let Route::Rsync { src, dst } = &p.route else {
        return Err(ItemError("not an rsync route".into()));
    };
    let rf = job.run_from();
    let rt = job.run_to();
    let c =
        compare((&rf, src), (&rt, dst), &job.params.verify, job.params.seed).map_err(ItemError)?;
    fill(report, &c);
    if !c.equal() {
        let hint = if job.params.final_pass {
            "; the source changed during the copy: stop the service and run --final again"
        } else {
            ""
        };
        return Err(ItemError(format!(
            "{} on node {} differs from {} on node {}: {}{hint}",
            dst.display(),
            job.to.name,
            src.display(),
            job.from.name,
            c.summary()
        )));
    }
    Ok(())
}
