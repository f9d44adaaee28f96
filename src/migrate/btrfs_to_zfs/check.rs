//! The four checks of one migrated snapshot:
//! 1. the ZFS snapshot exists (and, for the newest one, the live dataset
//!    equals its source snapshot: a change made afterwards is a difference);
//! 2. the ZFS snapshot's content equals the source snapshot's (read through
//!    `.zfs/snapshot/` or a temporary clone, see `dataset::View`);
//! 3. `.cutover/` is there and its index and manifest parse and match;
//! 4. content hashes equal the manifest's (every file, or a seeded sample).
//!
//! Metadata files (`.cutover/`, the source's `.snap/` and `HEAD`) are left
//! out of the content comparisons.

use super::repo::Repo;
use super::source::{self, Snapshot};
use super::{dataset, figures, manifest, BtrfsToZfs};
use crate::job::event::ItemReport;
use crate::job::{ItemCtx, ItemError};
use crate::migrate::tree_sync::nested;
use crate::sys::zfs;
use crate::verify::sample::{Sample, SampleBuilder};
use crate::verify::VerifyMode;

/// Which checks of the live dataset a snapshot gets.
#[derive(Debug, Clone, Copy)]
pub struct Scope {
    /// Compare the dataset's current files with the snapshot (the newest).
    pub live: bool,
    /// The newest snapshot of the plan: report the space figures.
    pub newest: bool,
}

/// Run the four checks on `snap`, and those of `scope`.
pub fn snapshot(
    job: &BtrfsToZfs,
    repo: &Repo,
    snap: &Snapshot,
    scope: Scope,
    ctx: &ItemCtx,
    report: &mut ItemReport,
) -> Result<(), ItemError> {
    let p = &job.params;
    let ds = &repo.dataset;
    let skip = job.skip();
    let exists =
        zfs::exists(&format!("{ds}@{}", snap.name)).map_err(|e| ItemError(e.to_string()))?;
    if !exists {
        return Err(ItemError(format!(
            "check 1 (snapshot exists): {} does not exist",
            dataset::shown(ds, &snap.name)
        )));
    }
    let mount = super::mountpoint(ds)?;
    let mut failed = Vec::new();
    if scope.live {
        match nested::compare(&snap.path, &mount, &skip, p.verify, p.seed, ctx) {
            Ok(r) => report.files_hashed += r.hashed,
            Err(e) => failed.push(format!("check 1 (live dataset equals {}): {e}", snap.name)),
        }
    }
    let view = dataset::View::open(ds, &snap.name, &mount).map_err(|e| {
        ItemError(format!(
            "cannot read {}: {e}",
            dataset::shown(ds, &snap.name)
        ))
    })?;
    // Check 4 uses the hashes check 2 read from the snapshot, reading only
    // what check 2 did not (a file that differed there).
    let mut read = Default::default();
    match nested::compare(&snap.path, view.root(), &skip, p.verify, p.seed, ctx) {
        Ok(r) => {
            report.files = r.files;
            report.bytes = r.bytes;
            report.files_hashed += r.hashed;
            read = r.target_hashes;
        }
        Err(e) => failed.push(format!("check 2 (snapshot content equals source): {e}")),
    }
    match metadata(job, snap, view.root()) {
        Ok((index, m)) => {
            match hashes(&m, view.root(), &skip, &read, p.verify, p.seed) {
                Ok(n) => report.files_hashed += n,
                Err(e) => failed.push(format!("check 4 (content hashes): {e}")),
            }
            if let Some(e) = index.snapshots.iter().find(|e| e.name == snap.name) {
                report.rows.push(figures::snapshot_row(e));
            }
            if scope.newest {
                space(ds, &index, report);
            }
        }
        Err(e) => failed.push(format!("check 3 (metadata): {e}")),
    }
    drop(view);
    if failed.is_empty() {
        Ok(())
    } else {
        Err(ItemError(failed.join("; ")))
    }
}

/// The space row (and the job's space saved) for the newest snapshot: what
/// the dataset uses against the logical sizes of the snapshots up to it.
fn space(ds: &str, index: &manifest::Index, report: &mut ItemReport) {
    let Ok(n) = zfs::numbers(ds, &["used"]) else {
        return;
    };
    let row = figures::space(index, n.get("used").copied().unwrap_or(0));
    report.space_saved_bytes = row.saved;
    report.rows.push(crate::job::event::Row::of("space", &row));
}

/// Check 3: the index lists the snapshot with its source and the source's
/// metadata, and its manifest parses and has the index's entry count.
/// The index (as of that snapshot) and the manifest.
fn metadata(
    job: &BtrfsToZfs,
    snap: &Snapshot,
    root: &std::path::Path,
) -> Result<(manifest::Index, manifest::Manifest), String> {
    let index: manifest::Index = manifest::read(&manifest::index_path(root))?;
    let entry = index
        .snapshots
        .iter()
        .find(|e| e.name == snap.name)
        .ok_or_else(|| format!("the index does not list {}", snap.name))?;
    if entry.source != snap.path {
        return Err(format!(
            "the index says {} came from {}, not {}",
            snap.name,
            crate::names::display(&entry.source),
            crate::names::display(&snap.path)
        ));
    }
    let meta = source::metadata_of(&snap.path, &job.params.metadata);
    if entry.metadata != meta {
        let names: Vec<&String> = meta
            .keys()
            .chain(entry.metadata.keys())
            .filter(|k| meta.get(*k) != entry.metadata.get(*k))
            .collect();
        return Err(format!(
            "the index's copy of the source's metadata differs: {}",
            names
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let m: manifest::Manifest = manifest::read(&manifest::manifest_path(root, &snap.name))?;
    if m.snapshot != snap.name || m.entries.len() as u64 != entry.entries {
        return Err(format!(
            "the manifest of {} names {} with {} entries; the index says {} entries",
            snap.name,
            m.snapshot,
            m.entries.len(),
            entry.entries
        ));
    }
    Ok((index, m))
}

/// Check 4: the snapshot's tree against its manifest; files hashed.
fn hashes(
    m: &manifest::Manifest,
    root: &std::path::Path,
    skip: &[&str],
    read: &std::collections::HashMap<std::path::PathBuf, blake3::Hash>,
    verify: VerifyMode,
    seed: u64,
) -> Result<u64, String> {
    let sample = match verify {
        VerifyMode::Full => Sample::all(),
        VerifyMode::Sample(n) => {
            let mut b = SampleBuilder::new(seed, n);
            for e in m.entries.iter().filter(|e| e.blake3.is_some()) {
                if let Some(p) = crate::names::decode(&e.path) {
                    b.offer(&p);
                }
            }
            b.finish()
        }
    };
    let (diffs, hashed) = manifest::differences(root, m, skip, read, |p| sample.contains(p))
        .map_err(|e| e.to_string())?;
    if diffs.is_empty() {
        Ok(hashed)
    } else {
        let more = diffs.len().saturating_sub(5);
        let mut msg = diffs.into_iter().take(5).collect::<Vec<_>>().join(", ");
        if more > 0 {
            msg.push_str(&format!(" and {more} more"));
        }
        Err(msg)
    }
}
