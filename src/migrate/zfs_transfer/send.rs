//! One service by ZFS: snapshot the source (once per job), send what the
//! target lacks — from a resume token, incrementally from the newest common
//! snapshot, or in full — through cutover into `zfs receive -u`, mark a
//! dataset cutover created, mount it at the target's `APPDATA/S`, sync.
//! A failed receive leaves no half dataset: with resume tokens on both
//! sides the partial state stays for `cutover resume`; otherwise a dataset
//! the failed receive created is destroyed.

use serde::Serialize;

use super::pump::pump;
use super::route::{send_argv, Planned, Route, Stream};
use super::state::{inspect, receive_argv, settle, DsState};
use super::ZfsTransfer;
use crate::job::event::{ItemReport, Row};
use crate::job::{ItemCtx, ItemError};
use crate::nodes::zfs::{newest_common, NodeZfs};

/// The figures of one service's transfer (`{"event":"transfer",…}`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TransferRow {
    /// The service.
    pub service: String,
    /// The node it left.
    pub from: String,
    /// The node it went to.
    pub to: String,
    /// `zfs full`, `zfs incremental`, `zfs resumed`, `zfs none` (already there), `rsync`.
    pub method: String,
    /// The snapshot sent (zfs).
    pub snapshot: Option<String>,
    /// The incremental's base snapshot.
    pub base: Option<String>,
    /// Bytes that crossed the wire.
    pub bytes_sent: u64,
    /// Whether the stream was compressed (`zfs send -c`).
    pub compressed: bool,
    /// Whether it was raw (`zfs send -w`): an encrypted dataset, its key
    /// left on the source.
    #[serde(default)]
    pub raw: bool,
    /// The rate limit at the end, bytes per second (0: none).
    pub bwlimit: u64,
    /// Seconds the stream took.
    pub seconds: f64,
}

fn err(e: String) -> ItemError {
    ItemError(e)
}

/// Send one service; its report so far.
pub fn run(job: &ZfsTransfer, p: &Planned, ctx: &ItemCtx) -> Result<ItemReport, ItemError> {
    let Route::Zfs { src, dst, mount } = &p.route else {
        return Err(ItemError("not a ZFS route".into()));
    };
    let snap = &job.params.snapshot;
    let token = &job.params.token;
    let rf = job.run_from();
    let rt = job.run_to();
    let zt = NodeZfs::new(&rt);
    let at = format!("{src}@{snap}");
    let one = |r: &crate::nodes::runner::NodeRunner, ds: &str| -> Result<DsState, ItemError> {
        let (_, mut v) = inspect(r, false, &[ds.to_string()]).map_err(err)?;
        v.pop()
            .ok_or_else(|| ItemError(format!("{ds}: nothing read")))
    };
    // What planning read, moments ago, in this process.
    let mut source = match &p.src_state {
        Some(s) => s.clone(),
        None => one(&rf, src)?,
    };
    if !source.snapshots.iter().any(|s| &s.name == snap) {
        source = super::state::snapshot(&rf, src, snap, token).map_err(err)?;
    }
    let referenced = source.referenced;
    let a = source.snapshots;
    let ours = a
        .iter()
        .find(|s| &s.name == snap)
        .ok_or_else(|| ItemError(format!("{at} vanished on node {}", job.from.name)))?
        .guid;
    let target = match &p.dst_state {
        Some(s) => s.clone(),
        None => one(&rt, dst)?,
    };
    let existed = target.exists;
    let b = target.snapshots.clone();
    let mut row = TransferRow {
        service: p.service.clone(),
        from: job.from.name.clone(),
        to: job.to.name.clone(),
        method: "zfs none".into(),
        snapshot: Some(snap.clone()),
        base: None,
        bytes_sent: 0,
        compressed: false,
        raw: false,
        bwlimit: job.limit.get(),
        seconds: 0.0,
    };
    let mut report = ItemReport::default();
    if !b.iter().any(|s| s.guid == ours) {
        let resume_token = if p.caps.resume {
            target.resume_token.clone()
        } else {
            None
        };
        let mut base = newest_common(&a, &b).map(|s| s.name.clone());
        let created_by = target.created.clone();
        let mut fresh = !existed;
        if existed && base.is_none() && resume_token.is_none() {
            // Planning refused this unless --force-full on cutover's own.
            if !job.params.force_full || created_by.is_none() {
                return Err(ItemError(format!(
                    "{dst} on node {} shares no snapshot with {src}; give --force-full to replace it (only a dataset cutover created)",
                    job.to.name
                )));
            }
            zt.destroy(dst, true).map_err(err)?;
            fresh = true;
        }
        let send = match &resume_token {
            Some(t) => vec!["zfs".into(), "send".into(), "-t".into(), t.clone()],
            None => send_argv(src, snap, base.as_deref(), p.stream),
        };
        let mut recv = Vec::new();
        if p.caps.resume {
            recv.push("-s".into());
        }
        if p.caps.unmounted {
            recv.push("-u".into());
        }
        // Rolled back to the base first (atime, a look around): only a
        // dataset cutover created.
        if base.is_some() && created_by.is_some() {
            recv.push("-F".into());
        }
        let mark = fresh.then_some(token.as_str());
        let recv = receive_argv(&recv, dst, mark, mount.as_deref());
        row.method = match (&resume_token, &base) {
            (Some(_), _) => "zfs resumed".into(),
            (None, Some(_)) => "zfs incremental".into(),
            (None, None) => "zfs full".into(),
        };
        // A resumed stream keeps the flags its token recorded.
        row.compressed = p.stream == Stream::Compressed && resume_token.is_none();
        row.raw = p.stream == Stream::Raw;
        if resume_token.is_some() {
            base = None;
        }
        row.base = base;
        let sending = send.join(" ");
        let receiving = format!("zfs receive {dst} (then mark, mount, sync)");
        match pump(
            (&rf, &send, &sending),
            (&rt, &recv, &receiving),
            &job.limit,
            ctx,
        ) {
            Ok(done) => {
                row.bytes_sent = done.bytes;
                report.files_transferred = 1;
                if done.trailing > 0 {
                    report.warnings.push(format!(
                        "{src}@{snap}: the receive ended after the stream's end record; {} more bytes from zfs send were dropped",
                        done.trailing
                    ));
                }
                row.seconds = done.elapsed.as_secs_f64();
            }
            Err(why) => {
                let left = clean_up(&rt, dst, fresh, p.caps.resume);
                return Err(ItemError(format!("{src}@{snap} → {dst}: {why}; {left}")));
            }
        }
    } else {
        settle(&rt, dst, None, mount.as_deref()).map_err(err)?;
    }
    row.bwlimit = job.limit.get();
    report.bytes_transferred = row.bytes_sent;
    report.bytes = referenced;
    report.rows.push(Row::of("transfer", &row));
    Ok(report)
}

/// After a failed stream: with resume tokens the partial state stays;
/// otherwise a dataset the receive created (no snapshot in it) goes.
fn clean_up(
    rt: &crate::nodes::runner::NodeRunner,
    dst: &str,
    fresh: bool,
    resumable: bool,
) -> String {
    let zt = NodeZfs::new(rt);
    if resumable {
        return "the partial receive is kept: `cutover resume JOB` continues it".into();
    }
    if !fresh {
        return "the target keeps its earlier snapshots; `cutover resume JOB` sends again".into();
    }
    match zt.exists(dst) {
        Ok(false) => "nothing was left on the target; `cutover resume JOB` sends again".into(),
        Ok(true) => match NodeZfs::new(rt).snapshots(dst) {
            Ok(s) if s.is_empty() => match zt.destroy(dst, true) {
                Ok(()) => {
                    format!("the partial {dst} was destroyed; `cutover resume JOB` sends again")
                }
                Err(e) => format!("the partial {dst} could not be destroyed: {e}"),
            },
            _ => format!("{dst} has snapshots: kept"),
        },
        Err(e) => format!("cannot tell what was left on the target: {e}"),
    }
}
