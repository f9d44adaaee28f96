//! The console's state and the one function that changes it.
//!
//! Everything that happens (a key, a tick, an engine event, a job that
//! ended, a refreshed job list, a store's numbers) arrives as a [`Msg`];
//! [`update`] applies it and returns the [`Command`]s the runner must carry
//! out (start a job, cancel it, reload the journal, read a store, quit).
//! Nothing else mutates [`State`].

use std::collections::VecDeque;
use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::job::event::{Event, JobId, Summary};

mod checklist;
mod confirm;
mod details;
mod edit;
mod events;
mod mouse;
mod ops;
mod queue;
pub mod stream;

pub use self::edit::{Probe, Prompt, PromptFor, COUNTING};

use self::details::{live_refresh, on_reading, on_rows};
use self::events::{finish_source, note_end, on_event, on_summary};
use self::queue::{after_job, resume, start_selection};
use super::action::Action;
use super::keymap;
use super::model::{ItemLog, JobMetrics, JobRow, Pane, Phase, RunMode, SourceView};
use super::model::{Reading, TableRow};

/// Rows moved by `pgdn` / `pgup`.
const PAGE: usize = 10;

/// A message to the console.
#[derive(Debug, Clone, PartialEq)]
pub enum Msg {
    /// A key was pressed.
    Key(KeyEvent),
    /// The terminal was resized.
    Resize,
    /// A mouse click or wheel turn.
    Mouse(crossterm::event::MouseEvent),
    /// The console opened: load what it shows (the journal, the stores' numbers).
    Start,
    /// Time passed (drives spinners, elapsed time, the idle rate, and the
    /// slow re-reading of stores).
    Tick(Instant),
    /// An event of the running job, stamped with when it arrived.
    Engine {
        /// The event.
        event: Event,
        /// When the console received it.
        at: Instant,
    },
    /// The job asked for by the last start command is running under this id.
    JobSpawned {
        /// Its journal id (0 when not journalled).
        job: JobId,
    },
    /// The job asked for could not start (bad input found while planning).
    JobStartFailed {
        /// What was wrong.
        error: String,
    },
    /// The job's task ended (after its last event).
    JobEnded {
        /// The job.
        job: JobId,
        /// Its summary, if the task returned one.
        summary: Option<Summary>,
        /// Why it ended abnormally, if it did.
        error: Option<String>,
    },
    /// The journal's job list, newest first.
    Jobs(Vec<JobRow>),
    /// A live source's details, as its kind read them.
    Details {
        /// The source (index into the sources).
        source: usize,
        /// What reading gave.
        reading: Reading,
    },
    /// The table rows of one item of the running job (redb: one per
    /// table), sent just before the item's result.
    Rows {
        /// The job.
        job: JobId,
        /// The source the item belongs to.
        source: usize,
        /// The item.
        item: String,
        /// Its rows.
        rows: Vec<TableRow>,
    },
    /// What an operation would change (`None`: it asks nothing), or why it
    /// cannot be done.
    Asked {
        /// The operation.
        op: Op,
        /// What it would change.
        preview: Result<Option<crate::job::Preview>, String>,
    },
    /// An operation finished: what it did, or why it failed.
    Done {
        /// The operation.
        op: Op,
        /// Its one-line outcome.
        result: Result<String, String>,
    },
    /// The verification mode the jobs to come use, as a label.
    VerifyLabel(String),
    /// The runbook's checklist, as the journal has it now.
    Checklist(crate::runbook::view::Checklist),
    /// Every node of the inventory, probed.
    Nodes(Vec<crate::nodes::probe::Probed>),
    /// The job just started has a live rate limit (bytes per second, 0:
    /// none), or none (`None`).
    RateLimit(Option<u64>),
    /// A runbook step's job is about to start (the next `JobSpawned` is it).
    RunbookJobStarting {
        /// The step.
        name: String,
        /// How it runs.
        mode: RunMode,
    },
    /// A job's report, as lines of the item stream (or why it cannot be read).
    Report {
        /// The job.
        job: JobId,
        /// Header, failures, warnings, counts.
        lines: Result<Vec<super::model::ItemLine>, String>,
    },
    /// What a run that asks first would change, or why it cannot be worked out.
    Previewed {
        /// The sources of the run.
        sources: Vec<usize>,
        /// The run.
        mode: RunMode,
        /// What it would change (with the kind's objection, if any).
        preview: Result<crate::job::Preview, String>,
    },
    /// The path line was completed (tab): `from` became `to`.
    Completed {
        /// The text completed.
        from: String,
        /// The completion.
        to: String,
    },
    /// What a path typed for a new source is.
    Probed(Result<Probe, String>),
    /// The sources changed (added, retargeted, forgotten), with a note.
    Sources {
        /// The new list.
        sources: Vec<SourceView>,
        /// What happened, for the status line.
        note: String,
    },
    /// Something failed in the background (shown on the status line).
    Error(String),
    /// The process was asked to stop (SIGTERM, SIGHUP): cancel and quit.
    Signal(String),
}

impl Msg {
    /// A key press without modifiers (handy in tests).
    pub fn key(code: KeyCode) -> Msg {
        Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
    }

    /// A character key press (handy in tests).
    pub fn ch(c: char) -> Msg {
        Msg::key(KeyCode::Char(c))
    }
}

/// Work `update` asks the runner to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Start one job on one source, or on several redb nodes of one cluster together.
    StartJob {
        /// Indices into the configured sources.
        sources: Vec<usize>,
        /// What to do.
        mode: RunMode,
        /// The operator typed the name to override the kind's objection.
        force: bool,
    },
    /// Work out what an operation would change (off the UI thread),
    /// answered by [`Msg::Asked`].
    Ask(Op),
    /// Carry out an operation (off the UI thread), answered by [`Msg::Done`].
    Do(Op),
    /// Act on a runbook step: run it, or confirm it (`yes`), off the UI
    /// thread; answered by [`Msg::Checklist`].
    RunbookStep {
        /// The step.
        id: String,
        /// The operator confirmed it (a manual step, or ending a wait early).
        yes: bool,
    },
    /// Roll back a runbook phase: its rollback steps become the current ones.
    RunbookRollback {
        /// The phase.
        phase: String,
    },
    /// Probe every node of the inventory again (off the UI thread),
    /// answered by [`Msg::Nodes`].
    ProbeNodes,
    /// Send node sources (indices into the sources) to this node of the
    /// inventory, answered by [`Msg::Sources`] (or [`Msg::Error`]).
    PickNode {
        /// The sources.
        sources: Vec<usize>,
        /// The node's name.
        node: String,
    },
    /// Set the running job's live rate limit (bytes per second, 0: none).
    SetRateLimit(u64),
    /// Read a job's report from the journal, answered by [`Msg::Report`].
    OpenReport {
        /// The job.
        job: JobId,
    },
    /// The verification mode of the jobs to come, answered by [`Msg::VerifyLabel`].
    SetVerify(crate::verify::VerifyMode),
    /// Items at once for the jobs to come.
    SetParallel(usize),
    /// Work out what a run that asks first would change (off the UI
    /// thread), answered by [`Msg::Previewed`].
    Preview {
        /// Indices into the configured sources.
        sources: Vec<usize>,
        /// What to do.
        mode: RunMode,
    },
    /// Read a live source's details (off the UI thread), answered by [`Msg::Details`].
    ReadDetails {
        /// Index into the configured sources.
        source: usize,
    },
    /// Resume a journalled job.
    ResumeJob {
        /// Its id.
        job: JobId,
        /// Its kind.
        kind: String,
        /// Its journalled parameters.
        params: serde_json::Value,
    },
    /// Ask the running job to stop (it stays resumable in the journal).
    CancelJob,
    /// Reload the job list from the journal.
    RefreshJobs,
    /// Complete the path line's text (answered by [`Msg::Completed`]).
    Complete {
        /// The text so far.
        text: String,
    },
    /// Find out what kind of source a path is (answered by [`Msg::Probed`]).
    ProbeSource {
        /// The path typed.
        path: String,
    },
    /// Add a source (answered by [`Msg::Sources`]).
    AddSource {
        /// Its path.
        path: String,
        /// Its kind, as probed.
        kind: String,
        /// Its target, if one was proposed.
        target: Option<String>,
    },
    /// Set a source's target (answered by [`Msg::Sources`]).
    SetTarget {
        /// The source (index into the sources).
        source: usize,
        /// Its name, to find it again.
        name: String,
        /// The new target.
        target: String,
    },
    /// Forget a source; its data is not touched (answered by [`Msg::Sources`]).
    ForgetSource {
        /// The source (index into the sources).
        source: usize,
        /// Its name, to find it again.
        name: String,
    },
    /// Leave the console.
    Quit,
}

/// A question on screen.
#[derive(Debug, Clone, PartialEq)]
pub enum Dialog {
    /// Quit while a job runs?
    QuitWhileRunning,
    /// Cancel the running job?
    CancelJob,
    /// Forget this source (index into the sources)? Its data stays.
    ForgetSource(usize),
    /// A step that deletes or replaces: what will go, then `y`, or the
    /// name typed when it is riskier still.
    Confirm(Box<Confirm>),
    /// The steps the kind offers on this source (index into the sources).
    Steps(usize),
}

/// An operation on a source or a job besides running it, asked first and
/// carried out off the UI thread.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// A kind's step on a source (`key` in its steps menu).
    Step {
        /// Index into the sources.
        source: usize,
        /// The step's key.
        key: char,
        /// Its name, for messages.
        name: String,
    },
    /// Undo what a journalled job wrote to its target.
    Rollback {
        /// The job.
        job: JobId,
        /// Its kind.
        kind: String,
        /// Its journalled parameters.
        params: serde_json::Value,
    },
}

/// The one question every destructive step asks: what it will delete,
/// replace and write (counts and first names), and either `y` / `n` or, for
/// a riskier step, the name typed out.
#[derive(Debug, Clone, PartialEq)]
pub struct Confirm {
    /// The window's title (`Final sync?`).
    pub title: String,
    /// The question (`Final sync of photos into /mnt/new/photos:`).
    pub question: String,
    /// What will happen, one line each (`delete 3 entries: a, b, c`).
    pub changes: Vec<String>,
    /// Why it is risky, or what stays safe.
    pub note: String,
    /// The text to type to go on (none: `y` goes on).
    pub typed: Option<String>,
    /// What has been typed so far.
    pub input: String,
    /// What `y` (or the typed name) does.
    pub yes: String,
    /// What `n` / `esc` does.
    pub no: String,
    /// What happens on yes.
    pub then: Then,
}

/// What a confirmed [`Confirm`] does.
#[derive(Debug, Clone, PartialEq)]
pub enum Then {
    /// Start the run at the front of the queue, after a typed confirmation
    /// first when its kind objects.
    StartQueued {
        /// The kind objects: ask for the typed name next.
        objection: bool,
        /// The name its kind asks to type over the objection (none: the
        /// target folder's name).
        name: Option<String>,
    },
    /// Start the run at the front of the queue over the kind's objection
    /// (the name was typed).
    StartForced,
    /// Carry out an operation, after a typed confirmation first when it
    /// is riskier still.
    Op {
        /// The operation.
        op: Op,
        /// Ask for the typed name next.
        objection: bool,
        /// The name to type.
        name: String,
    },
    /// Carry out an operation (the name was typed).
    OpForced(Op),
    /// Confirm a runbook step (or end its watch early).
    RunbookStep {
        /// The step.
        id: String,
    },
    /// Roll back a runbook phase.
    RunbookRollback {
        /// The phase.
        phase: String,
    },
}

/// Cursor positions of the list panes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cursors {
    /// Row in the sources pane.
    pub sources: usize,
    /// Row in the selection pane.
    pub selection: usize,
    /// Row in the jobs pane.
    pub jobs: usize,
    /// Row in the nodes pane.
    pub nodes: usize,
    /// Lines scrolled back from the end of the item stream (0: follow).
    pub items_back: usize,
}

/// A job waiting for its turn.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedRun {
    /// What to do.
    pub mode: RunMode,
    /// The operator saw what it changes and said yes (runs that ask first).
    pub confirmed: bool,
    /// The operator typed the name to override the kind's objection.
    pub force: bool,
    /// The sources it runs on (several only for redb nodes run together).
    pub sources: Vec<usize>,
}

/// What the console starts with.
#[derive(Debug, Clone)]
pub struct StateConfig {
    /// Shown in the header (`demo sandbox`, a host name…).
    pub title: String,
    /// Discovered sources.
    pub sources: Vec<SourceView>,
    /// The verification mode jobs use, as a label.
    pub verify: String,
    /// Items processed at once.
    pub parallel: usize,
}

/// The whole state of the console. Rendering reads it; only [`update`] writes it.
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    /// Header title.
    pub title: String,
    /// Discovered sources, with selection and run marks.
    pub sources: Vec<SourceView>,
    /// Verification mode label for new jobs.
    pub verify: String,
    /// Items processed at once.
    pub parallel: usize,
    /// Jobs in the journal, newest first.
    pub jobs: Vec<JobRow>,
    /// Whether the job list was loaded once.
    pub jobs_loaded: bool,
    /// The current or last job of this session.
    pub job: Option<JobMetrics>,
    /// Jobs waiting for their turn (rolling: one at a time).
    pub queue: VecDeque<QueuedRun>,
    /// Selected redb nodes of one cluster run as one job (together) instead
    /// of one after the other (rolling, the default).
    pub together: bool,
    /// Jobs ended since the operator last started a run (one per source).
    pub batch_done: usize,
    /// Of those, how many did not verify every item.
    pub batch_failed: usize,
    /// The per-item stream.
    pub items: ItemLog,
    /// The focused pane.
    pub focus: Pane,
    /// The focused pane fills the body.
    pub zoom: bool,
    /// The help overlay is shown.
    pub help: bool,
    /// Lines of the help overlay scrolled past (a short terminal).
    pub help_scroll: usize,
    /// The open runbook's checklist.
    pub checklist: Option<crate::runbook::view::Checklist>,
    /// The inventory's nodes as last probed (`None`: no inventory, no
    /// Nodes pane; empty: being probed).
    pub nodes: Option<Vec<crate::nodes::probe::Probed>>,
    /// Nodes are being probed now.
    pub nodes_probing: bool,
    /// A job's report shown in Items instead of the live stream.
    pub report: Option<stream::ReportView>,
    /// Text the Items stream and the Sources and Jobs lists are filtered by.
    pub filter: Option<String>,
    /// The filter line is open (`/`): what has been typed.
    pub filter_input: Option<String>,
    /// The stream's lines the filter let through, kept between frames.
    pub filter_cache: std::cell::RefCell<stream::FilterCache>,
    /// Rows the Items pane showed last (what `pgdn` / `pgup` move).
    pub items_page: std::cell::Cell<usize>,
    /// The size of the last frame drawn (where a mouse click lands).
    pub screen: std::cell::Cell<(u16, u16)>,
    /// A question is on screen.
    pub dialog: Option<Dialog>,
    /// A run's preview is being worked out (no other run starts meanwhile).
    pub previewing: bool,
    /// A path line is on screen (a new source, a target).
    pub prompt: Option<Prompt>,
    /// Cursor positions.
    pub cursor: Cursors,
    /// A one-line message for the operator (until the next key).
    pub status: Option<String>,
    /// The message stays until the next key, even when a job ends.
    pub status_sticky: bool,
    /// The latest time the console knows of.
    pub now: Instant,
    /// Quitting once the job has stopped.
    pub quitting: bool,
    /// The loop should end.
    pub should_quit: bool,
}

impl State {
    /// A fresh console state at time `now`.
    pub fn new(cfg: StateConfig, now: Instant) -> State {
        State {
            title: cfg.title,
            sources: cfg.sources,
            verify: cfg.verify,
            parallel: cfg.parallel,
            jobs: Vec::new(),
            jobs_loaded: false,
            job: None,
            queue: VecDeque::new(),
            together: false,
            batch_done: 0,
            batch_failed: 0,
            items: ItemLog::default(),
            focus: Pane::Sources,
            zoom: false,
            help: false,
            help_scroll: 0,
            checklist: None,
            nodes: None,
            nodes_probing: false,
            report: None,
            filter: None,
            filter_input: None,
            filter_cache: Default::default(),
            items_page: std::cell::Cell::new(PAGE),
            screen: std::cell::Cell::new((0, 0)),
            status_sticky: false,
            dialog: None,
            previewing: false,
            prompt: None,
            cursor: Cursors::default(),
            status: None,
            now,
            quitting: false,
            should_quit: false,
        }
    }

    /// The job that is running (or starting, or stopping), if any.
    pub fn active_job(&self) -> Option<&JobMetrics> {
        self.job.as_ref().filter(|j| j.active())
    }

    /// Whether a tick changes what is on screen (spinners, elapsed, rate).
    pub fn animating(&self) -> bool {
        self.active_job().is_some()
    }

    /// Indices of the selected sources, in list order.
    pub fn selected(&self) -> Vec<usize> {
        (0..self.sources.len())
            .filter(|&i| self.sources[i].selected)
            .collect()
    }

    /// Whether `pane` is there to focus (the checklist only with a runbook).
    pub fn has_pane(&self, pane: Pane) -> bool {
        match pane {
            Pane::Checklist => self.checklist.is_some(),
            Pane::Nodes => self.nodes.is_some(),
            _ => true,
        }
    }

    /// The sources the filter lets through (all without one), as indices.
    pub fn shown_sources(&self) -> Vec<usize> {
        let needle = self.filter.as_deref().unwrap_or_default().to_lowercase();
        (0..self.sources.len())
            .filter(|&i| {
                let s = &self.sources[i];
                stream::contains(&s.name, &needle)
                    || stream::contains(&s.source, &needle)
                    || stream::contains(&s.target, &needle)
            })
            .collect()
    }

    /// The jobs the filter lets through (all without one), as indices.
    pub fn shown_jobs(&self) -> Vec<usize> {
        let needle = self.filter.as_deref().unwrap_or_default().to_lowercase();
        (0..self.jobs.len())
            .filter(|&i| {
                let j = &self.jobs[i];
                stream::contains(&j.label, &needle)
                    || stream::contains(&j.kind, &needle)
                    || stream::contains(&format!("#{}", j.job), &needle)
            })
            .collect()
    }

    /// The source the details pane shows: the one under the cursor in the
    /// sources or selection pane when one of those has the focus, else the
    /// current (or last) job's first source, else the one under the sources
    /// cursor.
    pub fn detail_source(&self) -> Option<usize> {
        let under_cursor = Some(self.cursor.sources).filter(|&i| i < self.sources.len());
        let of_job = self.job.as_ref().and_then(|m| m.sources.first().copied());
        match self.focus {
            Pane::Sources => under_cursor,
            Pane::Selection => self
                .selected()
                .get(self.cursor.selection)
                .copied()
                .or(of_job)
                .or(under_cursor),
            // Elsewhere the cursor's source still decides: the operator
            // reaches any source's details by moving to it.
            _ => under_cursor.or(of_job),
        }
    }
}

/// Apply one message to the state; return what the runner must do.
pub fn update(state: &mut State, msg: Msg) -> Vec<Command> {
    match msg {
        Msg::Key(ev) => on_key(state, ev),
        Msg::Resize => Vec::new(),
        Msg::Mouse(ev) => {
            mouse::on_mouse(state, ev);
            Vec::new()
        }
        Msg::Start => {
            let mut cmds = vec![Command::RefreshJobs];
            cmds.extend(live_refresh(state, true));
            cmds
        }
        Msg::Tick(now) => {
            advance(state, now);
            live_refresh(state, false)
        }
        Msg::Engine { event, at } => {
            advance(state, at);
            on_event(state, event);
            Vec::new()
        }
        Msg::JobSpawned { job } => {
            if let Some(m) = state.job.as_mut().filter(|m| m.active()) {
                m.job = Some(job);
                if m.phase == Phase::Starting {
                    m.phase = Phase::Running;
                }
            }
            vec![Command::RefreshJobs]
        }
        Msg::JobStartFailed { error } => {
            if let Some(m) = state.job.as_mut().filter(|m| m.active()) {
                m.error = Some(error.clone());
                m.phase = Phase::Done;
                m.ended_at = Some(state.now);
            }
            finish_source(state);
            note_end(state);
            state.status = Some(format!("could not start: {error}"));
            after_job(state)
        }
        Msg::JobEnded {
            job,
            summary,
            error,
        } => {
            let current = state.job.as_ref().is_some_and(|m| m.job == Some(job));
            if !current {
                return vec![Command::RefreshJobs];
            }
            if state.job.as_ref().is_some_and(|m| m.ended_at.is_none()) {
                if let Some(summary) = summary {
                    on_summary(state, summary);
                }
            }
            if let Some(m) = state.job.as_mut().filter(|m| m.active()) {
                m.error = Some(error.unwrap_or_else(|| "job ended without a summary".into()));
                m.phase = Phase::Done;
                m.ended_at = Some(state.now);
                finish_source(state);
                note_end(state);
            }
            after_job(state)
        }
        Msg::Jobs(rows) => {
            let first = !state.jobs_loaded;
            state.jobs = rows;
            state.jobs_loaded = true;
            state.cursor.jobs = state.cursor.jobs.min(state.jobs.len().saturating_sub(1));
            let quiet = state.status.is_none() || state.status.as_deref() == Some(edit::COUNTING);
            if first && quiet {
                let unfinished: Vec<String> = state
                    .jobs
                    .iter()
                    .filter(|j| {
                        (j.status == "interrupted" || j.status == "running") && j.resumable()
                    })
                    .map(|j| format!("#{}", j.job))
                    .collect();
                if !unfinished.is_empty() {
                    state.status = Some(format!(
                        "unfinished job {}: tab to Jobs and press r to resume",
                        unfinished.join(", ")
                    ));
                }
            }
            Vec::new()
        }
        Msg::Details { source, reading } => {
            on_reading(state, source, reading);
            Vec::new()
        }
        Msg::Rows {
            job,
            source,
            item,
            rows,
        } => {
            on_rows(state, job, source, item, rows);
            Vec::new()
        }
        Msg::Previewed {
            sources,
            mode,
            preview,
        } => confirm::on_previewed(state, sources, mode, preview),
        Msg::Asked { op, preview } => ops::on_asked(state, op, preview),
        Msg::Done { op, result } => ops::on_done(state, op, result),
        Msg::Report { job, lines } => {
            match lines {
                Ok(lines) => stream::on_report(state, job, lines),
                Err(e) => state.status = Some(format!("cannot read the report of job #{job}: {e}")),
            }
            Vec::new()
        }
        Msg::RunbookJobStarting { name, mode } => {
            let mut metrics = JobMetrics::new(mode, Vec::new(), name, state.now);
            metrics.verify = state.verify.clone();
            state.job = Some(metrics);
            state.batch_done = 0;
            state.batch_failed = 0;
            Vec::new()
        }
        Msg::Nodes(probed) => {
            state.cursor.nodes = state.cursor.nodes.min(probed.len().saturating_sub(1));
            state.nodes = Some(probed);
            state.nodes_probing = false;
            Vec::new()
        }
        Msg::RateLimit(limit) => {
            if let Some(m) = state.job.as_mut().filter(|m| m.active()) {
                m.rate_limit = limit;
            }
            Vec::new()
        }
        Msg::Checklist(list) => {
            checklist::on_checklist(state, list);
            Vec::new()
        }
        Msg::VerifyLabel(label) => {
            state.status = Some(format!("jobs to come verify {label}"));
            state.verify = label;
            Vec::new()
        }
        Msg::Completed { from, to } => {
            edit::on_completed(state, from, to);
            Vec::new()
        }
        Msg::Probed(result) => {
            edit::on_probed(state, result);
            Vec::new()
        }
        Msg::Sources { sources, note } => {
            edit::on_sources(state, sources, note);
            vec![Command::RefreshJobs]
        }
        Msg::Error(e) => {
            state.status = Some(e);
            Vec::new()
        }
        Msg::Signal(name) => {
            state.status = Some(format!("{name}: cancelling the job and quitting"));
            state.queue.clear();
            if state.active_job().is_some() {
                state.quitting = true;
                cancel(state)
            } else {
                quit(state)
            }
        }
    }
}

fn advance(state: &mut State, now: Instant) {
    if now > state.now {
        state.now = now;
    }
}

fn quit(state: &mut State) -> Vec<Command> {
    state.should_quit = true;
    vec![Command::Quit]
}

fn cancel(state: &mut State) -> Vec<Command> {
    state.queue.clear();
    match state.job.as_mut().filter(|m| m.active()) {
        Some(m) => {
            m.phase = Phase::Cancelling;
            vec![Command::CancelJob]
        }
        None => Vec::new(),
    }
}

fn on_key(state: &mut State, ev: KeyEvent) -> Vec<Command> {
    if state.prompt.is_some() {
        return edit::on_prompt_key(state, ev);
    }
    let action = keymap::action_for(&ev);
    if state.filter_input.is_some() {
        return stream::on_filter_key(state, ev);
    }
    if let Some(Dialog::Steps(source)) = state.dialog {
        return ops::on_steps_key(state, source, ev);
    }
    if let Some(dialog) = state.dialog.clone() {
        if let Dialog::Confirm(c) = &dialog {
            if c.typed.is_some() {
                return confirm::on_typed_key(state, ev);
            }
        }
        // In the quit question, q and ctrl-c mean quit.
        let quit_again = dialog == Dialog::QuitWhileRunning && action == Some(Action::Quit);
        let action = if quit_again {
            Some(Action::Yes)
        } else {
            action
        };
        return match action {
            Some(Action::Yes) => {
                state.dialog = None;
                match dialog {
                    Dialog::QuitWhileRunning => {
                        state.quitting = true;
                        state.status = Some(
                            "cancelling the job; quitting when it stops (q again: quit now)".into(),
                        );
                        let cmds = cancel(state);
                        if cmds.is_empty() {
                            quit(state)
                        } else {
                            cmds
                        }
                    }
                    Dialog::CancelJob => {
                        state.status = Some("cancelling the job…".into());
                        cancel(state)
                    }
                    Dialog::ForgetSource(i) => match state.sources.get(i) {
                        Some(s) => vec![Command::ForgetSource {
                            source: i,
                            name: s.name.clone(),
                        }],
                        None => Vec::new(),
                    },
                    Dialog::Confirm(c) => confirm::confirmed(state, c.then),
                    Dialog::Steps(_) => Vec::new(),
                }
            }
            Some(Action::No | Action::Back | Action::Quit) => {
                state.dialog = None;
                match dialog {
                    Dialog::Confirm(c) => confirm::declined(state, c.then),
                    _ => Vec::new(),
                }
            }
            _ => Vec::new(),
        };
    }
    if state.help {
        match action {
            Some(Action::Help | Action::Back | Action::Quit) => {
                state.help = false;
                state.help_scroll = 0;
            }
            Some(Action::Down) => state.help_scroll += 1,
            Some(Action::PageDown) => state.help_scroll += PAGE,
            Some(Action::Up) => state.help_scroll = state.help_scroll.saturating_sub(1),
            Some(Action::PageUp) => state.help_scroll = state.help_scroll.saturating_sub(PAGE),
            Some(Action::Top) => state.help_scroll = 0,
            _ => {}
        }
        return Vec::new();
    }
    let Some(action) = action else {
        return Vec::new();
    };
    state.status = None;
    state.status_sticky = false;
    match action {
        Action::Down => move_cursor(state, 1),
        Action::Up => move_cursor(state, -1),
        Action::PageDown => move_cursor(state, page(state) as isize),
        Action::PageUp => move_cursor(state, -(page(state) as isize)),
        Action::Top => move_cursor(state, isize::MIN),
        Action::Bottom => move_cursor(state, isize::MAX),
        Action::Select => select(state),
        Action::SelectAll => {
            let all = state
                .sources
                .iter()
                .filter(|s| s.usable())
                .all(|s| s.selected);
            for s in state.sources.iter_mut().filter(|s| s.usable()) {
                s.selected = !all;
            }
            clamp_selection_cursor(state);
        }
        Action::SelectGroup => ops::select_group(state),
        Action::NextPane => state.focus = cycle(state, Pane::next),
        Action::PrevPane => state.focus = cycle(state, Pane::prev),
        Action::Run if state.focus == Pane::Jobs => return stream::open_report(state),
        Action::Run if state.focus == Pane::Checklist => return checklist::act(state),
        Action::Run if state.focus == Pane::Nodes => {
            if let Some(job) = state.active_job() {
                // Probing again rebuilds the nodes' sources the job runs on.
                state.status = Some(format!(
                    "{} is running: probe the nodes again when it ends",
                    job.title()
                ));
                return Vec::new();
            }
            if state.nodes_probing {
                state.status = Some("the nodes are being probed".into());
                return Vec::new();
            }
            state.nodes_probing = true;
            state.status = Some("probing every node again".into());
            return vec![Command::ProbeNodes];
        }
        Action::Rollback if state.focus == Pane::Checklist => return checklist::rollback(state),
        Action::Run => return start_selection(state, None),
        Action::Filter => return stream::open_filter(state),
        Action::PrevMatch => return stream::jump(state, false),
        Action::FinalSync => return start_selection(state, Some(RunMode::Final)),
        Action::Verify => return start_selection(state, Some(RunMode::Verify)),
        Action::Together => {
            state.together = !state.together;
            state.status = Some(if state.together {
                "redb nodes of one cluster now run together, as one job".to_string()
            } else {
                "redb nodes now run rolling: one at a time".to_string()
            });
        }
        Action::Resume => return resume(state),
        Action::Cancel => {
            if state.active_job().is_some() {
                state.dialog = Some(Dialog::CancelJob);
            } else {
                state.status = Some("no job is running".into());
            }
        }
        Action::Zoom => state.zoom = !state.zoom,
        Action::Help => state.help = true,
        Action::Back => {
            if !stream::close_report(state) {
                if state.filter.take().is_some() {
                    state.cursor.items_back = 0;
                } else {
                    state.zoom = false;
                }
            }
        }
        Action::Yes => {}
        // Outside a question, `n` adds a source.
        Action::No if state.focus == Pane::Items => return stream::jump(state, true),
        Action::No => edit::add_source(state),
        Action::Steps => return ops::open_steps(state),
        Action::Rollback => return ops::rollback(state),
        Action::VerifyMode => return ops::next_verify(state),
        Action::MoreParallel => return ops::parallel(state, 1),
        Action::LessParallel => return ops::parallel(state, -1),
        Action::LowerRate => return ops::rate_limit(state, false),
        Action::RaiseRate => return ops::rate_limit(state, true),
        Action::SetTarget => edit::set_target(state),
        Action::Forget => edit::forget(state),
        Action::Quit => {
            if state.quitting {
                return quit(state);
            }
            if state.active_job().is_some() {
                state.dialog = Some(Dialog::QuitWhileRunning);
            } else {
                return quit(state);
            }
        }
    }
    Vec::new()
}

fn step(pos: usize, delta: isize, len: usize) -> usize {
    if len == 0 {
        return 0;
    }
    let max = len - 1;
    match delta {
        isize::MIN => 0,
        isize::MAX => max,
        d if d < 0 => pos.saturating_sub(d.unsigned_abs()),
        d => (pos + d as usize).min(max),
    }
}

/// The next pane that is there (the checklist only with a runbook open).
fn cycle(state: &State, step: fn(Pane) -> Pane) -> Pane {
    let mut pane = step(state.focus);
    while !state.has_pane(pane) {
        pane = step(pane);
    }
    pane
}

/// Rows `pgdn` / `pgup` move: the Items pane's height, else [`PAGE`].
fn page(state: &State) -> usize {
    match state.focus {
        Pane::Items => state.items_page.get().max(1),
        _ => PAGE,
    }
}

/// Move `cursor` by `delta` among the `shown` indices (a filtered list).
fn step_among(shown: &[usize], cursor: usize, delta: isize) -> usize {
    if shown.is_empty() {
        return cursor;
    }
    let here = shown
        .iter()
        .position(|&i| i >= cursor)
        .unwrap_or(shown.len() - 1);
    shown[step(here, delta, shown.len())]
}

pub(super) fn move_cursor(state: &mut State, delta: isize) {
    match state.focus {
        Pane::Sources => {
            let shown = state.shown_sources();
            state.cursor.sources = step_among(&shown, state.cursor.sources, delta);
        }
        Pane::Selection => {
            let n = state.selected().len();
            state.cursor.selection = step(state.cursor.selection, delta, n);
        }
        Pane::Jobs => {
            let shown = state.shown_jobs();
            state.cursor.jobs = step_among(&shown, state.cursor.jobs, delta);
        }
        Pane::Nodes => {
            let n = state.nodes.as_ref().map_or(0, Vec::len);
            state.cursor.nodes = step(state.cursor.nodes, delta, n);
        }
        Pane::Items => {
            // Moving "down" goes towards the newest line; the bottom follows.
            let len = stream::shown_count(state);
            let back = state.cursor.items_back;
            state.cursor.items_back = match delta {
                isize::MIN => len.saturating_sub(1),
                isize::MAX => 0,
                d if d < 0 => (back + d.unsigned_abs()).min(len.saturating_sub(1)),
                d => back.saturating_sub(d as usize),
            };
        }
        Pane::Checklist | Pane::Metrics | Pane::Details | Pane::Logs => {}
    }
}

pub(super) fn clamp_selection_cursor(state: &mut State) {
    let n = state.selected().len();
    state.cursor.selection = state.cursor.selection.min(n.saturating_sub(1));
}

fn select(state: &mut State) {
    let idx = match state.focus {
        // Only a source the filter shows can be picked.
        Pane::Sources => Some(state.cursor.sources).filter(|i| state.shown_sources().contains(i)),
        Pane::Selection => state.selected().get(state.cursor.selection).copied(),
        _ => None,
    };
    if state.focus == Pane::Sources && idx.is_none() {
        state.status = Some("no source is shown: esc clears the filter".into());
        return;
    }
    let Some(src) = idx.and_then(|i| state.sources.get_mut(i)) else {
        state.status = Some("space selects in the Sources pane (tab to it)".into());
        return;
    };
    if let Some(problem) = &src.problem {
        state.status = Some(format!("{} cannot be used: {problem}", src.name));
        return;
    }
    src.selected = !src.selected;
    clamp_selection_cursor(state);
}
