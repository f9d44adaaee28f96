//! Kept item results: bounded per job, exact counts, replaced on redo; and
//! journals written before job modes still read.

use super::*;
use crate::job::event::ItemReport;

fn failed(reason: &str) -> ItemState {
    ItemState::Failed {
        reason: reason.to_string(),
    }
}

fn warned(n: usize) -> ItemReport {
    ItemReport {
        warnings: (0..n).map(|i| format!("warning {i}")).collect(),
        ..ItemReport::default()
    }
}

/// A journal in a new directory with one job of `mode` and `items` items.
fn with_job(mode: &str, items: u64) -> (tempfile::TempDir, Journal, JobId) {
    let dir = tempfile::tempdir().expect("tempdir");
    let j = Journal::open(dir.path()).expect("open");
    let id = j
        .create_job("scripted", mode, serde_json::json!({}), items, 0)
        .expect("job");
    (dir, j, id)
}

#[test]
fn results_are_kept_in_full_up_to_the_bound_and_counted_exactly_beyond() {
    let (_dir, j, id) = with_job("migrate", 1010);
    let over = KEEP_FAILURES + 5;
    for n in 0..over {
        let key = format!("k{n:05}");
        let reason = format!("* {key} differs");
        let result = ItemResult::of(&key, Some(&reason), &warned(2));
        j.record_item(id, &key, &failed(&reason), result)
            .expect("record");
    }
    let rec = j.record(id).expect("read").expect("job");
    assert_eq!(rec.info.items_failed, over);
    assert_eq!(rec.run.warnings, 2 * over, "warnings counted, kept or not");
    assert_eq!(rec.run.failures_kept, KEEP_FAILURES);
    assert_eq!(rec.run.warnings_kept, KEEP_WARNINGS);
    let kept = j.results(id).expect("results");
    let reasons = kept.iter().filter(|r| r.reason.is_some()).count() as u64;
    let warnings: usize = kept.iter().map(|r| r.warnings.len()).sum();
    assert_eq!(reasons, KEEP_FAILURES);
    assert_eq!(warnings as u64, KEEP_WARNINGS);
    assert_eq!(kept[0].reason.as_deref(), Some("* k00000 differs"));

    // Redone and verified: its failure and warnings leave the tallies.
    j.record_item(id, "k00000", &ItemState::Verified, None)
        .expect("redo");
    // A failure beyond the bound, redone: counts follow too.
    let last = format!("k{:05}", over - 1);
    j.record_item(id, &last, &ItemState::Verified, None)
        .expect("redo");
    let rec = j.record(id).expect("read").expect("job");
    assert_eq!(rec.info.items_failed, over - 2);
    assert_eq!(rec.run.warnings, 2 * (over - 2));
    assert_eq!(rec.run.failures_kept, KEEP_FAILURES - 1);
    let kept = j.results(id).expect("results");
    assert!(kept.iter().all(|r| r.item != "k00000"));
}

#[test]
fn a_job_recorded_before_modes_still_reads() {
    let old = serde_json::json!({
        "job": 4, "kind": "tree-sync", "status": "completed",
        "items_total": 2, "items_verified": 2, "items_failed": 0,
        "params": {"source": "/s", "target": "/t", "final_sync": false},
        "created_unix": 10, "updated_unix": 20
    });
    let rec: JobRecord = serde_json::from_value(old.clone()).expect("old record");
    assert_eq!(rec.run, JobRun::default());
    assert_eq!(rec.info.job, 4);
    assert_eq!(rec.param_path("target"), Some("/t"));
    assert_eq!(rec.duration_s(99), 10, "ended when last updated");
    // And a new record still reads as the plain job info older readers expect.
    let new = serde_json::to_value(&rec).expect("ser");
    let info: JobInfo = serde_json::from_value(new).expect("info");
    assert_eq!(info, rec.info);
}

#[test]
fn a_running_jobs_report_is_published_as_its_results_come() {
    let (dir, j, id) = with_job("verify", 3);
    let reason = "* a differs";
    j.record_item(
        id,
        "a",
        &failed(reason),
        ItemResult::of("a", Some(reason), &ItemReport::default()),
    )
    .expect("record");
    // Throttled: the next change after the interval publishes both.
    std::thread::sleep(PUBLISH_EVERY + Duration::from_millis(50));
    j.record_item(
        id,
        "b",
        &ItemState::Verified,
        ItemResult::of("b", None, &warned(1)),
    )
    .expect("record");
    let published = Journal::read_published_report(dir.path(), id)
        .expect("read")
        .expect("published while running");
    assert_eq!(published.job.info.status, JobStatus::Running);
    assert_eq!(published.job.run.mode, "verify");
    let items: Vec<&str> = published.results.iter().map(|r| r.item.as_str()).collect();
    assert_eq!(items, ["a", "b"]);
    assert_eq!(published.results[0].reason.as_deref(), Some(reason));
    assert_eq!(published.results[1].warnings, ["warning 0"]);
}
