//! The command line: clap definitions and the dispatch of each command to
//! the library. Every command's bad input exits 2 with one line.

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};

use crate::engine::{self, RunOptions};
use crate::error::{Error, Result};
use crate::journal::{JobStatus, Journal};
use crate::migrate::tree_sync::{TreeSync, TreeSyncParams};
use crate::migrate::{self as kinds, Migration};
use crate::verify::VerifyMode;
use crate::{headless, state_dir};

/// cutover: storage and state migrations, verified item by item.
#[derive(Debug, Parser)]
#[command(name = "cutover", version, about)]
pub struct Cli {
    /// Where the journal lives (default: $CUTOVER_STATE_DIR, $XDG_STATE_HOME/cutover, ~/.local/state/cutover).
    #[arg(long, global = true, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open the console (the default), optionally on one tree.
    Console(ConsoleArgs),
    /// Run a migration headless.
    Run {
        #[command(subcommand)]
        kind: RunKind,
    },
    /// Verify a target against its source without writing.
    Verify {
        #[command(subcommand)]
        kind: VerifyKind,
    },
    /// Phases of a content-addressed store: status, cutover, cleanup, rollback.
    Store {
        #[command(subcommand)]
        command: crate::store_cmd::StoreCommand,
    },
    /// List the jobs in the journal.
    Jobs {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Continue an interrupted or failed job: verified items are skipped.
    Resume {
        /// Job id (see `cutover jobs`).
        job: u64,
        #[arg(long)]
        parallel: Option<usize>,
        #[arg(long)]
        json: bool,
    },
    /// Show what a source holds (`cutover inspect redb FILE|DIR [--json]`).
    Inspect {
        #[command(subcommand)]
        kind: crate::migrate::redb_to_sqlite::cmd::InspectKind,
    },
    /// Undo what a job wrote to its target (the source is never touched).
    Rollback {
        /// Job id (see `cutover jobs`).
        job: u64,
        /// Required: this removes what the job wrote.
        #[arg(long)]
        confirm: bool,
    },
    /// Build a sandbox of sample sources and open the console on it.
    Demo {
        /// Where to build the sandbox (default: a new directory under /tmp).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

/// Console options.
#[derive(Debug, Args, Default)]
pub struct ConsoleArgs {
    /// A source tree to offer.
    #[arg(long, requires = "target")]
    pub source: Option<PathBuf>,
    /// Where that tree goes.
    #[arg(long, requires = "source")]
    pub target: Option<PathBuf>,
}

/// Kinds `cutover run` knows.
#[derive(Debug, Subcommand)]
pub enum RunKind {
    /// Copy a live tree (bulk), then `--final` for the cutover delta sync.
    TreeSync(TreeSyncArgs),
    /// Migrate a package store into a deduplicating content-addressed store.
    StoreToCas(crate::store_cmd::StoreRunArgs),
    /// Migrate redb databases (a file, or one per node under a directory) into new SQLite files.
    RedbToSqlite(crate::migrate::redb_to_sqlite::cmd::RedbArgs),
}

/// Kinds `cutover verify` knows.
#[derive(Debug, Subcommand)]
pub enum VerifyKind {
    /// Compare a target tree with its source.
    TreeSync(TreeSyncArgs),
    /// Compare SQLite files with the redb files they were migrated from.
    RedbToSqlite(crate::migrate::redb_to_sqlite::cmd::RedbArgs),
}

/// Options of tree-sync.
#[derive(Debug, Args, Clone)]
pub struct TreeSyncArgs {
    #[arg(long, value_name = "SRC")]
    pub source: PathBuf,
    #[arg(long, value_name = "DST")]
    pub target: PathBuf,
    /// Final delta sync: copy only what changed and delete what the source no longer has.
    #[arg(long = "final")]
    pub final_sync: bool,
    /// `full` (hash every file) or `sample=N` (hash N files chosen by the seed).
    #[arg(long, default_value = "full")]
    pub verify: String,
    /// Seed of the sample (printed, so a check can be rerun).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Directories processed at once.
    #[arg(long)]
    pub parallel: Option<usize>,
    /// Print every step; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// NDJSON events on stdout.
    #[arg(long)]
    pub json: bool,
}

impl TreeSyncArgs {
    fn params(&self) -> Result<TreeSyncParams> {
        Ok(TreeSyncParams {
            source: self.source.clone(),
            target: self.target.clone(),
            final_sync: self.final_sync,
            verify: self.verify.parse::<VerifyMode>()?,
            seed: self.seed.unwrap_or_else(crate::verify::fresh_seed),
        })
    }

    fn options(&self, verify_only: bool) -> Result<RunOptions> {
        if self.parallel == Some(0) {
            return Err(Error::bad("--parallel 0: give at least 1"));
        }
        Ok(RunOptions {
            parallel: self.parallel.unwrap_or_else(engine::default_parallel),
            dry_run: self.dry_run,
            verify_only,
            batch: None,
        })
    }
}

/// Run a headless job to its end and return the exit code.
async fn run_job(
    journal: Arc<Journal>,
    migration: Arc<dyn Migration>,
    opts: RunOptions,
    resume: Option<u64>,
    json: bool,
) -> Result<i32> {
    let handle = engine::start(journal, migration, opts, resume).await?;
    let summary = headless::follow(handle, json).await;
    Ok(headless::exit_code(&summary))
}

/// Execute a headless command; `Ok(code)` is the exit code.
pub async fn dispatch(state: Option<PathBuf>, command: Command) -> Result<i32> {
    let state = state_dir::resolve(state)?;
    match command {
        Command::Run {
            kind: RunKind::TreeSync(args),
        } => {
            let params = args.params()?;
            let opts = args.options(false)?;
            let job = TreeSync::new(params);
            job.check()?;
            let journal = Arc::new(Journal::open(&state)?);
            run_job(journal, Arc::new(job), opts, None, args.json).await
        }
        Command::Run {
            kind: RunKind::StoreToCas(args),
        } => {
            let (job, opts) = args.job()?;
            job.check()?;
            let journal = Arc::new(Journal::open(&state)?);
            run_job(journal, Arc::new(job), opts, None, args.json).await
        }
        Command::Store { command } => crate::store_cmd::dispatch(command, &state),
        Command::Run {
            kind: RunKind::RedbToSqlite(args),
        } => crate::migrate::redb_to_sqlite::cmd::run(&state, args, false).await,
        Command::Verify {
            kind: VerifyKind::RedbToSqlite(args),
        } => crate::migrate::redb_to_sqlite::cmd::run(&state, args, true).await,
        Command::Inspect { kind } => crate::migrate::redb_to_sqlite::cmd::inspect(kind),
        Command::Verify {
            kind: VerifyKind::TreeSync(args),
        } => {
            let mut params = args.params()?;
            params.final_sync = false;
            let opts = args.options(true)?;
            let job = TreeSync::for_verification(params);
            job.check()?;
            let journal = Arc::new(Journal::open(&state)?);
            run_job(journal, Arc::new(job), opts, None, args.json).await
        }
        Command::Jobs { json } => {
            list_jobs(&state, json)?;
            Ok(0)
        }
        Command::Resume {
            job,
            parallel,
            json,
        } => {
            let journal = Arc::new(Journal::open(&state)?);
            let info = journal.job(job)?.ok_or_else(|| {
                Error::bad(format!(
                    "no job {job} in {}; `cutover jobs` lists them",
                    crate::display_path(journal.path())
                ))
            })?;
            if info.status == JobStatus::Completed {
                return Err(Error::bad(format!(
                    "job {job} is already completed: every item verified; nothing to resume"
                )));
            }
            let migration: Arc<dyn Migration> =
                kinds::from_params(&info.kind, &info.params)?.into();
            let opts = RunOptions {
                parallel: parallel.unwrap_or_else(engine::default_parallel),
                ..RunOptions::default()
            };
            run_job(journal, migration, opts, Some(job), json).await
        }
        Command::Rollback { job, confirm } => {
            let journal = Journal::open(&state)?;
            let info = journal.job(job)?.ok_or_else(|| {
                Error::bad(format!(
                    "no job {job} in {}; `cutover jobs` lists them",
                    crate::display_path(journal.path())
                ))
            })?;
            let migration = kinds::from_params(&info.kind, &info.params)?;
            if !confirm {
                return Err(Error::bad(format!(
                    "rollback of job {job} ({}) removes what it wrote to the target; add --confirm",
                    info.kind
                )));
            }
            // Undoing a job writes its target: nobody else may be writing it.
            let _lock = match migration.lock_target() {
                Some(target) => Some(crate::target::TargetLock::acquire(
                    &target,
                    crate::target::LockMode::Exclusive,
                    &state,
                )?),
                None => None,
            };
            println!("{}", migration.rollback()?);
            Ok(0)
        }
        Command::Console(_) | Command::Demo { .. } => Err(Error::bad(
            "the console is not a headless command".to_string(),
        )),
    }
}

fn list_jobs(state: &std::path::Path, json: bool) -> Result<()> {
    if !Journal::file_in(state).exists() {
        if !json {
            println!(
                "no jobs yet (state directory {})",
                crate::display_path(state)
            );
        }
        return Ok(());
    }
    for j in Journal::list(state)? {
        if json {
            let line = serde_json::json!({
                "job": j.job,
                "kind": j.kind,
                "status": j.status.to_string(),
                "items_total": j.items_total,
                "items_verified": j.items_verified,
                "items_failed": j.items_failed,
            });
            println!("{line}");
        } else {
            let what = j
                .params
                .get("source")
                .and_then(|s| s.as_str())
                .map(|s| format!("  {s}"))
                .unwrap_or_default();
            println!(
                "{:>5}  {:<12} {:<11} {}/{} verified, {} failed{what}",
                j.job, j.kind, j.status, j.items_verified, j.items_total, j.items_failed
            );
        }
    }
    Ok(())
}
