//! The console as a whole, without a terminal: keys and a scripted engine
//! event stream go through `update`, the screen is rendered with ratatui's
//! `TestBackend` and snapshotted at the moments an operator would look.
//! Times are offsets from one `Instant`, so every screen is deterministic.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use crossterm::event::KeyCode;
use cutover::job::console::Source;
use cutover::job::event::Row;
use cutover::job::event::{Event, ItemReport, Summary};
use cutover::job::{Change, Preview};
use cutover::migrate::redb_to_sqlite::check::TableResult;
use cutover::migrate::redb_to_sqlite::discover::{RedbFile, RedbTable};
use cutover::migrate::store_to_cas::phases::StoreStatus;
use cutover::ui::app::Dialog;
use cutover::ui::kinds::view;
use cutover::ui::model::{JobRow, Outcome, Pane, Phase, Reading, RunMode, SourceView};
use cutover::ui::{render, update, Command, Msg, State, StateConfig};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

fn screen(state: &State, w: u16, h: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal.draw(|f| render(f, state)).unwrap();
    terminal.backend().to_string()
}

fn source(name: &str, files: u64, bytes: u64) -> SourceView {
    let mut s = Source::new(
        "tree-sync",
        name,
        format!("/srv/app/{name}").into(),
        format!("/mnt/zfs/app/{name}").into(),
    );
    s.entries = files;
    s.bytes = bytes;
    s.count = format!("{} files", cutover::fmt::count(files));
    view(&s)
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
                units: cutover::migrate::tree_sync::kind::UNITS,
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
            sources: vec![0],
            mode: RunMode::Bulk,
            force: false,
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
    // In the question, q (and ctrl-c) mean quit: the job is cancelled first.
    let mut again = s.clone();
    update(&mut again, Msg::ch('q'));
    assert_eq!(update(&mut again, Msg::ch('q')), vec![Command::CancelJob]);
    assert!(again.quitting);

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
                sources: vec![1],
                mode: RunMode::Bulk,
                force: false,
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
        mode: "bulk".into(),
        params: serde_json::Value::Null,
        sources: Vec::new(),
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
    // f first works out what the final sync would change, and asks.
    let preview = Command::Preview {
        sources: vec![0],
        mode: RunMode::Final,
    };
    assert_eq!(update(&mut s, Msg::ch('f')), vec![preview.clone()]);
    let changes = |objection: Option<&str>| Msg::Previewed {
        sources: vec![0],
        mode: RunMode::Final,
        preview: Ok(Preview {
            changes: vec![
                Change {
                    verb: "delete".into(),
                    count: 2,
                    first: vec!["tmp/a.part".into(), "tmp/b.part".into()],
                },
                Change {
                    verb: "replace".into(),
                    count: 7,
                    first: (0..5).map(|i| format!("img/{i}.jpg")).collect(),
                },
                Change {
                    verb: "copy".into(),
                    count: 1,
                    first: vec!["img/new.jpg".into()],
                },
            ],
            objection: objection.map(str::to_string),
            name: None,
        }),
    };
    assert!(update(&mut s, changes(None)).is_empty());
    insta::assert_snapshot!("08a_final_sync_asks_80x24", screen(&s, 80, 24));
    // n: nothing starts, nothing changes.
    assert!(update(&mut s, Msg::ch('n')).is_empty());
    assert_eq!(
        s.status.as_deref(),
        Some("final sync of uploads not started: nothing was changed")
    );
    assert!(s.queue.is_empty() && s.job.is_none());
    // Onto a target no bulk copy journalled here wrote: y, then the name typed.
    assert_eq!(update(&mut s, Msg::ch('f')), vec![preview]);
    update(
        &mut s,
        changes(Some("final sync refused: no bulk copy of /srv/app/uploads into /mnt/zfs/app/uploads is in this journal")),
    );
    assert!(update(&mut s, Msg::ch('y')).is_empty());
    for c in "upload".chars() {
        assert!(update(&mut s, Msg::ch(c)).is_empty());
    }
    insta::assert_snapshot!("08b_final_sync_typed_80x24", screen(&s, 80, 24));
    assert!(update(&mut s, Msg::key(KeyCode::Enter)).is_empty());
    assert!(s.dialog.is_some(), "a wrong name does not start it");
    assert_eq!(
        update(&mut s, Msg::ch('s')),
        Vec::<Command>::new(),
        "y and n are letters of the name here"
    );
    assert_eq!(
        update(&mut s, Msg::key(KeyCode::Enter)),
        vec![Command::StartJob {
            sources: vec![0],
            mode: RunMode::Final,
            force: true,
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

    // Verification only (the script numbers it 0, as the engine does for a dry run).
    assert_eq!(
        update(&mut s, Msg::ch('v')),
        vec![Command::StartJob {
            sources: vec![0],
            mode: RunMode::Verify,
            force: false,
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
                sources: vec![1],
                mode: RunMode::Bulk,
                force: false,
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

/// A node of the redb cluster `/srv/raft` with the demo's four tables.
fn node(n: u64) -> SourceView {
    let table = |name: &str, kind: &str, key: &str, value: &str, entries| RedbTable {
        name: name.into(),
        kind: kind.into(),
        key_type: key.into(),
        value_type: value.into(),
        entries,
        columns: None,
        problem: None,
    };
    let tables = vec![
        table("kv", "table", "&str", "&str", 240),
        table("log", "table", "u64", "&[u8]", 500),
        table("members", "table", "&str", "raft::Membership", 3),
        table("watchers", "multimap", "&str", "u64", 60),
    ];
    let file = RedbFile {
        path: format!("/srv/raft/node-{n}/state.redb").into(),
        size: 1 << 20,
        format: Some(3),
        written_by: None,
        entries: tables.iter().map(|t| t.entries).sum(),
        tables,
        problem: None,
    };
    view(&cutover::migrate::redb_to_sqlite::console::node_source(
        format!("raft/node-{n}"),
        std::path::Path::new("/srv/raft"),
        &format!("node-{n}"),
        std::path::Path::new("/srv/raft-sqlite"),
        &[file],
        None,
    ))
}

fn store() -> SourceView {
    let mut s = Source::new(
        "store-to-cas",
        "pkgs",
        "/nix/store".into(),
        "/srv/cas".into(),
    );
    s.entries = 72;
    s.bytes = 24 << 20;
    s.count = "12 packages".into();
    s.params = serde_json::json!({ "packages": 12 });
    s.live = true;
    view(&s)
}

/// What reading a store with nothing migrated gives.
fn not_migrated() -> Reading {
    let mut s = Source::new(
        "store-to-cas",
        "pkgs",
        "/nix/store".into(),
        "/nonexistent/cas".into(),
    );
    s.params = serde_json::json!({ "packages": 12 });
    cutover::ui::kinds::read_details(&s)
}

/// A console with sources of every kind: a tree, a package store, three redb nodes.
fn mixed(t0: Instant) -> State {
    State::new(
        StateConfig {
            title: "app-01".into(),
            sources: vec![
                source("uploads", 2_400, 6 << 30),
                store(),
                node(1),
                node(2),
                node(3),
            ],
            verify: "full".into(),
            parallel: 2,
        },
        t0,
    )
}

fn numbers(completed: u64, pending: u64, saved: u64) -> Reading {
    Reading::Read(cutover::migrate::store_to_cas::console::numbers(
        StoreStatus {
            packages: 12,
            completed,
            pending,
            in_progress: 12 - completed - pending,
            files: completed * 6,
            objects: completed * 3 + 4,
            logical_bytes: completed * (2 << 20),
            stored_bytes: completed * (2 << 20) - saved,
            space_saved: saved,
            dedup_ratio: if completed == 0 {
                1.0
            } else {
                (completed * (2 << 20)) as f64 / (completed * (2 << 20) - saved) as f64
            },
            eta_s: (pending > 0).then_some(6.0),
            ..Default::default()
        },
    ))
}

fn package(s: &mut State, sc: &Script, ms: u64, job: u64, name: &str, saved: u64) {
    sc.send(
        s,
        ms,
        Event::ItemVerified {
            job,
            item: name.into(),
            report: ItemReport {
                files: 6,
                bytes: 2 << 20,
                files_transferred: if saved == 0 { 6 } else { 3 },
                bytes_transferred: (2 << 20) - saved,
                files_hashed: 6,
                space_saved_bytes: saved,
                elapsed_s: 0.1,
                ..Default::default()
            },
        },
    );
}

#[test]
fn migrate_a_package_store_and_watch_its_numbers() {
    let t0 = Instant::now();
    let sc = Script { t0 };
    let mut s = mixed(t0);
    // Opening reads the journal and every store's numbers (off the UI thread).
    assert_eq!(
        update(&mut s, Msg::Start),
        vec![Command::RefreshJobs, Command::ReadDetails { source: 1 }]
    );
    update(&mut s, Msg::Jobs(Vec::new()));
    update(
        &mut s,
        Msg::Details {
            source: 1,
            reading: not_migrated(),
        },
    );
    // The store under the cursor: its details show beside the other panes.
    update(&mut s, Msg::ch('j'));
    insta::assert_snapshot!("10_store_under_cursor_100x30", screen(&s, 100, 30));

    // A store offers no final sync: f says so and starts nothing.
    update(&mut s, Msg::ch(' '));
    assert!(update(&mut s, Msg::ch('f')).is_empty());
    assert_eq!(
        s.status.as_deref(),
        Some("pkgs cannot final sync: store-to-cas offers migrate")
    );
    assert_eq!(
        update(&mut s, Msg::key(KeyCode::Enter)),
        vec![Command::StartJob {
            sources: vec![1],
            mode: RunMode::Migrate,
            force: false,
        }]
    );
    update(&mut s, Msg::JobSpawned { job: 4 });
    sc.send(
        &mut s,
        50,
        Event::JobStarted {
            job: 4,
            kind: "store-to-cas".into(),
            items_total: 12,
            items_skipped: 0,
            files_total: 72,
            bytes_total: 24 << 20,
            verify: "full".into(),
            dry_run: false,
            units: cutover::migrate::store_to_cas::kind::UNITS,
        },
    );
    // Packages verify one by one; every shared file counts as space saved.
    let names = [
        "0a1b2c3d4e5f60718293a4b5c6d7e8f9-openssl-3.0.13",
        "1b2c3d4e5f60718293a4b5c6d7e8f90a-openssl-3.0.14",
        "2c3d4e5f60718293a4b5c6d7e8f90a1b-openssl-3.0.15",
        "3d4e5f60718293a4b5c6d7e8f90a1b2c-zlib-1.3.1",
    ];
    let saved = [0u64, 1 << 20, 1_572_864, 65_536];
    for (i, (name, saved)) in names.iter().zip(saved).enumerate() {
        let ms = 300 + i as u64 * 300;
        sc.progress(
            &mut s,
            ms,
            4,
            ((i as u64 + 1) * 6, 72),
            ((i as u64 + 1) * (2 << 20), 24 << 20),
        );
        package(&mut s, &sc, ms + 10, 4, name, saved);
    }
    let live = s.job.as_ref().map(|m| m.space_saved);
    assert_eq!(live, Some((1 << 20) + 1_572_864 + 65_536));
    // The slow tick re-reads the store while the job writes it.
    let cmds = update(&mut s, Msg::Tick(sc.at(2_100)));
    assert_eq!(cmds, vec![Command::ReadDetails { source: 1 }]);
    assert!(update(&mut s, Msg::Tick(sc.at(2_300))).is_empty());
    update(
        &mut s,
        Msg::Details {
            source: 1,
            reading: (numbers(4, 6, (1 << 20) + 1_572_864 + 65_536)),
        },
    );
    insta::assert_snapshot!("11_store_running_100x30", screen(&s, 100, 30));
    insta::assert_snapshot!("12_store_running_120x40", screen(&s, 120, 40));
    // At 80x24: the item stream with the space each package saved…
    s.focus = Pane::Items;
    insta::assert_snapshot!("13_store_items_80x24", screen(&s, 80, 24));
    // …and the store's numbers in the details tab.
    update(&mut s, Msg::key(KeyCode::Tab));
    update(&mut s, Msg::key(KeyCode::Tab));
    assert_eq!(s.focus, Pane::Details);
    insta::assert_snapshot!("14_store_details_80x24", screen(&s, 80, 24));

    // The job ends: the store is read again at once.
    for i in 4..12u64 {
        package(
            &mut s,
            &sc,
            2_400 + i * 50,
            4,
            &format!("{i:032x}-pkg-{i}"),
            1 << 19,
        );
    }
    let total_saved = (1 << 20) + 1_572_864 + 65_536 + 8 * (1 << 19);
    sc.send(
        &mut s,
        3_200,
        Event::Summary(Summary {
            job: 4,
            kind: "store-to-cas".into(),
            items_total: 12,
            items_verified: 12,
            files: 72,
            bytes: 24 << 20,
            files_transferred: 40,
            bytes_transferred: (24 << 20) - total_saved,
            space_saved_bytes: total_saved,
            elapsed_s: 3.1,
            ..Default::default()
        }),
    );
    let cmds = update(
        &mut s,
        Msg::JobEnded {
            job: 4,
            summary: None,
            error: None,
        },
    );
    assert_eq!(
        cmds,
        vec![Command::RefreshJobs, Command::ReadDetails { source: 1 }]
    );
    assert_eq!(s.sources[1].runs.migrate, Some(Outcome::Verified));
    update(
        &mut s,
        Msg::Details {
            source: 1,
            reading: (numbers(12, 0, total_saved)),
        },
    );
    assert!(s.sources[1].live.as_ref().is_some_and(|l| !l.in_flight));
    insta::assert_snapshot!("15_store_done_80x24", screen(&s, 80, 24));
}

fn tables(job: u64, source: usize, node: &str) -> Msg {
    let row = |table: &str, n: u64| {
        let r = TableResult {
            item: format!("{node}/state.redb"),
            table: table.into(),
            read: n,
            written: n,
            verified: n.min(100),
            errors: 0,
            checksum_equal: Some(true),
            elapsed_s: 0.002,
            ..Default::default()
        };
        cutover::migrate::redb_to_sqlite::console::row_cells(&Row::of("table", &r)).unwrap()
    };
    Msg::Rows {
        job,
        source,
        item: format!("{node}/state.redb"),
        rows: vec![
            row("kv", 240),
            row("log", 500),
            row("members", 3),
            row("watchers", 60),
        ],
    }
}

#[test]
fn redb_nodes_rolling_then_together_with_per_table_results() {
    let t0 = Instant::now();
    let sc = Script { t0 };
    let mut s = mixed(t0);
    update(&mut s, Msg::Jobs(Vec::new()));
    update(&mut s, Msg::ch('j'));
    update(&mut s, Msg::ch('j'));
    update(&mut s, Msg::ch(' '));
    update(&mut s, Msg::ch('j'));
    update(&mut s, Msg::ch(' '));
    assert_eq!(s.selected(), vec![2, 3]);
    // Rolling (the default): one job per node, one after the other.
    assert_eq!(
        update(&mut s, Msg::key(KeyCode::Enter)),
        vec![Command::StartJob {
            sources: vec![2],
            mode: RunMode::Migrate,
            force: false,
        }]
    );
    update(&mut s, Msg::JobSpawned { job: 5 });
    let started = |job, items| Event::JobStarted {
        job,
        kind: "redb-to-sqlite".into(),
        items_total: items,
        items_skipped: 0,
        files_total: 803 * items,
        bytes_total: items << 20,
        verify: "full".into(),
        dry_run: false,
        units: cutover::migrate::redb_to_sqlite::kind::UNITS,
    };
    let verified = |job, node: &str| Event::ItemVerified {
        job,
        item: format!("{node}/state.redb"),
        report: ItemReport {
            files: 803,
            bytes: 1 << 20,
            files_transferred: 803,
            bytes_transferred: 90 << 10,
            files_hashed: 263,
            elapsed_s: 0.2,
            ..Default::default()
        },
    };
    let done = |job, items| {
        Event::Summary(Summary {
            job,
            kind: "redb-to-sqlite".into(),
            items_total: items,
            items_verified: items,
            files_transferred: 803 * items,
            ..Default::default()
        })
    };
    sc.send(&mut s, 10, started(5, 1));
    update(&mut s, tables(5, 2, "node-1"));
    sc.send(&mut s, 200, verified(5, "node-1"));
    sc.send(&mut s, 210, done(5, 1));
    let cmds = update(
        &mut s,
        Msg::JobEnded {
            job: 5,
            summary: None,
            error: None,
        },
    );
    assert_eq!(
        cmds,
        vec![
            Command::RefreshJobs,
            Command::StartJob {
                sources: vec![3],
                mode: RunMode::Migrate,
                force: false,
            }
        ]
    );
    // Node 1's summary stays in its details while node 2 runs.
    assert_eq!(s.sources[2].results.len(), 4);
    update(&mut s, Msg::JobSpawned { job: 6 });
    sc.send(&mut s, 300, started(6, 1));
    update(&mut s, tables(6, 3, "node-2"));
    sc.send(&mut s, 500, verified(6, "node-2"));
    sc.send(&mut s, 510, done(6, 1));
    update(
        &mut s,
        Msg::JobEnded {
            job: 6,
            summary: None,
            error: None,
        },
    );
    assert_eq!(s.sources[3].runs.migrate, Some(Outcome::Verified));
    s.focus = Pane::Items;
    insta::assert_snapshot!("16_redb_rolling_items_100x30", screen(&s, 100, 30));

    // Together: the selected nodes of one cluster as one job.
    update(&mut s, Msg::ch('p'));
    assert!(s.together);
    s.focus = Pane::Sources;
    update(&mut s, Msg::ch('j'));
    update(&mut s, Msg::ch(' '));
    assert_eq!(s.selected(), vec![2, 3, 4]);
    assert_eq!(
        update(&mut s, Msg::ch('v')),
        vec![Command::StartJob {
            sources: vec![2, 3, 4],
            mode: RunMode::Verify,
            force: false,
        }]
    );
    assert_eq!(
        s.job.as_ref().map(|m| m.name.as_str()),
        Some("raft/node-1, node-2, node-3")
    );
    update(&mut s, Msg::JobSpawned { job: 0 });
    sc.send(&mut s, 600, started(0, 3));
    for (i, n) in ["node-1", "node-2", "node-3"].iter().enumerate() {
        update(&mut s, tables(0, 2 + i, n));
        sc.send(&mut s, 700 + i as u64 * 50, verified(0, n));
    }
    sc.send(&mut s, 900, done(0, 3));
    update(
        &mut s,
        Msg::JobEnded {
            job: 0,
            summary: None,
            error: None,
        },
    );
    assert_eq!(s.sources[4].runs.verify, Some(Outcome::Verified));
    s.cursor.sources = 4;
    insta::assert_snapshot!("17_redb_together_done_120x40", screen(&s, 120, 40));
    s.focus = Pane::Details;
    insta::assert_snapshot!("18_redb_tables_80x24", screen(&s, 80, 24));
}

#[test]
fn a_mixed_selection_runs_each_source_its_own_way() {
    let mut s = mixed(Instant::now());
    update(&mut s, Msg::ch('a'));
    assert_eq!(s.selected(), vec![0, 1, 2, 3, 4]);
    // f: only the tree offers a final sync; the others are skipped, said so.
    assert_eq!(
        update(&mut s, Msg::ch('f')),
        vec![Command::Preview {
            sources: vec![0],
            mode: RunMode::Final,
        }]
    );
    assert_eq!(
        s.status.as_deref(),
        Some(
            "pkgs, raft/node-1, raft/node-2, raft/node-3 skipped (no final sync): \
             store-to-cas offers migrate; redb-to-sqlite offers migrate, verify"
        )
    );
    // Nothing else starts while the question is being prepared.
    assert!(update(&mut s, Msg::key(KeyCode::Enter)).is_empty());
    update(
        &mut s,
        Msg::Previewed {
            sources: vec![0],
            mode: RunMode::Final,
            preview: Ok(Preview::default()),
        },
    );
    assert!(update(&mut s, Msg::key(KeyCode::Esc)).is_empty());
    assert_eq!(s.queue.len(), 0);
    // enter: the tree's bulk copy, the store's and each node's migration.
    update(&mut s, Msg::key(KeyCode::Enter));
    let queued: Vec<(RunMode, Vec<usize>)> = s
        .queue
        .iter()
        .map(|r| (r.mode, r.sources.clone()))
        .collect();
    assert_eq!(
        queued,
        vec![
            (RunMode::Migrate, vec![1]),
            (RunMode::Migrate, vec![2]),
            (RunMode::Migrate, vec![3]),
            (RunMode::Migrate, vec![4]),
        ]
    );
    assert_eq!(s.job.as_ref().map(|m| m.mode), Some(RunMode::Bulk));
}

#[test]
fn keys_set_the_verify_mode_the_parallelism_and_roll_back_a_job() {
    use cutover::ui::app::Op;
    let mut s = console(Instant::now());
    // m: the next verification mode; the runner answers with its label.
    assert_eq!(
        update(&mut s, Msg::ch('m')),
        vec![Command::SetVerify(cutover::verify::VerifyMode::Sample(
            1000
        ))]
    );
    update(&mut s, Msg::VerifyLabel("sample=1000 seed=9".into()));
    assert_eq!(s.verify, "sample=1000 seed=9");
    assert_eq!(
        update(&mut s, Msg::ch('m')),
        vec![Command::SetVerify(cutover::verify::VerifyMode::Full)]
    );
    // + and -: items at once, never below one.
    let before = s.parallel;
    assert_eq!(
        update(&mut s, Msg::ch('+')),
        vec![Command::SetParallel(before + 1)]
    );
    for _ in 0..before + 3 {
        update(&mut s, Msg::ch('-'));
    }
    assert_eq!(s.parallel, 1);
    // x in Jobs: what the rollback removes, then y, then the name typed.
    let params =
        serde_json::json!({"source": "/srv/app/uploads", "target": "/mnt/zfs/app/uploads"});
    update(
        &mut s,
        Msg::Jobs(vec![JobRow {
            job: 4,
            kind: "tree-sync".into(),
            status: "completed".into(),
            items_total: 1,
            items_verified: 1,
            items_failed: 0,
            label: "uploads (bulk)".into(),
            mode: "bulk".into(),
            params: params.clone(),
            sources: vec![0],
        }]),
    );
    assert!(update(&mut s, Msg::ch('x')).is_empty(), "only in Jobs");
    s.focus = Pane::Jobs;
    let op = Op::Rollback {
        job: 4,
        kind: "tree-sync".into(),
        params,
    };
    assert_eq!(update(&mut s, Msg::ch('x')), vec![Command::Ask(op.clone())]);
    update(
        &mut s,
        Msg::Asked {
            op: op.clone(),
            preview: Ok(Some(Preview {
                changes: vec![Change {
                    verb: "delete".into(),
                    count: 2_401,
                    first: vec!["/mnt/zfs/app/uploads".into()],
                }],
                objection: Some("rolling back removes the bulk copy".into()),
                name: None,
            })),
        },
    );
    insta::assert_snapshot!("19_rollback_asks_80x24", screen(&s, 80, 24));
    assert!(update(&mut s, Msg::ch('y')).is_empty());
    for c in "uploads".chars() {
        update(&mut s, Msg::ch(c));
    }
    assert_eq!(
        update(&mut s, Msg::key(KeyCode::Enter)),
        vec![Command::Do(op.clone())]
    );
    update(
        &mut s,
        Msg::Done {
            op,
            result: Ok("removed the bulk copy at /mnt/zfs/app/uploads".into()),
        },
    );
    assert_eq!(
        s.status.as_deref(),
        Some("rollback of job #4: removed the bulk copy at /mnt/zfs/app/uploads")
    );
}

#[test]
fn the_stream_is_filtered_searched_paged_and_shows_a_report_from_jobs() {
    use cutover::ui::model::{ItemLine, ItemMark};
    let t0 = Instant::now();
    let sc = Script { t0 };
    let mut s = console(t0);
    update(&mut s, Msg::Jobs(Vec::new()));
    update(&mut s, Msg::ch(' '));
    update(&mut s, Msg::key(KeyCode::Enter));
    update(&mut s, Msg::JobSpawned { job: 1 });
    sc.started(&mut s, 10, 1, 60, 60, 60);
    for i in 0..60u64 {
        let item = format!("dir/{i:02}");
        let event = match i {
            7 | 41 => Event::ItemFailed {
                job: 1,
                item,
                reason: "1 difference: * a.txt content (blake3 1111 != 2222)".into(),
                report: ItemReport::default(),
            },
            20 => Event::Warning {
                job: 1,
                item,
                message: "b.txt changed while copied".into(),
            },
            _ => Event::ItemVerified {
                job: 1,
                item,
                report: ItemReport {
                    files: 1,
                    ..Default::default()
                },
            },
        };
        sc.send(&mut s, 20 + i, event);
    }
    s.focus = Pane::Items;
    // A page is the pane's height; g shows the top page, not one line.
    screen(&s, 80, 24);
    let page = s.items_page.get();
    assert!(page > 10, "page {page}");
    update(&mut s, Msg::key(KeyCode::PageUp));
    assert_eq!(s.cursor.items_back, page);
    update(&mut s, Msg::ch('g'));
    let top = screen(&s, 80, 24);
    assert!(top.contains("dir/00") && top.contains("dir/10"), "{top}");
    // n / N: the next and previous failure or warning.
    update(&mut s, Msg::ch('G'));
    update(&mut s, Msg::ch('n'));
    assert_eq!(s.status.as_deref(), Some("* dir/07"));
    update(&mut s, Msg::ch('n'));
    assert_eq!(s.status.as_deref(), Some("! dir/20"));
    update(&mut s, Msg::ch('n'));
    assert_eq!(s.status.as_deref(), Some("* dir/41"));
    update(&mut s, Msg::ch('N'));
    assert_eq!(s.status.as_deref(), Some("! dir/20"));
    // /: only the lines holding the text, as it is typed; esc clears.
    update(&mut s, Msg::ch('/'));
    for c in "dir/4".chars() {
        update(&mut s, Msg::ch(c));
    }
    update(&mut s, Msg::key(KeyCode::Enter));
    let filtered = screen(&s, 80, 24);
    assert!(filtered.contains("/dir/4: 10 lines"), "{filtered}");
    assert!(
        filtered.contains("dir/41") && !filtered.contains("dir/07"),
        "{filtered}"
    );
    insta::assert_snapshot!("20_items_filtered_80x24", filtered);
    update(&mut s, Msg::key(KeyCode::Esc));
    assert_eq!(s.filter, None);
    // enter in Jobs opens a job's report in Items; esc goes back.
    s.focus = Pane::Jobs;
    update(
        &mut s,
        Msg::Jobs(vec![JobRow {
            job: 1,
            kind: "tree-sync".into(),
            status: "failed".into(),
            items_total: 60,
            items_verified: 58,
            items_failed: 2,
            label: "uploads (bulk)".into(),
            mode: "bulk".into(),
            params: serde_json::Value::Null,
            sources: vec![0],
        }]),
    );
    assert_eq!(
        update(&mut s, Msg::key(KeyCode::Enter)),
        vec![Command::OpenReport { job: 1 }]
    );
    let line = |mark, item: &str, detail: &str| ItemLine {
        mark,
        item: item.into(),
        detail: detail.into(),
    };
    update(
        &mut s,
        Msg::Report {
            job: 1,
            lines: Ok(vec![
                line(
                    ItemMark::Note,
                    "#1 bulk tree-sync",
                    "/srv/app/uploads → /mnt/zfs/app/uploads · failed",
                ),
                line(ItemMark::Failed, "dir/07", "1 difference: * a.txt content"),
                line(ItemMark::Failed, "dir/41", "1 difference: * a.txt content"),
                line(
                    ItemMark::Note,
                    "counts",
                    "58 of 60 items verified · 2 failed · 1 warnings",
                ),
            ]),
        },
    );
    assert_eq!(s.focus, Pane::Items);
    let report = screen(&s, 80, 24);
    assert!(report.contains("report of job #1"), "{report}");
    assert!(!report.contains("dir/33"), "{report}");
    update(&mut s, Msg::key(KeyCode::Esc));
    assert!(s.report.is_none());
    assert!(screen(&s, 80, 24).contains("dir/59"));
}

#[test]
fn status_is_never_stale_or_contradictory() {
    let t0 = Instant::now();
    let sc = Script { t0 };
    let mut s = console(t0);
    update(&mut s, Msg::Jobs(Vec::new()));
    let ended = |s: &mut State, job| {
        update(
            s,
            Msg::JobEnded {
                job,
                summary: None,
                error: None,
            },
        )
    };
    // A fully verified job shows every file done, whatever progress said.
    update(&mut s, Msg::ch(' '));
    update(&mut s, Msg::key(KeyCode::Enter));
    update(&mut s, Msg::JobSpawned { job: 1 });
    sc.started(&mut s, 10, 1, 2, 4, 400);
    sc.progress(&mut s, 20, 1, (3, 4), (300, 400));
    sc.send(&mut s, 30, Event::Summary(summary(1, 2, 2, 0, false)));
    ended(&mut s, 1);
    let m = s.job.as_ref().unwrap();
    assert_eq!((m.files_done, m.bytes_done), (4, 400));
    assert_eq!(m.eta(sc.at(40)), "done");

    // Items finished count even when their kind reports no progress.
    update(&mut s, Msg::key(KeyCode::Enter));
    update(&mut s, Msg::JobSpawned { job: 2 });
    sc.started(&mut s, 50, 2, 3, 30, 3_000);
    for (i, ms) in [60u64, 70].iter().enumerate() {
        sc.send(
            &mut s,
            *ms,
            Event::ItemVerified {
                job: 2,
                item: format!("p{i}"),
                report: ItemReport {
                    files: 10,
                    bytes: 1_000,
                    ..Default::default()
                },
            },
        );
    }
    assert_eq!(s.job.as_ref().unwrap().files_done, 20);

    // Cancelled: no "ETA done", and "cancelling…" goes once it stopped.
    update(&mut s, Msg::ch('c'));
    update(&mut s, Msg::ch('y'));
    assert_eq!(s.status.as_deref(), Some("cancelling the job…"));
    sc.send(&mut s, 80, Event::Summary(summary(2, 3, 2, 0, true)));
    update(&mut s, Msg::ch('c'));
    update(&mut s, Msg::ch('y'));
    ended(&mut s, 2);
    assert_eq!(s.status, None, "no stale cancelling note");
    assert_eq!(s.job.as_ref().unwrap().eta(sc.at(90)), "— (cancelled)");

    // The Items title counts the lines the stream shows, earlier jobs too.
    let shown = screen(&s, 120, 40);
    assert!(shown.contains("= 2 verified · * 0 failed"), "{shown}");

    // A resume that verified the job turns its run's mark to ✓.
    s.focus = Pane::Jobs;
    update(
        &mut s,
        Msg::Jobs(vec![JobRow {
            job: 2,
            kind: "tree-sync".into(),
            status: "interrupted".into(),
            items_total: 3,
            items_verified: 2,
            items_failed: 0,
            label: "uploads (bulk)".into(),
            mode: "bulk".into(),
            params: serde_json::Value::Null,
            sources: vec![0],
        }]),
    );
    s.sources[0].runs.bulk = Some(Outcome::Failed);
    update(&mut s, Msg::ch('r'));
    update(&mut s, Msg::JobSpawned { job: 2 });
    sc.started(&mut s, 100, 2, 3, 30, 3_000);
    sc.send(&mut s, 110, Event::Summary(summary(2, 3, 3, 0, false)));
    ended(&mut s, 2);
    assert_eq!(s.sources[0].runs.bulk, Some(Outcome::Verified));

    // Details follow the cursor, not the last job.
    s.cursor.sources = 1;
    s.focus = Pane::Items;
    assert_eq!(s.detail_source(), Some(1));
}

#[test]
fn the_mouse_focuses_clicks_rows_and_scrolls() {
    use crossterm::event::{KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
    let mouse = |kind, column, row| {
        Msg::Mouse(MouseEvent {
            kind,
            column,
            row,
            modifiers: KeyModifiers::NONE,
        })
    };
    let mut s = console(Instant::now());
    update(&mut s, Msg::Jobs(Vec::new()));
    // Full layout at 120x40: Sources top left; its second row is `queue`.
    screen(&s, 120, 40);
    update(&mut s, mouse(MouseEventKind::Down(MouseButton::Left), 5, 3));
    assert_eq!((s.focus, s.cursor.sources), (Pane::Sources, 1));
    // A click in the right column's item stream focuses it; the wheel scrolls.
    let placed = cutover::ui::view::place(&s, ratatui::layout::Rect::new(0, 0, 120, 40));
    let (_, items) = placed
        .panes
        .iter()
        .find(|(p, _)| *p == Pane::Items)
        .copied()
        .unwrap();
    update(
        &mut s,
        mouse(
            MouseEventKind::Down(MouseButton::Left),
            items.x + 2,
            items.y + 2,
        ),
    );
    assert_eq!(s.focus, Pane::Items);
    update(&mut s, mouse(MouseEventKind::ScrollDown, 2, 30));
    assert_eq!(s.focus, Pane::Jobs, "the wheel scrolls the pane under it");
    // Compact layout: a click on a tab focuses its pane.
    screen(&s, 80, 24);
    update(
        &mut s,
        mouse(MouseEventKind::Down(MouseButton::Left), 22, 1),
    );
    assert_eq!(s.focus, Pane::Jobs);
    update(&mut s, mouse(MouseEventKind::Down(MouseButton::Left), 2, 1));
    assert_eq!(s.focus, Pane::Sources);
}

#[test]
fn a_note_about_skipped_sources_stays_until_the_next_key() {
    let t0 = Instant::now();
    let sc = Script { t0 };
    let mut s = mixed(t0);
    update(&mut s, Msg::Jobs(Vec::new()));
    update(&mut s, Msg::ch(' '));
    update(&mut s, Msg::ch('j'));
    update(&mut s, Msg::ch(' '));
    // v: the store offers no verification; the tree's runs.
    let cmds = update(&mut s, Msg::ch('v'));
    assert_eq!(
        cmds,
        vec![Command::StartJob {
            sources: vec![0],
            mode: RunMode::Verify,
            force: false,
        }]
    );
    let note = s.status.clone().unwrap();
    assert!(note.contains("pkgs skipped (no verify)"), "{note}");
    update(&mut s, Msg::JobSpawned { job: 1 });
    sc.started(&mut s, 10, 1, 1, 1, 1);
    sc.send(&mut s, 20, Event::Summary(summary(1, 1, 1, 0, false)));
    update(
        &mut s,
        Msg::JobEnded {
            job: 1,
            summary: None,
            error: None,
        },
    );
    assert_eq!(
        s.status.as_deref(),
        Some(note.as_str()),
        "kept after the job ended"
    );
    update(&mut s, Msg::ch('j'));
    assert_eq!(s.status, None);
}

#[test]
fn the_checklist_runs_confirms_and_rolls_back_steps() {
    use cutover::runbook::state::{StepRecord, StepState};
    use cutover::runbook::view::{Checklist, ChecklistStep};
    let step =
        |phase: &str, id: &str, kind: &'static str, text: &str, state, rollback| ChecklistStep {
            phase: phase.into(),
            id: id.into(),
            kind,
            text: text.into(),
            confirm: None,
            rollback,
            minutes: None,
            record: StepRecord {
                state,
                by: Some("alice".into()),
                at: Some(1_764_000_000),
                note: (state == StepState::Failed).then(|| "`test -d /mnt/new` exited 1".into()),
                job: None,
            },
        };
    let list = |pause: StepState| Checklist {
        name: "tree cutover".into(),
        steps: vec![
            step(
                "bulk",
                "space",
                "command",
                "on local: test -d /mnt/new",
                StepState::Passed,
                false,
            ),
            step(
                "bulk",
                "bulk-copy",
                "cutover",
                "cutover run tree-sync …",
                StepState::Passed,
                false,
            ),
            step(
                "window",
                "pause-writers",
                "manual",
                "Pause every writer of /srv/data",
                pause,
                false,
            ),
            step(
                "window",
                "final",
                "cutover",
                "cutover run tree-sync … --final",
                StepState::Pending,
                false,
            ),
            step(
                "window",
                "resume-writers",
                "manual",
                "Resume the writers",
                StepState::Pending,
                true,
            ),
        ],
        rolling_back: None,
    };
    let mut s = console(Instant::now());
    update(&mut s, Msg::Jobs(Vec::new()));
    update(&mut s, Msg::Checklist(list(StepState::Pending)));
    assert_eq!(s.focus, Pane::Checklist, "an open runbook takes the focus");
    insta::assert_snapshot!("21_checklist_100x30", screen(&s, 100, 30));
    // enter on a manual step asks; y confirms it.
    assert!(update(&mut s, Msg::key(KeyCode::Enter)).is_empty());
    assert!(matches!(s.dialog, Some(Dialog::Confirm(_))));
    assert_eq!(
        update(&mut s, Msg::ch('y')),
        vec![Command::RunbookStep {
            id: "pause-writers".into(),
            yes: true
        }]
    );
    // enter on an automatic step runs it (a failed one is only retried).
    update(&mut s, Msg::Checklist(list(StepState::Confirmed)));
    assert_eq!(
        update(&mut s, Msg::key(KeyCode::Enter)),
        vec![Command::RunbookStep {
            id: "final".into(),
            yes: false
        }]
    );
    // x: the phase's rollback, after a question.
    assert!(update(&mut s, Msg::ch('x')).is_empty());
    assert_eq!(
        update(&mut s, Msg::ch('y')),
        vec![Command::RunbookRollback {
            phase: "window".into()
        }]
    );
    // Tab goes round the panes, the checklist among them.
    let mut seen = Vec::new();
    for _ in 0..8 {
        update(&mut s, Msg::key(KeyCode::Tab));
        seen.push(s.focus);
    }
    assert!(seen.contains(&Pane::Checklist) && seen.contains(&Pane::Selection));
}

#[test]
fn a_verification_is_verified_again_not_resumed() {
    let mut s = console(Instant::now());
    update(
        &mut s,
        Msg::Jobs(vec![JobRow {
            job: 9,
            kind: "tree-sync".into(),
            status: "interrupted".into(),
            items_total: 3,
            items_verified: 1,
            items_failed: 0,
            label: "uploads (verify)".into(),
            mode: "verify".into(),
            params: serde_json::Value::Null,
            sources: vec![0],
        }]),
    );
    assert!(s.status.is_none(), "no 'press r' for a verification");
    s.focus = Pane::Jobs;
    assert!(update(&mut s, Msg::ch('r')).is_empty());
    assert!(s
        .status
        .as_deref()
        .unwrap()
        .contains("press v to verify again"));
}

/// A filter that hides the source under the cursor moves the cursor to the
/// first source it shows, so space picks what the operator sees; with no
/// source shown, space picks nothing.
#[test]
fn space_after_a_filter_picks_the_source_that_is_shown() {
    let mut s = console(Instant::now());
    s.focus = Pane::Sources;
    assert_eq!(s.cursor.sources, 0);
    update(&mut s, Msg::ch('/'));
    for c in "queue".chars() {
        update(&mut s, Msg::ch(c));
    }
    update(&mut s, Msg::key(KeyCode::Enter));
    assert_eq!(s.cursor.sources, 1, "the cursor is on the one shown row");
    update(&mut s, Msg::ch(' '));
    assert!(s.sources[1].selected && !s.sources[0].selected);
    update(&mut s, Msg::ch('/'));
    for c in "zzz".chars() {
        update(&mut s, Msg::ch(c));
    }
    update(&mut s, Msg::key(KeyCode::Enter));
    update(&mut s, Msg::ch(' '));
    assert!(
        s.sources[1].selected && !s.sources[0].selected,
        "nothing changed"
    );
    assert!(s
        .status
        .as_deref()
        .unwrap_or("")
        .contains("esc clears the filter"));
}
