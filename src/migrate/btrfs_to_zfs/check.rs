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

/// A snapshot whose content was verified whole in this process, and the
/// stat of each of its files as read back then: a file of a later snapshot
/// (or of the live dataset) that is the same file, untouched since (same
/// inode, size, mtime, ctime), and whose source is the same file unchanged
/// too, holds the content read then — verification inherits it instead of
/// reading both again. What was written since is read back as ever.
#[derive(Debug, Clone, Default)]
pub struct Verified {
    /// The snapshot.
    pub snapshot: String,
    /// Its files' stats when they were read back, by relative path.
    pub stats: std::collections::HashMap<std::path::PathBuf, crate::files::meta::Stat>,
}

/// What verification may inherit from `verified`, given the manifests in
/// the dataset's metadata directory at `root`; none without a record.
fn inherited_from(
    verified: Option<Verified>,
    root: &std::path::Path,
) -> Option<crate::migrate::tree_sync::Inherited> {
    let verified = verified?;
    let m: manifest::Manifest =
        manifest::read(&manifest::manifest_path(root, &verified.snapshot)).ok()?;
    let entries: std::collections::HashMap<String, manifest::Entry> = m
        .entries
        .into_iter()
        .filter(|e| e.kind == "file")
        .map(|e| (e.path.clone(), e))
        .collect();
    Some(std::sync::Arc::new(move |rel, src, dst| {
        use std::os::unix::ffi::OsStrExt;
        let e = entries.get(&crate::names::encode(rel.as_os_str().as_bytes()))?;
        let then = verified.stats.get(rel)?;
        if !(e.same_file(src) && dst.untouched_since(then)) {
            return None;
        }
        blake3::Hash::from_hex(e.blake3.as_deref()?).ok()
    }))
}

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
    let mount = if job.verify_only {
        // A verification changes nothing, a mount included.
        zfs::mounted_at(ds)
            .map_err(|e| ItemError(e.to_string()))?
            .ok_or_else(|| {
                ItemError(format!(
                    "dataset {ds} is not mounted, and a verification changes nothing: mount it (`zfs mount {ds}`), then verify again"
                ))
            })?
    } else {
        super::mountpoint(ds)?
    };
    let mut failed = Vec::new();
    let earlier = job.verified.lock().ok().and_then(|v| v.get(ds).cloned());
    let view = dataset::View::open(ds, &snap.name, &mount).map_err(|e| {
        ItemError(format!(
            "cannot read {}: {e}",
            dataset::shown(ds, &snap.name)
        ))
    })?;
    // Check 4 uses the hashes check 2 read from the snapshot, reading only
    // what check 2 did not (a file that differed there).
    let mut read = Default::default();
    let inherit = inherited_from(earlier, view.root());
    let mut now_verified = None;
    match nested::compare(
        &snap.path,
        view.root(),
        &skip,
        p.verify,
        p.seed,
        inherit,
        ctx,
    ) {
        Ok(r) => {
            report.files = r.files;
            report.bytes = r.bytes;
            report.files_hashed += r.hashed;
            report.files_inherited += r.inherited;
            read = r.target_hashes;
            now_verified = Some(Verified {
                snapshot: snap.name.clone(),
                stats: r.verified_stats,
            });
        }
        Err(e) => failed.push(format!("check 2 (snapshot content equals source): {e}")),
    }
    // Check 1 on the live dataset: what it still shares with the snapshot
    // just read back is inherited.
    if scope.live {
        let inherit = inherited_from(now_verified.clone(), view.root());
        match nested::compare(&snap.path, &mount, &skip, p.verify, p.seed, inherit, ctx) {
            Ok(r) => {
                report.files_hashed += r.hashed;
                report.files_inherited += r.inherited;
            }
            Err(e) => failed.push(format!("check 1 (live dataset equals {}): {e}", snap.name)),
        }
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
    // The clone is destroyed while the next snapshot is checked; the
    // newest one's before its result is out.
    job.reaper.wait();
    if scope.newest {
        drop(view);
    } else {
        job.reaper.later(view);
    }
    if let (true, Some(v), Ok(mut all)) = (failed.is_empty(), now_verified, job.verified.lock()) {
        // Only under full verification is every file's content known.
        if p.verify == VerifyMode::Full {
            all.insert(ds.clone(), v);
        }
    }
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::files::meta::{Kind, Stat};
    use std::path::Path;

    fn stat(ino: u64, ctime: i64) -> Stat {
        Stat {
            kind: Kind::File,
            mode: 0o644,
            uid: 0,
            gid: 0,
            size: 5,
            mtime: 100,
            mtime_nsec: 7,
            ctime,
            ctime_nsec: 0,
            dev: 1,
            ino,
            nlink: 1,
            rdev: 0,
        }
    }

    /// A file's content is inherited only when its source is the same file
    /// unchanged and its target the same file untouched since it was read.
    #[test]
    fn content_is_inherited_only_from_the_same_untouched_file() {
        let root = tempfile::tempdir().unwrap();
        let hash = blake3::hash(b"hello");
        let entry = manifest::Entry {
            path: "a.txt".into(),
            kind: "file".into(),
            size: 5,
            mode: 0o644,
            mtime: 100,
            mtime_ns: 7,
            blake3: Some(hash.to_hex().to_string()),
            ino: Some(42),
        };
        let m = manifest::Manifest {
            snapshot: "s1".into(),
            entries: vec![entry],
        };
        manifest::write(&manifest::manifest_path(root.path(), "s1"), &m).unwrap();
        let read_back = stat(9, 500);
        let verified = Verified {
            snapshot: "s1".into(),
            stats: [(Path::new("a.txt").to_path_buf(), read_back)].into(),
        };
        let inherit = inherited_from(Some(verified), root.path()).expect("a record");
        let rel = Path::new("a.txt");
        assert_eq!(inherit(rel, &stat(42, 1), &read_back), Some(hash));
        // Touched in the dataset since it was read back: its ctime moved.
        assert_eq!(inherit(rel, &stat(42, 1), &stat(9, 501)), None);
        // Another file in the source (same stat, another inode).
        assert_eq!(inherit(rel, &stat(43, 1), &read_back), None);
        // Another file in the target.
        assert_eq!(inherit(rel, &stat(42, 1), &stat(10, 500)), None);
        // A path never read back.
        assert_eq!(inherit(Path::new("b.txt"), &stat(42, 1), &read_back), None);
        assert!(inherited_from(None, root.path()).is_none());
    }
}
