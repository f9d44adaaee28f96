//! The data the console shows: sources, jobs, the bounded item stream and
//! the metrics of the current job. Plain data; only `app::update` changes it.

use std::collections::VecDeque;
use std::time::Duration;

use crate::job::event::JobId;

mod detail;
mod job;

pub use crate::job::details::{Column, Details, Field, Health, Section, Table, TableRow};
pub use detail::{Live, Reading};
pub use job::{JobMetrics, Phase, Rate, Sample};

/// How many lines of the item stream are kept (older ones are dropped;
/// the counts in [`JobMetrics`] stay exact).
pub const ITEM_LINES: usize = 100_000;
/// Progress samples older than this do not count towards the rate.
pub const RATE_WINDOW: Duration = Duration::from_secs(5);
/// Without progress for this long the rate is reset and shown as idle.
pub const IDLE_RESET: Duration = Duration::from_secs(3);
/// The shortest span of samples a rate is computed from.
pub const MIN_RATE_SPAN: Duration = Duration::from_millis(900);
/// At most this many in-flight item names are remembered.
const IN_FLIGHT_CAP: usize = 64;

/// A live rate limit as the metrics show it: `limit 50 MiB/s`, or
/// `no limit` (0).
pub fn rate_limit_label(bytes_per_s: u64) -> String {
    match bytes_per_s {
        0 => "no limit".to_string(),
        b => format!("limit {}/s", crate::fmt::bytes(b)),
    }
}

/// The rate `[` (lower) or `]` (raise) sets from `now` (bytes per second,
/// 0: none): half or double; lowering no limit starts at
/// [`FIRST_RATE_LIMIT`]; half never goes under [`MIN_RATE_LIMIT`], and
/// raising above [`MAX_RATE_LIMIT`] lifts the limit.
pub fn next_rate_limit(now: u64, raise: bool) -> u64 {
    match (now, raise) {
        (0, false) => FIRST_RATE_LIMIT,
        (0, true) => 0,
        (n, false) => (n / 2).max(MIN_RATE_LIMIT),
        (n, true) if n.saturating_mul(2) > MAX_RATE_LIMIT => 0,
        (n, true) => n * 2,
    }
}

/// The first limit when an unlimited job is slowed down: 100 MiB/s.
pub const FIRST_RATE_LIMIT: u64 = 100 << 20;
/// The lowest limit `[` sets: 64 KiB/s.
pub const MIN_RATE_LIMIT: u64 = 64 << 10;
/// The highest limit `]` sets; above it the limit is lifted: 10 GiB/s.
pub const MAX_RATE_LIMIT: u64 = 10 << 30;

/// The panes of the console, in `tab` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    /// Discovered sources.
    Sources,
    /// The nodes of the inventory (when there is one): reachable or not, ZFS, services.
    Nodes,
    /// The runbook's checklist (when one is open).
    Checklist,
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
    pub const ALL: [Pane; 9] = [
        Pane::Sources,
        Pane::Nodes,
        Pane::Checklist,
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
            Pane::Nodes => "Nodes",
            Pane::Checklist => "Checklist",
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

pub use crate::job::console::RunMode;

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
    /// The kind it belongs to (`tree-sync`).
    pub kind: String,
    /// The runs its kind offers; the first is what `enter` starts.
    pub modes: Vec<RunMode>,
    /// The runs that show what they would change and wait for `y`.
    pub asks_first: Vec<RunMode>,
    /// Steps its kind offers besides runs (`s`).
    pub steps: Vec<crate::job::console::Step>,
    /// Sources of one group (a redb cluster) may run together as one job.
    pub group: Option<String>,
    /// Source path, for display.
    pub source: String,
    /// Target path, for display.
    pub target: String,
    /// Entries found in the source.
    pub files: u64,
    /// Bytes of content in the source.
    pub bytes: u64,
    /// Its size as the sources pane says it (`3,057 files`, `18 packages`).
    pub count: String,
    /// Why the source cannot be used, if it cannot.
    pub problem: Option<String>,
    /// Whether the operator selected it.
    pub selected: bool,
    /// What happened to it in this session.
    pub runs: SourceRuns,
    /// What discovery found, for the details pane.
    pub details: Details,
    /// Fresh details read while the console runs (a store's numbers), if
    /// its kind reads them.
    pub live: Option<Live>,
    /// The columns of the table its last job's rows make (empty: none).
    pub columns: Vec<Column>,
    /// Rows of its last job's items, with their item (redb: per table).
    pub results: Vec<(String, TableRow)>,
    /// The node it is on (a node's service); none for a path.
    pub node: Option<String>,
    /// `t` picks the node it goes to (not a target path).
    pub picks_node: bool,
    /// The node picked for it, if one was.
    pub to_node: Option<String>,
    /// Selected sources of its group always run as one job (a stack).
    pub joint: bool,
}

impl SourceView {
    /// A source of `kind` offering `modes`, going from `source` to `target`.
    pub fn new(name: &str, kind: &str, modes: &[RunMode], source: &str, target: &str) -> Self {
        SourceView {
            name: name.to_string(),
            kind: kind.to_string(),
            modes: modes.to_vec(),
            asks_first: Vec::new(),
            steps: Vec::new(),
            group: None,
            source: source.to_string(),
            target: target.to_string(),
            files: 0,
            bytes: 0,
            count: String::new(),
            problem: None,
            selected: false,
            runs: SourceRuns::default(),
            details: Details::default(),
            live: None,
            columns: Vec::new(),
            results: Vec::new(),
            node: None,
            picks_node: false,
            to_node: None,
            joint: false,
        }
    }

    /// The same source, unusable for `problem`.
    pub fn unusable(mut self, problem: &str) -> SourceView {
        self.problem = Some(problem.to_string());
        self
    }

    /// Whether its kind offers `mode`.
    pub fn offers(&self, mode: RunMode) -> bool {
        self.modes.contains(&mode)
    }

    /// Whether it can be selected and run.
    pub fn usable(&self) -> bool {
        self.problem.is_none()
    }

    /// Whether the details pane has more to show than its counts.
    pub fn has_details(&self) -> bool {
        !self.details.is_empty() || self.live.is_some() || !self.results.is_empty()
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
    /// How it ran (`bulk`, `final`, `verify`, `migrate`; empty when unknown).
    pub mode: String,
    /// Parameters to rebuild the job for resume.
    pub params: serde_json::Value,
    /// The configured sources the job ran on (indices), when known.
    pub sources: Vec<usize>,
}

impl JobRow {
    /// Whether `r` may resume it (not completed, not a verification).
    pub fn resumable(&self) -> bool {
        // A verification is run again, never resumed (it wrote nothing).
        self.status != "completed" && self.mode != "verify"
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
    /// `=` lines ever pushed (exact, dropped ones included).
    pub verified: u64,
    /// `*` lines ever pushed.
    pub failed: u64,
    /// `!` lines ever pushed.
    pub warnings: u64,
}

impl ItemLog {
    /// Append a line, dropping the oldest past the bound. Returns whether one was dropped.
    pub fn push(&mut self, line: ItemLine) -> bool {
        match line.mark {
            ItemMark::Verified => self.verified += 1,
            ItemMark::Failed => self.failed += 1,
            ItemMark::Warning => self.warnings += 1,
            _ => {}
        }
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
    }
}
