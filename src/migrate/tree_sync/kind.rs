//! tree-sync as the command line and the front ends see it.

use std::path::{Path, PathBuf};

use clap::{ArgMatches, Args};

use super::{TreeSync, TreeSyncParams, KIND};
use crate::discover::Source;
use crate::error::Result;
use crate::job::kind::{typed, Built, CommonArgs, Detected};
use crate::job::{Kind, Migration, RunDefaults, Units};
use crate::verify::VerifyMode;

/// Items are directories; they hold files.
pub const UNITS: Units = Units {
    item: "directory",
    entries: "files",
    written: "files",
};

/// The arguments of `cutover run|verify tree-sync`.
#[derive(Debug, Args, Clone)]
pub struct TreeSyncArgs {
    #[arg(long, value_name = "SRC")]
    pub source: PathBuf,
    #[arg(long, value_name = "DST")]
    pub target: PathBuf,
    /// Final delta sync: copy only what changed and delete what the source no longer has.
    #[arg(long = "final")]
    pub final_sync: bool,
}

/// The tree-sync kind.
pub struct TreeSyncKind;

impl Kind for TreeSyncKind {
    fn name(&self) -> &'static str {
        KIND
    }

    fn about(&self) -> &'static str {
        "Copy a live tree (bulk), then `--final` for the cutover delta sync"
    }

    fn units(&self) -> Units {
        UNITS
    }

    fn run_defaults(&self) -> RunDefaults {
        RunDefaults {
            parallel: None,
            batch: None,
        }
    }

    fn args(&self, cmd: clap::Command) -> clap::Command {
        TreeSyncArgs::augment_args(cmd)
    }

    fn build(&self, args: &ArgMatches, common: &CommonArgs, verify_only: bool) -> Result<Built> {
        let a: TreeSyncArgs = typed(args)?;
        let params = TreeSyncParams {
            source: a.source,
            target: a.target,
            final_sync: a.final_sync && !verify_only,
            verify: common.verify_or("full").parse::<VerifyMode>()?,
            seed: common.seed(),
        };
        let job = if verify_only {
            TreeSync::for_verification(params)
        } else {
            TreeSync::new(params)
        };
        job.check()?;
        Ok(Built {
            migration: Box::new(job),
            defaults: self.run_defaults(),
        })
    }

    fn rebuild(&self, params: &serde_json::Value) -> Result<Box<dyn Migration>> {
        Ok(Box::new(TreeSync::from_params(params)?))
    }

    /// Any directory is a tree, when no other kind claims it.
    fn detect(&self, path: &Path) -> Detected {
        if path.is_dir() {
            Detected::Fallback
        } else {
            Detected::No
        }
    }

    fn sources(&self, name: &str, path: &Path, target: &Path) -> Vec<Source> {
        vec![Source::Tree(crate::discover::tree::describe(
            name, path, target,
        ))]
    }
}
