//! The data the console shows: sources, jobs, the bounded item stream and
//! the metrics of the current job. Plain data; only `app::update` changes it.

use std::collections::VecDeque;
use std::time::Duration;

use crate::job::event::JobId;

mod detail;
mod job;

pub use detail::{
    Detail, RedbDetail, RedbFileView, RedbTableView, StoreDetail, StoreNumbers, StoreReading,
    TableRow,
};
pub use job::{JobMetrics, Phase, Rate, Sample};

/// How many lines of the item stream are kept (older ones are dropped;
/// the counts in [`JobMetrics`] stay exact).
pub const ITEM_LINES: usize = 500;
/// Progress samples older than this do not count towards the rate.
pub const RATE_WINDOW: Duration = Duration::from_secs(5);
/// Without progress for this long the rate is reset and shown as idle.
pub const IDLE_RESET: Duration = Duration::from_secs(3);
/// The shortest span of samples a rate is computed from.
pub const MIN_RATE_SPAN: Duration = Duration::from_millis(900);
/// At most this many in-flight item names are remembered.
const IN_FLIGHT_CAP: usize = 64;

/// The panes of the console, in `tab` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    /// Discovered sources.
    Sources,
    /// The operator's selection and what has been done with it.
    Selection,
    /// Jobs in the journal.
    Jobs,
    /// The per-item verification stream.
    Items,
    /// Throughput, counts, ETA, space saved and health.
    Metrics,
    /// What the source in view holds: a store's numbers, a redb node's tables.
    Details,
    /// The log (tui-logger).
    Logs,
}

impl Pane {
    /// Every pane in `tab` order.
    pub const ALL: [Pane; 7] = [
        Pane::Sources,
        Pane::Selection,
        Pane::Jobs,
        Pane::Items,
        Pane::Metrics,
        Pane::Details,
        Pane::Logs,
    ];

    /// The pane's title.
    pub fn title(self) -> &'static str {
        match self {
            Pane::Sources => "Sources",
            Pane::Selection => "Selection",
            Pane::Jobs => "Jobs",
            Pane::Items => "Items",
            Pane::Metrics => "Metrics",
            Pane::Details => "Details",
            Pane::Logs => "Log",
        }
    }

    fn index(self) -> usize {
        Pane::ALL.iter().position(|p| *p == self).unwrap_or(0)
    }

    /// The next pane in `tab` order.
    pub fn next(self) -> Pane {
        Pane::ALL[(self.index() + 1) % Pane::ALL.len()]
    }

    /// The previous pane in `tab` order.
    pub fn prev(self) -> Pane {
        Pane::ALL[(self.index() + Pane::ALL.len() - 1) % Pane::ALL.len()]
    }
}

/// What a job started from the console does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunMode {
    /// Bulk copy while the source stays live.
    Bulk,
    /// Final delta sync with deletions, inside the cutover window.
    Final,
    /// Verification only; writes nothing.
    Verify,
    /// Migration of a store or of redb nodes: written and verified item by item.
    Migrate,
    /// Resume of a journalled job.
    Resume,
}

impl RunMode {
    /// Words for the operator: `bulk copy`, `final sync`, `verify`, `migrate`, `resume`.
    pub fn label(self) -> &'static str {
        match self {
            RunMode::Bulk => "bulk copy",
            RunMode::Final => "final sync",
            RunMode::Verify => "verify",
            RunMode::Migrate => "migrate",
            RunMode::Resume => "resume",
        }
    }

    /// One word for the selection pane's run marks: `bulk`, `final`, `verify`, `migrate`.
    pub fn short(self) -> &'static str {
        match self {
            RunMode::Bulk => "bulk",
            RunMode::Final => "final",
            RunMode::Verify => "verify",
            RunMode::Migrate => "migrate",
            RunMode::Resume => "resume",
        }
    }
}

/// The kind of a source: it decides what the console offers for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// A directory tree (tree-sync).
    Tree,
    /// A package store going into a content-addressed store (store-to-cas).
    Store,
    /// A node of a redb cluster going into SQLite (redb-to-sqlite).
    Redb,
}

impl SourceKind {
    /// The runs the kind offers; the first is what `enter` starts.
    pub fn modes(self) -> &'static [RunMode] {
        match self {
            SourceKind::Tree => &[RunMode::Bulk, RunMode::Final, RunMode::Verify],
            SourceKind::Store => &[RunMode::Migrate],
            SourceKind::Redb => &[RunMode::Migrate, RunMode::Verify],
        }
    }

    /// Whether the kind offers `mode`.
    pub fn offers(self, mode: RunMode) -> bool {
        self.modes().contains(&mode)
    }

    /// `tree`, `store`, `redb`.
    pub fn label(self) -> &'static str {
        match self {
            SourceKind::Tree => "tree",
            SourceKind::Store => "store",
            SourceKind::Redb => "redb",
        }
    }
}

/// The result of one kind of run on one source, in this session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Running now.
    Running,
    /// Every item verified.
    Verified,
    /// Some item failed verification or could not be written.
    Failed,
    /// Cancelled by the operator (resumable unless verify only).
    Cancelled,
    /// The job could not start or ended abnormally.
    Error,
}

impl Outcome {
    /// One-character mark: `…` running, `✓` verified, `✗` failed, `-` cancelled, `!` error.
    pub fn mark(self) -> &'static str {
        match self {
            Outcome::Running => "…",
            Outcome::Verified => "✓",
            Outcome::Failed => "✗",
            Outcome::Cancelled => "-",
            Outcome::Error => "!",
        }
    }
}

/// What has been done with a source in this session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SourceRuns {
    /// The last bulk copy.
    pub bulk: Option<Outcome>,
    /// The last final sync.
    pub final_sync: Option<Outcome>,
    /// The last verification-only run.
    pub verify: Option<Outcome>,
    /// The last migration (stores, redb nodes).
    pub migrate: Option<Outcome>,
}

impl SourceRuns {
    /// The slot for a run mode (resume has none).
    pub fn slot(&mut self, mode: RunMode) -> Option<&mut Option<Outcome>> {
        match mode {
            RunMode::Bulk => Some(&mut self.bulk),
            RunMode::Final => Some(&mut self.final_sync),
            RunMode::Verify => Some(&mut self.verify),
            RunMode::Migrate => Some(&mut self.migrate),
            RunMode::Resume => None,
        }
    }

    /// The outcome of the last run of `mode`.
    pub fn get(&self, mode: RunMode) -> Option<Outcome> {
        match mode {
            RunMode::Bulk => self.bulk,
            RunMode::Final => self.final_sync,
            RunMode::Verify => self.verify,
            RunMode::Migrate => self.migrate,
            RunMode::Resume => None,
        }
    }
}

/// A discovered source as the console shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceView {
    /// Short name (`photos`).
    pub name: String,
    /// Source path, for display.
    pub source: String,
    /// Target path, for display.
    pub target: String,
    /// Entries found in the source.
    pub files: u64,
    /// Bytes of content in the source.
    pub bytes: u64,
    /// Why the source cannot be used, if it cannot.
    pub problem: Option<String>,
    /// Whether the operator selected it.
    pub selected: bool,
    /// What happened to it in this session.
    pub runs: SourceRuns,
    /// What the details pane shows of it; also says its kind.
    pub detail: Detail,
}

impl SourceView {
    /// A tree going from `source` to `target`.
    pub fn tree(name: &str, source: &str, target: &str, files: u64, bytes: u64) -> SourceView {
        SourceView {
            name: name.to_string(),
            source: source.to_string(),
            target: target.to_string(),
            files,
            bytes,
            problem: None,
            selected: false,
            runs: SourceRuns::default(),
            detail: Detail::Tree,
        }
    }

    /// A package store of `packages` packages going into the content-addressed store `target`.
    pub fn store(
        name: &str,
        source: &str,
        target: &str,
        packages: u64,
        files: u64,
        bytes: u64,
    ) -> SourceView {
        SourceView {
            detail: Detail::Store(StoreDetail::new(packages)),
            ..SourceView::tree(name, source, target, files, bytes)
        }
    }

    /// A redb node: `files` are key/value pairs, `bytes` the size of its redb files.
    pub fn redb(name: &str, source: &str, target: &str, detail: RedbDetail) -> SourceView {
        let files = detail
            .files
            .iter()
            .flat_map(|f| &f.tables)
            .map(|t| t.entries)
            .sum();
        let bytes = detail.files.iter().map(|f| f.size).sum();
        SourceView {
            detail: Detail::Redb(detail),
            ..SourceView::tree(name, source, target, files, bytes)
        }
    }

    /// The same source, unusable for `problem`.
    pub fn unusable(mut self, problem: &str) -> SourceView {
        self.problem = Some(problem.to_string());
        self
    }

    /// Its kind.
    pub fn kind(&self) -> SourceKind {
        match self.detail {
            Detail::Tree => SourceKind::Tree,
            Detail::Store(_) => SourceKind::Store,
            Detail::Redb(_) => SourceKind::Redb,
        }
    }

    /// Whether it can be selected and run.
    pub fn usable(&self) -> bool {
        self.problem.is_none()
    }

    /// The cluster of a redb node (nodes of one cluster can run as one job).
    pub fn cluster(&self) -> Option<&str> {
        match &self.detail {
            Detail::Redb(r) => Some(&r.cluster),
            _ => None,
        }
    }
}

/// A job as the jobs pane shows it (from the journal).
#[derive(Debug, Clone, PartialEq)]
pub struct JobRow {
    /// Journal id.
    pub job: JobId,
    /// Migration kind (`tree-sync`).
    pub kind: String,
    /// Journal status, lowercase (`running`, `interrupted`, …).
    pub status: String,
    /// Items in the plan.
    pub items_total: u64,
    /// Items verified.
    pub items_verified: u64,
    /// Items failed.
    pub items_failed: u64,
    /// What the job was about (`photos (final)`).
    pub label: String,
    /// Parameters to rebuild the job for resume.
    pub params: serde_json::Value,
    /// The configured sources the job ran on (indices), when known.
    pub sources: Vec<usize>,
}

impl JobRow {
    /// Whether `r` may resume it (not completed).
    pub fn resumable(&self) -> bool {
        self.status != "completed"
    }
}

/// The mark in front of a line of the item stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemMark {
    /// `=` written (or current) and verified.
    Verified,
    /// `*` failed, with the differences.
    Failed,
    /// `!` a warning (a file vanished or changed mid-copy).
    Warning,
    /// `·` a step a dry run would execute.
    Step,
    /// `─` a job began or ended.
    Note,
    /// `≡` one table of a file (redb): read, written, verified, errors, time.
    Table,
}

impl ItemMark {
    /// The mark as a character, after rclone check's conventions.
    pub fn symbol(self) -> char {
        match self {
            ItemMark::Verified => '=',
            ItemMark::Failed => '*',
            ItemMark::Warning => '!',
            ItemMark::Step => '·',
            ItemMark::Note => '─',
            ItemMark::Table => '≡',
        }
    }
}

/// One line of the item stream.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemLine {
    /// What kind of line.
    pub mark: ItemMark,
    /// The item key (or the job, for notes).
    pub item: String,
    /// Details: counts, the difference found, the warning.
    pub detail: String,
}

/// The per-item stream: the last [`ITEM_LINES`] lines, and how many fell off.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ItemLog {
    /// Kept lines, oldest first.
    pub lines: VecDeque<ItemLine>,
    /// Lines dropped from the front to bound memory.
    pub dropped: u64,
}

impl ItemLog {
    /// Append a line, dropping the oldest past the bound. Returns whether one was dropped.
    pub fn push(&mut self, line: ItemLine) -> bool {
        self.lines.push_back(line);
        if self.lines.len() > ITEM_LINES {
            self.lines.pop_front();
            self.dropped += 1;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn item_log_is_bounded() {
        let mut log = ItemLog::default();
        for i in 0..(ITEM_LINES + 10) {
            log.push(ItemLine {
                mark: ItemMark::Verified,
                item: i.to_string(),
                detail: String::new(),
            });
        }
        assert_eq!(log.lines.len(), ITEM_LINES);
        assert_eq!(log.dropped, 10);
        assert_eq!(log.lines.front().map(|l| l.item.as_str()), Some("10"));
    }

    #[test]
    fn panes_cycle() {
        assert_eq!(Pane::Logs.next(), Pane::Sources);
        assert_eq!(Pane::Sources.prev(), Pane::Logs);
        assert_eq!(Pane::Metrics.next(), Pane::Details);
        assert_eq!(SourceKind::Store.modes(), &[RunMode::Migrate]);
        assert!(SourceKind::Redb.offers(RunMode::Verify));
        assert!(!SourceKind::Store.offers(RunMode::Final));
    }
}
