//! `cutover runbook run|status|log|rollback|reset FILE`: a runbook run
//! headless, its state and audit trail, its rollback, and a fresh start.
//! Exit codes: 0 every step passed; 1 a step failed (it stays failed until
//! a run retries it); 2 bad input; 3 a manual step waits for the operator.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde_json::json;

use super::file::{self, Runbook};
use super::run::{rollback_of, steps_of, Outcome, Runner};
use super::state::{self, LogEntry, StepRecord};
use crate::error::{Error, Result};
use crate::journal::now_unix;
use crate::outln;

/// Exit code of a run stopped at a manual step.
pub const WAITING: i32 = 3;

/// `--var NAME=VALUE`, over the file's `[vars]`.
#[derive(Debug, Clone, Args)]
pub struct Vars {
    /// A variable, NAME=VALUE (over the file's [vars]); repeatable.
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = file::parse_var)]
    pub vars: Vec<(String, String)>,
}

/// What the operator confirms, and who they are.
#[derive(Debug, Clone, Args)]
pub struct Answers {
    /// Confirm a manual step (ID, or ID=WORD when it asks for a word), or end a wait early.
    #[arg(long, value_name = "STEP")]
    pub yes: Vec<String>,
    /// Who confirms (default: $USER).
    #[arg(long)]
    pub operator: Option<String>,
    /// Skip a step, saying why (ID=REASON); repeatable.
    #[arg(long, value_name = "STEP=REASON")]
    pub skip: Vec<String>,
    /// A note on what is confirmed now (kept in the journal).
    #[arg(long)]
    pub note: Option<String>,
}

/// The runbook commands.
#[derive(Debug, Clone, Subcommand)]
pub enum RunbookCommand {
    /// Run the steps in order; stop at the first manual step not confirmed.
    Run {
        /// The runbook file (TOML; see docs/runbooks.md).
        file: PathBuf,
        #[command(flatten)]
        vars: Vars,
        #[command(flatten)]
        answers: Answers,
    },
    /// Open the console on the runbook: its checklist beside the panes;
    /// plain `cutover` shows it again until it is closed or reset.
    Open {
        /// The runbook file.
        file: PathBuf,
        #[command(flatten)]
        vars: Vars,
        /// Who confirms (default: $USER).
        #[arg(long)]
        operator: Option<String>,
    },
    /// Stop showing the runbook in the console (its state stays).
    Close,
    /// Every step's state.
    Status {
        /// The runbook file.
        file: PathBuf,
        #[command(flatten)]
        vars: Vars,
        /// One JSON object per step.
        #[arg(long)]
        json: bool,
    },
    /// The audit trail, oldest first.
    Log {
        /// The runbook file.
        file: PathBuf,
        #[command(flatten)]
        vars: Vars,
        /// One JSON object per entry.
        #[arg(long)]
        json: bool,
    },
    /// Run one phase's rollback steps.
    Rollback {
        /// The runbook file.
        file: PathBuf,
        /// The phase to undo.
        #[arg(long)]
        phase: String,
        #[command(flatten)]
        vars: Vars,
        #[command(flatten)]
        answers: Answers,
    },
    /// Forget every step's state and start over (the audit trail stays).
    Reset {
        /// The runbook file.
        file: PathBuf,
        #[command(flatten)]
        vars: Vars,
        /// Required: this forgets what was confirmed.
        #[arg(long)]
        confirm: bool,
    },
}

fn load(file: &Path, vars: &Vars) -> Result<(Runbook, String)> {
    let book = file::load(file, &vars.vars)?;
    let key = state::key(file, &book.name);
    Ok((book, key))
}

fn time(at: Option<u64>) -> String {
    at.map(crate::report::utc).unwrap_or_default()
}

fn runner<'a>(state_dir: &Path, key: String, answers: &'a Answers) -> Runner<'a> {
    Runner {
        state_dir: state_dir.to_path_buf(),
        store: state::Store::Dir(state_dir.to_path_buf()),
        key,
        operator: state::operator(answers.operator.as_deref()),
        yes: &answers.yes,
        skip: &answers.skip,
        note: answers.note.as_deref(),
    }
}

/// This process's command line with `--yes ANSWER` added, as a shell
/// line: what the operator runs once a manual step is done. It keeps every
/// flag given now (`--state-dir`, `--nodes`, `--var`…), so the next run
/// finds the same state.
fn again_with(answer: &str) -> String {
    let mut words: Vec<String> = std::env::args_os()
        .map(|a| crate::sys::cmd::shell_word(&a))
        .collect();
    if words.is_empty() {
        words.push("cutover".into());
    }
    words.push("--yes".into());
    words.push(crate::sys::cmd::shell_word(std::ffi::OsStr::new(answer)));
    words.join(" ")
}

/// Say how a run ended; its exit code.
fn ended(outcome: Outcome) -> Result<i32> {
    match outcome {
        Outcome::Done => {
            outln!("runbook: every step passed")?;
            Ok(0)
        }
        Outcome::Waiting { id, text, confirm } => {
            let yes = match confirm {
                Some(word) => format!("{id}={word}"),
                None => id.clone(),
            };
            outln!("waiting at {id}: {text}")?;
            outln!("when it is done: {}", again_with(&yes))?;
            Ok(WAITING)
        }
        Outcome::Failed { id, why } => {
            outln!("failed at {id}: {why}")?;
            outln!("fix it and run again: the next run retries {id} first")?;
            Ok(1)
        }
    }
}

/// Run a runbook command; the exit code.
pub async fn dispatch(cmd: RunbookCommand, state_dir: &Path) -> Result<i32> {
    match cmd {
        RunbookCommand::Run {
            file,
            vars,
            answers,
        } => {
            let (book, key) = load(&file, &vars)?;
            let _held = super::lock::acquire(state_dir, &key, &book.name)?;
            let outcome = runner(state_dir, key, &answers)
                .run(&steps_of(&book.phases))
                .await?;
            ended(outcome)
        }
        RunbookCommand::Rollback {
            file,
            phase,
            vars,
            answers,
        } => {
            let (book, key) = load(&file, &vars)?;
            let steps = rollback_of(&book.phases, &phase)?;
            let _held = super::lock::acquire(state_dir, &key, &book.name)?;
            let outcome = runner(state_dir, key, &answers).run(&steps).await?;
            ended(outcome)
        }
        RunbookCommand::Open {
            file,
            vars,
            operator,
        } => {
            let active = super::active::Active {
                file: std::path::absolute(&file).unwrap_or(file),
                vars: vars.vars,
                operator,
            };
            active.load()?;
            active.save(state_dir)?;
            Ok(crate::launch::console(Some(state_dir.to_path_buf()), Default::default()).await)
        }
        RunbookCommand::Close => {
            super::active::Active::clear(state_dir);
            outln!("the console no longer shows a runbook")?;
            Ok(0)
        }
        RunbookCommand::Status { file, vars, json } => {
            let (book, key) = load(&file, &vars)?;
            let mut records = state::records(state_dir, &key)?;
            if !super::lock::held(state_dir, &key) {
                for rec in records.values_mut() {
                    if rec.state == state::StepState::Running {
                        rec.state = state::StepState::Interrupted;
                        rec.note = Some(
                            "cutover stopped while it ran; the next run checks it again".into(),
                        );
                    }
                }
            }
            let mut all = steps_of(&book.phases);
            for p in &book.phases {
                all.extend(
                    p.rollback
                        .iter()
                        .map(|s| (format!("rollback of {}", p.name), s)),
                );
            }
            if !json {
                outln!("runbook {} ({})", book.name, crate::names::display(&file))?;
            }
            let phase_width = all
                .iter()
                .map(|(p, _)| p.chars().count())
                .max()
                .unwrap_or(0);
            let id_width = all
                .iter()
                .map(|(_, s)| s.id.chars().count())
                .max()
                .unwrap_or(0);
            for (phase, step) in all {
                let rec: StepRecord = records.get(&step.id).cloned().unwrap_or_default();
                if json {
                    outln!(
                        "{}",
                        json!({
                            "phase": phase,
                            "id": step.id,
                            "kind": step.action.kind(),
                            "state": rec.state.word(),
                            "by": rec.by,
                            "at": rec.at,
                            "note": rec.note,
                            "job": rec.job,
                        })
                    )?;
                } else {
                    let who = match (&rec.by, rec.at) {
                        (Some(by), Some(at)) => format!(" by {by} at {}", crate::report::utc(at)),
                        _ => String::new(),
                    };
                    outln!(
                        "{:<phase_width$}  {:<id_width$}  {:<8} {:<11}{who}{}",
                        phase,
                        step.id,
                        step.action.kind(),
                        rec.state.word(),
                        rec.note.map(|n| format!(" — {n}")).unwrap_or_default()
                    )?;
                }
            }
            Ok(0)
        }
        RunbookCommand::Log { file, vars, json } => {
            let (_, key) = load(&file, &vars)?;
            for e in state::log(state_dir, &key)? {
                if json {
                    outln!("{}", serde_json::to_value(&e).unwrap_or_default())?;
                } else {
                    outln!(
                        "{}  {:<10} {:<12} {:<20} {:<11}{}{}",
                        time(Some(e.at)),
                        e.by,
                        e.phase,
                        e.id,
                        e.event,
                        e.job.map(|j| format!(" job #{j}")).unwrap_or_default(),
                        e.note.map(|n| format!(" — {n}")).unwrap_or_default()
                    )?;
                }
            }
            Ok(0)
        }
        RunbookCommand::Reset {
            file,
            vars,
            confirm,
        } => {
            let (book, key) = load(&file, &vars)?;
            if !confirm {
                return Err(Error::bad(format!(
                    "reset forgets every confirmation of runbook '{}'; add --confirm",
                    book.name
                )));
            }
            let journal = crate::journal::Journal::open(state_dir)?;
            journal.reset_runbook(
                &key,
                &LogEntry {
                    at: now_unix(),
                    by: state::operator(None),
                    phase: String::new(),
                    id: String::new(),
                    event: "reset".into(),
                    note: Some("every step's state forgotten".into()),
                    job: None,
                },
            )?;
            if super::active::Active::read(state_dir)
                .and_then(|a| a.load().ok())
                .is_some_and(|l| l.key == key)
            {
                super::active::Active::clear(state_dir);
            }
            outln!("runbook '{}' starts over", book.name)?;
            Ok(0)
        }
    }
}
