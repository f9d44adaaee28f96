//! store-to-cas as the command line and the front ends see it.

use std::path::{Path, PathBuf};

use clap::{ArgMatches, Args};

use super::{StoreParams, StoreToCas, KIND};
use crate::discover::Source;
use crate::error::{Error, Result};
use crate::fmt;
use crate::job::console::{RunMode, Settings, Step};
use crate::job::details::Details;
use crate::job::kind::{typed, Built, CommonArgs, Detected};
use crate::job::{ItemReport, Kind, Migration, Preview, RunDefaults, Units};
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

    fn verified_by(&self) -> Option<&'static str> {
        Some("a store is checked by `cutover store status --target CAS --verify` (every object re-hashed) and by `cutover store cutover --target CAS` before it is used")
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

    /// A directory whose entries (hidden ones aside) are all package
    /// directories named by a hash (hex, optionally `HASH-name`); a finished
    /// content-addressed store is refused.
    fn detect(&self, path: &Path) -> Detected {
        if path.join("store.db").is_file() && path.join("objects").is_dir() {
            return Detected::Refused(format!(
                "{} is a content-addressed store (store.db, objects/): a migration's target, not a source",
                crate::names::display(path)
            ));
        }
        let Ok(entries) = std::fs::read_dir(path) else {
            return Detected::No;
        };
        let mut packages = 0;
        for e in entries.flatten() {
            let name = e.file_name();
            // Bookkeeping beside the packages (`.links`, a lock file).
            if name.as_encoded_bytes().starts_with(b".") {
                continue;
            }
            let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
            if !is_dir || !is_package_name(&name.to_string_lossy()) {
                return Detected::No;
            }
            packages += 1;
        }
        if packages > 0 {
            Detected::Yes
        } else {
            Detected::No
        }
    }

    fn extra_commands(&self) -> Vec<clap::Command> {
        use clap::Subcommand;
        vec![
            super::cmd::StoreCommand::augment_subcommands(clap::Command::new("store"))
                // After augmenting: the derived enum brings its own about.
                .about(
                    "Phases of a content-addressed store: scan, status, cutover, cleanup, rollback",
                )
                .long_about(None)
                .subcommand_required(true),
        ]
    }

    fn run_extra(&self, name: &str, args: &ArgMatches, state_dir: &Path) -> Result<i32> {
        if name != "store" {
            return Err(Error::bad(format!("store-to-cas has no command '{name}'")));
        }
        let command: super::cmd::StoreCommand = typed(args)?;
        super::cmd::dispatch(command, state_dir)
    }

    fn sources(&self, name: &str, path: &Path, target: &Path) -> Vec<Source> {
        vec![super::discover::describe(name, path, target)]
    }

    fn console_job(&self, picked: &[&Source], mode: RunMode, set: &Settings) -> Result<Built> {
        let [store] = picked else {
            return Err(Error::bad(
                "a package store runs on its own, not together with others",
            ));
        };
        if mode != RunMode::Migrate {
            return Err(Error::bad(format!(
                "{} is a package store: it offers no {}",
                store.name,
                mode.label()
            )));
        }
        if let Ok(s) = super::phases::status(&store.target, false) {
            if s.cut_over {
                return Err(Error::bad(format!(
                    "{} is already cut over: nothing to migrate; s then x cleans up the old store",
                    store.name
                )));
            }
        }
        let params = StoreParams {
            source: store.source.clone(),
            target: store.target.clone(),
            verify: set.verify,
            seed: set.seed,
        };
        Ok(Built {
            migration: Box::new(StoreToCas::new(params)),
            defaults: self.run_defaults(),
        })
    }

    /// Space saved first: it is what the store is for.
    fn item_detail(&self, r: &ItemReport, _verify_only: bool) -> String {
        let objects = if r.files_transferred == 1 {
            "new object"
        } else {
            "new objects"
        };
        [
            format!("saved {}", fmt::bytes(r.space_saved_bytes)),
            format!("{} files · {}", fmt::count(r.files), fmt::bytes(r.bytes)),
            format!("{} {objects}", fmt::count(r.files_transferred)),
            format!("hashed {}", fmt::count(r.files_hashed)),
            format!("{:.1}s", r.elapsed_s),
        ]
        .join(" · ")
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

    fn read_details(&self, source: &Source) -> std::result::Result<Details, String> {
        super::console::read(source)
    }
}

/// A package directory's name: a hex hash of at least 16 digits, alone or
/// followed by `-name`.
pub fn is_package_name(name: &str) -> bool {
    let hash = name.split_once('-').map_or(name, |(h, _)| h);
    hash.len() >= 16 && hash.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_names_are_hashes() {
        assert!(is_package_name(
            "0123456789abcdef0123456789abcdef-openssl-1.1"
        ));
        assert!(is_package_name("0123456789abcdef"));
        assert!(!is_package_name("src"));
        assert!(!is_package_name("0123-short"));
        assert!(!is_package_name("zzzzzzzzzzzzzzzzzzzz-x"));
    }
}
