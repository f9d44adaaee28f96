//! A whole tree synced or compared within one item of another kind (a
//! snapshot of btrfs-to-zfs): the same copier and checker as tree-sync's
//! directory items, run one directory after another, with names at the
//! tree's root left alone (the other kind's metadata).

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::{TreeSync, TreeSyncParams};
use crate::job::event::ItemReport;
use crate::job::{Item, ItemCtx, ItemError};
use crate::verify::VerifyMode;

/// How many directories' errors an error message names.
const ERRORS_SHOWN: usize = 5;

/// What syncing or comparing a whole tree did, summed over its directories.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TreeReport {
    /// Entries of the source (files, links, special files).
    pub files: u64,
    /// Bytes of the source's files.
    pub bytes: u64,
    /// Entries written.
    pub written: u64,
    /// Bytes written.
    pub bytes_written: u64,
    /// Entries deleted from the target.
    pub deleted: u64,
    /// Files whose content was hashed on both sides.
    pub hashed: u64,
    /// Warnings, each naming its path.
    pub warnings: Vec<String>,
    /// [`compare`]: the BLAKE3 of each target file it read, by relative path.
    pub target_hashes: HashMap<PathBuf, blake3::Hash>,
    /// [`compare`]: files whose content was inherited, not read.
    pub inherited: u64,
    /// [`compare`]: the stat of each target file found equal, by relative path.
    pub verified_stats: HashMap<PathBuf, crate::files::meta::Stat>,
}

impl TreeReport {
    fn add(&mut self, r: &ItemReport) {
        self.written += r.files_transferred;
        self.bytes_written += r.bytes_transferred;
        self.deleted += r.files_deleted;
        self.hashed += r.files_hashed;
        self.inherited += r.files_inherited;
        self.warnings.extend(r.warnings.iter().cloned());
    }
}

fn job(source: &Path, target: &Path, verify: VerifyMode, seed: u64, skip: &[&str]) -> TreeSync {
    let mut ts = TreeSync::new(TreeSyncParams {
        source: source.to_path_buf(),
        target: target.to_path_buf(),
        final_sync: true,
        verify,
        seed,
        force: true,
    });
    ts.resuming = true;
    ts.skip_root = skip.iter().map(OsString::from).collect();
    ts
}

/// Make `target` equal to `source` (a final sync: deletions, hard links,
/// symlinks, modes, owners, xattrs), leaving the root's `skip` names alone.
pub fn sync(
    source: &Path,
    target: &Path,
    skip: &[&str],
    known: Option<super::Known>,
    ctx: &ItemCtx,
) -> Result<TreeReport, ItemError> {
    let mut ts = job(source, target, VerifyMode::Full, 0, skip);
    ts.known = known;
    each_dir(&ts, ctx, |item| {
        super::copy::copy_dir(&ts, item, ctx)
            .map(|(report, _)| report)
            .map_err(|e| ItemError(format!("{}: {e}", item.key)))
    })
}

/// Compare `target` with `source` as tree-sync verifies (every entry's
/// type, mode, owner, attributes, links; content by BLAKE3 for every file
/// or a seeded sample, except what `inherited` knows), leaving the root's
/// `skip` names out on both sides.
pub fn compare(
    source: &Path,
    target: &Path,
    skip: &[&str],
    verify: VerifyMode,
    seed: u64,
    inherited: Option<super::Inherited>,
    ctx: &ItemCtx,
) -> Result<TreeReport, ItemError> {
    let mut ts = job(source, target, verify, seed, skip);
    ts.target_hashes = Some(Mutex::new(HashMap::new()));
    ts.verified_stats = Some(Mutex::new(HashMap::new()));
    ts.inherited = inherited;
    let mut out = each_dir(&ts, ctx, |item| {
        let mut report = ItemReport::default();
        super::check::check_dir(&ts, item, ctx, None, &mut report).map(|_| report)
    })?;
    if let Some(kept) = ts.target_hashes.take() {
        out.target_hashes = kept.into_inner().unwrap_or_default();
    }
    if let Some(kept) = ts.verified_stats.take() {
        out.verified_stats = kept.into_inner().unwrap_or_default();
    }
    Ok(out)
}

/// Directories synced or compared at once. Each is one item of tree-sync's
/// own plan, so they may run in parallel as tree-sync's items do (see its
/// ownership rules); a FUSE target (zfs-fuse) answers several requests at
/// once, and one thread waiting on each in turn left it idle.
const WORKERS: usize = 8;

/// Plan `ts` and run `one` on each directory, [`WORKERS`] at once, summing
/// reports and gathering every directory's error (in the plan's order).
fn each_dir(
    ts: &TreeSync,
    ctx: &ItemCtx,
    one: impl Fn(&Item) -> Result<ItemReport, ItemError> + Sync,
) -> Result<TreeReport, ItemError> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let plan = ts.walk();
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Result<ItemReport, ItemError>)>> = Mutex::new(Vec::new());
    let worker = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(item) = plan.items.get(i) else {
            return;
        };
        let result = if ctx.cancelled() {
            Err(ItemError("cancelled".into()))
        } else {
            one(item)
        };
        if let Ok(mut all) = results.lock() {
            all.push((i, result));
        }
    };
    std::thread::scope(|scope| {
        for _ in 1..WORKERS.min(plan.items.len()) {
            scope.spawn(worker);
        }
        worker();
    });
    if ctx.cancelled() {
        return Err(ItemError("cancelled".into()));
    }
    // A worker's panic went up through the scope: every directory is here.
    let mut results = results.into_inner().unwrap_or_else(|p| p.into_inner());
    results.sort_by_key(|(i, _)| *i);
    let mut out = TreeReport {
        files: plan.files_total,
        bytes: plan.bytes_total,
        ..TreeReport::default()
    };
    let mut errors = Vec::new();
    for (_, result) in results {
        match result {
            Ok(report) => out.add(&report),
            Err(e) => errors.push(e.0),
        }
    }
    joined(errors).map(|_| out)
}

/// One error for all directories that failed, the first few in full.
fn joined(errors: Vec<String>) -> Result<(), ItemError> {
    if errors.is_empty() {
        return Ok(());
    }
    let mut msg = errors
        .iter()
        .take(ERRORS_SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if errors.len() > ERRORS_SHOWN {
        msg.push_str(&format!(
            "; and {} more directories",
            errors.len() - ERRORS_SHOWN
        ));
    }
    Err(ItemError(msg))
}
