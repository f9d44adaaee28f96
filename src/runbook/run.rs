//! Running a runbook's steps in order, headless: automatic steps run,
//! a manual step waits for the operator (`--yes ID`, or `--yes ID=WORD`
//! when it asks for a typed word), a failed gate stops the run and stays
//! failed — the next run retries it first, never skips it — and a step
//! found running (a killed process) is checked again.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::file::{Action, Phase, Step};
use super::state::{self, StepState};
use crate::error::{Error, Result};
use crate::journal::Journal;

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Every step passed (or was confirmed or skipped).
    Done,
    /// A manual step waits for the operator.
    Waiting {
        /// The step.
        id: String,
        /// What to do.
        text: String,
        /// The word it wants typed, if any.
        confirm: Option<String>,
    },
    /// A step failed its gate.
    Failed {
        /// The step.
        id: String,
        /// Why.
        why: String,
    },
}

/// Who runs it, what they said yes to, where the journal is.
pub struct Runner<'a> {
    /// The journal's directory (nodes.toml, in-process `cutover` steps).
    pub state_dir: PathBuf,
    /// How the journal is reached.
    pub store: state::Store,
    /// The runbook's key in the journal.
    pub key: String,
    /// The operator.
    pub operator: String,
    /// `--yes ID` / `--yes ID=WORD`.
    pub yes: &'a [String],
    /// `--skip ID=REASON`: steps the operator skips, and why.
    pub skip: &'a [String],
    /// `--note TEXT`: the operator's note on what they confirm now.
    pub note: Option<&'a str>,
}

/// What the operator said yes to for step `id`: `Some(None)` a plain yes,
/// `Some(Some(word))` a yes with a typed word.
fn said_yes<'y>(yes: &'y [String], id: &str) -> Option<Option<&'y str>> {
    yes.iter().find_map(|y| match y.split_once('=') {
        Some((i, word)) if i == id => Some(Some(word)),
        None if y == id => Some(None),
        _ => None,
    })
}

impl Runner<'_> {
    /// Record `step`'s new `state` with its audit entry.
    fn set(
        &self,
        phase: &str,
        step: &Step,
        state: StepState,
        note: Option<String>,
        job: Option<u64>,
    ) -> Result<()> {
        self.store
            .set_step(&self.key, &self.operator, phase, &step.id, state, note, job)
    }

    /// Run `steps` (each with its phase name) in order, from the first not done.
    pub async fn run(&self, steps: &[(String, &Step)]) -> Result<Outcome> {
        let records = self.store.records(&self.key)?;
        for (phase, step) in steps {
            let current = records.get(&step.id).cloned().unwrap_or_default();
            if current.state.done() {
                continue;
            }
            if current.state == StepState::Running {
                // The process that ran it is gone: check it again.
                let note = Some("was running when cutover stopped; checked again".to_string());
                self.set(phase, step, StepState::Interrupted, note, current.job)?;
            }
            if let Some(reason) = self.skip.iter().find_map(|s| {
                s.split_once('=')
                    .filter(|(id, _)| *id == step.id)
                    .map(|(_, why)| why)
            }) {
                if current.state == StepState::Failed {
                    return Err(Error::bad(format!(
                        "step {} failed: a failed gate is retried or its phase rolled back, never skipped",
                        step.id
                    )));
                }
                let note = Some(format!("skipped: {reason}"));
                self.set(phase, step, StepState::Skipped, note, None)?;
                continue;
            }
            match self.step(phase, step).await? {
                Outcome::Done => {}
                other => return Ok(other),
            }
        }
        Ok(Outcome::Done)
    }

    async fn step(&self, phase: &str, step: &Step) -> Result<Outcome> {
        match &step.action {
            Action::Manual { text, confirm } => {
                let answer = said_yes(self.yes, &step.id);
                let ok = match (answer, confirm) {
                    (Some(Some(word)), Some(want)) => word == want,
                    (Some(_), None) => true,
                    _ => false,
                };
                if !ok {
                    return Ok(Outcome::Waiting {
                        id: step.id.clone(),
                        text: text.clone(),
                        confirm: confirm.clone(),
                    });
                }
                let note = Some(match self.note {
                    Some(n) => format!("{n} (step: {text})"),
                    None => format!("confirmed: {text}"),
                });
                self.set(phase, step, StepState::Confirmed, note, None)?;
                Ok(Outcome::Done)
            }
            Action::Wait { minutes } => {
                if said_yes(self.yes, &step.id).is_some() {
                    let note = Some(match self.note {
                        Some(n) => format!("ended early: {n}"),
                        None => "watch window ended early by the operator".to_string(),
                    });
                    self.set(phase, step, StepState::Passed, note, None)?;
                    return Ok(Outcome::Done);
                }
                self.set(phase, step, StepState::Running, None, None)?;
                tokio::time::sleep(Duration::from_secs_f64(minutes * 60.0)).await;
                // Ended early meanwhile (the console): nothing more to say.
                let now = self.store.records(&self.key)?;
                if now
                    .get(&step.id)
                    .is_some_and(|r| r.state != StepState::Running)
                {
                    return Ok(Outcome::Done);
                }
                let note = Some(format!("watched for {minutes} min"));
                self.set(phase, step, StepState::Passed, note, None)?;
                Ok(Outcome::Done)
            }
            Action::Command { .. } | Action::Cutover { .. } => {
                self.set(phase, step, StepState::Running, None, None)?;
                let (result, job) = match &step.action {
                    Action::Command {
                        run,
                        node,
                        expect_exit,
                        expect_output,
                    } => (
                        command(
                            &self.state_dir,
                            run,
                            node,
                            *expect_exit,
                            expect_output.as_deref(),
                        ),
                        None,
                    ),
                    Action::Cutover { args } => cutover(&self.state_dir, args).await?,
                    _ => (Err("not a step that runs".to_string()), None),
                };
                match result {
                    Ok(note) => {
                        self.set(phase, step, StepState::Passed, Some(note), job)?;
                        Ok(Outcome::Done)
                    }
                    Err(why) => {
                        self.set(phase, step, StepState::Failed, Some(why.clone()), job)?;
                        Ok(Outcome::Failed {
                            id: step.id.clone(),
                            why,
                        })
                    }
                }
            }
        }
    }
}

/// Run a command step's argument list on its node and check its gate.
fn command(
    state_dir: &Path,
    run: &[String],
    node: &str,
    expect_exit: i32,
    expect_output: Option<&str>,
) -> std::result::Result<String, String> {
    let nodes = crate::nodes::load(state_dir).map_err(|e| e.to_string())?;
    let node = crate::nodes::file::find(&nodes, node).map_err(|e| e.to_string())?;
    let out = crate::nodes::runner::NodeRunner::new(node, state_dir).run(run)?;
    let code = out.code;
    let text = format!("{}{}", out.stdout, out.stderr);
    let last = text.trim().lines().last().unwrap_or_default().to_string();
    if code != expect_exit {
        return Err(format!(
            "`{}` exited {code}, expected {expect_exit}{}",
            run.join(" "),
            if last.is_empty() {
                String::new()
            } else {
                format!(": {last}")
            }
        ));
    }
    if let Some(want) = expect_output {
        if !text.contains(want) {
            return Err(format!("`{}` did not print \"{want}\"", run.join(" ")));
        }
    }
    Ok(format!("`{}` exited {code}", run.join(" ")))
}

/// The newest job in the journal (0: none).
fn newest_job(state_dir: &Path) -> u64 {
    Journal::list(state_dir)
        .map(|jobs| jobs.iter().map(|j| j.job).max().unwrap_or(0))
        .unwrap_or(0)
}

/// A runbook step's cutover command line as this process would run it:
/// with this process's `--state-dir` and `--nodes` before the step's own
/// arguments (a step may still give its own, which win).
pub fn step_argv(state_dir: &Path, args: &[String]) -> Vec<String> {
    let mut argv = vec![
        "cutover".to_string(),
        "--state-dir".to_string(),
        state_dir.display().to_string(),
    ];
    if let Some(nodes) = crate::nodes::flag() {
        argv.extend(["--nodes".to_string(), nodes.display().to_string()]);
    }
    argv.extend(args.iter().cloned());
    argv
}

/// Run a cutover command line in this process; it passes only when its job
/// ended with every item verified (exit 0).
async fn cutover(
    state_dir: &Path,
    args: &[String],
) -> Result<(std::result::Result<String, String>, Option<u64>)> {
    let argv = step_argv(state_dir, args);
    let cli = <crate::cli::Cli as clap::Parser>::try_parse_from(argv).map_err(|e| {
        Error::bad(format!(
            "cutover step: {}",
            e.to_string().lines().next().unwrap_or_default()
        ))
    })?;
    let Some(command) = cli.command else {
        return Ok((
            Err("a cutover step needs a command (run, verify, resume…)".into()),
            None,
        ));
    };
    if matches!(
        command,
        crate::cli::Command::Console(_)
            | crate::cli::Command::Demo { .. }
            | crate::cli::Command::Runbook { .. }
    ) {
        return Ok((
            Err(
                "a cutover step runs a headless command, not the console, the demo or a runbook"
                    .into(),
            ),
            None,
        ));
    }
    let before = newest_job(state_dir);
    let state = cli.state_dir.unwrap_or_else(|| state_dir.to_path_buf());
    let code = Box::pin(crate::cli::dispatch(Some(state.clone()), command)).await;
    let after = newest_job(&state);
    let job = (after > before).then_some(after);
    let named = job.map(|j| format!("job #{j} ")).unwrap_or_default();
    Ok(match code {
        Ok(0) => (Ok(format!("{named}ended with every item verified")), job),
        Ok(c) => (
            Err(format!(
                "{named}exited {c}: not every item verified (cutover report {})",
                job.unwrap_or(0)
            )),
            job,
        ),
        Err(e) => (Err(format!("{named}{e}")), job),
    })
}

/// The steps of `phases` in order, each with its phase's name.
pub fn steps_of(phases: &[Phase]) -> Vec<(String, &Step)> {
    phases
        .iter()
        .flat_map(|p| p.steps.iter().map(move |s| (p.name.clone(), s)))
        .collect()
}

/// The rollback steps of phase `name`.
pub fn rollback_of<'a>(phases: &'a [Phase], name: &str) -> Result<Vec<(String, &'a Step)>> {
    let phase = phases.iter().find(|p| p.name == name).ok_or_else(|| {
        Error::bad(format!(
            "no phase '{name}'; the runbook's phases: {}",
            phases
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    if phase.rollback.is_empty() {
        return Err(Error::bad(format!("phase '{name}' has no rollback steps")));
    }
    Ok(phase
        .rollback
        .iter()
        .map(|s| (format!("rollback of {name}"), s))
        .collect())
}
