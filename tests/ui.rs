//! The console as a whole, without a terminal: keys and a scripted engine
//! event stream go through `update`, the screen is rendered with ratatui's
//! `TestBackend` and snapshotted at the moments an operator would look.
//! Times are offsets from one `Instant`, so every screen is deterministic.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use crossterm::event::KeyCode;
use cutover::engine::event::{Event, ItemReport, Summary};
use cutover::ui::app::Dialog;
use cutover::ui::model::{JobRow, Outcome, Phase, RunMode, SourceView};
use cutover::ui::{render, update, Command, Msg, State, StateConfig};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

fn screen(state: &State, w: u16, h: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal.draw(|f| render(f, state)).unwrap();
    terminal.backend().to_string()
}

fn source(name: &str, files: u64, bytes: u64) -> SourceView {
    SourceView {
        name: name.into(),
        source: format!("/srv/app/{name}"),
        target: format!("/mnt/zfs/app/{name}"),
        files,
        bytes,
        problem: None,
        selected: false,
        runs: Default::default(),
    }
}

fn console(t0: Instant) -> State {
    let mut s = State::new(
        StateConfig {
            title: "app-01".into(),
            sources: vec![
                source("uploads", 2_400, 6 << 30),
                source("queue", 80, 12 << 20),
            ],
            verify: "sample=100 seed=42".into(),
            parallel: 2,
        },
        t0,
    );
    update(&mut s, Msg::Jobs(Vec::new()));
    s
}

/// Feeds engine events at times relative to `t0`.
struct Script {
    t0: Instant,
}

impl Script {
    fn at(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms)
    }

    fn send(&self, s: &mut State, ms: u64, event: Event) -> Vec<Command> {
        update(
            s,
            Msg::Engine {
                event,
                at: self.at(ms),
            },
        )
    }

    fn started(&self, s: &mut State, ms: u64, job: u64, items: u64, files: u64, bytes: u64) {
        self.send(
            s,
            ms,
            Event::JobStarted {
                job,
                kind: "tree-sync".into(),
                items_total: items,
                items_skipped: 0,
                files_total: files,
                bytes_total: bytes,
                verify: "sample=100 seed=42".into(),
                dry_run: false,
            },
        );
    }

    fn progress(&self, s: &mut State, ms: u64, job: u64, files: (u64, u64), bytes: (u64, u64)) {
        self.send(
            s,
            ms,
            Event::Progress {
                job,
                files_done: files.0,
                bytes_done: bytes.0,
                files_total: files.1,
                bytes_total: bytes.1,
            },
        );
    }

    fn verified(&self, s: &mut State, ms: u64, job: u64, item: &str, files: u64, bytes: u64) {
        self.send(
            s,
            ms,
            Event::ItemVerified {
                job,
                item: item.into(),
                report: ItemReport {
                    files,
                    bytes,
                    files_transferred: files,
                    bytes_transferred: bytes,
                    files_hashed: files.min(100),
                    elapsed_s: 0.8,
                    ..Default::default()
                },
            },
        );
    }
}

fn summary(job: u64, total: u64, verified: u64, failed: u64, cancelled: bool) -> Summary {
    Summary {
        job,
        kind: "tree-sync".into(),
        items_total: total,
        items_verified: verified,
        items_failed: failed,
        cancelled,
        ..Default::default()
    }
}

/// A summary that also says what was written.
fn summary_written(
    job: u64,
    total: u64,
    verified: u64,
    failed: u64,
    written: (u64, u64),
) -> Summary {
    Summary {
        files_transferred: written.0,
        bytes_transferred: written.1,
        ..summary(job, total, verified, failed, false)
    }
}

#[test]
fn select_two_sources_bulk_copy_both_with_a_failure() {
    let t0 = Instant::now();
    let sc = Script { t0 };
    let mut s = console(t0);
    insta::assert_snapshot!("01_start_80x24", screen(&s, 80, 24));

    // Nothing selected: enter explains instead of starting anything.
    assert!(update(&mut s, Msg::key(KeyCode::Enter)).is_empty());
    assert!(s
        .status
        .as_deref()
        .unwrap_or("")
        .starts_with("nothing selected"));

    update(&mut s, Msg::ch(' '));
    update(&mut s, Msg::key(KeyCode::Down));
    update(&mut s, Msg::ch(' '));
    assert_eq!(s.selected(), vec![0, 1]);
    let cmds = update(&mut s, Msg::key(KeyCode::Enter));
    assert_eq!(
        cmds,
        vec![Command::StartJob {
            source: 0,
            mode: RunMode::Bulk
        }]
    );
    insta::assert_snapshot!("02_planning_80x24", screen(&s, 80, 24));

    assert_eq!(
        update(&mut s, Msg::JobSpawned { job: 1 }),
        vec![Command::RefreshJobs]
    );
    let (files, bytes) = (2_400, 6u64 << 30);
    sc.started(&mut s, 50, 1, 24, files, bytes);
    for (i, item) in ["2023/01", "2023/02"].iter().enumerate() {
        sc.send(
            &mut s,
            60 + i as u64,
            Event::ItemStarted {
                job: 1,
                item: (*item).into(),
            },
        );
    }
    for step in 1..=10u64 {
        sc.progress(
            &mut s,
            step * 200,
            1,
            (step * 40, files),
            (step * (60 << 20), bytes),
        );
    }
    sc.verified(&mut s, 1_200, 1, "2023/01", 100, 256 << 20);
    sc.send(
        &mut s,
        1_500,
        Event::Warning {
            job: 1,
            item: "2023/02".into(),
            message: "vanished during copy: 2023/02/tmp-upload-77".into(),
        },
    );
    sc.send(
        &mut s,
        1_800,
        Event::ItemFailed {
            job: 1,
            item: "2023/02".into(),
            reason: "3 files differ: 2023/02/a.jpg content, 2023/02/b.jpg size 100 != 90, \
                     2023/02/c.jpg mode 644 != 600"
                .into(),
            report: ItemReport {
                files: 90,
                bytes: 200 << 20,
                files_transferred: 90,
                bytes_transferred: 200 << 20,
                ..Default::default()
            },
        },
    );
    update(&mut s, Msg::Tick(sc.at(2_100)));
    insta::assert_snapshot!("03_running_100x30", screen(&s, 100, 30));
    // The same moment on a small terminal: the item stream tab.
    for _ in 0..3 {
        update(&mut s, Msg::key(KeyCode::Tab));
    }
    insta::assert_snapshot!("04_running_items_80x24", screen(&s, 80, 24));

    // Quit while running asks; "n" keeps the job.
    assert!(update(&mut s, Msg::ch('q')).is_empty());
    assert_eq!(s.dialog, Some(Dialog::QuitWhileRunning));
    insta::assert_snapshot!("05_quit_asks_80x24", screen(&s, 80, 24));
    assert!(update(&mut s, Msg::ch('n')).is_empty());
    assert_eq!(s.dialog, None);
    assert!(!s.quitting && !s.should_quit);

    // Another job cannot start while this one runs.
    assert!(update(&mut s, Msg::ch('f')).is_empty());

    // The first job ends; its task ends; the second source starts.
    sc.progress(&mut s, 3_900, 1, (files, files), (bytes, bytes));
    sc.send(
        &mut s,
        4_000,
        Event::Summary(summary_written(1, 24, 23, 1, (files, bytes))),
    );
    assert_eq!(s.sources[0].runs.bulk, Some(Outcome::Failed));
    let cmds = update(
        &mut s,
        Msg::JobEnded {
            job: 1,
            summary: Some(summary_written(1, 24, 23, 1, (files, bytes))),
            error: None,
        },
    );
    assert_eq!(
        cmds,
        vec![
            Command::RefreshJobs,
            Command::StartJob {
                source: 1,
                mode: RunMode::Bulk
            }
        ]
    );
    update(&mut s, Msg::JobSpawned { job: 2 });
    sc.started(&mut s, 4_100, 2, 1, 80, 12 << 20);
    sc.progress(&mut s, 4_500, 2, (80, 80), (12 << 20, 12 << 20));
    sc.verified(&mut s, 4_600, 2, ".", 80, 12 << 20);
    sc.send(
        &mut s,
        4_700,
        Event::Summary(summary_written(2, 1, 1, 0, (80, 12 << 20))),
    );
    let cmds = update(
        &mut s,
        Msg::JobEnded {
            job: 2,
            summary: None,
            error: None,
        },
    );
    assert_eq!(cmds, vec![Command::RefreshJobs]);
    assert_eq!(s.sources[1].runs.bulk, Some(Outcome::Verified));
    let row = |job, status: &str, v, f, label: &str, total| JobRow {
        job,
        kind: "tree-sync".into(),
        status: status.into(),
        items_total: total,
        items_verified: v,
        items_failed: f,
        label: label.into(),
        params: serde_json::Value::Null,
    };
    update(
        &mut s,
        Msg::Jobs(vec![
            row(2, "completed", 1, 0, "queue (bulk)", 1),
            row(1, "failed", 23, 1, "uploads (bulk)", 24),
        ]),
    );
    update(&mut s, Msg::Tick(sc.at(5_000)));
    insta::assert_snapshot!("06_both_done_120x40", screen(&s, 120, 40));

    // Nothing runs: q quits at once.
    assert_eq!(update(&mut s, Msg::ch('q')), vec![Command::Quit]);
    assert!(s.should_quit);
}

#[test]
fn quit_while_running_cancels_and_quits_when_the_job_stopped() {
    let t0 = Instant::now();
    let sc = Script { t0 };
    let mut s = console(t0);
    update(&mut s, Msg::ch(' '));
    update(&mut s, Msg::key(KeyCode::Enter));
    update(&mut s, Msg::JobSpawned { job: 9 });
    sc.started(&mut s, 10, 9, 24, 2_400, 6 << 30);
    sc.verified(&mut s, 500, 9, "2023/01", 100, 256 << 20);

    assert!(update(&mut s, Msg::ch('q')).is_empty());
    assert_eq!(s.dialog, Some(Dialog::QuitWhileRunning));
    assert_eq!(update(&mut s, Msg::ch('y')), vec![Command::CancelJob]);
    assert!(s.quitting && !s.should_quit);
    assert_eq!(s.job.as_ref().map(|m| m.phase), Some(Phase::Cancelling));
    update(&mut s, Msg::Tick(sc.at(700)));
    insta::assert_snapshot!("07_cancelling_80x24", screen(&s, 80, 24));

    sc.send(&mut s, 900, Event::Summary(summary(9, 24, 1, 0, true)));
    assert_eq!(s.sources[0].runs.bulk, Some(Outcome::Cancelled));
    let cmds = update(
        &mut s,
        Msg::JobEnded {
            job: 9,
            summary: None,
            error: None,
        },
    );
    assert_eq!(cmds, vec![Command::RefreshJobs, Command::Quit]);
    assert!(s.should_quit);
}

#[test]
fn final_sync_then_verify_only() {
    let t0 = Instant::now();
    let sc = Script { t0 };
    let mut s = console(t0);
    update(&mut s, Msg::ch(' '));
    assert_eq!(
        update(&mut s, Msg::ch('f')),
        vec![Command::StartJob {
            source: 0,
            mode: RunMode::Final
        }]
    );
    update(&mut s, Msg::JobSpawned { job: 3 });
    sc.started(&mut s, 10, 3, 1, 2_400, 6 << 30);
    sc.send(
        &mut s,
        300,
        Event::ItemVerified {
            job: 3,
            item: ".".into(),
            report: ItemReport {
                files: 2_400,
                bytes: 6 << 30,
                files_deleted: 2,
                files_hashed: 100,
                elapsed_s: 0.3,
                ..Default::default()
            },
        },
    );
    let mut done = summary(3, 1, 1, 0, false);
    done.files_deleted = 2;
    sc.send(&mut s, 400, Event::Summary(done));
    update(
        &mut s,
        Msg::JobEnded {
            job: 3,
            summary: None,
            error: None,
        },
    );
    assert_eq!(s.sources[0].runs.final_sync, Some(Outcome::Verified));

    // Verification only: not journalled, so the engine reports job 0.
    assert_eq!(
        update(&mut s, Msg::ch('v')),
        vec![Command::StartJob {
            source: 0,
            mode: RunMode::Verify
        }]
    );
    update(&mut s, Msg::JobSpawned { job: 0 });
    sc.started(&mut s, 510, 0, 1, 2_400, 6 << 30);
    sc.verified(&mut s, 900, 0, ".", 2_400, 6 << 30);
    sc.send(&mut s, 950, Event::Summary(summary(0, 1, 1, 0, false)));
    update(
        &mut s,
        Msg::JobEnded {
            job: 0,
            summary: None,
            error: None,
        },
    );
    assert_eq!(s.sources[0].runs.verify, Some(Outcome::Verified));
    update(&mut s, Msg::key(KeyCode::Tab));
    insta::assert_snapshot!("08_final_and_verify_80x24", screen(&s, 80, 24));
    for _ in 0..2 {
        update(&mut s, Msg::key(KeyCode::Tab));
    }
    insta::assert_snapshot!("09_final_and_verify_items_80x24", screen(&s, 80, 24));
}

#[test]
fn a_job_that_cannot_start_says_why_and_the_queue_goes_on() {
    let mut s = console(Instant::now());
    update(&mut s, Msg::ch('a'));
    assert_eq!(s.selected(), vec![0, 1]);
    update(&mut s, Msg::key(KeyCode::Enter));
    let cmds = update(
        &mut s,
        Msg::JobStartFailed {
            error: "target /mnt/zfs/app/uploads exists and is not empty".into(),
        },
    );
    assert_eq!(
        cmds,
        vec![
            Command::RefreshJobs,
            Command::StartJob {
                source: 1,
                mode: RunMode::Bulk
            }
        ]
    );
    assert_eq!(s.sources[0].runs.bulk, Some(Outcome::Error));
    assert_eq!(
        s.status.as_deref(),
        Some("could not start: target /mnt/zfs/app/uploads exists and is not empty")
    );
}

#[test]
fn a_signal_cancels_and_quits() {
    let mut s = console(Instant::now());
    assert_eq!(
        update(&mut s, Msg::Signal("SIGHUP".into())),
        vec![Command::Quit]
    );
    let mut s = console(Instant::now());
    update(&mut s, Msg::ch(' '));
    update(&mut s, Msg::key(KeyCode::Enter));
    assert_eq!(
        update(&mut s, Msg::Signal("SIGTERM".into())),
        vec![Command::CancelJob]
    );
    // A second q does not wait for the job any longer.
    assert_eq!(update(&mut s, Msg::ch('q')), vec![Command::Quit]);
}
