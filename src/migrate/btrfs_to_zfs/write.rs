//! Writing one snapshot into its repository's dataset: sync its tree,
//! write its manifest and the index, flush, `zfs snapshot`.

use super::repo::Repo;
use super::source::{self, Snapshot};
use super::{dataset, manifest, BtrfsToZfs};
use crate::job::event::ItemReport;
use crate::job::{ItemCtx, ItemError};
use crate::migrate::tree_sync::nested;
use crate::names;
use crate::sys::zfs;

/// Write `snap` of `repo`. Nothing is written when its ZFS snapshot exists
/// already (a kill came between `zfs snapshot` and the journal's record).
pub fn snapshot(
    job: &BtrfsToZfs,
    repo: &Repo,
    snap: &Snapshot,
    ctx: &ItemCtx,
) -> Result<ItemReport, ItemError> {
    let ds = &repo.dataset;
    let exists =
        zfs::exists(&format!("{ds}@{}", snap.name)).map_err(|e| ItemError(e.to_string()))?;
    if exists {
        return Ok(ItemReport::default());
    }
    let mount = super::mountpoint(ds)?;
    let skip = job.skip();
    let index_path = manifest::index_path(&mount);
    let previous = manifest::read::<manifest::Index>(&index_path)
        .ok()
        .and_then(|idx| {
            let before = idx.snapshots.iter().rev().find(|e| e.name != snap.name)?;
            manifest::read(&manifest::manifest_path(&mount, &before.name)).ok()
        });
    let tree = nested::sync(
        &snap.path,
        &mount,
        &skip,
        known_from(previous.as_ref(), &snap.path),
        ctx,
    )?;
    let written = manifest::build(&snap.path, &snap.name, &skip, previous.as_ref())
        .map_err(|e| ItemError(format!("manifest of {}: {e}", names::display(&snap.path))))?;
    let io = |what: &str, e: std::io::Error| ItemError(format!("{what}: {e}"));
    manifest::write(&manifest::manifest_path(&mount, &snap.name), &written)
        .map_err(|e| io("writing the manifest", e))?;
    let mut index = manifest::read::<manifest::Index>(&index_path).unwrap_or_default();
    index.dataset = ds.clone();
    index.source = repo.source.clone();
    index.upsert(manifest::IndexEntry {
        name: snap.name.clone(),
        source: snap.path.clone(),
        migrated_at: super::now_utc(),
        entries: written.entries.len() as u64,
        bytes: tree.bytes,
        changed: tree.written,
        deleted: tree.deleted,
        metadata: source::metadata_of(&snap.path, &job.params.metadata),
    });
    manifest::write(&index_path, &index).map_err(|e| io("writing the index", e))?;
    crate::target::flush::syncfs_path(&mount).map_err(|e| io("syncfs", e))?;
    dataset::one_change(|| zfs::snapshot(ds, &snap.name, &[(dataset::JOB, &job.params.token)]))
        .map_err(|e| ItemError(e.to_string()))?;
    let report = ItemReport {
        files: written.entries.len() as u64,
        bytes: tree.bytes,
        files_transferred: tree.written,
        bytes_transferred: tree.bytes_written,
        files_deleted: tree.deleted,
        warnings: tree.warnings,
        ..ItemReport::default()
    };
    Ok(report)
}

/// What the dataset holds already: a source file that is the previous
/// snapshot's file unchanged (same inode, size, mode and mtime to the
/// nanosecond: zfs-fuse keeps whole seconds only, so the target's own stat
/// cannot say it). When only the inode differs (snapshots copied as plain
/// directories) the source file is read and its BLAKE3 compared with the
/// manifest's: two files written in one clock tick share every other field.
fn known_from(
    previous: Option<&manifest::Manifest>,
    root: &std::path::Path,
) -> Option<crate::migrate::tree_sync::Known> {
    let entries: std::collections::HashMap<String, manifest::Entry> = previous?
        .entries
        .iter()
        .filter(|e| e.kind == "file")
        .map(|e| (e.path.clone(), e.clone()))
        .collect();
    let root = root.to_path_buf();
    Some(std::sync::Arc::new(move |rel, st| {
        use std::os::unix::ffi::OsStrExt;
        let key = names::encode(rel.as_os_str().as_bytes());
        let Some(e) = entries.get(&key) else {
            return false;
        };
        if e.same_file(st) {
            return true;
        }
        e.stat_matches(st)
            && e.blake3.as_deref().is_some_and(|h| {
                crate::verify::hash::hash_file(&root.join(rel))
                    .is_ok_and(|(got, _)| got.to_hex().as_str() == h)
            })
    }))
}
