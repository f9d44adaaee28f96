//! The engine runs a plan as a background tokio task: bounded parallel
//! items on blocking threads, each item's transition journalled before the
//! work, cancellation between and inside items, and a bounded event stream
//! (progress coalesced, results never dropped).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::task::{JoinHandle, JoinSet};

use crate::error::{Error, Result};
pub use crate::job::event::{Event, ItemReport, JobId, Summary};
use crate::job::{Item, ItemCtx, ItemError, Migration, Plan, Progress};
use crate::journal::{ItemResult, ItemState, JobStatus, Journal};
use crate::target::{LockMode, TargetLock};

mod mode;

use mode::check_resumable;
pub use mode::{mode_of, refuse_resume};

/// Capacity of a job's event channel; progress beyond it is dropped, results wait.
pub const EVENT_CAPACITY: usize = 1024;
/// Items that may wait for their flush per item slot (`parallel`): bounds
/// the threads and memos held while a `syncfs` runs.
const FLUSH_WAITERS_PER_WORKER: usize = 8;
/// How often coalesced progress is emitted.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);

/// How to run a plan.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Items processed at once (at least 1).
    pub parallel: usize,
    /// Print the steps, write nothing (not even the journal).
    pub dry_run: bool,
    /// Only verify the target against the source (no writes; journalled as
    /// a job of mode `verify`, never resumable as a writing job).
    pub verify_only: bool,
    /// Run items in batches of this many: a batch finishes before the next starts.
    pub batch: Option<usize>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            parallel: default_parallel(),
            dry_run: false,
            verify_only: false,
            batch: None,
        }
    }
}

/// Default item parallelism: twice the number of CPUs, between 2 and 16.
/// Items are mostly waiting on the filesystem, so more items than cores keep
/// the disk busy (measured in `docs/benchmarks.md`).
pub fn default_parallel() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get() * 2)
        .unwrap_or(4)
        .clamp(2, 16)
}

/// A running job: its id, its events, a way to stop it, and its final summary.
pub struct JobHandle {
    pub job: JobId,
    pub events: mpsc::Receiver<Event>,
    /// Set to stop the job: no new items start; running items stop early and
    /// stay unfinished in the journal, so `cutover resume` redoes them.
    pub cancel: Arc<AtomicBool>,
    pub task: JoinHandle<Summary>,
}

/// Let the migration refuse a new writing job the journal gives no
/// grounds for (see [`Migration::guard`]).
fn guard(journal: &Journal, migration: &dyn Migration) -> Result<()> {
    let earlier: Vec<crate::job::Earlier> = journal
        .jobs()?
        .into_iter()
        .map(|j| crate::job::Earlier {
            kind: j.kind,
            params: j.params,
        })
        .collect();
    migration.guard(&earlier)
}

/// Plan the migration, record the job (unless dry run) and start it.
/// Errors here are bad input found while planning: nothing has been written.
pub async fn start(
    journal: Arc<Journal>,
    migration: Arc<dyn Migration>,
    opts: RunOptions,
    resume: Option<JobId>,
) -> Result<JobHandle> {
    if let (Some(id), false) = (resume, opts.dry_run) {
        check_resumable(&journal, id, &opts)?;
    }
    let planner = migration.clone();
    let journalled = !opts.dry_run;
    let writes = journalled && !opts.verify_only;
    let lock_mode = if writes {
        LockMode::Exclusive
    } else {
        LockMode::Shared
    };
    let state_dir = journal.state_dir().to_path_buf();
    let dry_run = opts.dry_run;
    let guarded = (resume.is_none() && writes).then(|| journal.clone());
    let (plan, target_lock) = tokio::task::spawn_blocking(move || -> Result<_> {
        let plan = planner.plan()?;
        // Planning only reads; the lock is taken before anything is written.
        // A dry run writes nothing, not even a lock file, and keeps no one out.
        let lock = match planner.lock_target().filter(|_| !dry_run) {
            Some(target) => Some(TargetLock::acquire(&target, lock_mode, &state_dir)?),
            None => None,
        };
        // A new writing job the journal gives no grounds for is refused
        // (after the lock: a second writer hears about the first).
        if let Some(journal) = guarded {
            guard(&journal, &*planner)?;
        }
        if writes {
            planner.prepare(&plan)?;
        }
        Ok((plan, lock))
    })
    .await
    .map_err(|e| Error::Io(format!("planning task failed: {e}")))??;
    let items_total = plan.items.len() as u64;
    let mut unrecorded = 0;
    let (job, done) = match (resume, journalled) {
        (Some(id), true) => {
            let before: HashSet<&str> = plan.done_before.iter().map(String::as_str).collect();
            let record = journal.record(id)?;
            let at_start = record.as_ref().and_then(|r| r.run.done_before_start);
            let whole = record.map_or(0, |r| r.info.items_total);
            let mut done = HashSet::new();
            for (key, state) in journal.item_states(id)? {
                if state == ItemState::Verified {
                    done.insert(key);
                } else if before.contains(key.as_str()) {
                    // This job started it and the kind's own record says it
                    // was finished and verified: the journal lost the line.
                    journal.set_item(id, &key, &ItemState::Verified)?;
                    done.insert(key);
                }
            }
            // Items the kind finished since this job was created whose
            // journal lines, even the started one, a kill lost: counted,
            // though they cannot be named — never past the job's own total
            // (another job may have finished some of them meanwhile).
            let counted = items_total + verified_outside(&plan, &done);
            if let Some(n) = at_start {
                let known = done.iter().filter(|k| before.contains(k.as_str())).count() as u64;
                unrecorded = (before.len() as u64)
                    .saturating_sub(n)
                    .saturating_sub(known)
                    .min(whole.saturating_sub(counted));
            }
            let total = counted + unrecorded;
            journal.set_job_status(id, JobStatus::Running, total)?;
            (id, done)
        }
        (None, true) => (
            journal.create_job(
                migration.kind(),
                mode_of(migration.as_ref(), &opts),
                migration.params(),
                items_total,
                plan.done_before.len() as u64,
            )?,
            HashSet::new(),
        ),
        (_, false) => (0, HashSet::new()),
    };
    let (tx, rx) = mpsc::channel(EVENT_CAPACITY);
    let cancel = Arc::new(AtomicBool::new(false));
    let runner = JobRunner {
        job,
        journal: journalled.then_some(journal),
        migration,
        opts,
        tx,
        cancel: cancel.clone(),
        unrecorded,
        _target_lock: target_lock,
    };
    let task = tokio::spawn(runner.run(plan, done));
    Ok(JobHandle {
        job,
        events: rx,
        cancel,
        task,
    })
}

struct JobRunner {
    job: JobId,
    journal: Option<Arc<Journal>>,
    migration: Arc<dyn Migration>,
    opts: RunOptions,
    tx: mpsc::Sender<Event>,
    cancel: Arc<AtomicBool>,
    /// Items verified by an earlier run of this job that its journal lost
    /// every line of, known only by count (see [`start`]).
    unrecorded: u64,
    /// Held until the job's runner is dropped (after its summary is sent).
    _target_lock: Option<TargetLock>,
}

/// The outcome of one item as the async side sees it.
struct Outcome {
    verified: bool,
    report: ItemReport,
    cancelled: bool,
}

impl JobRunner {
    async fn run(self, plan: Plan, done: HashSet<String>) -> Summary {
        let started = Instant::now();
        let progress = Arc::new(Progress::default());
        let totals = (plan.files_total, plan.bytes_total);
        let (mut summary, todo) = self.announce(plan, &done, &progress).await;
        if self.opts.dry_run {
            self.describe(&todo).await;
            summary.items_verified = 0;
            summary.dry_run = true;
            summary.elapsed_s = started.elapsed().as_secs_f64();
            let _ = self.tx.send(Event::Summary(summary.clone())).await;
            return summary;
        }
        let ticker = spawn_progress_ticker(
            self.job,
            progress.clone(),
            self.tx.clone(),
            totals.0,
            totals.1,
        );
        let this = Arc::new(self);
        this.clone().run_items(todo, &progress, &mut summary).await;
        ticker.abort();
        let _ = this
            .tx
            .send(Event::Progress {
                job: this.job,
                files_done: progress.files_done.load(Ordering::Relaxed),
                bytes_done: progress.bytes_done.load(Ordering::Relaxed),
                files_total: totals.0,
                bytes_total: totals.1,
            })
            .await;
        summary.cancelled = this.cancel.load(Ordering::Relaxed)
            && summary.items_verified + summary.items_failed < summary.items_total;
        summary.elapsed_s = started.elapsed().as_secs_f64();
        this.close(&summary).await;
        let _ = this.tx.send(Event::Summary(summary.clone())).await;
        summary
    }

    /// Count what an earlier run verified, send `JobStarted`; the summary so
    /// far and the items left to do.
    async fn announce(
        &self,
        plan: Plan,
        done: &HashSet<String>,
        progress: &Progress,
    ) -> (Summary, Vec<Item>) {
        let kind = self.migration.kind().to_string();
        let mut summary = Summary {
            job: self.job,
            kind: kind.clone(),
            items_total: plan.items.len() as u64,
            files: plan.files_total,
            bytes: plan.bytes_total,
            ..Summary::default()
        };
        // Items this job verified that the kind's plan no longer lists (a
        // store-to-cas package its store recorded as completed) still count:
        // the job's totals stay those of the whole job.
        let outside = verified_outside(&plan, done) + self.unrecorded;
        summary.items_total += outside;
        let (todo, skipped): (Vec<Item>, Vec<Item>) =
            plan.items.into_iter().partition(|i| !done.contains(&i.key));
        for item in &skipped {
            progress.add(item.files, item.bytes);
        }
        summary.items_verified = skipped.len() as u64 + outside;
        let _ = self
            .tx
            .send(Event::JobStarted {
                job: self.job,
                kind,
                items_total: summary.items_total,
                items_skipped: skipped.len() as u64 + outside,
                files_total: plan.files_total,
                bytes_total: plan.bytes_total,
                verify: self.migration.verify_label(),
                dry_run: self.opts.dry_run,
                units: self.migration.units(),
            })
            .await;
        (summary, todo)
    }

    /// Dry run: the steps each item would take.
    async fn describe(&self, todo: &[Item]) {
        for item in todo {
            for action in self.migration.describe_item(item) {
                let _ = self
                    .tx
                    .send(Event::PlanStep {
                        job: self.job,
                        item: item.key.clone(),
                        action,
                    })
                    .await;
            }
        }
    }

    /// Run the items, at most `parallel` at once and batch by batch, until
    /// done or cancelled; every outcome is tallied into `summary`.
    async fn run_items(
        self: Arc<Self>,
        todo: Vec<Item>,
        progress: &Arc<Progress>,
        summary: &mut Summary,
    ) {
        let parallel = self.opts.parallel.max(1);
        // `work`: items writing or verifying at once. `inflight`: items not
        // yet recorded, including those that only wait for the flush that
        // makes them durable (they hold no `work` permit while waiting, so
        // many finished items share one flush).
        let work = Arc::new(Semaphore::new(parallel));
        let inflight = Arc::new(Semaphore::new(parallel * FLUSH_WAITERS_PER_WORKER));
        let mut running: JoinSet<Outcome> = JoinSet::new();
        let counted = (summary.files == 0, summary.bytes == 0);
        let batch = self.opts.batch.filter(|&b| b > 0);
        for (n, item) in todo.into_iter().enumerate() {
            if self.cancel.load(Ordering::Relaxed) {
                break;
            }
            if let Some(b) = batch {
                if n > 0 && n % b == 0 {
                    // The batch is done before the next one starts.
                    while let Some(res) = running.join_next().await {
                        tally(summary, res, counted);
                    }
                    tracing::info!("job {}: batch {} done", self.job, n / b);
                }
            }
            let Ok(slot) = inflight.clone().acquire_owned().await else {
                break;
            };
            let Ok(permit) = work.clone().acquire_owned().await else {
                break;
            };
            if self.cancel.load(Ordering::Relaxed) {
                break;
            }
            let worker = self.clone();
            let progress = progress.clone();
            running.spawn_blocking(move || {
                let out = worker.process(&item, &progress, permit);
                drop(slot);
                out
            });
            while let Some(res) = running.try_join_next() {
                tally(summary, res, counted);
            }
        }
        while let Some(res) = running.join_next().await {
            tally(summary, res, counted);
        }
    }

    /// The kind closes its bookkeeping; the journal records how the job ended.
    async fn close(&self, summary: &Summary) {
        let Some(journal) = &self.journal else {
            return;
        };
        if !self.opts.verify_only {
            let migration = self.migration.clone();
            let done = summary.clone();
            let finished = tokio::task::spawn_blocking(move || migration.finish(&done)).await;
            if let Ok(Err(e)) = finished {
                tracing::error!("{e}");
            }
        }
        let status = if summary.cancelled {
            JobStatus::Interrupted
        } else if summary.items_failed > 0 {
            JobStatus::Failed
        } else {
            JobStatus::Completed
        };
        if let Err(e) = journal.end_job(self.job, status, summary) {
            tracing::error!("{e}");
        }
    }

    fn journal_item(&self, key: &str, state: ItemState) -> Result<(), ItemError> {
        match &self.journal {
            Some(j) => j
                .set_item(self.job, key, &state)
                .map_err(|e| ItemError(e.to_string())),
            None => Ok(()),
        }
    }

    /// Record an item's end (verified, or failed with `reason`) with its
    /// result, for `cutover report`.
    fn journal_result(
        &self,
        key: &str,
        reason: Option<&str>,
        report: &ItemReport,
    ) -> Result<(), ItemError> {
        let Some(j) = &self.journal else {
            return Ok(());
        };
        if self.opts.verify_only && reason.is_none() && report.warnings.is_empty() {
            // A verification is never resumed, so an item found equal has
            // nothing to keep; the job's counts come with its end.
            return Ok(());
        }
        let state = match reason {
            None => ItemState::Verified,
            Some(r) => ItemState::Failed {
                reason: r.to_string(),
            },
        };
        j.record_item(self.job, key, &state, ItemResult::of(key, reason, report))
            .map_err(|e| ItemError(e.to_string()))
    }

    /// Write and verify one item (blocking thread). Journal first, then work.
    fn process(&self, item: &Item, progress: &Progress, work: OwnedSemaphorePermit) -> Outcome {
        let started = Instant::now();
        let _ = self.tx.blocking_send(Event::ItemStarted {
            job: self.job,
            item: item.key.clone(),
        });
        let ctx = ItemCtx {
            progress,
            cancel: &self.cancel,
        };
        let mut report = ItemReport::default();
        let mut work = Some(work);
        let result = self.write_and_verify(item, &ctx, &mut report, &mut work, started);
        let cancelled = self.cancel.load(Ordering::Relaxed);
        let (verified, reason) = match result {
            Ok(()) => (true, None),
            Err(e) => (false, Some(e.0)),
        };
        report.elapsed_s = started.elapsed().as_secs_f64();
        for message in &report.warnings {
            let _ = self.tx.blocking_send(Event::Warning {
                job: self.job,
                item: item.key.clone(),
                message: message.clone(),
            });
        }
        if cancelled && !verified {
            // Left `running` in the journal: redone on resume, never trusted.
            return Outcome {
                verified,
                report,
                cancelled: true,
            };
        }
        let event = match reason {
            None => Event::ItemVerified {
                job: self.job,
                item: item.key.clone(),
                report: report.clone(),
            },
            Some(reason) => {
                let _ = self.journal_result(&item.key, Some(&reason), &report);
                Event::ItemFailed {
                    job: self.job,
                    item: item.key.clone(),
                    reason,
                    report: report.clone(),
                }
            }
        };
        let _ = self.tx.blocking_send(event);
        Outcome {
            verified,
            report,
            cancelled: false,
        }
    }

    /// Write (unless verify-only), verify and flush one item; `report`
    /// holds what is known of it whatever happens. With items in parallel,
    /// the `work` permit is given back before waiting for the flush, so
    /// another item runs meanwhile and items finishing together share one
    /// flush; one item at a time (a rolling migration) stays strictly one
    /// after the other: the permit is held until the item's result is out.
    fn write_and_verify(
        &self,
        item: &Item,
        ctx: &ItemCtx,
        report: &mut ItemReport,
        work: &mut Option<OwnedSemaphorePermit>,
        started: Instant,
    ) -> std::result::Result<(), ItemError> {
        let mut memo = None;
        if !self.opts.verify_only {
            self.journal_item(&item.key, ItemState::Running)?;
            let written = self.migration.run_item(item, ctx)?;
            *report = written.report;
            memo = written.memo;
            self.journal_item(&item.key, ItemState::Verifying)?;
        } else {
            ctx.progress.add(item.files, item.bytes);
        }
        self.migration
            .verify_item(item, ctx, memo.as_ref(), report)?;
        if self.opts.parallel > 1 {
            drop(work.take());
        }
        if !self.opts.verify_only {
            // Durable before it is recorded verified.
            self.migration.flush(item)?;
        }
        report.elapsed_s = started.elapsed().as_secs_f64();
        self.journal_result(&item.key, None, report)
    }
}

/// Add an item's outcome to the job's summary. `counted`: the plan knew no
/// (entries, bytes) total — a ZFS stream's size is learnt by sending it — so
/// the summary's totals are the sums of what the items checked.
fn tally(
    summary: &mut Summary,
    res: std::result::Result<Outcome, tokio::task::JoinError>,
    counted: (bool, bool),
) {
    match res {
        Ok(out) => {
            if out.verified && counted.0 {
                summary.files += out.report.files;
            }
            if out.verified && counted.1 {
                summary.bytes += out.report.bytes;
            }
            summary.files_transferred += out.report.files_transferred;
            summary.bytes_transferred += out.report.bytes_transferred;
            summary.files_deleted += out.report.files_deleted;
            summary.space_saved_bytes += out.report.space_saved_bytes;
            summary.warnings += out.report.warnings.len() as u64;
            if out.cancelled {
                return;
            }
            if out.verified {
                summary.items_verified += 1;
            } else {
                summary.items_failed += 1;
            }
        }
        Err(e) => {
            tracing::error!("item worker crashed: {e}");
            summary.items_failed += 1;
        }
    }
}

fn spawn_progress_ticker(
    job: JobId,
    progress: Arc<Progress>,
    tx: mpsc::Sender<Event>,
    files_total: u64,
    bytes_total: u64,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(PROGRESS_EVERY);
        let mut last = (u64::MAX, u64::MAX);
        loop {
            interval.tick().await;
            let now = (
                progress.files_done.load(Ordering::Relaxed),
                progress.bytes_done.load(Ordering::Relaxed),
            );
            if now == last {
                continue;
            }
            last = now;
            // Coalesced: if the consumer is behind, this sample is dropped.
            let _ = tx.try_send(Event::Progress {
                job,
                files_done: now.0,
                bytes_done: now.1,
                files_total,
                bytes_total,
            });
        }
    })
}

/// How many of the items a resumed job already verified its plan does not
/// list (the kind found them done on its own, e.g. completed in its store).
fn verified_outside(plan: &Plan, done: &HashSet<String>) -> u64 {
    if done.is_empty() {
        return 0;
    }
    let planned: HashSet<&str> = plan.items.iter().map(|i| i.key.as_str()).collect();
    done.iter()
        .filter(|k| !planned.contains(k.as_str()))
        .count() as u64
}

#[cfg(test)]
mod tests;
