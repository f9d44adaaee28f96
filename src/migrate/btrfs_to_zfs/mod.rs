//! btrfs-to-zfs: a repository's snapshots (BTRFS read-only snapshots or
//! plain directories, `s1`…`sN`) into one ZFS dataset with one snapshot
//! each. Items are snapshots, run strictly in order: sync the snapshot's
//! tree into the dataset (`tree_sync::nested`), write its manifest and the
//! index into `.cutover/`, flush, `zfs snapshot`. Verification runs the
//! four checks of `check.rs`.

mod check;
pub mod dataset;
pub mod discover;
pub mod figures;
pub mod kind;
pub mod manifest;
pub mod source;

use std::path::PathBuf;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::job::event::ItemReport;
use crate::job::{Change, Item, ItemCtx, ItemError, Memo, Migration, Plan, Preview, Written};
use crate::migrate::tree_sync::nested;
use crate::names;
use crate::sys::{cmd, zfs};
use crate::verify::VerifyMode;
use source::Snapshot;

/// Kind name on the command line.
pub const KIND: &str = "btrfs-to-zfs";

/// A source snapshot's own metadata files, by default: never copied as
/// content, their text carried into the index.
pub fn default_metadata() -> Vec<String> {
    vec![".snap".to_string(), "HEAD".to_string()]
}

/// What the operator asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// The repository: a directory of snapshots.
    pub source: PathBuf,
    /// The dataset, `POOL/REPO`.
    pub target: String,
    /// Migrate only the first N snapshots.
    pub limit: Option<usize>,
    /// Destroy a dataset cutover created that does not continue the source.
    pub recreate: bool,
    /// How items are verified.
    pub verify: VerifyMode,
    /// Seed of a sampled verification.
    pub seed: u64,
    /// Marks what this job creates (dataset and snapshot user properties).
    pub token: String,
    /// Names at a snapshot's root that are its metadata, not content.
    #[serde(default = "default_metadata")]
    pub metadata: Vec<String>,
}

/// A fresh token for a new job: unique per process and moment.
pub fn new_token() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let h = blake3::hash(format!("{nanos} {}", std::process::id()).as_bytes());
    h.to_hex()[..16].to_string()
}

/// What planning found, kept for the items.
#[derive(Debug, Clone)]
struct Planned {
    /// The snapshots the plan covers, in order.
    snapshots: Vec<Snapshot>,
    /// Where the dataset is (or will be) mounted.
    mountpoint: PathBuf,
    /// Whether the dataset existed when planned.
    existed: bool,
}

/// A btrfs-to-zfs job.
pub struct BtrfsToZfs {
    params: Params,
    verify_only: bool,
    resuming: bool,
    planned: OnceLock<Planned>,
}

/// What `run_item` tells verification: whether it wrote the snapshot.
struct Fresh(bool);

impl BtrfsToZfs {
    /// A new job (`verify_only`: `cutover verify`).
    pub fn new(params: Params, verify_only: bool) -> Self {
        BtrfsToZfs {
            params,
            verify_only,
            resuming: false,
            planned: OnceLock::new(),
        }
    }

    /// Rebuild from journalled parameters (`resume`, `rollback`).
    pub fn from_params(value: &serde_json::Value) -> Result<Self> {
        let params: Params = crate::job::journalled_params(KIND, value)?;
        let mut job = BtrfsToZfs::new(params, false);
        job.resuming = true;
        Ok(job)
    }

    /// The parameters.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// Names left out of the content at a tree's root: cutover's own
    /// directory and the source's metadata files.
    fn skip(&self) -> Vec<&str> {
        let mut out = vec![manifest::DIR];
        out.extend(self.params.metadata.iter().map(String::as_str));
        out
    }

    fn snapshot_of(&self, item: &Item) -> Result<(&Planned, &Snapshot), ItemError> {
        let planned = self
            .planned
            .get()
            .ok_or_else(|| ItemError("the job was not planned".into()))?;
        let snap = planned
            .snapshots
            .iter()
            .find(|s| s.name == item.key)
            .ok_or_else(|| ItemError(format!("snapshot {} is not in the plan", item.key)))?;
        Ok((planned, snap))
    }

    fn mountpoint(&self) -> Result<PathBuf, ItemError> {
        zfs::mountpoint(&self.params.target)
            .map_err(|e| ItemError(e.to_string()))?
            .ok_or_else(|| ItemError(format!("dataset {} is not mounted", self.params.target)))
    }

    /// Refusals before anything is planned: the source's snapshot names,
    /// the target's name, ZFS installed, the parent dataset there.
    fn validate(&self) -> Result<()> {
        source::snapshots(&self.params.source)?;
        if self.params.limit == Some(0) {
            return Err(Error::bad("--limit 0: give at least 1"));
        }
        zfs::check_dataset(&self.params.target)
            .map_err(|why| Error::bad(format!("--target: {why}")))?;
        let parent = dataset::parent(&self.params.target).ok_or_else(|| {
            Error::bad(format!(
                "--target {} is a pool; give POOL/REPO, a dataset inside it",
                self.params.target
            ))
        })?;
        if !cmd::installed("zfs") {
            return Err(Error::bad(
                "`zfs` is not installed (PATH or sbin); btrfs-to-zfs needs ZFS (OpenZFS or zfs-fuse)",
            ));
        }
        if !zfs::exists(parent).map_err(dataset::bad)? {
            return Err(Error::bad(format!(
                "parent dataset {parent} does not exist; create it (zfs create {parent}) or give another --target"
            )));
        }
        Ok(())
    }

    /// The snapshots to run, given the dataset's state.
    fn choose(&self, all: Vec<Snapshot>, state: &dataset::State) -> Result<Vec<Snapshot>> {
        let ds = &self.params.target;
        let names: Vec<String> = all.iter().map(|s| s.name.clone()).collect();
        let limit = self.params.limit.unwrap_or(usize::MAX);
        if self.verify_only {
            if !state.exists {
                return Err(Error::bad(format!(
                    "dataset {ds} does not exist; nothing to verify"
                )));
            }
            // Only what was migrated: the source's snapshots the dataset has.
            let migrated = all
                .into_iter()
                .filter(|s| state.snapshots.contains(&s.name))
                .take(limit)
                .collect::<Vec<_>>();
            if migrated.is_empty() {
                return Err(Error::bad(format!(
                    "dataset {ds} holds none of the source's snapshots; nothing to verify"
                )));
            }
            return Ok(migrated);
        }
        let replacing = self.params.recreate && !self.resuming && state.exists;
        if replacing && state.created_by.is_none() {
            return Err(Error::bad(format!(
                "dataset {ds} was not created by cutover (no {} property); refusing to destroy it — give another --target",
                dataset::CREATED
            )));
        }
        if state.exists && !replacing {
            dataset::continues(&state.snapshots, &names).map_err(|why| {
                Error::bad(format!(
                    "dataset {ds} does not continue the source: {why}; give --recreate to destroy and rebuild it (only a dataset cutover created)"
                ))
            })?;
        }
        Ok(all.into_iter().take(limit).collect())
    }
}

impl Migration for BtrfsToZfs {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn units(&self) -> crate::job::Units {
        kind::UNITS
    }

    fn params(&self) -> serde_json::Value {
        serde_json::to_value(&self.params).unwrap_or(serde_json::Value::Null)
    }

    fn check(&self) -> Result<()> {
        self.validate()
    }

    fn plan(&self) -> Result<Plan> {
        self.validate()?;
        let all = source::snapshots(&self.params.source)?;
        let state = dataset::state(&self.params.target)?;
        let snapshots = self.choose(all, &state)?;
        let mountpoint = match &state.mountpoint {
            Some(m) => m.clone(),
            None => dataset::expected_mountpoint(&self.params.target)?,
        };
        let mut plan = Plan::default();
        for s in &snapshots {
            // Counted by a walk of lstat calls, for progress and ETAs.
            let counted = crate::migrate::tree_sync::discover::count(&s.path);
            plan.files_total += counted.files;
            plan.bytes_total += counted.bytes;
            plan.items.push(Item {
                key: s.name.clone(),
                files: counted.files,
                bytes: counted.bytes,
            });
        }
        let _ = self.planned.set(Planned {
            snapshots,
            mountpoint,
            existed: state.exists,
        });
        Ok(plan)
    }

    fn prepare(&self, _plan: &Plan) -> Result<()> {
        let ds = &self.params.target;
        let state = dataset::state(ds)?;
        if state.exists && self.params.recreate && !self.resuming {
            if state.created_by.is_none() {
                return Err(Error::bad(format!(
                    "dataset {ds} was not created by cutover; refusing to destroy it"
                )));
            }
            zfs::destroy(ds, true).map_err(dataset::bad)?;
        } else if state.exists {
            return Ok(());
        }
        zfs::create(ds, &[(dataset::CREATED, &self.params.token)]).map_err(dataset::bad)
    }

    fn describe_item(&self, item: &Item) -> Vec<String> {
        let ds = &self.params.target;
        let Ok((planned, snap)) = self.snapshot_of(item) else {
            return vec![format!("snapshot {} is not in the plan", item.key)];
        };
        let mut steps = Vec::new();
        if zfs::exists(&format!("{ds}@{}", snap.name)).unwrap_or(false) {
            steps.push(format!(
                "{} exists already: verify it",
                dataset::shown(ds, &snap.name)
            ));
            return steps;
        }
        if !planned.existed && planned.snapshots.first() == Some(snap) {
            steps.push(format!("zfs create -o {}=… {ds}", dataset::CREATED));
        }
        steps.push(format!(
            "sync {} into {} (deleting what it no longer has; {} left out)",
            names::display(&snap.path),
            names::display(&planned.mountpoint),
            self.params.metadata.join(", ")
        ));
        steps.push(format!(
            "write {}/manifests/{}.json and {}/{}",
            manifest::DIR,
            snap.name,
            manifest::DIR,
            manifest::INDEX
        ));
        steps.push(format!("syncfs, then zfs snapshot {ds}@{}", snap.name));
        steps
    }

    fn run_item(&self, item: &Item, ctx: &ItemCtx) -> Result<Written, ItemError> {
        let (_, snap) = self.snapshot_of(item)?;
        let ds = &self.params.target;
        let exists =
            zfs::exists(&format!("{ds}@{}", snap.name)).map_err(|e| ItemError(e.to_string()))?;
        if exists {
            return Ok(Written {
                report: ItemReport::default(),
                memo: Some(Box::new(Fresh(false))),
            });
        }
        let mount = self.mountpoint()?;
        let skip = self.skip();
        let tree = nested::sync(&snap.path, &mount, &skip, ctx)?;
        let previous = manifest::read::<manifest::Index>(&manifest::index_path(&mount))
            .ok()
            .and_then(|idx| {
                let before = idx.snapshots.iter().rev().find(|e| e.name != snap.name)?;
                manifest::read(&manifest::manifest_path(&mount, &before.name)).ok()
            });
        let written = manifest::build(&snap.path, &snap.name, &skip, previous.as_ref())
            .map_err(|e| ItemError(format!("manifest of {}: {e}", names::display(&snap.path))))?;
        let io = |what: &str, e: std::io::Error| ItemError(format!("{what}: {e}"));
        manifest::write(&manifest::manifest_path(&mount, &snap.name), &written)
            .map_err(|e| io("writing the manifest", e))?;
        let mut index =
            manifest::read::<manifest::Index>(&manifest::index_path(&mount)).unwrap_or_default();
        index.dataset = ds.clone();
        index.source = self.params.source.clone();
        index.upsert(manifest::IndexEntry {
            name: snap.name.clone(),
            source: snap.path.clone(),
            migrated_at: now_utc(),
            entries: written.entries.len() as u64,
            bytes: tree.bytes,
            changed: tree.written,
            deleted: tree.deleted,
            metadata: source::metadata_of(&snap.path, &self.params.metadata),
        });
        manifest::write(&manifest::index_path(&mount), &index)
            .map_err(|e| io("writing the index", e))?;
        crate::target::flush::syncfs_path(&mount).map_err(|e| io("syncfs", e))?;
        zfs::snapshot(ds, &snap.name, &[(dataset::JOB, &self.params.token)])
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
        Ok(Written {
            report,
            memo: Some(Box::new(Fresh(true))),
        })
    }

    fn verify_item(
        &self,
        item: &Item,
        ctx: &ItemCtx,
        memo: Option<&Memo>,
        report: &mut ItemReport,
    ) -> Result<(), ItemError> {
        let (planned, snap) = self.snapshot_of(item)?;
        let fresh = memo
            .and_then(|m| m.downcast_ref::<Fresh>())
            .is_some_and(|f| f.0);
        let last = planned.snapshots.last() == Some(snap);
        check::snapshot(self, snap, fresh || last, ctx, report)
    }

    fn verify_label(&self) -> String {
        self.params.verify.label(self.params.seed)
    }

    fn lock_target(&self) -> Option<PathBuf> {
        // Rollback locks without planning: where the dataset is mounted.
        self.planned
            .get()
            .map(|p| p.mountpoint.clone())
            .or_else(|| dataset::expected_mountpoint(&self.params.target).ok())
    }

    fn rollback_preview(&self) -> Result<Preview> {
        let (snaps, dataset) = self.created()?;
        let mut destroy = Change::new("destroy");
        for s in snaps.iter().rev() {
            destroy.add(|| format!("{}@{s}", self.params.target));
        }
        if dataset {
            destroy.add(|| self.params.target.clone());
        }
        Ok(Preview {
            changes: vec![destroy],
            objection: None,
            name: Some(self.params.target.clone()),
        })
    }

    fn rollback(&self) -> Result<String> {
        let ds = &self.params.target;
        let (snaps, whole) = self.created()?;
        if snaps.is_empty() && !whole {
            return Ok(format!(
                "nothing to undo: {ds} holds nothing this job created"
            ));
        }
        for s in snaps.iter().rev() {
            zfs::destroy(&format!("{ds}@{s}"), false).map_err(dataset::bad)?;
        }
        if whole {
            zfs::destroy(ds, true).map_err(dataset::bad)?;
            return Ok(format!(
                "destroyed dataset {ds} and its {} snapshots; the source was not touched",
                snaps.len()
            ));
        }
        // The live dataset goes back to the newest snapshot left.
        let state = dataset::state(ds)?;
        if let Some(last) = state.snapshots.last() {
            zfs::rollback(ds, last).map_err(dataset::bad)?;
        }
        Ok(format!(
            "destroyed {} snapshots of {ds} ({}); the dataset and earlier snapshots stay, its files back at the newest of those; the source was not touched",
            snaps.len(),
            snaps.join(", ")
        ))
    }
}

impl BtrfsToZfs {
    /// The snapshots this job made (by its token), oldest first, and
    /// whether the dataset itself goes too (this job created it and no
    /// other snapshot remains in it).
    fn created(&self) -> Result<(Vec<String>, bool)> {
        let ds = &self.params.target;
        let state = dataset::state(ds)?;
        if !state.exists {
            return Ok((Vec::new(), false));
        }
        let full: Vec<String> = state
            .snapshots
            .iter()
            .map(|s| format!("{ds}@{s}"))
            .collect();
        let marks = zfs::property_of_each(&full, dataset::JOB).map_err(dataset::bad)?;
        let mine: Vec<String> = state
            .snapshots
            .iter()
            .filter(|s| marks.get(&format!("{ds}@{s}")) == Some(&self.params.token))
            .cloned()
            .collect();
        let whole = state.created_by.as_deref() == Some(self.params.token.as_str())
            && mine.len() == state.snapshots.len();
        Ok((mine, whole))
    }
}

/// Now, UTC, to the second (`2026-12-02 12:05:09 UTC`).
fn now_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    crate::report::utc(secs)
}
