//! btrfs-to-zfs: a repository's snapshots (BTRFS read-only snapshots or
//! plain directories, `s1`…`sN`) into one ZFS dataset with one snapshot
//! each. Items are snapshots, written strictly in order: sync the
//! snapshot's tree into the dataset (`tree_sync::nested`), write its
//! manifest and the index into `.cutover/`, flush, `zfs snapshot`.
//! Verification runs the four checks of `check.rs` on the ZFS snapshot,
//! while the next snapshot is written (`repo::Order`). A directory of
//! repositories makes one job whose repositories run in parallel, each
//! one's snapshots in order.

mod check;
pub mod console;
pub mod dataset;
pub mod discover;
pub mod figures;
pub mod kind;
pub mod manifest;
pub mod repo;
pub mod source;
mod write;

use std::path::PathBuf;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::job::event::ItemReport;
use crate::job::{Change, Item, ItemCtx, ItemError, Memo, Migration, Plan, Preview, Written};
use crate::names;
use crate::sys::{cmd, zfs};
use crate::verify::VerifyMode;
use repo::{Order, Planned, Repo};
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
    /// `source` holds repositories, each into `target/NAME`.
    #[serde(default)]
    pub several: bool,
    /// With `several`: only these repositories (empty: all).
    #[serde(default)]
    pub only: Vec<String>,
}

/// A btrfs-to-zfs job.
pub struct BtrfsToZfs {
    params: Params,
    verify_only: bool,
    resuming: bool,
    planned: OnceLock<Vec<Planned>>,
    order: OnceLock<Order>,
    /// Per dataset: the last snapshot verified whole in this process, with
    /// the stat of each file read back (see `check::Verified`).
    verified: std::sync::Mutex<std::collections::HashMap<String, check::Verified>>,
    /// Views of checked snapshots being dropped (their clones destroyed).
    reaper: dataset::Reaper,
}

/// Where `dataset` is mounted (mounting it when it is not), as an item
/// error if it cannot be: an unmounted dataset's mountpoint is a directory
/// of its parent, and a snapshot would not hold what was written there.
fn mountpoint(dataset: &str) -> Result<PathBuf, ItemError> {
    zfs::ensure_mounted(dataset).map_err(ItemError)
}

/// One item's place: its repository's plan (and index), and the snapshot.
struct Place<'a> {
    planned: &'a Planned,
    repo: usize,
    index: usize,
    snap: &'a Snapshot,
}

impl BtrfsToZfs {
    /// A new job (`verify_only`: `cutover verify`).
    pub fn new(params: Params, verify_only: bool) -> Self {
        BtrfsToZfs {
            params,
            verify_only,
            resuming: false,
            planned: OnceLock::new(),
            order: OnceLock::new(),
            verified: Default::default(),
            reaper: Default::default(),
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

    /// The job's repositories.
    pub fn repos(&self) -> Result<Vec<Repo>> {
        repo::list(
            &self.params.source,
            &self.params.target,
            self.params.several,
        )
    }

    /// Names left out of the content at a tree's root: cutover's own
    /// directory and the source's metadata files.
    fn skip(&self) -> Vec<&str> {
        let mut out = vec![manifest::DIR];
        out.extend(self.params.metadata.iter().map(String::as_str));
        out
    }

    fn place(&self, item: &Item) -> Result<Place<'_>, ItemError> {
        let planned = self
            .planned
            .get()
            .ok_or_else(|| ItemError("the job was not planned".into()))?;
        for (r, p) in planned.iter().enumerate() {
            if let Some(i) = p
                .snapshots
                .iter()
                .position(|s| p.repo.key(&s.name) == item.key)
            {
                return Ok(Place {
                    planned: p,
                    repo: r,
                    index: i,
                    snap: &p.snapshots[i],
                });
            }
        }
        Err(ItemError(format!(
            "snapshot {} is not in the plan",
            item.key
        )))
    }

    /// Refusals before anything is planned: the source's repository and
    /// snapshot names, the target's name, ZFS installed, the dataset that
    /// must exist (the parent of a single repository's, or the target of
    /// several).
    fn validate(&self) -> Result<()> {
        let repos = self.repos()?;
        for r in &repos {
            source::snapshots(&r.source)?;
        }
        if self.params.limit == Some(0) {
            return Err(Error::bad("--limit 0: give at least 1"));
        }
        zfs::check_dataset(&self.params.target)
            .map_err(|why| Error::bad(format!("--target: {why}")))?;
        let must_exist = if self.params.several {
            self.params.target.as_str()
        } else {
            dataset::parent(&self.params.target).ok_or_else(|| {
                Error::bad(format!(
                    "--target {} is a pool; give POOL/REPO, a dataset inside it",
                    self.params.target
                ))
            })?
        };
        if !cmd::installed("zfs") {
            return Err(Error::bad(
                "`zfs` is not installed (PATH or sbin); btrfs-to-zfs needs ZFS (OpenZFS or zfs-fuse)",
            ));
        }
        if !zfs::exists(must_exist).map_err(dataset::bad)? {
            return Err(Error::bad(format!(
                "dataset {must_exist} does not exist; create it (zfs create {must_exist}) or give another --target"
            )));
        }
        Ok(())
    }

    /// The snapshots of `repo` to run, given its dataset's state.
    fn choose(&self, repo: &Repo, state: &dataset::State) -> Result<Vec<Snapshot>> {
        let all = source::snapshots(&repo.source)?;
        let ds = &repo.dataset;
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
                    "dataset {ds} does not continue the source: {why}; give --recreate (in the console: s, R) to destroy and rebuild it (only a dataset cutover created)"
                ))
            })?;
        }
        Ok(all.into_iter().take(limit).collect())
    }

    /// Create (or, with `--recreate` on a new job, rebuild) one dataset.
    fn prepare_one(&self, ds: &str) -> Result<()> {
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

    /// The snapshots this job made in `ds` (by its token), oldest first,
    /// and whether the dataset itself goes too (this job created it and no
    /// other snapshot remains in it).
    fn created(&self, ds: &str) -> Result<(Vec<String>, bool)> {
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

    /// Undo what this job made in one dataset; what was done, in words.
    fn rollback_one(&self, ds: &str) -> Result<Option<String>> {
        let (snaps, whole) = self.created(ds)?;
        if snaps.is_empty() && !whole {
            return Ok(None);
        }
        for s in snaps.iter().rev() {
            zfs::destroy(&format!("{ds}@{s}"), false).map_err(dataset::bad)?;
        }
        if whole {
            zfs::destroy(ds, true).map_err(dataset::bad)?;
            return Ok(Some(format!(
                "destroyed dataset {ds} and its {} snapshots",
                snaps.len()
            )));
        }
        // The live dataset goes back to the newest snapshot left.
        let state = dataset::state(ds)?;
        if let Some(last) = state.snapshots.last() {
            zfs::rollback(ds, last).map_err(dataset::bad)?;
        }
        Ok(Some(format!(
            "destroyed {} snapshots of {ds} ({}); the dataset and earlier snapshots stay, its files back at the newest of those",
            snaps.len(),
            snaps.join(", ")
        )))
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
        let mut all = Vec::new();
        for repo in self.repos()? {
            let state = dataset::state(&repo.dataset)?;
            let snapshots = self.choose(&repo, &state)?;
            let mountpoint = match &state.mountpoint {
                Some(m) => m.clone(),
                None => dataset::expected_mountpoint(&repo.dataset)?,
            };
            all.push(Planned {
                repo,
                snapshots,
                mountpoint,
                existed: state.exists,
            });
        }
        // Round robin over the repositories: with N at once, each one's
        // next snapshot is near the front.
        let mut plan = Plan::default();
        let longest = all.iter().map(|p| p.snapshots.len()).max().unwrap_or(0);
        for i in 0..longest {
            for p in &all {
                let Some(s) = p.snapshots.get(i) else {
                    continue;
                };
                // Counted by a walk of lstat calls, for progress and ETAs.
                let counted = crate::files::count::count(&s.path);
                plan.files_total += counted.files;
                plan.bytes_total += counted.bytes;
                plan.items.push(Item {
                    key: p.repo.key(&s.name),
                    files: counted.files,
                    bytes: counted.bytes,
                });
            }
        }
        let _ = self.order.set(Order::new(all.len()));
        let _ = self.planned.set(all);
        Ok(plan)
    }

    fn prepare(&self, _plan: &Plan) -> Result<()> {
        for repo in self.repos()? {
            self.prepare_one(&repo.dataset)?;
            for clone in dataset::sweep_clones(&repo.dataset).map_err(dataset::bad)? {
                tracing::info!("destroyed {clone}, a temporary clone a killed run left");
            }
        }
        Ok(())
    }

    fn describe_item(&self, item: &Item) -> Vec<String> {
        let Ok(Place { planned, snap, .. }) = self.place(item) else {
            return vec![format!("snapshot {} is not in the plan", item.key)];
        };
        let ds = &planned.repo.dataset;
        if zfs::exists(&format!("{ds}@{}", snap.name)).unwrap_or(false) {
            return vec![format!(
                "{} exists already: verify it",
                dataset::shown(ds, &snap.name)
            )];
        }
        let mut steps = Vec::new();
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
        let place = self.place(item)?;
        let order = self
            .order
            .get()
            .ok_or_else(|| ItemError("the job was not planned".into()))?;
        let ds = &place.planned.repo.dataset;
        let previous = place
            .index
            .checked_sub(1)
            .and_then(|i| place.planned.snapshots.get(i))
            .map(|s| format!("{ds}@{}", s.name));
        order.wait_turn(place.repo, place.index, previous.as_deref(), ctx)?;
        match write::snapshot(self, &place.planned.repo, place.snap, ctx) {
            Ok(report) => {
                order.taken(place.repo, place.index);
                Ok(Written { report, memo: None })
            }
            Err(e) => {
                order.finished(place.repo, place.index, false);
                Err(e)
            }
        }
    }

    fn verify_item(
        &self,
        item: &Item,
        ctx: &ItemCtx,
        _memo: Option<&Memo>,
        report: &mut ItemReport,
    ) -> Result<(), ItemError> {
        let place = self.place(item)?;
        if let Some(order) = self.order.get() {
            order.wait_to_verify(place.repo, place.index, ctx)?;
        }
        // A snapshot just taken is the live state ZFS froze, under this
        // job's lock: check 2 reads it; the live files are compared for
        // the newest snapshot only, whatever wrote it.
        let last = place.planned.snapshots.last() == Some(place.snap);
        let scope = check::Scope {
            live: last,
            newest: last,
        };
        let result = check::snapshot(self, &place.planned.repo, place.snap, scope, ctx, report);
        if let Some(order) = self.order.get() {
            order.finished(place.repo, place.index, result.is_ok());
        }
        result
    }

    fn verify_label(&self) -> String {
        self.params.verify.label(self.params.seed)
    }

    fn lock_target(&self) -> Option<PathBuf> {
        // Several repositories: the parent dataset, which holds them all.
        // Rollback locks without planning: where the dataset is mounted.
        if self.params.several {
            return zfs::mountpoint(&self.params.target).ok().flatten();
        }
        self.planned
            .get()
            .and_then(|p| p.first())
            .map(|p| p.mountpoint.clone())
            .or_else(|| dataset::expected_mountpoint(&self.params.target).ok())
    }

    fn rollback_preview(&self) -> Result<Preview> {
        let mut destroy = Change::new("destroy");
        for repo in self.repos()? {
            let (snaps, whole) = self.created(&repo.dataset)?;
            for s in snaps.iter().rev() {
                destroy.add(|| format!("{}@{s}", repo.dataset));
            }
            if whole {
                destroy.add(|| repo.dataset.clone());
            }
        }
        Ok(Preview {
            changes: vec![destroy],
            objection: None,
            name: Some(self.params.target.clone()),
        })
    }

    fn rollback(&self) -> Result<String> {
        let mut done = Vec::new();
        for repo in self.repos()? {
            if let Some(line) = self.rollback_one(&repo.dataset)? {
                done.push(line);
            }
        }
        if done.is_empty() {
            return Ok(format!(
                "nothing to undo: {} holds nothing this job created",
                self.params.target
            ));
        }
        Ok(format!("{}; the source was not touched", done.join("; ")))
    }
}

/// Now, UTC, to the second (`2026-12-02 12:05:09 UTC`).
pub(crate) fn now_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    crate::report::utc(secs)
}
