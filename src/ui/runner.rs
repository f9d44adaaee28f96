//! The console's event loop and, with [`super::kinds`], its only coupling
//! to the rest of cutover: it turns discovered sources and journalled jobs
//! into view data, carries out [`Command`]s (start, resume, cancel a job;
//! reload the journal; read a store's numbers) and feeds everything that
//! happens back into [`update`] as [`Msg`]s.
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

use crate::discover::Source;
use crate::engine::{self, Event, JobHandle, JobId, RunOptions};
use crate::job::Migration;
use crate::journal::Journal;
use crate::verify::VerifyMode;

use super::app::Op;
use super::app::{update, Command, Msg, State, StateConfig};
use super::kinds::{self, RowTap, Settings};
use super::model::{ItemLine, ItemMark, Reading};
use super::view;

mod runbook;

use runbook::RunbookJob;

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
    /// Sources the operator can pick, of any kind.
    pub sources: Vec<Source>,
    /// Where those sources come from and where edits (`n`, `t`, `d`) go.
    pub own: super::sources::Sources,
    /// Items processed at once.
    pub parallel: usize,
    /// How items are verified.
    pub verify: VerifyMode,
    /// Seed for sampled verification.
    pub seed: u64,
    /// Shown in the header.
    pub title: String,
    /// The runbook whose checklist the console shows (`cutover runbook open`).
    pub runbook: Option<crate::runbook::active::Loaded>,
    /// Count the sources after the console opened (a tree of a million
    /// files takes a while): it opens at once and says it is counting.
    pub discover_later: bool,
    /// Called once when the operator starts a final sync: the cutover window
    /// opens (the demo's writer stops writing).
    pub window_opens: Option<WindowOpens>,
    /// Lines for the log as the console opens (the demo: what it could
    /// not set up, and what that needs).
    pub notes: Vec<String>,
}

/// What happens when the cutover window opens.
pub type WindowOpens = Arc<dyn Fn() + Send + Sync>;

/// Run the console until the operator quits. Installs color-eyre's hooks
/// before entering the terminal; the terminal is restored on every exit,
/// panics included (ratatui's panic hook).
pub async fn run_console(cfg: ConsoleConfig) -> color_eyre::Result<()> {
    // A second install (the binary may have done it) fails harmlessly.
    let _ = color_eyre::install();
    init_logging(&cfg.state_dir);
    super::theme::set_no_color(super::theme::no_color_in_env());
    let mut terminal = ratatui::try_init().wrap_err("cannot enter the terminal")?;
    // Clicks and the wheel; shift-drag still selects text in most terminals.
    let _ = crossterm::execute!(std::io::stdout(), crossterm::event::EnableMouseCapture);
    let mut runner = Runner::new(cfg);
    let result = runner.run(&mut terminal).await;
    let _ = crossterm::execute!(std::io::stdout(), crossterm::event::DisableMouseCapture);
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

struct Runner {
    cfg: ConsoleConfig,
    tx: mpsc::Sender<Msg>,
    rx: mpsc::Receiver<Msg>,
    /// Set to cancel the job started last (forwarded to the engine's flag).
    want_cancel: Option<Arc<AtomicBool>>,
    /// One task per started job: start it, forward its events, report its end.
    tasks: Vec<JoinHandle<()>>,
    /// Sources found again after an edit (and what happened), back from a
    /// blocking thread: the runner takes the list, the console its view.
    found_tx: mpsc::Sender<(super::sources::Sources, Vec<Source>, String)>,
    found_rx: mpsc::Receiver<(super::sources::Sources, Vec<Source>, String)>,
    /// The runbook phase being rolled back, if one is.
    rolling_back: Option<String>,
    /// The runbook step whose job runs now.
    runbook_pending: Option<RunbookJob>,
    /// The runbook's lock, held while this console may run its steps; or
    /// why another process keeps it (then steps are refused).
    runbook_lock: Option<std::result::Result<crate::target::lock::TargetLock, String>>,
    /// The nodes inventory and what its last probe found, back from a
    /// blocking thread.
    nodes_tx: mpsc::Sender<(Vec<crate::nodes::Node>, Vec<crate::nodes::probe::Probed>)>,
    nodes_rx: mpsc::Receiver<(Vec<crate::nodes::Node>, Vec<crate::nodes::probe::Probed>)>,
    /// The nodes inventory, as last loaded.
    nodes: Vec<crate::nodes::Node>,
    /// What the last probe found on each node.
    probed: Vec<crate::nodes::probe::Probed>,
    /// How many of the sources (at the end of `cfg.sources`) are the
    /// kinds' sources among the nodes; a rediscovery of the paths keeps them.
    node_count: usize,
    /// The node each node source goes to, as the operator picked it.
    picks: kinds::NodePicks,
    /// The running job's live rate limit, if its kind has one.
    rate: Option<Arc<AtomicU64>>,
    /// The paths' sources are still being counted (the console opened first).
    counting: bool,
}

impl Runner {
    fn new(cfg: ConsoleConfig) -> Self {
        let (tx, rx) = mpsc::channel(CHANNEL);
        let (found_tx, found_rx) = mpsc::channel(4);
        let (nodes_tx, nodes_rx) = mpsc::channel(4);
        Runner {
            nodes_tx,
            nodes_rx,
            nodes: Vec::new(),
            probed: Vec::new(),
            node_count: 0,
            picks: kinds::NodePicks::new(),
            rate: None,
            counting: false,
            cfg,
            tx,
            rx,
            want_cancel: None,
            tasks: Vec::new(),
            found_tx,
            found_rx,
            rolling_back: None,
            runbook_pending: None,
            runbook_lock: None,
        }
    }

    fn initial_state(&self) -> State {
        State::new(
            StateConfig {
                title: self.cfg.title.clone(),
                sources: self.cfg.sources.iter().map(kinds::view).collect(),
                verify: verify_label(&self.cfg.verify, self.cfg.seed),
                parallel: self.cfg.parallel,
            },
            Instant::now(),
        )
    }

    async fn run(&mut self, terminal: &mut DefaultTerminal) -> color_eyre::Result<()> {
        let mut state = self.initial_state();
        for command in update(&mut state, Msg::Start) {
            self.exec(command);
        }
        if self.cfg.runbook.is_some() {
            self.hold_runbook();
            self.send_checklist();
        }
        for note in &self.cfg.notes {
            tracing::warn!("{note}");
        }
        if crate::nodes::inventory_present(&self.cfg.state_dir) {
            state.nodes = Some(Vec::new());
            state.nodes_probing = true;
            self.exec(Command::ProbeNodes);
        }
        if self.cfg.discover_later {
            self.counting = true;
            state.status = Some(super::app::COUNTING.into());
            self.discover();
        }
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
                    Some(Ok(TermEvent::Mouse(m))) => Some(Msg::Mouse(m)),
                    Some(Ok(_)) => None,
                    Some(Err(e)) => return Err(e).wrap_err("cannot read the terminal"),
                    None => Some(Msg::Signal("terminal closed".into())),
                },
                Some(msg) = self.rx.recv() => {
                    self.observe(&msg);
                    Some(msg)
                }
                Some((own, found, note)) = self.found_rx.recv() => {
                    self.cfg.own = own;
                    self.counting = false;
                    with_paths(&mut self.cfg.sources, self.node_count, found);
                    let sources = self.cfg.sources.iter().map(kinds::view).collect();
                    Some(Msg::Sources { sources, note })
                }
                Some((nodes, probed)) = self.nodes_rx.recv() => {
                    self.nodes = nodes;
                    self.probed = probed.clone();
                    self.refresh_node_sources(String::new());
                    Some(Msg::Nodes(probed))
                }
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
            Command::StartJob {
                sources,
                mode,
                force,
            } => match kinds::build(&self.cfg.sources, &sources, mode, &self.settings(force)) {
                Ok(job) => {
                    let tap = RowTap::new(&self.cfg.sources, &sources, &*job.migration);
                    self.spawn_job(job.migration, job.opts, None, tap)
                }
                Err(error) => self.send(Msg::JobStartFailed { error }),
            },
            Command::ResumeJob { job, kind, params } => {
                match kinds::resume(&kind, &params, &self.settings(false)) {
                    Ok(j) => {
                        let sources = crate::kinds::find(&kind)
                            .map(|k| k.job_sources(&params, &self.cfg.sources))
                            .unwrap_or_default();
                        let tap = RowTap::new(&self.cfg.sources, &sources, &*j.migration);
                        self.spawn_job(j.migration, j.opts, Some(job), tap)
                    }
                    Err(error) => self.send(Msg::JobStartFailed { error }),
                }
            }
            Command::Preview { sources, mode } => {
                if mode == super::model::RunMode::Final {
                    if let Some(opens) = self.cfg.window_opens.take() {
                        opens();
                    }
                }
                let built = kinds::build(&self.cfg.sources, &sources, mode, &self.settings(false));
                let journal = self.cfg.journal.clone();
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    let preview = match built {
                        Ok(job) => tokio::task::spawn_blocking(move || {
                            kinds::preview(&journal, &*job.migration)
                        })
                        .await
                        .unwrap_or_else(|e| Err(format!("working it out failed: {e}"))),
                        Err(e) => Err(e),
                    };
                    let msg = Msg::Previewed {
                        sources,
                        mode,
                        preview,
                    };
                    let _ = tx.send(msg).await;
                });
            }
            Command::Ask(op) => {
                let found = self.op_source(&op);
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    let asked = op.clone();
                    let preview = tokio::task::spawn_blocking(move || ask(&op, found))
                        .await
                        .unwrap_or_else(|e| Err(format!("working it out failed: {e}")));
                    let _ = tx.send(Msg::Asked { op: asked, preview }).await;
                });
            }
            Command::Do(op) => {
                let found = self.op_source(&op);
                let state_dir = self.cfg.journal.state_dir().to_path_buf();
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    let done = op.clone();
                    let result =
                        tokio::task::spawn_blocking(move || carry_out(&op, found, &state_dir))
                            .await
                            .unwrap_or_else(|e| Err(format!("it failed: {e}")));
                    match &result {
                        Ok(m) => tracing::info!("{m}"),
                        Err(e) => tracing::error!("{e}"),
                    }
                    let _ = tx.send(Msg::Done { op: done, result }).await;
                });
            }
            Command::SetVerify(mode) => {
                self.cfg.verify = mode;
                self.cfg.seed = crate::verify::fresh_seed();
                self.send(Msg::VerifyLabel(verify_label(
                    &self.cfg.verify,
                    self.cfg.seed,
                )));
            }
            Command::SetParallel(n) => self.cfg.parallel = n.max(1),
            Command::RunbookStep { id, yes } => self.runbook_step(&id, yes),
            Command::RunbookRollback { phase } => {
                tracing::warn!("runbook: rolling back phase {phase}");
                self.rolling_back = Some(phase);
                self.send_checklist();
            }
            Command::ProbeNodes => {
                let state_dir = self.cfg.state_dir.clone();
                let nodes_tx = self.nodes_tx.clone();
                tokio::spawn(async move {
                    let found =
                        tokio::task::spawn_blocking(move || match crate::nodes::load(&state_dir) {
                            Ok(nodes) => {
                                let probed = crate::nodes::probe::probe_all(&nodes, &state_dir);
                                (nodes, probed)
                            }
                            Err(e) => {
                                tracing::error!("{e}");
                                (Vec::new(), Vec::new())
                            }
                        })
                        .await
                        .unwrap_or_default();
                    for p in found.1.iter().filter(|p| !p.reachable) {
                        match &p.why {
                            Some(why) => tracing::warn!("{why}"),
                            None => tracing::warn!("node {} does not answer", p.name),
                        }
                    }
                    let _ = nodes_tx.send(found).await;
                });
            }
            Command::PickNode { sources, node } => {
                let nodes_file = crate::nodes::flag();
                let seen = crate::job::console::NodesSeen {
                    nodes: &self.nodes,
                    probed: &self.probed,
                    state_dir: &self.cfg.state_dir,
                    nodes_file: nodes_file.as_deref(),
                };
                match kinds::pick_node(&self.cfg.sources, &sources, &node, &seen, &mut self.picks) {
                    Ok(note) => {
                        tracing::info!("{note}");
                        self.refresh_node_sources(note);
                    }
                    Err(e) => self.send(Msg::Error(e)),
                }
            }
            Command::SetRateLimit(bytes) => {
                if let Some(rate) = &self.rate {
                    rate.store(bytes, Ordering::Relaxed);
                    match bytes {
                        0 => tracing::info!("no rate limit from now on"),
                        b => tracing::info!("rate limit now {}/s", crate::fmt::bytes(b)),
                    }
                }
            }
            Command::OpenReport { job } => {
                let journal = self.cfg.journal.clone();
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    let lines = tokio::task::spawn_blocking(move || report_lines(&journal, job))
                        .await
                        .unwrap_or_else(|e| Err(format!("reading it failed: {e}")));
                    let _ = tx.send(Msg::Report { job, lines }).await;
                });
            }
            Command::ReadDetails { source } => {
                let found = self.cfg.sources.get(source).cloned();
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    let reading = match found {
                        Some(s) => tokio::task::spawn_blocking(move || kinds::read_details(&s))
                            .await
                            .unwrap_or_else(|e| Reading::Failed(format!("reading failed: {e}"))),
                        None => Reading::Failed(format!("no source #{source}")),
                    };
                    let _ = tx.send(Msg::Details { source, reading }).await;
                });
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
                    let jobs = tokio::task::spawn_blocking(move || journal.records()).await;
                    let msg = match jobs {
                        Ok(Ok(mut jobs)) => {
                            jobs.sort_by_key(|j| std::cmp::Reverse(j.info.job));
                            Msg::Jobs(
                                jobs.iter()
                                    .map(|j| kinds::job_row(&j.info, &j.run.mode, &sources))
                                    .collect(),
                            )
                        }
                        Ok(Err(e)) => Msg::Error(format!("cannot read the journal: {e}")),
                        Err(e) => Msg::Error(format!("cannot read the journal: {e}")),
                    };
                    let _ = tx.send(msg).await;
                });
            }
            Command::Complete { text } => {
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    let from = text.clone();
                    if let Ok(to) =
                        tokio::task::spawn_blocking(move || super::sources::complete(&text)).await
                    {
                        let _ = tx.send(Msg::Completed { from, to }).await;
                    }
                });
            }
            Command::ProbeSource { path } => {
                let own = self.cfg.own.clone();
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    let probed = tokio::task::spawn_blocking(move || own.probe(&path))
                        .await
                        .unwrap_or_else(|e| Err(format!("looking at the path failed: {e}")));
                    let _ = tx.send(Msg::Probed(probed)).await;
                });
            }
            Command::AddSource { path, kind, target } => self.edit(super::sources::Edit::Add {
                path: PathBuf::from(path),
                kind,
                target: target.map(PathBuf::from),
            }),
            Command::SetTarget { name, target, .. } => self.edit(super::sources::Edit::Target {
                source: name,
                target: PathBuf::from(target),
            }),
            Command::ForgetSource { name, .. } => {
                self.edit(super::sources::Edit::Forget { source: name })
            }
            Command::Quit => {}
        }
    }

    /// Build the kinds' sources among the probed nodes again (with the
    /// operator's picks) in place of the old ones, and show the list.
    fn refresh_node_sources(&mut self, note: String) {
        let nodes_file = crate::nodes::flag();
        let seen = crate::job::console::NodesSeen {
            nodes: &self.nodes,
            probed: &self.probed,
            state_dir: &self.cfg.state_dir,
            nodes_file: nodes_file.as_deref(),
        };
        let fresh = kinds::node_sources(&seen, &self.picks);
        self.node_count = with_nodes(&mut self.cfg.sources, self.node_count, fresh);
        let sources = self.cfg.sources.iter().map(kinds::view).collect();
        // Nodes probed before the paths are counted: the footer still says so.
        let note = if note.is_empty() && self.counting {
            super::app::COUNTING.to_string()
        } else {
            note
        };
        self.send(Msg::Sources { sources, note });
    }

    /// Find the sources (count them) off the UI thread.
    fn discover(&self) {
        let own = self.cfg.own.clone();
        let found_tx = self.found_tx.clone();
        tokio::spawn(async move {
            let found = tokio::task::spawn_blocking(move || {
                let found = own.discover();
                (own, found, String::new())
            })
            .await;
            if let Ok(found) = found {
                let _ = found_tx.send(found).await;
            }
        });
    }

    /// Apply an edit of the sources and find them again, off the UI thread.
    fn edit(&self, edit: super::sources::Edit) {
        let mut own = self.cfg.own.clone();
        let found_tx = self.found_tx.clone();
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let done = tokio::task::spawn_blocking(move || {
                let note = own.apply(edit)?;
                let found = own.discover();
                Ok::<_, String>((own, found, note))
            })
            .await
            .unwrap_or_else(|e| Err(format!("editing the sources failed: {e}")));
            match done {
                Ok(found) => {
                    let _ = found_tx.send(found).await;
                }
                Err(e) => {
                    let _ = tx.send(Msg::Error(e)).await;
                }
            }
        });
    }

    /// Send a message to the loop from the loop itself (without waiting).
    fn send(&self, msg: Msg) {
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let _ = tx.send(msg).await;
        });
    }

    /// The source an operation is on, if it is on one.
    fn op_source(&self, op: &Op) -> Option<Source> {
        match op {
            Op::Step { source, .. } => self.cfg.sources.get(*source).cloned(),
            Op::Rollback { .. } => None,
        }
    }

    fn settings(&self, force: bool) -> Settings {
        Settings {
            parallel: self.cfg.parallel,
            verify: self.cfg.verify,
            seed: self.cfg.seed,
            force,
        }
    }

    fn spawn_job(
        &mut self,
        migration: Arc<dyn Migration>,
        opts: RunOptions,
        resume: Option<JobId>,
        tap: Option<RowTap>,
    ) {
        let flag = Arc::new(AtomicBool::new(false));
        self.want_cancel = Some(flag.clone());
        self.rate = migration.rate_limit();
        let limit = self.rate.as_ref().map(|r| r.load(Ordering::Relaxed));
        self.send(Msg::RateLimit(limit));
        let journal = self.cfg.journal.clone();
        let tx = self.tx.clone();
        self.tasks.retain(|t| !t.is_finished());
        self.tasks.push(tokio::spawn(async move {
            match engine::start(journal, migration, opts, resume).await {
                Ok(handle) => forward(handle, flag, tx, tap).await,
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

/// The sources found at the paths in place of the old ones; the last
/// `nodes` of `sources` (the kinds' sources among the nodes) stay after them.
fn with_paths(sources: &mut Vec<Source>, nodes: usize, found: Vec<Source>) {
    let kept = sources.split_off(sources.len().saturating_sub(nodes));
    *sources = found;
    sources.extend(kept);
}

/// The kinds' sources among the nodes, `fresh`, in place of the last
/// `nodes` of `sources`; how many there are now.
fn with_nodes(sources: &mut Vec<Source>, nodes: usize, fresh: Vec<Source>) -> usize {
    sources.truncate(sources.len().saturating_sub(nodes));
    let count = fresh.len();
    sources.extend(fresh);
    count
}

/// A job's report as lines of the item stream (blocking): its header, every
/// failure kept with its differences, every warning kept, then the counts.
fn report_lines(journal: &Journal, job: JobId) -> Result<Vec<ItemLine>, String> {
    let record = journal
        .record(job)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("job #{job} is not in the journal"))?;
    let results = journal.results(job).map_err(|e| e.to_string())?;
    let info = &record.info;
    let now = crate::journal::now_unix();
    let note = |item: String, detail: String| ItemLine {
        mark: ItemMark::Note,
        item,
        detail,
    };
    let mut lines = vec![note(
        format!("#{job} {} {}", crate::report::job_mode(&record), info.kind),
        format!(
            "{} → {} · {} · started {} · {}",
            record.param_path("source").unwrap_or("?"),
            record.param_path("target").unwrap_or("?"),
            info.status,
            crate::report::utc(info.created_unix),
            crate::report::duration(record.duration_s(now))
        ),
    )];
    for r in results.iter().filter(|r| r.failed) {
        lines.push(ItemLine {
            mark: ItemMark::Failed,
            item: r.item.clone(),
            detail: r
                .reason
                .clone()
                .unwrap_or_else(|| "failed (not kept in full)".into()),
        });
    }
    for r in &results {
        for w in &r.warnings {
            lines.push(ItemLine {
                mark: ItemMark::Warning,
                item: r.item.clone(),
                detail: w.clone(),
            });
        }
    }
    lines.push(note(
        "counts".into(),
        format!(
            "{} of {} items verified · {} failed · {} warnings",
            info.items_verified, info.items_total, info.items_failed, record.run.warnings
        ),
    ));
    Ok(lines)
}

/// What an operation would change (blocking): a kind's step preview, or
/// what a job's rollback removes.
fn ask(op: &Op, source: Option<Source>) -> Result<Option<crate::job::Preview>, String> {
    match op {
        Op::Step { key, .. } => {
            let source = source.ok_or("the source is gone")?;
            let kind = crate::kinds::find(source.kind).map_err(|e| e.to_string())?;
            kind.step_preview(&source, *key).map_err(|e| e.to_string())
        }
        Op::Rollback { kind, params, .. } => {
            let kind = crate::kinds::find(kind).map_err(|e| e.to_string())?;
            let migration = kind.rebuild(params).map_err(|e| e.to_string())?;
            migration
                .rollback_preview()
                .map(Some)
                .map_err(|e| e.to_string())
        }
    }
}

/// Carry out an operation (blocking), holding the target's lock.
fn carry_out(
    op: &Op,
    source: Option<Source>,
    state_dir: &std::path::Path,
) -> Result<String, String> {
    match op {
        Op::Step { key, .. } => {
            let source = source.ok_or("the source is gone")?;
            let kind = crate::kinds::find(source.kind).map_err(|e| e.to_string())?;
            kind.run_step(&source, *key, state_dir)
                .map_err(|e| e.to_string())
        }
        Op::Rollback { kind, params, .. } => {
            let kind = crate::kinds::find(kind).map_err(|e| e.to_string())?;
            let migration = kind.rebuild(params).map_err(|e| e.to_string())?;
            let _lock = match migration.lock_target() {
                Some(target) => Some(
                    crate::target::TargetLock::acquire(
                        &target,
                        crate::target::LockMode::Exclusive,
                        state_dir,
                    )
                    .map_err(|e| e.to_string())?,
                ),
                None => None,
            };
            migration.rollback().map_err(|e| e.to_string())
        }
    }
}

/// Forward a job's events to the loop, pass the operator's cancel on to the
/// engine, and report the end of the job's task. An item's table rows
/// (redb: per table) go just before its result.
async fn forward(
    mut handle: JobHandle,
    want_cancel: Arc<AtomicBool>,
    tx: mpsc::Sender<Msg>,
    tap: Option<RowTap>,
) {
    let job = handle.job;
    let _ = tx.send(Msg::JobSpawned { job }).await;
    let mut poll = tokio::time::interval(Duration::from_millis(100));
    let mut units = crate::job::Units::default();
    loop {
        if want_cancel.load(Ordering::Relaxed) {
            handle.cancel.store(true, Ordering::Relaxed);
        }
        tokio::select! {
            ev = handle.events.recv() => match ev {
                Some(event) => {
                    if let Event::JobStarted { units: u, .. } = &event {
                        units = *u;
                    }
                    log_event(&event, &units);
                    if let (Some(tap), Event::ItemVerified { item, report, .. } | Event::ItemFailed { item, report, .. }) = (&tap, &event) {
                        if let Some((source, rows)) = tap.take(item, &report.rows) {
                            let msg = Msg::Rows { job, source, item: item.clone(), rows };
                            let _ = tx.send(msg).await;
                        }
                    }
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

/// `job #3`, or `verification` for a run the engine did not journal (job 0).
fn job_name(job: JobId) -> String {
    if job == 0 {
        "verification".to_string()
    } else {
        format!("job #{job}")
    }
}

/// Put the events worth keeping into the log pane and the log file, in the
/// same words the plain commands print, in the job's kind's units.
fn log_event(event: &Event, units: &crate::job::Units) {
    let line = || {
        format!(
            "{} {}",
            job_name(event.job()),
            crate::headless::text_line(event, units).trim_start()
        )
    };
    match event {
        Event::Warning { .. } => tracing::warn!("{}", line()),
        Event::ItemFailed { .. } => tracing::error!("{}", line()),
        Event::ItemVerified { .. } => tracing::debug!("{}", line()),
        Event::JobStarted { .. } | Event::Summary(_) => tracing::info!("{}", line()),
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

    #[test]
    fn node_sources_stay_after_the_paths_whatever_changes_first() {
        let src = |name: &str| Source::new("k", name, name.into(), "t".into());
        let names = |v: &[Source]| v.iter().map(|s| s.name.clone()).collect::<Vec<_>>();
        let mut all = vec![src("photos")];
        let n = with_nodes(&mut all, 0, vec![src("alpha/web"), src("alpha/db")]);
        assert_eq!(names(&all), ["photos", "alpha/web", "alpha/db"]);
        // An edit finds the paths again: the nodes' sources stay.
        with_paths(&mut all, n, vec![src("photos"), src("music")]);
        assert_eq!(names(&all), ["photos", "music", "alpha/web", "alpha/db"]);
        // A new probe replaces only the nodes' sources.
        let n = with_nodes(&mut all, n, vec![src("beta/web")]);
        assert_eq!(
            (names(&all), n),
            (
                vec!["photos".to_string(), "music".into(), "beta/web".into()],
                1
            )
        );
        with_paths(&mut all, n, Vec::new());
        assert_eq!(names(&all), ["beta/web"]);
    }

    #[test]
    fn verify_labels() {
        assert_eq!(verify_label(&VerifyMode::Full, 7), "full");
        assert_eq!(
            verify_label(&VerifyMode::Sample(100), 7),
            "sample=100 seed=7"
        );
    }
}
