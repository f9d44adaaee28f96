//! The console's side of a runbook: its checklist read from the journal
//! this console holds, steps run or confirmed (a `cutover` step as a console
//! job whose result decides the step, other `cutover` commands as their own
//! process, the rest as `cutover runbook run` runs them), and steps left
//! running by a process that is gone marked interrupted.

use tokio::sync::mpsc;

use super::Runner;
use crate::ui::app::Msg;

impl Runner {
    /// The runbook's store: the journal this console holds.
    fn runbook_store(&self) -> crate::runbook::state::Store {
        crate::runbook::state::Store::Held(self.cfg.journal.clone())
    }

    /// Take the runbook's lock for this console's life; steps left
    /// `running` by a process that is gone are then interrupted. When
    /// another process runs the runbook, say so; its steps are refused here.
    pub(super) fn hold_runbook(&mut self) {
        let Some(loaded) = &self.cfg.runbook else {
            return;
        };
        let held =
            crate::runbook::lock::acquire(&self.cfg.state_dir, &loaded.key, &loaded.book.name)
                .map_err(|e| e.to_string());
        match &held {
            Ok(_) => self.interrupt_running_steps(),
            Err(why) => tracing::error!("{why}"),
        }
        self.runbook_lock = Some(held);
    }

    /// Steps left `running` by a process that is gone: interrupted, to be
    /// checked again (never assumed done).
    fn interrupt_running_steps(&self) {
        let Some(loaded) = &self.cfg.runbook else {
            return;
        };
        let store = self.runbook_store();
        let Ok(records) = store.records(&loaded.key) else {
            return;
        };
        for (id, rec) in records {
            if rec.state != crate::runbook::state::StepState::Running {
                continue;
            }
            let note = Some("was running when cutover stopped; run it again".to_string());
            let new = crate::runbook::state::StepRecord {
                state: crate::runbook::state::StepState::Interrupted,
                note: note.clone(),
                ..rec
            };
            let entry = crate::runbook::state::LogEntry {
                at: crate::journal::now_unix(),
                by: loaded.operator.clone(),
                phase: String::new(),
                id: id.clone(),
                event: "interrupted".into(),
                note,
                job: new.job,
            };
            if let Err(e) = store.record(&loaded.key, &id, &new, &entry) {
                tracing::error!("runbook: {e}");
            }
        }
    }

    /// A runbook step's job started, could not start, or ended: record it.
    pub(super) fn observe(&mut self, msg: &Msg) {
        let Some(pending) = self.runbook_pending.clone() else {
            return;
        };
        use crate::runbook::state::StepState;
        let store = self.runbook_store();
        let (state, note, job) = match msg {
            Msg::JobSpawned { job } => (StepState::Running, None, Some(*job)),
            Msg::JobStartFailed { error } => (StepState::Failed, Some(error.clone()), None),
            Msg::JobEnded {
                job,
                summary,
                error,
            } => {
                let verified =
                    error.is_none() && summary.as_ref().is_some_and(|s| s.all_verified());
                let note = match (summary, error) {
                    (_, Some(e)) => format!("job #{job}: {e}"),
                    (Some(s), None) if verified => {
                        format!(
                            "job #{job}: all verified ({})",
                            crate::fmt::counted(s.items_total, "items")
                        )
                    }
                    (Some(s), None) if s.cancelled => format!("job #{job}: cancelled"),
                    (Some(s), None) => format!("job #{job}: {} items failed", s.items_failed),
                    (None, None) => format!("job #{job}: ended without a summary"),
                };
                let state = if verified {
                    StepState::Passed
                } else {
                    StepState::Failed
                };
                (state, Some(note), Some(*job))
            }
            _ => return,
        };
        if state != StepState::Running {
            self.runbook_pending = None;
        }
        if let Err(e) = record_step(
            &store,
            &pending.loaded,
            &pending.phase,
            &pending.id,
            state,
            note,
            job,
        ) {
            tracing::error!("runbook: {e}");
        }
        self.send_checklist();
    }

    /// Send the checklist as the journal has it now.
    pub(super) fn send_checklist(&self) {
        let Some(loaded) = &self.cfg.runbook else {
            return;
        };
        match self.runbook_store().records(&loaded.key) {
            Ok(records) => self.send(Msg::Checklist(crate::runbook::view::checklist(
                loaded,
                &records,
                self.rolling_back.clone(),
            ))),
            Err(e) => self.send(Msg::Error(format!("runbook: {e}"))),
        }
    }

    /// Run or confirm runbook step `id`: a `cutover` step as a console job
    /// (its result decides the step), the others as `cutover runbook run`
    /// does; the checklist comes back when it is done.
    pub(super) fn runbook_step(&mut self, id: &str, yes: bool) {
        let Some(loaded) = self.cfg.runbook.clone() else {
            return;
        };
        let found = loaded.book.phases.iter().find_map(|p| {
            p.steps
                .iter()
                .map(|s| (p.name.clone(), s))
                .chain(
                    p.rollback
                        .iter()
                        .map(|s| (format!("rollback of {}", p.name), s)),
                )
                .find(|(_, s)| s.id == id)
        });
        let Some((phase, step)) = found else {
            return self.send(Msg::Error(format!("runbook: no step {id}")));
        };
        if let Some(Err(why)) = &self.runbook_lock {
            return self.send(Msg::Error(why.clone()));
        }
        let step = step.clone();
        if let crate::runbook::file::Action::Cutover { args } = &step.action {
            return self.runbook_job(&loaded, &phase, &step, args);
        }
        if matches!(step.action, crate::runbook::file::Action::Wait { .. }) && yes {
            // The operator ends a running watch window early.
            let note = Some("watch window ended early by the operator".to_string());
            let passed = crate::runbook::state::StepState::Passed;
            if let Err(e) = record_step(
                &self.runbook_store(),
                &loaded,
                &phase,
                &step.id,
                passed,
                note,
                None,
            ) {
                return self.send(Msg::Error(format!("runbook: {e}")));
            }
            return self.send_checklist();
        }
        let store = self.runbook_store();
        let state_dir = self.cfg.state_dir.clone();
        let tx = self.tx.clone();
        let rolling_back = self.rolling_back.clone();
        tokio::spawn(async move {
            let yes_list = if yes {
                vec![step.id.clone()]
            } else {
                Vec::new()
            };
            let runner = crate::runbook::run::Runner {
                state_dir,
                store: store.clone(),
                key: loaded.key.clone(),
                operator: loaded.operator.clone(),
                yes: &yes_list,
                skip: &[],
                note: None,
            };
            let outcome = runner.run(&[(phase, &step)]).await;
            let msg = match outcome {
                Ok(crate::runbook::run::Outcome::Failed { id, why }) => {
                    tracing::error!("runbook: {id} failed: {why}");
                    Some(format!("{id} failed: {why}"))
                }
                Ok(crate::runbook::run::Outcome::Waiting { id, .. }) => {
                    Some(format!("{id} waits for your confirmation"))
                }
                Ok(crate::runbook::run::Outcome::Done) => {
                    tracing::info!("runbook: {} done", step.id);
                    None
                }
                Err(e) => Some(format!("runbook: {e}")),
            };
            if let Ok(records) = store.records(&loaded.key) {
                let list = crate::runbook::view::checklist(&loaded, &records, rolling_back);
                let _ = tx.send(Msg::Checklist(list)).await;
            }
            if let Some(m) = msg {
                let _ = tx.send(Msg::Error(m)).await;
            }
        });
    }

    /// A runbook's `cutover` step as a console job: it shows in Jobs and
    /// Items like any other; when it ends, the step passes only if every
    /// item verified.
    fn runbook_job(
        &mut self,
        loaded: &crate::runbook::active::Loaded,
        phase: &str,
        step: &crate::runbook::file::Step,
        args: &[String],
    ) {
        let argv = crate::runbook::run::step_argv(&self.cfg.state_dir, args);
        let parsed = <crate::cli::Cli as clap::Parser>::try_parse_from(argv)
            .map_err(|e| e.to_string().lines().next().unwrap_or_default().to_string())
            .and_then(|cli| match cli.command {
                Some(crate::cli::Command::Run { call }) => {
                    crate::cli::build_job(&call.kind, &call.args, false).map_err(|e| e.to_string())
                }
                Some(crate::cli::Command::Verify { call }) => {
                    crate::cli::build_job(&call.kind, &call.args, true).map_err(|e| e.to_string())
                }
                _ => Err(String::new()),
            });
        if parsed.as_ref().is_err_and(String::is_empty) {
            // Not a job (`store cutover`, `inspect …`): its own process,
            // which needs no journal; its exit code decides.
            return self.runbook_command(loaded, phase, step, args);
        }
        let store = self.runbook_store();
        let record = |state, note: Option<String>, job| {
            record_step(&store, loaded, phase, &step.id, state, note, job)
        };
        let (migration, opts, _) = match parsed {
            Ok(job) => job,
            Err(e) => {
                let _ = record(
                    crate::runbook::state::StepState::Failed,
                    Some(e.clone()),
                    None,
                );
                self.send_checklist();
                return self.send(Msg::Error(format!("{}: {e}", step.id)));
            }
        };
        if let Err(e) = record(crate::runbook::state::StepState::Running, None, None) {
            return self.send(Msg::Error(format!("runbook: {e}")));
        }
        self.send_checklist();
        self.runbook_pending = Some(RunbookJob {
            loaded: loaded.clone(),
            phase: phase.to_string(),
            id: step.id.clone(),
        });
        // Before the job's own messages: the console must expect it.
        let starting = Msg::RunbookJobStarting {
            name: step.id.clone(),
            mode: if opts.verify_only {
                crate::ui::model::RunMode::Verify
            } else {
                crate::ui::model::RunMode::Migrate
            },
        };
        if let Err(mpsc::error::TrySendError::Full(m) | mpsc::error::TrySendError::Closed(m)) =
            self.tx.try_send(starting)
        {
            self.send(m);
        }
        self.spawn_job(migration, opts, None, None);
    }

    /// A runbook `cutover` step that is not a job, run as its own cutover
    /// process (output captured, never on the console's screen).
    fn runbook_command(
        &mut self,
        loaded: &crate::runbook::active::Loaded,
        phase: &str,
        step: &crate::runbook::file::Step,
        args: &[String],
    ) {
        let store = self.runbook_store();
        let (loaded, phase, id) = (loaded.clone(), phase.to_string(), step.id.clone());
        // The program's own name is not an argument of the child.
        let argv: Vec<String> = crate::runbook::run::step_argv(&self.cfg.state_dir, args)
            .into_iter()
            .skip(1)
            .collect();
        let tx = self.tx.clone();
        let rolling_back = self.rolling_back.clone();
        use crate::runbook::state::StepState;
        if let Err(e) = record_step(&store, &loaded, &phase, &id, StepState::Running, None, None) {
            return self.send(Msg::Error(format!("runbook: {e}")));
        }
        self.send_checklist();
        tokio::spawn(async move {
            let ran = tokio::task::spawn_blocking(move || {
                let exe = std::env::current_exe().map_err(|e| e.to_string())?;
                duct::cmd(exe, argv)
                    .stdout_capture()
                    .stderr_capture()
                    .stdin_null()
                    .unchecked()
                    .run()
                    .map_err(|e| e.to_string())
            })
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r);
            let (state, note) = match ran {
                Ok(out) => {
                    let text = format!(
                        "{}{}",
                        String::from_utf8_lossy(&out.stdout),
                        String::from_utf8_lossy(&out.stderr)
                    );
                    let last = text.trim().lines().last().unwrap_or_default().to_string();
                    match out.status.code() {
                        Some(0) => (StepState::Passed, last),
                        code => (
                            StepState::Failed,
                            format!("exited {}: {last}", code.unwrap_or(-1)),
                        ),
                    }
                }
                Err(e) => (StepState::Failed, e),
            };
            if let Err(e) = record_step(
                &store,
                &loaded,
                &phase,
                &id,
                state,
                Some(note.clone()),
                None,
            ) {
                tracing::error!("runbook: {e}");
            }
            if let Ok(records) = store.records(&loaded.key) {
                let list = crate::runbook::view::checklist(&loaded, &records, rolling_back);
                let _ = tx.send(Msg::Checklist(list)).await;
            }
            if state == StepState::Failed {
                let _ = tx.send(Msg::Error(format!("{id} failed: {note}"))).await;
            }
        });
    }
}

/// A runbook `cutover` step whose job runs in the console.
#[derive(Clone)]
pub(super) struct RunbookJob {
    loaded: crate::runbook::active::Loaded,
    phase: String,
    id: String,
}

/// Record a runbook step's new state and its audit entry.
fn record_step(
    store: &crate::runbook::state::Store,
    loaded: &crate::runbook::active::Loaded,
    phase: &str,
    id: &str,
    state: crate::runbook::state::StepState,
    note: Option<String>,
    job: Option<u64>,
) -> crate::error::Result<()> {
    store.set_step(&loaded.key, &loaded.operator, phase, id, state, note, job)
}
