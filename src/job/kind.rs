//! How a migration kind describes itself, once: its name, its command-line
//! arguments, how its jobs are built (from arguments, or from the journal
//! for `resume`/`rollback`), its run defaults, the words for what its items
//! and entries are, and how its per-item rows read. The registry
//! ([`crate::kinds`]) lists the kinds; the command line and headless output
//! know kinds only through this trait.

use clap::{ArgMatches, Args};

use super::console::{NodesSeen, RunMode, Settings, Source, Step};
use super::details::{Column, Details, TableRow};
use super::event::Row;
use super::Migration;
use crate::error::{Error, Result};

/// Words for what a kind moves, used by every front end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Units {
    /// One item (`directory`, `package`, `redb file`).
    pub item: &'static str,
    /// What items hold, plural (`files`, `entries`).
    pub entries: &'static str,
    /// What a job writes, plural (`files`, `entries`, a store's `new objects`):
    /// the word beside `files_transferred`.
    pub written: &'static str,
}

impl Default for Units {
    /// Neutral words, until a job's first event names its kind's.
    fn default() -> Self {
        Units {
            item: "item",
            entries: "entries",
            written: "entries",
        }
    }
}

/// How a kind's jobs run unless the operator says otherwise; `run`,
/// `resume` and the console all start from these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunDefaults {
    /// Items at once (`None`: the engine's default for this machine).
    pub parallel: Option<usize>,
    /// Items per batch (a batch finishes before the next starts).
    pub batch: Option<usize>,
}

/// The run arguments every kind takes, declared once.
#[derive(Debug, Clone, Default, Args)]
pub struct CommonArgs {
    /// How items are verified (the kind says which modes it has, e.g.
    /// `full`, `sample=N`, `count`); default: the kind's own.
    #[arg(long, value_name = "MODE")]
    pub verify: Option<String>,
    /// Seed of a sample (printed, so a check can be rerun).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Items processed at once; default: the kind's own.
    #[arg(long)]
    pub parallel: Option<usize>,
    /// Print every step; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// NDJSON events on stdout.
    #[arg(long)]
    pub json: bool,
}

impl CommonArgs {
    /// The verification mode asked for, or the kind's default.
    pub fn verify_or<'a>(&'a self, default: &'a str) -> &'a str {
        self.verify.as_deref().unwrap_or(default)
    }

    /// The seed asked for, or a fresh one.
    pub fn seed(&self) -> u64 {
        self.seed.unwrap_or_else(crate::verify::fresh_seed)
    }

    /// `--parallel 0` is refused.
    pub fn check(&self) -> Result<()> {
        if self.parallel == Some(0) {
            return Err(Error::bad("--parallel 0: give at least 1"));
        }
        Ok(())
    }
}

/// What a kind makes of a path an operator gives as a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detected {
    /// Not this kind's source.
    No,
    /// This kind's source.
    Yes,
    /// Any directory would do (tree-sync): taken when no other kind claims it.
    Fallback,
    /// It looks like this kind's, but must not be used as a source; why.
    Refused(String),
}

/// A job built from the command line: the migration and how it runs.
pub struct Built {
    pub migration: Box<dyn Migration>,
    pub defaults: RunDefaults,
}

/// A migration kind. Implementations live in the kind's folder and are
/// listed in [`crate::kinds`].
pub trait Kind: Send + Sync + 'static {
    /// The name on the command line and in the journal (`tree-sync`).
    fn name(&self) -> &'static str;
    /// One line for `cutover run --help`.
    fn about(&self) -> &'static str;
    /// What its items and entries are called.
    fn units(&self) -> Units;
    /// How its jobs run by default.
    fn run_defaults(&self) -> RunDefaults;
    /// Whether `cutover verify NAME` compares a target without writing.
    fn verifies(&self) -> bool {
        true
    }
    /// For a kind that does not verify through `cutover verify`: the
    /// command that checks its targets instead, said when an operator
    /// tries `cutover verify NAME`. Default: none (clap's own error).
    fn verified_by(&self) -> Option<&'static str> {
        None
    }
    /// Add the kind's own arguments (source, target, options) to `cmd`;
    /// the common ones ([`CommonArgs`]) are added by the command line.
    fn args(&self, cmd: clap::Command) -> clap::Command;
    /// A job from the parsed arguments (`verify_only`: `cutover verify`).
    fn build(&self, args: &ArgMatches, common: &CommonArgs, verify_only: bool) -> Result<Built>;
    /// Rebuild a job from its journalled parameters (`resume`, `rollback`).
    fn rebuild(&self, params: &serde_json::Value) -> Result<Box<dyn Migration>>;
    /// Whether `path` is a source of this kind (never writes). Default: a
    /// kind whose sources are only given on the command line.
    fn detect(&self, path: &std::path::Path) -> Detected {
        let _ = path;
        Detected::No
    }
    /// The console's sources for `path` going to `target` (one, or one per
    /// node of a cluster), named after `name`. Default: none (the console
    /// shows the kind's jobs, not its sources).
    fn sources(&self, name: &str, path: &std::path::Path, target: &std::path::Path) -> Vec<Source> {
        let _ = (name, path, target);
        Vec::new()
    }
    /// The console's sources among the nodes of the inventory, built from
    /// what probing found (no I/O: the console calls it after each probe).
    /// Default: none (the kind's sources are paths).
    fn node_sources(&self, seen: &NodesSeen) -> Vec<Source> {
        let _ = seen;
        Vec::new()
    }
    /// `source` (one of [`Kind::node_sources`], marked `picks_node`) going
    /// to node `to` instead: its target and parameters for
    /// [`Kind::console_job`]. Refused with why (the node it is on, a node
    /// without the kind's needs). Default: the kind's sources pick no node.
    fn pick_node(&self, source: &Source, to: &str, seen: &NodesSeen) -> Result<Source> {
        let _ = seen;
        Err(Error::bad(format!(
            "{} goes to no other node: {} sources take no target node ({to})",
            source.name,
            self.name()
        )))
    }
    /// How a target given on the command line or in the console is kept.
    /// Default: a path, made absolute (so journalled jobs resume from any
    /// directory); a kind whose targets are names (a ZFS dataset) keeps them.
    fn target_of(&self, given: &std::path::Path) -> std::path::PathBuf {
        std::path::absolute(given).unwrap_or_else(|_| given.to_path_buf())
    }
    /// The runs the console offers on the kind's sources; the first is what
    /// `enter` starts.
    fn modes(&self) -> &'static [RunMode] {
        &[RunMode::Migrate]
    }
    /// Whether a run of `mode` is shown to the operator first (its
    /// [`super::Migration::preview`]: what it deletes, replaces, copies)
    /// and starts only after `y`. Default: no run asks.
    fn asks_first(&self, mode: RunMode) -> bool {
        let _ = mode;
        false
    }
    /// Whether source `other` may run in one job with `first` (both of this
    /// kind). Default: they are of one group (a cluster's nodes, a node's
    /// stack).
    fn runs_with(&self, first: &Source, other: &Source) -> bool {
        other.group.is_some() && other.group == first.group
    }
    /// The job the console starts: `mode` on `picked`, one source or several
    /// that [`Kind::runs_with`] lets run together (the console checks both).
    /// Default: none.
    fn console_job(&self, picked: &[&Source], mode: RunMode, set: &Settings) -> Result<Built> {
        let _ = (picked, set);
        Err(Error::bad(format!(
            "{} offers no {} from the console",
            self.name(),
            mode.label()
        )))
    }
    /// How a journalled job with `params` runs when resumed (`cutover
    /// resume` and the console). Default: [`Kind::run_defaults`].
    fn resume_defaults(&self, params: &serde_json::Value) -> RunDefaults {
        let _ = params;
        self.run_defaults()
    }
    /// Which of `all` a journalled job with `params` ran on. Default: the
    /// kind's sources whose path is the job's `source`.
    fn job_sources(&self, params: &serde_json::Value, all: &[Source]) -> Vec<usize> {
        let Some(src) = params.get("source").and_then(|v| v.as_str()) else {
            return Vec::new();
        };
        all.iter()
            .position(|s| s.kind == self.name() && s.source == std::path::Path::new(src))
            .into_iter()
            .collect()
    }
    /// The phase a journalled job ran, for the jobs pane (`final`). Default: none.
    fn job_phase(&self, params: &serde_json::Value) -> Option<&'static str> {
        let _ = params;
        None
    }
    /// Fresh details of a live source ([`Source::live`]), e.g. a store's
    /// numbers; blocking (the console calls it off its UI thread).
    fn read_details(&self, source: &Source) -> std::result::Result<Details, String> {
        Ok(source.details.clone())
    }
    /// The columns of the table an item's rows make in the details pane
    /// (empty: the rows make no table).
    fn row_columns(&self) -> Vec<Column> {
        Vec::new()
    }
    /// One row of that table.
    fn row_cells(&self, row: &Row) -> Option<TableRow> {
        let _ = row;
        None
    }
    /// Commands of the kind's own (`cutover store …`), beside `run`.
    fn extra_commands(&self) -> Vec<clap::Command> {
        Vec::new()
    }
    /// Run one of [`Kind::extra_commands`]; the exit code.
    fn run_extra(&self, name: &str, args: &ArgMatches, state_dir: &std::path::Path) -> Result<i32> {
        let _ = (args, state_dir);
        Err(Error::bad(format!(
            "{} has no command '{name}'",
            self.name()
        )))
    }
    /// The console's words for an item's result (`verify_only`: nothing
    /// was written). Default: entries and bytes in the kind's units, then
    /// what was written, deleted, hashed and saved.
    fn item_detail(&self, report: &super::ItemReport, verify_only: bool) -> String {
        let units = self.units();
        let r = report;
        let mut parts = vec![format!(
            "{} {} · {}",
            crate::fmt::count(r.files),
            units.entries,
            crate::fmt::bytes(r.bytes)
        )];
        if !verify_only {
            parts.push(format!(
                "{} {}",
                crate::fmt::count(r.files_transferred),
                units.written
            ));
        }
        if r.files_deleted > 0 {
            parts.push(format!("deleted {}", crate::fmt::count(r.files_deleted)));
        }
        parts.push(format!("hashed {}", crate::fmt::count(r.files_hashed)));
        if r.space_saved_bytes > 0 {
            parts.push(format!("saved {}", crate::fmt::bytes(r.space_saved_bytes)));
        }
        parts.push(format!("{:.1}s", r.elapsed_s));
        parts.join(" · ")
    }
    /// Steps the console offers on the kind's sources besides its runs.
    fn steps(&self) -> &'static [Step] {
        &[]
    }
    /// What a step would change, asked before it runs: `None` runs it at
    /// once; a preview is shown and waits for `y` (an objection: the
    /// source's name must be typed). Blocking.
    fn step_preview(&self, source: &Source, step: char) -> Result<Option<super::Preview>> {
        let _ = (source, step);
        Ok(None)
    }
    /// Run a step on `source` (blocking; `state_dir` names this process in
    /// the target's lock); what it did, in one line.
    fn run_step(&self, source: &Source, step: char, state_dir: &std::path::Path) -> Result<String> {
        let _ = (source, state_dir);
        Err(Error::bad(format!("{} has no step '{step}'", self.name())))
    }
    /// Readable lines for an item's rows, printed before its result line
    /// (`header`: no row of this job has been printed yet).
    fn row_lines(&self, rows: &[Row], header: bool) -> Vec<String> {
        let _ = header;
        rows.iter().map(Row::plain_line).collect()
    }
}

/// Typed arguments of a kind out of the parsed matches (derive `Args`).
pub fn typed<T: clap::FromArgMatches>(args: &ArgMatches) -> Result<T> {
    T::from_arg_matches(args).map_err(|e| Error::bad(e.to_string().trim().to_string()))
}
