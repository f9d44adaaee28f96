//! The console's event loop and its only coupling to the rest of cutover:
//! it turns discovered sources and journalled jobs into view data, carries
//! out [`Command`]s (start, resume, cancel a job; reload the journal) and
//! feeds everything that happens back into [`update`] as [`Msg`]s.
//!
//! One `tokio::select!` waits on the terminal's key events, a tick, the
//! message channel (engine events forwarded by one task per job, journal
//! reloads) and termination signals. The screen is redrawn only when
//! something changed, at most [`FPS`] times a second.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use color_eyre::eyre::WrapErr;
use crossterm::event::{Event as TermEvent, EventStream, KeyEventKind};
use futures::StreamExt;
use ratatui::DefaultTerminal;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::discover::TreeSource;
use crate::engine::{self, Event, JobHandle, JobId, RunOptions};
use crate::journal::{JobInfo, Journal};
use crate::migrate::tree_sync::{TreeSync, TreeSyncParams};
use crate::migrate::{self, Migration};
use crate::verify::VerifyMode;

use super::app::{update, Command, Msg, State, StateConfig};
use super::fmt;
use super::model::{JobRow, RunMode, SourceView};
use super::view;

/// Redraws per second, at most.
pub const FPS: u64 = 30;
const FRAME: Duration = Duration::from_millis(1000 / FPS);
/// Spinners and elapsed times move this often while a job runs.
const TICK: Duration = Duration::from_millis(200);
/// Messages waiting for the loop; senders wait when it is full.
const CHANNEL: usize = 1024;
/// How long quitting waits for cancelled jobs to stop.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(10);

/// What the console needs to run: where state lives, the journal, the
/// discovered sources and how jobs verify.
pub struct ConsoleConfig {
    /// The state directory (the console writes `console.log` there).
    pub state_dir: PathBuf,
    /// The open journal.
    pub journal: Arc<Journal>,
    /// Sources the operator can pick.
    pub sources: Vec<TreeSource>,
    /// Items processed at once.
    pub parallel: usize,
    /// How items are verified.
    pub verify: VerifyMode,
    /// Seed for sampled verification.
    pub seed: u64,
    /// Shown in the header.
    pub title: String,
}

/// Run the console until the operator quits. Installs color-eyre's hooks
/// before entering the terminal; the terminal is restored on every exit,
/// panics included (ratatui's panic hook).
pub async fn run_console(cfg: ConsoleConfig) -> color_eyre::Result<()> {
    // A second install (the binary may have done it) fails harmlessly.
    let _ = color_eyre::install();
    init_logging(&cfg.state_dir);
    let mut terminal = ratatui::try_init().wrap_err("cannot enter the terminal")?;
    let mut runner = Runner::new(cfg);
    let result = runner.run(&mut terminal).await;
    ratatui::restore();
    runner.shutdown().await;
    result
}

/// Log events shown in the log pane so far; the loop redraws when it moves.
static LOG_EVENTS: AtomicU64 = AtomicU64::new(0);

/// Counts the events the log pane shows (info and above), so a message
/// logged while nothing else changes (by another thread, say) is drawn.
struct LogCounter;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for LogCounter {
    fn on_event(
        &self,
        event: &tracing::Event<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if *event.metadata().level() <= tracing::Level::INFO {
            LOG_EVENTS.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Route `tracing` into tui-logger (the log pane) and `console.log` in the
/// state directory. Only once per process; a subscriber set up elsewhere wins.
fn init_logging(state_dir: &Path) {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::util::SubscriberInitExt;
        let _ = tracing_subscriber::registry()
            .with(tui_logger::TuiTracingSubscriberLayer)
            .with(LogCounter)
            .try_init();
        let _ = tui_logger::init_logger(tui_logger::LevelFilter::Debug);
        tui_logger::set_default_level(tui_logger::LevelFilter::Info);
        let path = state_dir.join("console.log");
        let writable = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .is_ok();
        if let (true, Some(p)) = (writable, path.to_str()) {
            tui_logger::set_log_file(
                tui_logger::TuiLoggerFile::new(p)
                    .output_file(false)
                    .output_line(false)
                    .output_separator(' '),
            );
        }
    });
}

/// `full` or `sample=N seed=S`, as the operator sees it.
pub fn verify_label(mode: &VerifyMode, seed: u64) -> String {
    match mode {
        VerifyMode::Full => "full".to_string(),
        VerifyMode::Sample(n) => format!("sample={n} seed={seed}"),
    }
}

/// A discovered source as the console shows it.
pub fn source_view(s: &TreeSource) -> SourceView {
    SourceView {
        name: s.name.clone(),
        source: s.source.display().to_string(),
        target: s.target.display().to_string(),
        files: s.files,
        bytes: s.bytes,
        problem: s.problem.clone(),
        selected: false,
        runs: Default::default(),
    }
}

/// A journalled job as the jobs pane shows it. The label names the source
/// (by its configured name when it is one of `sources`) and the phase.
pub fn job_row(info: &JobInfo, sources: &[TreeSource]) -> JobRow {
    let src = info.params.get("source").and_then(|v| v.as_str());
    let name = src
        .and_then(|p| {
            sources
                .iter()
                .find(|s| s.source == Path::new(p))
                .map(|s| s.name.clone())
                .or_else(|| {
                    Path::new(p)
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                })
        })
        .unwrap_or_else(|| info.kind.clone());
    let phase = match info.params.get("final_sync").and_then(|v| v.as_bool()) {
        Some(true) => " (final)",
        Some(false) => " (bulk)",
        None => "",
    };
    JobRow {
        job: info.job,
        kind: info.kind.clone(),
        status: info.status.to_string(),
        items_total: info.items_total,
        items_verified: info.items_verified,
        items_failed: info.items_failed,
        label: format!("{name}{phase}"),
        params: info.params.clone(),
    }
}

struct Runner {
    cfg: ConsoleConfig,
    tx: mpsc::Sender<Msg>,
    rx: mpsc::Receiver<Msg>,
    /// Set to cancel the job started last (forwarded to the engine's flag).
    want_cancel: Option<Arc<AtomicBool>>,
    /// One task per started job: start it, forward its events, report its end.
    tasks: Vec<JoinHandle<()>>,
}

impl Runner {
    fn new(cfg: ConsoleConfig) -> Self {
        let (tx, rx) = mpsc::channel(CHANNEL);
        Runner {
            cfg,
            tx,
            rx,
            want_cancel: None,
            tasks: Vec::new(),
        }
    }

    fn initial_state(&self) -> State {
        State::new(
            StateConfig {
                title: self.cfg.title.clone(),
                sources: self.cfg.sources.iter().map(source_view).collect(),
                verify: verify_label(&self.cfg.verify, self.cfg.seed),
                parallel: self.cfg.parallel,
            },
            Instant::now(),
        )
    }

    async fn run(&mut self, terminal: &mut DefaultTerminal) -> color_eyre::Result<()> {
        let mut state = self.initial_state();
        self.exec(Command::RefreshJobs);
        self.event_loop(terminal, &mut state).await
    }

    async fn event_loop(
        &mut self,
        terminal: &mut DefaultTerminal,
        state: &mut State,
    ) -> color_eyre::Result<()> {
        let mut keys = EventStream::new();
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut signals = Signals::new()?;
        let mut dirty = true;
        let mut last_draw: Option<tokio::time::Instant> = None;
        let mut logs_seen = LOG_EVENTS.load(Ordering::Relaxed);
        loop {
            let now = tokio::time::Instant::now();
            let due = last_draw.map_or(now, |t| t + FRAME);
            if dirty && now >= due {
                // Log lines still in tui-logger's hot buffer would be missed.
                tui_logger::move_events();
                terminal
                    .draw(|f| view::render(f, state))
                    .wrap_err("cannot draw the console")?;
                dirty = false;
                last_draw = Some(now);
            }
            let msg = tokio::select! {
                ev = keys.next() => match ev {
                    Some(Ok(TermEvent::Key(k))) if k.kind == KeyEventKind::Press => Some(Msg::Key(k)),
                    Some(Ok(TermEvent::Resize(..))) => Some(Msg::Resize),
                    Some(Ok(_)) => None,
                    Some(Err(e)) => return Err(e).wrap_err("cannot read the terminal"),
                    None => Some(Msg::Signal("terminal closed".into())),
                },
                Some(msg) = self.rx.recv() => Some(msg),
                _ = tick.tick() => Some(Msg::Tick(Instant::now())),
                _ = tokio::time::sleep_until(due), if dirty => None,
                name = signals.recv() => Some(Msg::Signal(name.into())),
            };
            let Some(msg) = msg else { continue };
            let is_tick = matches!(msg, Msg::Tick(_));
            let commands = update(state, msg);
            let logs = LOG_EVENTS.load(Ordering::Relaxed);
            if !is_tick || state.animating() || logs != logs_seen {
                dirty = true;
                logs_seen = logs;
            }
            for command in commands {
                self.exec(command);
            }
            if state.should_quit {
                return Ok(());
            }
        }
    }

    fn exec(&mut self, command: Command) {
        match command {
            Command::StartJob { source, mode } => match self.tree_sync(source, mode) {
                Ok(migration) => {
                    let opts = RunOptions {
                        parallel: self.cfg.parallel.max(1),
                        dry_run: false,
                        verify_only: mode == RunMode::Verify,
                        batch: None,
                    };
                    self.spawn_job(migration, opts, None);
                }
                Err(error) => self.send(Msg::JobStartFailed { error }),
            },
            Command::ResumeJob { job, kind, params } => {
                match migrate::from_params(&kind, &params) {
                    Ok(m) => {
                        let opts = RunOptions {
                            parallel: self.cfg.parallel.max(1),
                            dry_run: false,
                            verify_only: false,
                            batch: None,
                        };
                        self.spawn_job(Arc::from(m), opts, Some(job));
                    }
                    Err(e) => self.send(Msg::JobStartFailed {
                        error: e.to_string(),
                    }),
                }
            }
            Command::CancelJob => {
                if let Some(flag) = &self.want_cancel {
                    tracing::warn!("cancelling the job; it stays resumable");
                    flag.store(true, Ordering::Relaxed);
                }
            }
            Command::RefreshJobs => {
                let journal = self.cfg.journal.clone();
                let sources = self.cfg.sources.clone();
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    let jobs = tokio::task::spawn_blocking(move || journal.jobs()).await;
                    let msg = match jobs {
                        Ok(Ok(mut jobs)) => {
                            jobs.sort_by_key(|j| std::cmp::Reverse(j.job));
                            Msg::Jobs(jobs.iter().map(|j| job_row(j, &sources)).collect())
                        }
                        Ok(Err(e)) => Msg::Error(format!("cannot read the journal: {e}")),
                        Err(e) => Msg::Error(format!("cannot read the journal: {e}")),
                    };
                    let _ = tx.send(msg).await;
                });
            }
            Command::Quit => {}
        }
    }

    /// Send a message to the loop from the loop itself (without waiting).
    fn send(&self, msg: Msg) {
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let _ = tx.send(msg).await;
        });
    }

    fn tree_sync(&self, source: usize, mode: RunMode) -> Result<Arc<dyn Migration>, String> {
        let src = self
            .cfg
            .sources
            .get(source)
            .ok_or_else(|| format!("no source #{source}"))?;
        if let Some(problem) = &src.problem {
            return Err(format!("{} cannot be used: {problem}", src.name));
        }
        let params = TreeSyncParams {
            source: src.source.clone(),
            target: src.target.clone(),
            final_sync: mode == RunMode::Final,
            verify: self.cfg.verify,
            seed: self.cfg.seed,
        };
        Ok(if mode == RunMode::Verify {
            Arc::new(TreeSync::for_verification(params))
        } else {
            Arc::new(TreeSync::new(params))
        })
    }

    fn spawn_job(
        &mut self,
        migration: Arc<dyn Migration>,
        opts: RunOptions,
        resume: Option<JobId>,
    ) {
        let flag = Arc::new(AtomicBool::new(false));
        self.want_cancel = Some(flag.clone());
        let journal = self.cfg.journal.clone();
        let tx = self.tx.clone();
        self.tasks.retain(|t| !t.is_finished());
        self.tasks.push(tokio::spawn(async move {
            match engine::start(journal, migration, opts, resume).await {
                Ok(handle) => forward(handle, flag, tx).await,
                Err(e) => {
                    tracing::error!("job could not start: {e}");
                    let _ = tx
                        .send(Msg::JobStartFailed {
                            error: e.to_string(),
                        })
                        .await;
                }
            }
        }));
    }

    /// After the terminal is restored: cancel whatever still runs and give
    /// it a moment to stop cleanly (its items stay resumable either way).
    async fn shutdown(self) {
        let Runner {
            rx,
            want_cancel,
            tasks,
            ..
        } = self;
        // Forwarders stop waiting on a full channel once nobody listens.
        drop(rx);
        if let Some(flag) = want_cancel {
            flag.store(true, Ordering::Relaxed);
        }
        let pending: Vec<_> = tasks.into_iter().filter(|t| !t.is_finished()).collect();
        if !pending.is_empty() {
            eprintln!("cutover: stopping the running job; `cutover jobs` shows it, `cutover resume` continues it");
            let _ = tokio::time::timeout(SHUTDOWN_WAIT, futures::future::join_all(pending)).await;
        }
    }
}

/// Forward a job's events to the loop, pass the operator's cancel on to the
/// engine, and report the end of the job's task.
async fn forward(mut handle: JobHandle, want_cancel: Arc<AtomicBool>, tx: mpsc::Sender<Msg>) {
    let job = handle.job;
    let _ = tx.send(Msg::JobSpawned { job }).await;
    let mut poll = tokio::time::interval(Duration::from_millis(100));
    loop {
        if want_cancel.load(Ordering::Relaxed) {
            handle.cancel.store(true, Ordering::Relaxed);
        }
        tokio::select! {
            ev = handle.events.recv() => match ev {
                Some(event) => {
                    log_event(&event);
                    let msg = Msg::Engine { event, at: Instant::now() };
                    if tx.send(msg).await.is_err() {
                        // The console is gone: stop the job, keep draining.
                        handle.cancel.store(true, Ordering::Relaxed);
                    }
                }
                None => break,
            },
            _ = poll.tick() => {}
        }
    }
    let (summary, error) = match handle.task.await {
        Ok(s) => (Some(s), None),
        Err(e) => {
            tracing::error!("{} ended abnormally: {e}", job_name(job));
            (None, Some(format!("job task failed: {e}")))
        }
    };
    let _ = tx
        .send(Msg::JobEnded {
            job,
            summary,
            error,
        })
        .await;
}

/// `job #3`, or `verification` for the unjournalled verify-only runs.
fn job_name(job: JobId) -> String {
    if job == 0 {
        "verification".to_string()
    } else {
        format!("job #{job}")
    }
}

/// Put the events worth keeping into the log pane and the log file.
fn log_event(event: &Event) {
    match event {
        Event::JobStarted {
            job,
            kind,
            items_total,
            items_skipped,
            files_total,
            bytes_total,
            verify,
            dry_run,
        } => tracing::info!(
            "{} {kind}: {items_total} items ({items_skipped} already verified), \
             {} files, {}, verify {verify}{}",
            job_name(*job),
            fmt::count(*files_total),
            fmt::bytes(*bytes_total),
            if *dry_run { ", dry run" } else { "" }
        ),
        Event::Warning { job, item, message } => {
            tracing::warn!("{} {item}: {message}", job_name(*job))
        }
        Event::ItemFailed {
            job, item, reason, ..
        } => tracing::error!("{} {item} FAILED: {reason}", job_name(*job)),
        Event::ItemVerified { job, item, report } => tracing::debug!(
            "{} {item} verified: {} files, {}",
            job_name(*job),
            report.files,
            fmt::bytes(report.bytes)
        ),
        Event::Summary(s) => tracing::info!(
            "{} done: {}/{} verified, {} failed, {} warnings, {} files transferred, {}{}",
            job_name(s.job),
            s.items_verified,
            s.items_total,
            s.items_failed,
            s.warnings,
            fmt::count(s.files_transferred),
            fmt::bytes(s.bytes_transferred),
            if s.cancelled { ", cancelled" } else { "" }
        ),
        Event::PlanStep { .. } | Event::ItemStarted { .. } | Event::Progress { .. } => {}
    }
}

/// SIGTERM and SIGHUP (a lost SSH session) as messages.
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> color_eyre::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Signals {
                term: signal(SignalKind::terminate()).wrap_err("cannot watch SIGTERM")?,
                hup: signal(SignalKind::hangup()).wrap_err("cannot watch SIGHUP")?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Signals {})
        }
    }

    async fn recv(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.term.recv() => "SIGTERM",
                _ = self.hup.recv() => "SIGHUP",
            }
        }
        #[cfg(not(unix))]
        {
            futures::future::pending().await
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::journal::JobStatus;

    #[test]
    fn journal_jobs_become_rows() {
        let sources = vec![TreeSource {
            name: "photos".into(),
            source: PathBuf::from("/srv/live/photos"),
            target: PathBuf::from("/mnt/new/photos"),
            files: 1,
            bytes: 2,
            problem: None,
        }];
        let info = JobInfo {
            job: 3,
            kind: "tree-sync".into(),
            status: JobStatus::Interrupted,
            items_total: 4,
            items_verified: 2,
            items_failed: 0,
            params: serde_json::json!({"source": "/srv/live/photos", "final_sync": true}),
            created_unix: 0,
            updated_unix: 0,
        };
        let row = job_row(&info, &sources);
        assert_eq!(row.label, "photos (final)");
        assert_eq!(row.status, "interrupted");
        assert!(row.resumable());
        let view = source_view(&sources[0]);
        assert_eq!(view.target, "/mnt/new/photos");
        assert_eq!(
            verify_label(&VerifyMode::Sample(100), 7),
            "sample=100 seed=7"
        );
    }
}
