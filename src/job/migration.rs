//! The contract between the engine and a migration kind: items, plans,
//! what an item's work may look at, and the [`Migration`] trait.

use std::any::Any;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::event::ItemReport;
use crate::error::{Error, Result};

/// One unit of work: the smallest thing that is written, verified and
/// journalled on its own (a directory of a tree, a package, a table…).
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// Stable key; the journal records the item's state under it.
    pub key: String,
    /// Entries of the source the item covers.
    pub files: u64,
    /// Bytes of content the item covers.
    pub bytes: u64,
}

/// The items of a job, in the order they should run, with totals for ETAs.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub items: Vec<Item>,
    pub files_total: u64,
    pub bytes_total: u64,
    /// Keys the kind knows were written, verified and flushed by an earlier
    /// run, on its own durable record (store-to-cas: packages its store
    /// recorded completed), and left out of `items`. A resumed job whose
    /// journal lost an item's verified record to a kill (the journal
    /// flushes in groups) but still has the item started counts it
    /// verified.
    pub done_before: Vec<String>,
}

/// Data a kind keeps between writing an item and verifying it (for example
/// the hashes computed while copying).
pub type Memo = Box<dyn Any + Send>;

/// What `run_item` hands back: the item's report so far and its memo.
pub struct Written {
    pub report: ItemReport,
    pub memo: Option<Memo>,
}

/// Shared counters the engine turns into coalesced progress events.
#[derive(Debug, Default)]
pub struct Progress {
    pub files_done: AtomicU64,
    pub bytes_done: AtomicU64,
}

impl Progress {
    /// Count one finished file of `bytes` bytes.
    pub fn add(&self, files: u64, bytes: u64) {
        self.files_done.fetch_add(files, Ordering::Relaxed);
        self.bytes_done.fetch_add(bytes, Ordering::Relaxed);
    }
}

/// What an item's work may look at while it runs.
pub struct ItemCtx<'a> {
    pub progress: &'a Progress,
    pub cancel: &'a AtomicBool,
}

impl ItemCtx<'_> {
    /// Whether the operator asked the job to stop.
    pub fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }
}

/// Why an item failed: every difference or error, readable by an operator.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemError(pub String);

impl std::fmt::Display for ItemError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A migration kind. Implementations hold their parameters (source, target,
/// options); the engine calls these from blocking worker threads.
pub trait Migration: Send + Sync {
    /// Kind name as used on the command line (`tree-sync`).
    fn kind(&self) -> &'static str;
    /// What the kind's items and entries are called (the kind's
    /// [`super::Kind::units`]); sent with the job's first event.
    fn units(&self) -> super::Units;
    /// Parameters stored in the journal so `cutover resume` can rebuild the job.
    fn params(&self) -> serde_json::Value;
    /// How a writing job of this kind runs, as the journal records it
    /// (`bulk`, `final`; default `migrate`). A verification is `verify`,
    /// whatever the kind.
    fn mode(&self) -> &'static str {
        "migrate"
    }
    /// Check the inputs cheaply (paths exist, target allowed); writes nothing.
    fn check(&self) -> Result<()>;
    /// Check the inputs and turn them into items; writes nothing.
    fn plan(&self) -> Result<Plan>;
    /// Set up the target once the job is recorded, before any item runs
    /// (never in a dry run or a verification). Resumes call it again.
    fn prepare(&self, _plan: &Plan) -> Result<()> {
        Ok(())
    }
    /// Called once every item has finished (also after failures), to record
    /// the outcome in the target's own bookkeeping.
    fn finish(&self, _summary: &crate::engine::Summary) -> Result<()> {
        Ok(())
    }
    /// The exact steps `run_item` would take, for a dry run.
    fn describe_item(&self, item: &Item) -> Vec<String>;
    /// Write one item to the target.
    fn run_item(&self, item: &Item, ctx: &ItemCtx) -> Result<Written, ItemError>;
    /// Re-read the item from the target, independently of how it was written.
    /// `memo` is what `run_item` returned, when it ran in this process.
    fn verify_item(
        &self,
        item: &Item,
        ctx: &ItemCtx,
        memo: Option<&Memo>,
        report: &mut ItemReport,
    ) -> Result<(), ItemError>;
    /// Label of the verification mode, shown to the operator (`sample=100 seed=7`).
    fn verify_label(&self) -> String;
    /// Undo what the job wrote to the target. The source is never touched.
    fn rollback(&self) -> Result<String>;
    /// The target this job writes, locked for the job's duration (see
    /// [`crate::target::lock`]): exclusively by a writing job, shared by a
    /// verification. `None`: the kind guards its target itself.
    fn lock_target(&self) -> Option<std::path::PathBuf> {
        None
    }
    /// Make what `run_item` wrote for `item` durable (on stable storage),
    /// then record it so in the kind's own bookkeeping, if it keeps one.
    /// The engine calls it after the item verified, without holding a work
    /// slot, and before the journal records the item verified; kinds share
    /// the cost across items (see [`crate::target::SyncGroup`]).
    fn flush(&self, item: &Item) -> Result<(), ItemError> {
        let _ = item;
        Ok(())
    }
    /// Refuse to start a new job that would destroy what cutover has no
    /// record of (a final sync onto a target no bulk copy of the same
    /// source wrote), given the jobs the journal holds. The engine calls it
    /// before planning a new writing job (never on resume, dry run or
    /// verification). Default: no objection.
    fn guard(&self, earlier: &[Earlier]) -> Result<()> {
        let _ = earlier;
        Ok(())
    }
    /// What the job would delete, replace and write, counted and with the
    /// first names of each, for the operator to confirm before a
    /// destructive run (`plan` first). Default: nothing to say.
    fn preview(&self, plan: &Plan) -> Result<Option<Preview>> {
        let _ = plan;
        Ok(None)
    }
    /// What [`Migration::rollback`] would remove, for the operator's
    /// confirmation (refused with why when the job cannot be undone).
    /// Default: nothing listed.
    fn rollback_preview(&self) -> Result<Preview> {
        Ok(Preview::default())
    }
    /// The job's live rate limit in bytes per second (0: none), which the
    /// console raises and lowers while the job runs; its items read it as
    /// they go. Default: the job has none.
    fn rate_limit(&self) -> Option<std::sync::Arc<std::sync::atomic::AtomicU64>> {
        None
    }
}

/// A job the journal holds, as [`Migration::guard`] sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Earlier {
    /// Its kind.
    pub kind: String,
    /// Its journalled parameters.
    pub params: serde_json::Value,
}

/// How many names of each change a [`Preview`] keeps.
pub const PREVIEW_NAMES: usize = 5;

/// One kind of change a job would make: `delete`, `replace`, `copy`…
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Change {
    /// The verb (`delete`).
    pub verb: String,
    /// How many entries.
    pub count: u64,
    /// The first [`PREVIEW_NAMES`] of them.
    pub first: Vec<String>,
}

impl Change {
    /// No change yet of `verb`.
    pub fn new(verb: &str) -> Change {
        Change {
            verb: verb.to_string(),
            ..Change::default()
        }
    }

    /// Count one more, keeping its name while there is room.
    pub fn add(&mut self, name: impl FnOnce() -> String) {
        self.count += 1;
        if self.first.len() < PREVIEW_NAMES {
            self.first.push(name());
        }
    }

    /// Add another preview's count and names of the same verb.
    pub fn merge(&mut self, other: Change) {
        self.count += other.count;
        let room = PREVIEW_NAMES.saturating_sub(self.first.len());
        self.first.extend(other.first.into_iter().take(room));
    }
}

/// What a destructive job would change, for the operator's confirmation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preview {
    /// One entry per kind of change, destructive ones first.
    pub changes: Vec<Change>,
    /// Why the job would be refused without a second, typed confirmation
    /// ([`Migration::guard`]'s objection), if it would.
    pub objection: Option<String>,
    /// The name to type over the objection (default: the target folder's).
    pub name: Option<String>,
}

impl Preview {
    /// Entries deleted or replaced.
    pub fn destroys(&self) -> u64 {
        self.changes
            .iter()
            .filter(|c| c.verb == "delete" || c.verb == "replace" || c.verb == "destroy")
            .map(|c| c.count)
            .sum()
    }
}

/// Read a kind's journalled parameters back (for `cutover resume`).
pub fn journalled_params<T: serde::de::DeserializeOwned>(
    kind: &str,
    value: &serde_json::Value,
) -> Result<T> {
    serde_json::from_value(value.clone())
        .map_err(|e| Error::bad(format!("journal holds unreadable {kind} parameters: {e}")))
}
