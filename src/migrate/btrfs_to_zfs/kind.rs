//! btrfs-to-zfs as the command line and the front ends see it.

use std::path::{Path, PathBuf};

use clap::{ArgMatches, Args};

use super::{BtrfsToZfs, Params, KIND};
use crate::error::{Error, Result};
use crate::job::console::{RunMode, Settings, Source};
use crate::job::details::{Column, TableRow};
use crate::job::event::Row;
use crate::job::kind::{typed, Built, CommonArgs, Detected};
use crate::job::{Kind, Migration, RunDefaults, Units};
use crate::verify::VerifyMode;

/// Items are snapshots; they hold files.
pub const UNITS: Units = Units {
    item: "snapshot",
    entries: "files",
    written: "files",
};

/// The arguments of `cutover run|verify btrfs-to-zfs`.
#[derive(Debug, Args, Clone)]
pub struct BtrfsToZfsArgs {
    /// The repository: a directory of its snapshots s1…sN (BTRFS read-only
    /// snapshots or plain directories).
    #[arg(long, value_name = "REPO_DIR")]
    pub source: PathBuf,
    /// The dataset to create or continue, POOL/REPO.
    #[arg(long, value_name = "POOL/REPO")]
    pub target: String,
    /// Only the first N snapshots.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Destroy and rebuild a dataset cutover created that does not continue the source.
    #[arg(long)]
    pub recreate: bool,
}

/// The btrfs-to-zfs kind.
pub struct BtrfsToZfsKind;

impl BtrfsToZfsKind {
    fn job(&self, params: Params, verify_only: bool) -> Result<Built> {
        let job = BtrfsToZfs::new(params, verify_only);
        job.check()?;
        Ok(Built {
            migration: Box::new(job),
            defaults: self.run_defaults(),
        })
    }
}

impl Kind for BtrfsToZfsKind {
    fn name(&self) -> &'static str {
        KIND
    }

    fn about(&self) -> &'static str {
        "A repository's snapshots s1…sN (BTRFS or directories) into one ZFS dataset with a snapshot each"
    }

    fn units(&self) -> Units {
        UNITS
    }

    /// Snapshots one after another, in order.
    fn run_defaults(&self) -> RunDefaults {
        RunDefaults {
            parallel: Some(1),
            batch: None,
        }
    }

    fn args(&self, cmd: clap::Command) -> clap::Command {
        BtrfsToZfsArgs::augment_args(cmd)
    }

    fn build(&self, args: &ArgMatches, common: &CommonArgs, verify_only: bool) -> Result<Built> {
        let a: BtrfsToZfsArgs = typed(args)?;
        if common.parallel.is_some_and(|n| n > 1) {
            return Err(Error::bad(
                "--parallel: a repository's snapshots run one after another (each builds on the one before)",
            ));
        }
        let params = Params {
            source: a.source,
            target: a.target,
            limit: a.limit,
            recreate: a.recreate && !verify_only,
            verify: common.verify_or("full").parse::<VerifyMode>()?,
            seed: common.seed(),
            token: super::new_token(),
            metadata: super::default_metadata(),
        };
        self.job(params, verify_only)
    }

    fn rebuild(&self, params: &serde_json::Value) -> Result<Box<dyn Migration>> {
        Ok(Box::new(BtrfsToZfs::from_params(params)?))
    }

    /// A directory of snapshot directories (`s1`…`sN`, or read-only BTRFS
    /// snapshots) — any other directory stays a tree.
    fn detect(&self, path: &Path) -> Detected {
        if path.is_dir() && super::source::is_repository(path) {
            Detected::Yes
        } else {
            Detected::No
        }
    }

    fn sources(&self, name: &str, path: &Path, target: &Path) -> Vec<Source> {
        vec![super::discover::describe(name, path, target)]
    }

    fn modes(&self) -> &'static [RunMode] {
        &[RunMode::Migrate, RunMode::Verify]
    }

    fn row_columns(&self) -> Vec<Column> {
        super::figures::columns()
    }

    fn row_cells(&self, row: &Row) -> Option<TableRow> {
        super::figures::cells(row)
    }

    /// A line per snapshot, and the space figures with the newest.
    fn row_lines(&self, rows: &[Row], _header: bool) -> Vec<String> {
        super::figures::lines(rows)
    }

    fn console_job(&self, picked: &[&Source], mode: RunMode, set: &Settings) -> Result<Built> {
        let [repo] = picked else {
            return Err(Error::bad("a repository runs on its own"));
        };
        let dataset = repo
            .params
            .get("dataset")
            .and_then(|v| v.as_str())
            .map(str::to_string)
            .ok_or_else(|| Error::bad(format!("{} has no target dataset", repo.name)))?;
        let params = Params {
            source: repo.source.clone(),
            target: dataset,
            limit: None,
            recreate: false,
            verify: set.verify,
            seed: set.seed,
            token: super::new_token(),
            metadata: super::default_metadata(),
        };
        match mode {
            RunMode::Migrate => self.job(params, false),
            RunMode::Verify => self.job(params, true),
            other => Err(Error::bad(format!(
                "{} is a repository: it offers no {}",
                repo.name,
                other.label()
            ))),
        }
    }
}
