//! The command line: clap definitions and the dispatch of each command to
//! the library. Every command's bad input exits 2 with one line.

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};

use crate::engine::{self, RunOptions};
use crate::error::{Error, Result};
use crate::job::kind::CommonArgs;
use crate::job::{Kind, Migration};
use crate::journal::{JobStatus, Journal};
use crate::{headless, kinds, state_dir};

/// cutover: storage and state migrations, verified item by item.
#[derive(Debug, Parser)]
#[command(name = "cutover", version, about)]
pub struct Cli {
    /// Where the journal lives (default: $CUTOVER_STATE_DIR, $XDG_STATE_HOME/cutover, ~/.local/state/cutover).
    #[arg(long, global = true, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// The nodes inventory (default: nodes.toml in the state directory).
    #[arg(long = "nodes", id = "nodes_file", global = true, value_name = "FILE")]
    pub nodes: Option<PathBuf>,
    /// Plain `cutover --source …`: the console on these sources.
    #[command(flatten)]
    pub console: ConsoleArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open the console (the default): on the given sources, else on yours.
    Console(ConsoleArgs),
    /// Run a migration headless.
    Run {
        #[command(subcommand)]
        call: KindCall<false>,
    },
    /// Verify a target against its source without writing.
    Verify {
        #[command(subcommand)]
        call: KindCall<true>,
    },
    /// The operator's own sources (`sources.toml` in the state directory):
    /// list them, `add PATH…`, `remove NAME`.
    Sources {
        #[command(subcommand)]
        action: Option<crate::inventory::cmd::SourcesAction>,
        /// One JSON object per source.
        #[arg(long)]
        json: bool,
    },
    /// List the jobs in the journal.
    Jobs {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// What a job did: header, every failure and warning, counts.
    Report {
        /// Job id (see `cutover jobs`).
        job: u64,
        /// One JSON object per line, like a run's events, ending with the summary.
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
    /// Undo what a job wrote to its target (the source is never touched).
    Rollback {
        /// Job id (see `cutover jobs`).
        job: u64,
        /// Required: this removes what the job wrote.
        #[arg(long)]
        confirm: bool,
    },
    /// The nodes (nodes.toml): reachable or not and why, free space, ZFS, services.
    Nodes {
        /// One JSON object per node.
        #[arg(long)]
        json: bool,
    },
    /// Guided cutover checklists: run, status, log, rollback, reset.
    Runbook {
        #[command(subcommand)]
        command: crate::runbook::cmd::RunbookCommand,
    },
    /// The kinds' own commands (`store …`, `inspect …`).
    #[command(flatten)]
    Extra(ExtraCall),
    /// Build a sandbox of sample sources and open the console on it.
    Demo {
        /// Where to build the sandbox (default: a new directory under /tmp).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

/// Console options: the sources to open on (default: the inventory,
/// `cutover sources`). Each `--source` is classified by the kinds'
/// detectors; a `--target` pairs with the `--source` at the same position,
/// else `--target-root DIR` gives it `DIR/NAME`.
#[derive(Debug, Args, Default, Clone)]
pub struct ConsoleArgs {
    /// A source (a tree, a package store, a redb file or cluster); repeatable.
    #[arg(long, value_name = "PATH")]
    pub source: Vec<PathBuf>,
    /// Where the source at the same position goes; repeatable.
    #[arg(long, value_name = "PATH")]
    pub target: Vec<PathBuf>,
    /// Sources without their own --target go to DIR/NAME.
    #[arg(long, value_name = "DIR")]
    pub target_root: Option<PathBuf>,
}

/// `cutover run KIND …` / `cutover verify KIND …`: one subcommand per
/// registered kind ([`crate::kinds`]), each with the kind's own arguments
/// and the common run arguments ([`CommonArgs`]). `VERIFY`: only kinds that
/// verify without writing.
#[derive(Debug, Clone)]
pub struct KindCall<const VERIFY: bool> {
    /// The kind's name.
    pub kind: String,
    /// Its parsed arguments.
    pub args: clap::ArgMatches,
}

impl<const VERIFY: bool> KindCall<VERIFY> {
    fn kinds() -> impl Iterator<Item = &'static dyn Kind> {
        kinds::all().into_iter().filter(|k| !VERIFY || k.verifies())
    }

    /// `cutover verify`: kinds verified by a command of their own.
    fn elsewhere() -> impl Iterator<Item = &'static dyn Kind> {
        kinds::all()
            .into_iter()
            .filter(|k| VERIFY && !k.verifies() && k.verified_by().is_some())
    }
}

impl<const VERIFY: bool> clap::FromArgMatches for KindCall<VERIFY> {
    fn from_arg_matches(m: &clap::ArgMatches) -> std::result::Result<Self, clap::Error> {
        match m.subcommand() {
            Some((name, args)) => Ok(KindCall {
                kind: name.to_string(),
                args: args.clone(),
            }),
            None => Err(clap::Error::raw(
                clap::error::ErrorKind::MissingSubcommand,
                "name a migration kind",
            )),
        }
    }

    fn update_from_arg_matches(
        &mut self,
        m: &clap::ArgMatches,
    ) -> std::result::Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl<const VERIFY: bool> clap::Subcommand for KindCall<VERIFY> {
    fn augment_subcommands(mut cmd: clap::Command) -> clap::Command {
        for kind in Self::kinds() {
            let sub = CommonArgs::augment_args(kind.args(clap::Command::new(kind.name())));
            // After the arguments: a derived `Args` brings its own about.
            cmd = cmd.subcommand(sub.about(kind.about()).long_about(None));
        }
        // `cutover verify KIND` of a kind verified by another command: a
        // hidden entry taking any arguments, answered with that command.
        for kind in Self::elsewhere() {
            cmd = cmd.subcommand(
                clap::Command::new(kind.name()).hide(true).arg(
                    clap::Arg::new("any")
                        .num_args(0..)
                        .trailing_var_arg(true)
                        .allow_hyphen_values(true),
                ),
            );
        }
        cmd.subcommand_required(true)
    }

    fn augment_subcommands_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_subcommands(cmd)
    }

    fn has_subcommand(name: &str) -> bool {
        Self::kinds()
            .chain(Self::elsewhere())
            .any(|k| k.name() == name)
    }
}

/// A command a kind adds (`cutover store …` of store-to-cas, `cutover
/// inspect …` of redb-to-sqlite): its name and parsed arguments.
#[derive(Debug, Clone)]
pub struct ExtraCall {
    /// The command's name.
    pub command: String,
    /// Its parsed arguments.
    pub args: clap::ArgMatches,
}

impl clap::FromArgMatches for ExtraCall {
    fn from_arg_matches(m: &clap::ArgMatches) -> std::result::Result<Self, clap::Error> {
        match m.subcommand() {
            Some((name, args)) => Ok(ExtraCall {
                command: name.to_string(),
                args: args.clone(),
            }),
            None => Err(clap::Error::raw(
                clap::error::ErrorKind::MissingSubcommand,
                "name a command",
            )),
        }
    }

    fn update_from_arg_matches(
        &mut self,
        m: &clap::ArgMatches,
    ) -> std::result::Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl clap::Subcommand for ExtraCall {
    fn augment_subcommands(mut cmd: clap::Command) -> clap::Command {
        for kind in kinds::all() {
            for extra in kind.extra_commands() {
                cmd = cmd.subcommand(extra);
            }
        }
        cmd
    }

    fn augment_subcommands_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_subcommands(cmd)
    }

    fn has_subcommand(name: &str) -> bool {
        kinds::all()
            .iter()
            .any(|k| k.extra_commands().iter().any(|c| c.get_name() == name))
    }
}

/// Build a kind's job from the command line and run it to its end.
async fn run_kind(
    state: &std::path::Path,
    kind: &str,
    args: &clap::ArgMatches,
    verify_only: bool,
) -> Result<i32> {
    let (migration, opts, json) = build_job(kind, args, verify_only)?;
    let journal = Arc::new(Journal::open(state)?);
    run_job(journal, migration, opts, None, json).await
}

/// The job `cutover run|verify KIND ARGS` asks for, how it runs, and
/// whether its events are NDJSON (also for a runbook's `cutover` step run
/// in the console).
pub fn build_job(
    kind: &str,
    args: &clap::ArgMatches,
    verify_only: bool,
) -> Result<(Arc<dyn Migration>, RunOptions, bool)> {
    let kind = kinds::find(kind)?;
    if verify_only && !kind.verifies() {
        return Err(crate::error::Error::bad(format!(
            "cutover verify {} is not a command: {}",
            kind.name(),
            kind.verified_by()
                .unwrap_or("this kind is verified as it migrates")
        )));
    }
    let common: CommonArgs = crate::job::kind::typed(args)?;
    common.check()?;
    let built = kind.build(args, &common, verify_only)?;
    let opts = RunOptions {
        parallel: common
            .parallel
            .or(built.defaults.parallel)
            .unwrap_or_else(engine::default_parallel),
        dry_run: common.dry_run,
        verify_only,
        batch: built.defaults.batch,
    };
    Ok((built.migration.into(), opts, common.json))
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
        Command::Run { call } => run_kind(&state, &call.kind, &call.args, false).await,
        Command::Verify { call } => run_kind(&state, &call.kind, &call.args, true).await,
        Command::Extra(call) => {
            let kind = kinds::all()
                .into_iter()
                .find(|k| {
                    k.extra_commands()
                        .iter()
                        .any(|c| c.get_name() == call.command)
                })
                .ok_or_else(|| Error::bad(format!("unknown command '{}'", call.command)))?;
            kind.run_extra(&call.command, &call.args, &state)
        }
        Command::Sources { action, json } => crate::inventory::cmd::dispatch(&state, action, json),
        Command::Jobs { json } => {
            list_jobs(&state, json)?;
            Ok(0)
        }
        Command::Report { job, json } => crate::report::run(&state, job, json),
        Command::Nodes { json } => {
            let nodes = crate::nodes::load(&state)?;
            crate::state_dir::create(&state)?;
            crate::nodes::probe::list(&nodes, &state, json)
        }
        Command::Runbook { command } => crate::runbook::cmd::dispatch(command, &state).await,
        Command::Resume {
            job,
            parallel,
            json,
        } => {
            let journal = Arc::new(Journal::open(&state)?);
            let record = journalled(&journal, job)?;
            if record.verify_only() {
                return Err(Error::bad(engine::refuse_resume(&record)));
            }
            let info = record.info;
            if info.status == JobStatus::Completed {
                return Err(Error::bad(format!(
                    "job {job} is already completed: every item verified; nothing to resume"
                )));
            }
            let kind = kinds::find(&info.kind)?;
            let migration: Arc<dyn Migration> = kind.rebuild(&info.params)?.into();
            // The kind's defaults for this job, as when it was first run.
            let defaults = kind.resume_defaults(&info.params);
            let opts = RunOptions {
                parallel: parallel
                    .filter(|&p| p > 0)
                    .or(defaults.parallel)
                    .unwrap_or_else(engine::default_parallel),
                batch: defaults.batch,
                ..RunOptions::default()
            };
            run_job(journal, migration, opts, Some(job), json).await
        }
        Command::Rollback { job, confirm } => {
            let journal = Journal::open(&state)?;
            let record = journalled(&journal, job)?;
            if record.verify_only() {
                return Err(Error::bad(format!(
                    "job {job} only verified its target (mode verify) and wrote nothing: there is nothing to roll back"
                )));
            }
            let info = record.info;
            let migration = kinds::find(&info.kind)?.rebuild(&info.params)?;
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
            crate::outln!("{}", migration.rollback()?)?;
            Ok(0)
        }
        Command::Console(_) | Command::Demo { .. } => Err(Error::bad(
            "the console is not a headless command".to_string(),
        )),
    }
}

/// A job's record, or the one-line refusal naming the journal.
fn journalled(journal: &Journal, job: u64) -> Result<crate::journal::JobRecord> {
    journal
        .record(job)?
        .ok_or_else(|| Journal::no_such_job(journal.path(), job))
}

fn list_jobs(state: &std::path::Path, json: bool) -> Result<()> {
    if !Journal::file_in(state).exists() {
        if !json {
            crate::outln!(
                "no jobs yet (state directory {})",
                crate::display_path(state)
            )?;
        }
        return Ok(());
    }
    let now = crate::journal::now_unix();
    for j in Journal::list_records(state)? {
        if json {
            crate::outln!(
                "{}",
                serde_json::Value::Object(crate::report::job_fields(&j, now))
            )?;
        } else {
            let info = &j.info;
            let path = |name| j.param_path(name).unwrap_or("-");
            crate::outln!(
                "{:>5}  {:<14} {:<7} {:<11} {}/{} verified, {} failed  {}  {}  {} -> {}",
                info.job,
                info.kind,
                crate::report::job_mode(&j),
                info.status,
                info.items_verified,
                info.items_total,
                info.items_failed,
                crate::report::utc(info.created_unix),
                crate::report::duration(j.duration_s(now)),
                path("source"),
                path("target"),
            )?;
        }
    }
    Ok(())
}
