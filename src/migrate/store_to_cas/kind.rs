//! store-to-cas as the command line and the front ends see it.

use std::path::PathBuf;

use clap::{ArgMatches, Args};

use super::{StoreParams, StoreToCas, KIND};
use crate::error::{Error, Result};
use crate::job::kind::{typed, Built, CommonArgs};
use crate::job::{Kind, Migration, RunDefaults, Units};
use crate::verify::VerifyMode;

/// Items are packages; they hold files.
pub const UNITS: Units = Units {
    item: "package",
    entries: "files",
    written: "new objects",
};

/// Packages per batch unless `--batch` says otherwise.
pub const DEFAULT_BATCH: usize = 10;

/// The arguments of `cutover run store-to-cas`.
#[derive(Debug, Args, Clone)]
pub struct StoreRunArgs {
    /// The package store: one directory per package hash.
    #[arg(long, value_name = "STORE")]
    pub source: PathBuf,
    /// The content-addressed store to create or continue.
    #[arg(long, value_name = "CAS")]
    pub target: PathBuf,
    /// Packages per batch: a batch finishes before the next starts.
    #[arg(long, default_value_t = DEFAULT_BATCH)]
    pub batch: usize,
}

/// The store-to-cas kind.
pub struct StoreToCasKind;

impl Kind for StoreToCasKind {
    fn name(&self) -> &'static str {
        KIND
    }

    fn about(&self) -> &'static str {
        "Migrate a package store into a deduplicating content-addressed store"
    }

    fn units(&self) -> Units {
        UNITS
    }

    fn run_defaults(&self) -> RunDefaults {
        RunDefaults {
            parallel: None,
            batch: Some(DEFAULT_BATCH),
        }
    }

    /// A store is checked by `cutover store status --verify` and by the
    /// run's own verification, not by a separate `verify` job.
    fn verifies(&self) -> bool {
        false
    }

    fn args(&self, cmd: clap::Command) -> clap::Command {
        StoreRunArgs::augment_args(cmd)
    }

    fn build(&self, args: &ArgMatches, common: &CommonArgs, _verify_only: bool) -> Result<Built> {
        let a: StoreRunArgs = typed(args)?;
        if a.batch == 0 {
            return Err(Error::bad("--batch and --parallel need at least 1"));
        }
        let params = StoreParams {
            source: a.source,
            target: a.target,
            verify: common.verify_or("full").parse::<VerifyMode>()?,
            seed: common.seed(),
        };
        let job = StoreToCas::new(params);
        job.check()?;
        Ok(Built {
            migration: Box::new(job),
            defaults: RunDefaults {
                batch: Some(a.batch),
                ..self.run_defaults()
            },
        })
    }

    fn rebuild(&self, params: &serde_json::Value) -> Result<Box<dyn Migration>> {
        Ok(Box::new(StoreToCas::from_params(params)?))
    }
}
