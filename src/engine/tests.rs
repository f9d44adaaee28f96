//! Engine behaviour with a scripted migration: journal order, resume,
//! cancellation, and that results are never dropped under back-pressure.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::job::{Memo, Written};

/// A migration whose items are numbers; it fails the ones in `fail`.
struct Scripted {
    items: usize,
    fail: Mutex<HashSet<String>>,
    /// Items the plan leaves out: done by the kind's own records.
    omit: Mutex<HashSet<String>>,
    ran: Mutex<Vec<String>>,
    delay: Duration,
    running_now: AtomicUsize,
    max_running: AtomicUsize,
    /// How long `flush` takes, and how many items were in it at once.
    flush_delay: Duration,
    flushing_now: AtomicUsize,
    max_flushing: AtomicUsize,
}

impl Scripted {
    fn new(items: usize) -> Self {
        Scripted {
            items,
            fail: Mutex::new(HashSet::new()),
            omit: Mutex::new(HashSet::new()),
            ran: Mutex::new(Vec::new()),
            delay: Duration::ZERO,
            running_now: AtomicUsize::new(0),
            max_running: AtomicUsize::new(0),
            flush_delay: Duration::ZERO,
            flushing_now: AtomicUsize::new(0),
            max_flushing: AtomicUsize::new(0),
        }
    }
}

impl Migration for Scripted {
    fn kind(&self) -> &'static str {
        "scripted"
    }
    fn units(&self) -> crate::job::Units {
        crate::job::Units {
            item: "step",
            entries: "steps",
            written: "steps",
        }
    }
    fn params(&self) -> serde_json::Value {
        serde_json::json!({})
    }
    fn check(&self) -> Result<()> {
        Ok(())
    }
    fn plan(&self) -> Result<Plan> {
        let omit = self.omit.lock().expect("lock").clone();
        Ok(Plan {
            items: (0..self.items)
                .map(|i| Item {
                    key: format!("item-{i:05}"),
                    files: 1,
                    bytes: 10,
                })
                .filter(|i| !omit.contains(&i.key))
                .collect(),
            files_total: self.items as u64,
            bytes_total: 10 * self.items as u64,
            done_before: omit.into_iter().collect(),
        })
    }
    fn describe_item(&self, item: &Item) -> Vec<String> {
        vec![format!("would write {}", item.key)]
    }
    fn run_item(&self, item: &Item, ctx: &ItemCtx) -> Result<Written, ItemError> {
        let now = self.running_now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_running.fetch_max(now, Ordering::SeqCst);
        std::thread::sleep(self.delay);
        self.running_now.fetch_sub(1, Ordering::SeqCst);
        if ctx.cancelled() {
            return Err(ItemError("cancelled".into()));
        }
        self.ran.lock().expect("lock").push(item.key.clone());
        ctx.progress.add(1, 10);
        Ok(Written {
            report: ItemReport {
                files: 1,
                bytes: 10,
                files_transferred: 1,
                ..ItemReport::default()
            },
            memo: None,
        })
    }
    fn verify_item(
        &self,
        item: &Item,
        _ctx: &ItemCtx,
        _memo: Option<&Memo>,
        _report: &mut ItemReport,
    ) -> Result<(), ItemError> {
        if self.fail.lock().expect("lock").contains(&item.key) {
            Err(ItemError(format!("* {} content", item.key)))
        } else {
            Ok(())
        }
    }
    fn verify_label(&self) -> String {
        "full".into()
    }
    fn rollback(&self) -> Result<String> {
        Ok("nothing".into())
    }
    fn flush(&self, _item: &Item) -> Result<(), ItemError> {
        let now = self.flushing_now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_flushing.fetch_max(now, Ordering::SeqCst);
        std::thread::sleep(self.flush_delay);
        self.flushing_now.fetch_sub(1, Ordering::SeqCst);
        Ok(())
    }
}

fn journal() -> (tempfile::TempDir, Arc<Journal>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let j = Arc::new(Journal::open(dir.path()).expect("journal"));
    (dir, j)
}

async fn drain(mut handle: JobHandle) -> (Vec<Event>, Summary) {
    let mut events = Vec::new();
    while let Some(e) = handle.events.recv().await {
        events.push(e);
    }
    let summary = handle.task.await.expect("task");
    (events, summary)
}

fn opts(parallel: usize) -> RunOptions {
    RunOptions {
        parallel,
        dry_run: false,
        verify_only: false,
        batch: None,
    }
}

/// A journalled run of ten items of which `item-00003` fails.
async fn ten_items_one_failing(
    journal: &Arc<Journal>,
) -> (Arc<Scripted>, JobId, Vec<Event>, Summary) {
    let m = Arc::new(Scripted::new(10));
    m.fail.lock().expect("lock").insert("item-00003".into());
    let handle = start(journal.clone(), m.clone(), opts(3), None)
        .await
        .expect("start");
    let job = handle.job;
    let (events, summary) = drain(handle).await;
    (m, job, events, summary)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_items_are_redone_on_resume_and_verified_ones_skipped() {
    let (_dir, journal) = journal();
    let (m, job, events, summary) = ten_items_one_failing(&journal).await;
    assert_eq!(summary.items_failed, 1);
    assert_eq!(summary.items_verified, 9);
    assert!(events.iter().any(|e| matches!(e,
        Event::ItemFailed { item, reason, .. } if item == "item-00003" && reason.contains("content"))));
    let info = journal.job(job).expect("read").expect("job");
    assert_eq!(info.status, JobStatus::Failed);
    assert_eq!((info.items_verified, info.items_failed), (9, 1));

    // Fixed: resume redoes only the failed item.
    m.fail.lock().expect("lock").clear();
    m.ran.lock().expect("lock").clear();
    let handle = start(journal.clone(), m.clone(), opts(3), Some(job))
        .await
        .expect("resume");
    let (events, summary) = drain(handle).await;
    assert!(summary.all_verified(), "{summary:?}");
    assert_eq!(*m.ran.lock().expect("lock"), vec!["item-00003".to_string()]);
    assert!(matches!(
        events[0],
        Event::JobStarted {
            items_skipped: 9,
            ..
        }
    ));
    let info = journal.job(job).expect("read").expect("job");
    assert_eq!(info.status, JobStatus::Completed);
    assert_eq!((info.items_verified, info.items_failed), (10, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_counts_verified_items_its_plan_no_longer_lists() {
    let (_dir, journal) = journal();
    let (m, job, _, _) = ten_items_one_failing(&journal).await;

    // The kind now finds two verified items done on its own and leaves
    // them out of its plan (as store-to-cas does with completed packages).
    m.fail.lock().expect("lock").clear();
    m.omit
        .lock()
        .expect("lock")
        .extend(["item-00000".to_string(), "item-00001".to_string()]);
    let handle = start(journal.clone(), m.clone(), opts(3), Some(job))
        .await
        .expect("resume");
    let (events, summary) = drain(handle).await;
    assert_eq!((summary.items_verified, summary.items_total), (10, 10));
    assert!(matches!(
        events[0],
        Event::JobStarted {
            items_total: 10,
            items_skipped: 9,
            ..
        }
    ));
    let info = journal.job(job).expect("read").expect("job");
    assert_eq!(info.status, JobStatus::Completed);
    assert_eq!((info.items_verified, info.items_total), (10, 10));
}

/// A kill can lose an item's verified record (the journal flushes in
/// groups) after the kind recorded it done on its own: a resumed job whose
/// plan says so counts it verified, as long as this job started it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_counts_an_item_the_kind_finished_but_the_journal_lost() {
    let (_dir, journal) = journal();
    let (m, job, _, _) = ten_items_one_failing(&journal).await;
    // item-00003's verified record was lost: only its start survived.
    journal
        .set_item(job, "item-00003", &ItemState::Running)
        .expect("set");
    m.fail.lock().expect("lock").clear();
    m.omit
        .lock()
        .expect("lock")
        .insert("item-00003".to_string());
    let handle = start(journal.clone(), m.clone(), opts(3), Some(job))
        .await
        .expect("resume");
    let (_, summary) = drain(handle).await;
    assert_eq!((summary.items_verified, summary.items_total), (10, 10));
    let states = journal.item_states(job).expect("states");
    assert!(states
        .iter()
        .any(|(k, s)| k == "item-00003" && *s == ItemState::Verified));
    // A key this job never started is not claimed, whatever the kind says.
    m.omit
        .lock()
        .expect("lock")
        .insert("item-99999".to_string());
    let handle = start(journal.clone(), m.clone(), opts(3), Some(job))
        .await
        .expect("resume again");
    let (_, summary) = drain(handle).await;
    assert_eq!(summary.items_total, 10);
}

/// A kill can lose every journal line of items the kind recorded done (even
/// their start): a resume counts them, by how many more the kind holds done
/// than when the job was created, so the job still covers all its items.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_counts_items_whose_every_journal_line_was_lost() {
    let (_dir, journal) = journal();
    let m = Arc::new(Scripted::new(10));
    // One item was done by the kind before the job: not the job's.
    m.omit
        .lock()
        .expect("lock")
        .insert("item-00000".to_string());
    let handle = start(journal.clone(), m.clone(), opts(1), None)
        .await
        .expect("start");
    let job = handle.job;
    handle.cancel.store(true, Ordering::Relaxed);
    let _ = drain(handle).await;
    // As if the kind then finished items 1–3 and the journal kept nothing.
    for k in ["item-00001", "item-00002", "item-00003"] {
        m.omit.lock().expect("lock").insert(k.to_string());
    }
    let handle = start(journal.clone(), m.clone(), opts(2), Some(job))
        .await
        .expect("resume");
    let (_, summary) = drain(handle).await;
    assert_eq!((summary.items_verified, summary.items_total), (9, 9));
    let info = journal.job(job).expect("read").expect("job");
    assert_eq!((info.items_verified, info.items_total), (9, 9));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallelism_is_bounded() {
    let (_dir, journal) = journal();
    let mut m = Scripted::new(12);
    m.delay = Duration::from_millis(20);
    let m = Arc::new(m);
    let handle = start(journal, m.clone(), opts(3), None)
        .await
        .expect("start");
    let (_, summary) = drain(handle).await;
    assert!(summary.all_verified());
    let max = m.max_running.load(Ordering::SeqCst);
    assert!((2..=3).contains(&max), "max concurrent items {max}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_leaves_the_job_interrupted_and_resumable() {
    let (_dir, journal) = journal();
    let mut m = Scripted::new(50);
    m.delay = Duration::from_millis(10);
    let m = Arc::new(m);
    let mut handle = start(journal.clone(), m.clone(), opts(2), None)
        .await
        .expect("start");
    let job = handle.job;
    // Wait for the first result, then stop.
    loop {
        match handle.events.recv().await {
            Some(Event::ItemVerified { .. }) => break,
            Some(_) => {}
            None => panic!("job ended before any item"),
        }
    }
    handle.cancel.store(true, Ordering::Relaxed);
    let (_, summary) = drain(handle).await;
    assert!(summary.cancelled);
    assert!(summary.items_verified < 50);
    assert_eq!(summary.items_failed, 0, "cancelled items are not failures");
    let info = journal.job(job).expect("read").expect("job");
    assert_eq!(info.status, JobStatus::Interrupted);
    let done = info.items_verified;

    let handle = start(journal.clone(), m.clone(), opts(2), Some(job))
        .await
        .expect("resume");
    let (_, summary) = drain(handle).await;
    assert!(summary.all_verified());
    assert_eq!(summary.items_verified, 50);
    assert!(done > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_are_never_dropped_when_the_consumer_is_slow() {
    let (_dir, journal) = journal();
    let n = EVENT_CAPACITY * 3;
    let m = Arc::new(Scripted::new(n));
    let mut handle = start(journal, m, opts(2), None).await.expect("start");
    // Let the producer fill the channel before reading anything.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut verified = 0;
    let mut last_was_summary = false;
    while let Some(e) = handle.events.recv().await {
        last_was_summary = matches!(e, Event::Summary(_));
        if matches!(e, Event::ItemVerified { .. }) {
            verified += 1;
        }
    }
    assert_eq!(verified, n);
    assert!(last_was_summary);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_writes_nothing_and_lists_steps() {
    let (_dir, journal) = journal();
    let m = Arc::new(Scripted::new(3));
    let handle = start(
        journal.clone(),
        m.clone(),
        RunOptions {
            dry_run: true,
            ..opts(2)
        },
        None,
    )
    .await
    .expect("start");
    let (events, summary) = drain(handle).await;
    assert!(summary.dry_run && summary.all_verified());
    assert!(m.ran.lock().expect("lock").is_empty());
    let steps = events
        .iter()
        .filter(|e| matches!(e, Event::PlanStep { .. }))
        .count();
    assert_eq!(steps, 3);
    assert!(journal.jobs().expect("jobs").is_empty());
}

#[test]
fn a_second_writer_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _first = Journal::open(dir.path()).expect("first");
    match Journal::open(dir.path()) {
        Err(Error::Locked(msg)) => assert!(msg.contains("in use by another cutover process")),
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("second writer accepted"),
    }
}

/// Items waiting for their flush give their slot to the next item (so a
/// slow flush is shared by many), but a rolling job (one at a time) runs
/// strictly item after item, its flush included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_waiting_for_their_flush_let_the_next_ones_run_unless_rolling() {
    let (_dir, journal) = journal();
    let mut m = Scripted::new(12);
    m.flush_delay = Duration::from_millis(40);
    let m = Arc::new(m);
    let handle = start(journal.clone(), m.clone(), opts(2), None)
        .await
        .expect("start");
    let (_, summary) = drain(handle).await;
    assert!(summary.all_verified(), "{summary:?}");
    assert!(m.max_running.load(Ordering::SeqCst) <= 2);
    assert!(
        m.max_flushing.load(Ordering::SeqCst) > 2,
        "more items than slots waited for a flush at once"
    );

    let mut rolling = Scripted::new(4);
    rolling.flush_delay = Duration::from_millis(20);
    let rolling = Arc::new(rolling);
    let handle = start(journal, rolling.clone(), opts(1), None)
        .await
        .expect("start");
    let (events, _) = drain(handle).await;
    assert_eq!(rolling.max_flushing.load(Ordering::SeqCst), 1);
    // Each item's result comes before the next item starts.
    let order: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            Event::ItemStarted { .. } => Some("start"),
            Event::ItemVerified { .. } => Some("done"),
            _ => None,
        })
        .collect();
    assert_eq!(order, ["start", "done"].repeat(4));
}

/// A verification is a journalled job of mode `verify` that writes nothing,
/// keeps its failures for `cutover report`, and never comes back as a
/// writing job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verification_is_journalled_and_never_resumed_as_a_writer() {
    let (_dir, journal) = journal();
    let m = Arc::new(Scripted::new(4));
    m.fail.lock().expect("lock").insert("item-00002".into());
    let verify = RunOptions {
        verify_only: true,
        ..opts(2)
    };
    let handle = start(journal.clone(), m.clone(), verify.clone(), None)
        .await
        .expect("start");
    assert_eq!(handle.job, 1, "a verification has a job id of its own");
    let (_, summary) = drain(handle).await;
    assert_eq!(summary.items_failed, 1);
    assert!(m.ran.lock().expect("lock").is_empty(), "nothing written");
    let record = journal.record(1).expect("read").expect("job 1");
    assert_eq!(record.run.mode, "verify");
    assert_eq!(record.info.status, JobStatus::Failed);
    assert_eq!(record.info.items_verified, 3);
    assert!(record.run.ended_unix.is_some());
    assert_eq!(record.run.summary.as_ref().map(|s| s.items_failed), Some(1));
    let results = journal.results(1).expect("results");
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].item, "item-00002");
    assert_eq!(results[0].reason.as_deref(), Some("* item-00002 content"));

    match start(journal.clone(), m.clone(), opts(2), Some(1)).await {
        Err(e) => assert!(e.to_string().contains("mode verify"), "{e}"),
        Ok(_) => panic!("a verification was resumed as a writing job"),
    }
    assert!(
        m.ran.lock().expect("lock").is_empty(),
        "still nothing written"
    );

    // A writing job keeps its kind's mode, and is not resumed as a verification.
    m.fail.lock().expect("lock").clear();
    let (_, _) = drain(
        start(journal.clone(), m.clone(), opts(2), None)
            .await
            .expect("start"),
    )
    .await;
    assert_eq!(
        journal.record(2).expect("read").expect("job 2").run.mode,
        "migrate"
    );
    assert!(start(journal, m, verify, Some(2)).await.is_err());
}
