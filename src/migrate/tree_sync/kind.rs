//! tree-sync as the command line and the front ends see it.

use std::path::{Path, PathBuf};

use clap::{ArgMatches, Args};

use super::{TreeSync, TreeSyncParams, KIND};
use crate::discover::Source;
use crate::error::{Error, Result};
use crate::fmt;
use crate::job::console::{RunMode, Settings};
use crate::job::kind::{typed, Built, CommonArgs, Detected};
use crate::job::{ItemReport, Kind, Migration, RunDefaults, Units};
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
    /// The live tree to copy (never modified).
    #[arg(long, value_name = "SRC")]
    pub source: PathBuf,
    /// Where the copy goes: a new directory, or the one an earlier bulk copy of SRC wrote.
    #[arg(long, value_name = "DST")]
    pub target: PathBuf,
    /// Final delta sync: copy only what changed and delete what the source no longer has.
    #[arg(long = "final")]
    pub final_sync: bool,
    /// With --final: sync onto a target that no bulk copy journalled here
    /// wrote (the final sync deletes what the source does not have).
    #[arg(long, requires = "final_sync")]
    pub force: bool,
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
            force: a.force,
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
        vec![super::discover::describe(name, path, target)]
    }

    fn modes(&self) -> &'static [RunMode] {
        &[RunMode::Bulk, RunMode::Final, RunMode::Verify]
    }

    fn console_job(&self, picked: &[&Source], mode: RunMode, set: &Settings) -> Result<Built> {
        let [tree] = picked else {
            return Err(Error::bad(
                "a tree runs on its own, not together with others",
            ));
        };
        let params = TreeSyncParams {
            source: tree.source.clone(),
            target: tree.target.clone(),
            final_sync: mode == RunMode::Final,
            verify: set.verify,
            seed: set.seed,
            force: set.force,
        };
        let job = match mode {
            RunMode::Verify => TreeSync::for_verification(params),
            RunMode::Bulk | RunMode::Final => TreeSync::new(params),
            other => {
                return Err(Error::bad(format!(
                    "{} is a tree: it offers no {}",
                    tree.name,
                    other.label()
                )))
            }
        };
        Ok(Built {
            migration: Box::new(job),
            defaults: self.run_defaults(),
        })
    }

    /// Files copied, deleted and hashed.
    fn item_detail(&self, r: &ItemReport, verify_only: bool) -> String {
        let mut parts = Vec::new();
        if r.files > 0 || r.bytes > 0 {
            parts.push(format!(
                "{} files · {}",
                fmt::count(r.files),
                fmt::bytes(r.bytes)
            ));
        }
        if !verify_only {
            parts.push(format!("copied {}", fmt::count(r.files_transferred)));
        }
        if r.files_deleted > 0 {
            parts.push(format!("deleted {}", fmt::count(r.files_deleted)));
        }
        parts.push(format!("hashed {}", fmt::count(r.files_hashed)));
        if r.space_saved_bytes > 0 {
            parts.push(format!("saved {}", fmt::bytes(r.space_saved_bytes)));
        }
        parts.push(format!("{:.1}s", r.elapsed_s));
        parts.join(" · ")
    }

    fn asks_first(&self, mode: RunMode) -> bool {
        mode == RunMode::Final
    }

    fn job_phase(&self, params: &serde_json::Value) -> Option<&'static str> {
        match params.get("final_sync").and_then(|v| v.as_bool()) {
            Some(true) => Some("final"),
            Some(false) => Some("bulk"),
            None => None,
        }
    }
}
