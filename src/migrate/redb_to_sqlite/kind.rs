//! redb-to-sqlite as the command line and the front ends see it: items are
//! redb files (one per node), each verified table a row printed before the
//! file's result (pgloader's summary: read, written, verified, errors, time).

use std::path::Path;

use clap::ArgMatches;

use super::check::TableResult;
use super::cmd::RedbArgs;
use super::{RedbToSqlite, KIND};
use crate::discover::Source;
use crate::error::Result;
use crate::job::console::{RunMode, Settings};
use crate::job::details::{Column, TableRow};
use crate::job::event::Row;
use crate::job::kind::{typed, Built, CommonArgs, Detected};
use crate::job::{ItemReport, Kind, Migration, RunDefaults, Units};

/// Items are redb files (one per node); they hold entries.
pub const UNITS: Units = Units {
    item: "redb file",
    entries: "entries",
    written: "entries",
};

/// The `"event"` name of a table's row.
pub const TABLE_ROW: &str = "table";

/// The redb-to-sqlite kind.
pub struct RedbToSqliteKind;

impl Kind for RedbToSqliteKind {
    fn name(&self) -> &'static str {
        KIND
    }

    fn about(&self) -> &'static str {
        "Migrate redb databases (a file, or one per node under a directory) into new SQLite files"
    }

    fn units(&self) -> Units {
        UNITS
    }

    /// One node at a time: a rolling migration.
    fn run_defaults(&self) -> RunDefaults {
        RunDefaults {
            parallel: Some(1),
            batch: None,
        }
    }

    fn args(&self, cmd: clap::Command) -> clap::Command {
        <RedbArgs as clap::Args>::augment_args(cmd)
    }

    fn build(&self, args: &ArgMatches, common: &CommonArgs, verify_only: bool) -> Result<Built> {
        let a: RedbArgs = typed(args)?;
        let params = a.params(common.verify_or("sample=100"), common.seed())?;
        let job = if verify_only {
            RedbToSqlite::for_verification(params)
        } else {
            RedbToSqlite::new(params)
        };
        job.check()?;
        Ok(Built {
            migration: Box::new(job),
            defaults: self.run_defaults(),
        })
    }

    fn rebuild(&self, params: &serde_json::Value) -> Result<Box<dyn Migration>> {
        Ok(Box::new(RedbToSqlite::from_params(params)?))
    }

    /// A redb file, or a directory of node folders holding redb files.
    fn detect(&self, path: &Path) -> Detected {
        let is_redb = |p: &Path| super::discover::inspect(p).format.is_some();
        if path.is_file() {
            return if is_redb(path) {
                Detected::Yes
            } else {
                Detected::No
            };
        }
        let files = super::discover::find_files(path);
        if !files.is_empty() && files.iter().any(|f| is_redb(f)) {
            Detected::Yes
        } else {
            Detected::No
        }
    }

    fn extra_commands(&self) -> Vec<clap::Command> {
        use clap::Subcommand;
        vec![
            super::cmd::InspectKind::augment_subcommands(clap::Command::new("inspect"))
                // After augmenting: the derived enum brings its own about.
                .about("Show what a source holds (`cutover inspect redb FILE|DIR [--json]`)")
                .long_about(None)
                .subcommand_required(true),
        ]
    }

    fn run_extra(&self, name: &str, args: &ArgMatches, _state_dir: &Path) -> Result<i32> {
        if name != "inspect" {
            return Err(crate::error::Error::bad(format!(
                "redb-to-sqlite has no command '{name}'"
            )));
        }
        super::cmd::inspect(typed(args)?)
    }

    fn sources(&self, name: &str, path: &Path, target: &Path) -> Vec<Source> {
        super::console::sources(name, path, target)
    }

    fn modes(&self) -> &'static [RunMode] {
        &[RunMode::Migrate, RunMode::Verify]
    }

    fn console_job(&self, picked: &[&Source], mode: RunMode, set: &Settings) -> Result<Built> {
        super::console::job(picked, mode, set)
    }

    fn resume_defaults(&self, params: &serde_json::Value) -> RunDefaults {
        super::console::resume_defaults(params)
    }

    fn job_sources(&self, params: &serde_json::Value, all: &[Source]) -> Vec<usize> {
        super::console::job_sources(params, all)
    }

    /// Entries written and verified.
    fn item_detail(&self, r: &ItemReport, verify_only: bool) -> String {
        let mut parts = vec![format!(
            "{} entries · {}",
            crate::fmt::count(r.files),
            crate::fmt::bytes(r.bytes)
        )];
        if !verify_only {
            parts.push(format!(
                "written {}",
                crate::fmt::count(r.files_transferred)
            ));
        }
        parts.push(format!("verified {}", crate::fmt::count(r.files_hashed)));
        parts.push(format!("{:.1}s", r.elapsed_s));
        parts.join(" · ")
    }

    fn row_columns(&self) -> Vec<Column> {
        super::console::row_columns()
    }

    fn row_cells(&self, row: &Row) -> Option<TableRow> {
        super::console::row_cells(row)
    }

    fn row_lines(&self, rows: &[Row], header: bool) -> Vec<String> {
        let mut out = Vec::new();
        for row in rows {
            let Some(r) = table_of(row) else {
                out.push(row.plain_line());
                continue;
            };
            if header && out.is_empty() {
                out.push(format!(
                    "  {:<24} {:>10} {:>10} {:>10} {:>6} {:>8}  checksum",
                    "table", "read", "written", "verified", "errors", "time"
                ));
            }
            let mark = match r.checksum_equal {
                Some(true) => "=",
                Some(false) => "*",
                None => "-",
            };
            out.push(format!(
                "  {:<24} {:>10} {:>10} {:>10} {:>6} {:>7.2}s  {mark}",
                r.table, r.read, r.written, r.verified, r.errors, r.elapsed_s
            ));
        }
        out
    }
}

/// A table's result back from its row (`None`: not a table row).
pub fn table_of(row: &Row) -> Option<TableResult> {
    if row.name != TABLE_ROW {
        return None;
    }
    serde_json::from_value(serde_json::Value::Object(row.fields.clone())).ok()
}
