//! btrfs-to-zfs as the command line and the front ends see it.

use std::path::{Path, PathBuf};

use clap::{ArgMatches, Args};

use super::{BtrfsToZfs, Params, KIND};
use crate::error::{Error, Result};
use crate::job::console::{RunMode, Settings, Source, Step};
use crate::job::details::{Column, TableRow};
use crate::job::event::Row;
use crate::job::kind::{typed, Built, CommonArgs, Detected};
use crate::job::{Kind, Migration, Preview, RunDefaults, Units};
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

/// Most repositories run at once.
const MAX_REPOS_AT_ONCE: usize = 4;

/// Items at once per repository: one snapshot written while the one before
/// it is verified (`repo::Order` keeps them in order).
const PER_REPO: usize = 2;

/// How a job runs: [`PER_REPO`] items of each repository at once (several
/// repositories under `several`, up to [`MAX_REPOS_AT_ONCE`]).
fn defaults_for(several: Option<&Path>) -> RunDefaults {
    let repos = several
        .and_then(|dir| std::fs::read_dir(dir).ok())
        .map(|d| {
            d.flatten()
                .filter(|e| !e.file_name().as_encoded_bytes().starts_with(b"."))
                .count()
        })
        .unwrap_or(1);
    RunDefaults {
        parallel: Some(PER_REPO * repos.clamp(1, MAX_REPOS_AT_ONCE)),
        batch: None,
    }
}

/// The btrfs-to-zfs kind.
pub struct BtrfsToZfsKind;

impl BtrfsToZfsKind {
    fn job(&self, params: Params, verify_only: bool) -> Result<Built> {
        let defaults = defaults_for(params.several.then_some(params.source.as_path()));
        let job = BtrfsToZfs::new(params, verify_only);
        job.check()?;
        Ok(Built {
            migration: Box::new(job),
            defaults,
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

    /// Snapshots written one after another, each verified while the next
    /// is written.
    fn run_defaults(&self) -> RunDefaults {
        defaults_for(None)
    }

    fn args(&self, cmd: clap::Command) -> clap::Command {
        BtrfsToZfsArgs::augment_args(cmd)
    }

    fn build(&self, args: &ArgMatches, common: &CommonArgs, verify_only: bool) -> Result<Built> {
        let a: BtrfsToZfsArgs = typed(args)?;
        let several = super::repo::holds_repositories(&a.source);
        if !several && common.parallel.is_some_and(|n| n > PER_REPO) {
            return Err(Error::bad(
                "--parallel: give 1 or 2 for one repository — its snapshots are written one after another (each builds on the one before), each verified while the next is written; several repositories run in parallel",
            ));
        }
        let params = Params {
            source: a.source,
            target: a.target,
            limit: a.limit,
            recreate: a.recreate && !verify_only,
            verify: common.verify_or("full").parse::<VerifyMode>()?,
            seed: common.seed(),
            token: crate::job::token::new_token(),
            metadata: super::default_metadata(),
            several,
            only: Vec::new(),
        };
        self.job(params, verify_only)
    }

    /// Several repositories: one at a time each, up to four at once.
    fn resume_defaults(&self, params: &serde_json::Value) -> RunDefaults {
        let several = params.get("several").and_then(|v| v.as_bool()) == Some(true);
        let source = params.get("source").and_then(|v| v.as_str()).unwrap_or("");
        defaults_for(several.then(|| Path::new(source)))
    }

    fn rebuild(&self, params: &serde_json::Value) -> Result<Box<dyn Migration>> {
        Ok(Box::new(BtrfsToZfs::from_params(params)?))
    }

    /// A directory of snapshot directories (`s1`…`sN`, or read-only BTRFS
    /// snapshots), or a directory of such repositories — any other
    /// directory stays a tree.
    fn detect(&self, path: &Path) -> Detected {
        if path.is_dir()
            && (super::source::is_repository(path)
                || super::repo::holds_repositories(path)
                || !super::source::repositories_on_btrfs(path).is_empty())
        {
            Detected::Yes
        } else {
            Detected::No
        }
    }

    /// One source per repository (`NAME/REPO`, grouped, going to
    /// `TARGET/REPO`) for a directory of repositories or a BTRFS mount
    /// holding read-only snapshots.
    fn sources(&self, name: &str, path: &Path, target: &Path) -> Vec<Source> {
        let repos: Vec<PathBuf> = if super::repo::holds_repositories(path) {
            super::repo::list(path, "", true)
                .map(|r| r.into_iter().map(|r| r.source).collect())
                .unwrap_or_default()
        } else if super::source::is_repository(path) {
            Vec::new()
        } else {
            super::source::repositories_on_btrfs(path)
        };
        if repos.is_empty() {
            return vec![super::discover::describe(name, path, target)];
        }
        repos
            .iter()
            .map(|dir| {
                let repo = dir
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let mut s =
                    super::discover::describe(&format!("{name}/{repo}"), dir, &target.join(&repo));
                s.group = Some(path.display().to_string());
                s
            })
            .collect()
    }

    fn steps(&self) -> &'static [Step] {
        super::console::STEPS
    }

    fn step_preview(&self, source: &Source, step: char) -> Result<Option<Preview>> {
        super::console::step_preview(source, step)
    }

    fn run_step(&self, source: &Source, step: char, state_dir: &Path) -> Result<String> {
        super::console::run_step(source, step, state_dir)
    }

    /// A dataset name (`tank/repo`) stays a name; a path (the mountpoint
    /// of the dataset or of its parent) is made absolute.
    fn target_of(&self, given: &Path) -> PathBuf {
        if given.is_absolute() || given.starts_with(".") {
            std::path::absolute(given).unwrap_or_else(|_| given.to_path_buf())
        } else {
            given.to_path_buf()
        }
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
        let dataset_of = |s: &Source| {
            s.params
                .get("dataset")
                .and_then(|v| v.as_str())
                .map(str::to_string)
                .ok_or_else(|| Error::bad(format!("{} has no target dataset", s.name)))
        };
        let (source, target, several, only) = match picked {
            [one] if one.group.is_none() => {
                (one.source.clone(), dataset_of(one)?, false, Vec::new())
            }
            [first, ..] => {
                // Repositories of one directory: one job over those picked.
                let parent = first
                    .source
                    .parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_default();
                if picked
                    .iter()
                    .any(|s| s.source.parent() != Some(parent.as_path()))
                {
                    return Err(Error::bad(
                        "repositories run together only when they are in one directory; pick them one directory at a time",
                    ));
                }
                let ds = dataset_of(first)?;
                let target = super::dataset::parent(&ds).unwrap_or(&ds).to_string();
                let names = picked
                    .iter()
                    .filter_map(|s| s.source.file_name()?.to_str().map(str::to_string))
                    .collect();
                (parent, target, true, names)
            }
            [] => return Err(Error::bad("no repository picked")),
        };
        let params = Params {
            source,
            target,
            limit: None,
            recreate: false,
            verify: set.verify,
            seed: set.seed,
            token: crate::job::token::new_token(),
            metadata: super::default_metadata(),
            several,
            only,
        };
        let repo = picked.first().map(|s| s.name.clone()).unwrap_or_default();
        match mode {
            RunMode::Migrate => self.job(params, false),
            RunMode::Verify => self.job(params, true),
            other => Err(Error::bad(format!(
                "{repo} is a repository: it offers no {}",
                other.label()
            ))),
        }
    }
}
