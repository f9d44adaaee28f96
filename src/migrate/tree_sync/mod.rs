//! tree-sync: copy a live tree onto new storage (bulk copy while writers
//! run), then a final delta sync with deletions, then verification by
//! re-reading the target. Items are directories; see `walk`.

mod check;
mod copy;
pub mod discover;
pub mod kind;
mod links;
/// File metadata (shared: [`crate::files::meta`]).
pub use crate::files::meta;
pub mod nested;
mod place;
mod preview;
pub mod walk;

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::job::event::ItemReport;
use crate::job::{Item, ItemCtx, ItemError, Memo, Migration, Plan, Written};
use crate::names;
use crate::verify::sample::Sample;
use crate::verify::VerifyMode;

pub use walk::{dir_key, key_dir};

/// Kind name on the command line.
pub const KIND: &str = "tree-sync";

/// What the operator asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TreeSyncParams {
    pub source: PathBuf,
    pub target: PathBuf,
    /// The cutover delta sync: copy what changed and delete on the target
    /// what the source no longer has.
    pub final_sync: bool,
    pub verify: VerifyMode,
    pub seed: u64,
    /// A final sync onto a target no journalled bulk copy of the same
    /// source wrote, confirmed by the operator (`--force`).
    #[serde(default)]
    pub force: bool,
}

/// Whether the target's file at a relative path already holds the source
/// file with this stat: a caller's knowledge finer than the quick check
/// (btrfs-to-zfs: the previous snapshot's manifest keeps the source's mtime
/// to the nanosecond, where zfs-fuse keeps whole seconds).
pub type Known = std::sync::Arc<dyn Fn(&Path, &meta::Stat) -> bool + Send + Sync>;

/// The content a target file is known to hold without reading it: the
/// caller read the same file, untouched since, when verifying an earlier
/// snapshot of the same dataset (btrfs-to-zfs). Given the relative path,
/// the source's stat and the target's; `None`: read it.
pub type Inherited =
    std::sync::Arc<dyn Fn(&Path, &meta::Stat, &meta::Stat) -> Option<blake3::Hash> + Send + Sync>;

/// A tree-sync job.
pub struct TreeSync {
    params: TreeSyncParams,
    /// Set when resuming: the target is non-empty because of this job itself.
    resuming: bool,
    /// Only compare: the target must exist and may hold anything.
    verify_only: bool,
    sample: OnceLock<Sample>,
    /// Source (dev, ino) of multiply-linked files → their first copy.
    links: links::LinkTable,
    /// Item keys of the plan: the directories some item owns (see `place`).
    planned_dirs: OnceLock<HashSet<String>>,
    /// Flushes the target's filesystem before items are recorded verified.
    sync: crate::target::SyncGroup,
    /// Source (dev, ino) → target (dev, ino), to check links during verification.
    verified_links: Mutex<HashMap<(u64, u64), (u64, u64)>>,
    /// Names at the tree's root that are neither copied, deleted nor
    /// compared (another kind's metadata, see [`nested`]).
    skip_root: Vec<OsString>,
    /// What a caller knows to be current in the target already (btrfs-to-zfs:
    /// a file unchanged since the snapshot the dataset holds), see [`Known`].
    known: Option<Known>,
    /// When set, verification keeps the BLAKE3 of each target file it
    /// read, by relative path ([`nested::compare`] hands them on).
    target_hashes: Option<Mutex<HashMap<PathBuf, blake3::Hash>>>,
    /// Target files whose content is known without reading ([`Inherited`]).
    inherited: Option<Inherited>,
    /// When set, verification keeps the stat of each target file whose
    /// content it found equal (read or inherited), by relative path.
    verified_stats: Option<Mutex<HashMap<PathBuf, meta::Stat>>>,
}

impl TreeSync {
    /// A new job from the operator's parameters.
    pub fn new(params: TreeSyncParams) -> Self {
        TreeSync {
            sync: crate::target::SyncGroup::new(&params.target),
            params,
            resuming: false,
            verify_only: false,
            sample: OnceLock::new(),
            links: links::LinkTable::default(),
            planned_dirs: OnceLock::new(),
            verified_links: Mutex::new(HashMap::new()),
            skip_root: Vec::new(),
            known: None,
            target_hashes: None,
            inherited: None,
            verified_stats: None,
        }
    }

    /// A job that only verifies `target` against `source` (`cutover verify`).
    pub fn for_verification(params: TreeSyncParams) -> Self {
        let mut job = TreeSync::new(params);
        job.verify_only = true;
        job
    }

    /// Rebuild from journalled parameters for `cutover resume`.
    pub fn from_params(value: &serde_json::Value) -> Result<Self> {
        let params: TreeSyncParams = crate::job::journalled_params(KIND, value)?;
        let mut job = TreeSync::new(params);
        job.resuming = true;
        Ok(job)
    }

    /// The parameters.
    pub fn params(&self) -> &TreeSyncParams {
        &self.params
    }

    /// Whether `rel` (relative to the tree root) is a directory an item of
    /// this plan owns.
    fn is_planned_dir(&self, rel: &Path) -> bool {
        self.planned_dirs
            .get()
            .is_some_and(|set| set.contains(&dir_key(rel)))
    }

    fn sample(&self) -> Sample {
        self.sample.get().copied().unwrap_or_else(Sample::all)
    }

    /// Entries of `dir` (the tree's `rel`), sorted, without the root's
    /// skipped names.
    fn entries(&self, dir: &Path, rel: &Path) -> std::io::Result<Vec<(OsString, meta::Stat)>> {
        let mut entries = walk::read_sorted(dir)?;
        if rel.as_os_str().is_empty() && !self.skip_root.is_empty() {
            entries.retain(|(name, _)| !self.skip_root.contains(name));
        }
        Ok(entries)
    }

    fn dirs_of(&self, item: &Item) -> Result<(PathBuf, PathBuf, PathBuf), ItemError> {
        let rel = key_dir(&item.key)
            .ok_or_else(|| ItemError(format!("item key '{}' is not a path", item.key)))?;
        let under = |base: &Path| {
            if rel.as_os_str().is_empty() {
                base.to_path_buf()
            } else {
                base.join(&rel)
            }
        };
        Ok((under(&self.params.source), under(&self.params.target), rel))
    }

    /// Check the inputs; nothing is written. Every refusal is one line.
    fn validate(&self, verify_only: bool) -> Result<()> {
        let src = &self.params.source;
        let dst = &self.params.target;
        let md = std::fs::metadata(src).map_err(|e| {
            Error::bad(format!(
                "source {} cannot be read ({e}); check the path",
                names::display(src)
            ))
        })?;
        if !md.is_dir() {
            return Err(Error::bad(format!(
                "source {} is not a directory; tree-sync copies a directory tree",
                names::display(src)
            )));
        }
        let csrc = src
            .canonicalize()
            .map_err(|e| Error::io("cannot resolve source", src, &e))?;
        let cdst = canonical_target(dst)?;
        if cdst == csrc {
            return Err(Error::bad(format!(
                "source and target are the same directory ({}); choose a different target",
                names::display(&csrc)
            )));
        }
        if cdst.starts_with(&csrc) {
            return Err(Error::bad(format!(
                "target {} is inside source {}; choose a target outside the source",
                names::display(dst),
                names::display(src)
            )));
        }
        if csrc.starts_with(&cdst) {
            return Err(Error::bad(format!(
                "source {} is inside target {}; choose a target that does not contain the source",
                names::display(src),
                names::display(dst)
            )));
        }
        match std::fs::symlink_metadata(dst) {
            Ok(md) if !md.is_dir() => Err(Error::bad(format!(
                "target {} exists and is not a directory; remove it or choose another target",
                names::display(dst)
            ))),
            Ok(_) => {
                let non_empty = std::fs::read_dir(dst)
                    .map_err(|e| Error::io("cannot read target", dst, &e))?
                    .next()
                    .is_some();
                if non_empty && !self.params.final_sync && !self.resuming && !verify_only {
                    Err(Error::bad(format!(
                        "target {} is not empty: sync into it with a final sync (--final; f in the console), or choose an empty target",
                        names::display(dst)
                    )))
                } else {
                    Ok(())
                }
            }
            Err(_) if verify_only => Err(Error::bad(format!(
                "target {} does not exist; nothing to verify",
                names::display(dst)
            ))),
            Err(_) => Ok(()),
        }
    }

    fn walk(&self) -> Plan {
        let mut builder = self.params.verify.sampler(self.params.seed);
        // A target that already holds copies (final sync, resume): names of a
        // multiply-linked file copied by an earlier run seed the link table,
        // so a name missing from the target is linked to that copy.
        let seed_links = self.resuming || self.params.final_sync;
        let target = &self.params.target;
        let links = &self.links;
        let skip = &self.skip_root;
        let (plan, sample) =
            walk::plan_tree(&self.params.source, skip, builder.as_mut(), |rel, st| {
                if !seed_links || st.nlink < 2 {
                    return;
                }
                let current = meta::lstat(&target.join(rel))
                    .is_ok_and(|d| d.kind == meta::Kind::File && d.is_copy_of(st));
                if current {
                    links.seed((st.dev, st.ino), rel);
                }
            });
        let _ = self
            .planned_dirs
            .set(plan.items.iter().map(|i| i.key.clone()).collect());
        let _ = self.sample.set(sample);
        plan
    }
}

/// Canonical form of a target that may not exist yet: its parent must.
fn canonical_target(dst: &Path) -> Result<PathBuf> {
    if let Ok(c) = dst.canonicalize() {
        return Ok(c);
    }
    let parent = match dst.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = dst.file_name().ok_or_else(|| {
        Error::bad(format!(
            "target {} has no directory name; give a path such as /mnt/new/tree",
            names::display(dst)
        ))
    })?;
    let cparent = parent.canonicalize().map_err(|e| {
        Error::bad(format!(
            "target's parent {} cannot be used ({e}); create it first",
            names::display(&parent)
        ))
    })?;
    Ok(cparent.join(name))
}

impl Migration for TreeSync {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn units(&self) -> crate::job::Units {
        kind::UNITS
    }

    fn params(&self) -> serde_json::Value {
        serde_json::to_value(&self.params).unwrap_or(serde_json::Value::Null)
    }

    /// `final` for the cutover delta sync, else `bulk`.
    fn mode(&self) -> &'static str {
        if self.params.final_sync {
            "final"
        } else {
            "bulk"
        }
    }

    fn check(&self) -> Result<()> {
        self.validate(self.verify_only)
    }

    fn plan(&self) -> Result<Plan> {
        self.validate(self.verify_only)?;
        Ok(self.walk())
    }

    fn describe_item(&self, item: &Item) -> Vec<String> {
        copy::describe(self, item)
    }

    fn run_item(&self, item: &Item, ctx: &ItemCtx) -> Result<Written, ItemError> {
        let (report, memo) = copy::copy_dir(self, item, ctx)?;
        Ok(Written {
            report,
            memo: Some(Box::new(memo)),
        })
    }

    fn verify_item(
        &self,
        item: &Item,
        ctx: &ItemCtx,
        memo: Option<&Memo>,
        report: &mut ItemReport,
    ) -> Result<(), ItemError> {
        let memo = memo.and_then(|m| m.downcast_ref::<copy::CopyMemo>());
        check::check_dir(self, item, ctx, memo, report)
    }

    fn verify_label(&self) -> String {
        self.params.verify.label(self.params.seed)
    }

    fn lock_target(&self) -> Option<PathBuf> {
        Some(self.params.target.clone())
    }

    fn flush(&self, _item: &Item) -> Result<(), ItemError> {
        self.sync.sync().map_err(|e| ItemError(e.to_string()))
    }

    fn guard(&self, earlier: &[crate::job::Earlier]) -> Result<()> {
        preview::guard(self, earlier)
    }

    fn rollback_preview(&self) -> Result<crate::job::Preview> {
        preview::rollback_preview(self)
    }

    fn preview(&self, plan: &Plan) -> Result<Option<crate::job::Preview>> {
        if !self.params.final_sync || self.verify_only {
            return Ok(None);
        }
        preview::preview(self, plan).map(Some)
    }

    fn rollback(&self) -> Result<String> {
        if self.params.final_sync {
            return Err(Error::bad(format!(
                "a final sync updated {} in place; it cannot be undone by cutover — the source is intact, sync from it again",
                names::display(&self.params.target)
            )));
        }
        let dst = &self.params.target;
        match std::fs::symlink_metadata(dst) {
            Ok(_) => {
                meta::remove_any(dst).map_err(|e| Error::io("cannot remove target", dst, &e))?;
                Ok(format!(
                    "removed the bulk copy at {}; the source was not touched",
                    names::display(dst)
                ))
            }
            Err(_) => Ok(format!(
                "nothing to undo: {} does not exist",
                names::display(dst)
            )),
        }
    }
}
