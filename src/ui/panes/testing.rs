//! Fixtures for the pane snapshots: a state with three trees (one
//! unusable), a state in the middle of a job, and a console of every kind
//! (a tree, a package store, redb nodes) with a store migrating and a node
//! migrated. Times are offsets from a base `Instant`, so the screens are
//! the same on every run.

use std::time::{Duration, Instant};

use ratatui::backend::TestBackend;
use ratatui::layout::Rect;
use ratatui::{Frame, Terminal};

use crate::job::console::Source;
use crate::job::event::Row;
use crate::job::event::{Event, ItemReport, Summary};
use crate::migrate::redb_to_sqlite::check::TableResult;
use crate::migrate::redb_to_sqlite::discover::{RedbFile, RedbTable};
use crate::migrate::store_to_cas::phases::StoreStatus;
use crate::ui::app::{update, Msg, State, StateConfig};
use crate::ui::kinds::view;
use crate::ui::model::{Reading, SourceView};

/// Render `draw` on a `w` x `h` test terminal and return the screen text.
pub fn screen(w: u16, h: u16, draw: impl FnOnce(&mut Frame, Rect)) -> String {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal.draw(|f| draw(f, f.area())).unwrap();
    terminal.backend().to_string()
}

fn source(name: &str, files: u64, bytes: u64, problem: Option<&str>) -> SourceView {
    let mut s = Source::new(
        "tree-sync",
        name,
        format!("/srv/live/{name}").into(),
        format!("/mnt/new/{name}").into(),
    );
    s.entries = files;
    s.bytes = bytes;
    s.count = format!("{} files", crate::fmt::count(files));
    s.problem = problem.map(str::to_string);
    view(&s)
}

fn table(name: &str, kind: &str, key: &str, value: &str, entries: u64) -> RedbTable {
    RedbTable {
        name: name.into(),
        kind: kind.into(),
        key_type: key.into(),
        value_type: value.into(),
        entries,
        columns: None,
        problem: None,
    }
}

/// A node of the cluster `/srv/cluster` (node 3 on redb 2.x), with a
/// problem in its metadata table when `problem` is given.
fn redb_node(n: u64, problem: Option<&str>) -> SourceView {
    let mut tables = vec![
        table("kv", "table", "&str", "&str", 240),
        table("log", "table", "u64", "&[u8]", 500 + n * 7),
        table(
            "metadata",
            "table",
            "&str",
            "cutover_demo::StoredMembership",
            3,
        ),
        table("watchers", "multimap", "&str", "u64", 60),
    ];
    tables[2].problem = problem.map(str::to_string);
    let file = RedbFile {
        path: format!("/srv/cluster/node-{n}/state-machine.redb").into(),
        size: 1_589_248,
        format: Some(if n == 3 { 2 } else { 3 }),
        written_by: None,
        entries: tables.iter().map(|t| t.entries).sum(),
        tables,
        problem: None,
    };
    let problem = problem.map(|p| format!("state-machine.redb: table 'metadata': {p}"));
    view(&crate::migrate::redb_to_sqlite::console::node_source(
        format!("cluster/node-{n}"),
        std::path::Path::new("/srv/cluster"),
        &format!("node-{n}"),
        std::path::Path::new("/srv/sqlite"),
        &[file],
        problem,
    ))
}

/// A node of the cluster `/srv/cluster` (node 3 on redb 2.x).
pub fn node(n: u64) -> SourceView {
    redb_node(n, None)
}

/// A console of every kind: a tree, a package store, three redb nodes
/// and a broken one.
pub fn multi(t0: Instant) -> State {
    let broken = redb_node(
        4,
        Some("Vec<u64> is a redb composite cutover does not decode"),
    );
    let mut store = Source::new(
        "store-to-cas",
        "package store",
        "/srv/package-store".into(),
        "/srv/cas".into(),
    );
    store.entries = 108;
    store.bytes = 2_936_012;
    store.count = "18 packages".into();
    store.params = serde_json::json!({ "packages": 18 });
    store.live = true;
    State::new(
        StateConfig {
            title: "demo".into(),
            sources: vec![
                source("live tree", 3_057, 13_107_200, None),
                view(&store),
                node(1),
                node(2),
                node(3),
                broken,
            ],
            verify: "full".into(),
            parallel: 4,
        },
        t0,
    )
}

/// The numbers of the store half way through its migration.
pub fn store_numbers() -> StoreStatus {
    StoreStatus {
        packages: 18,
        completed: 11,
        failed: 0,
        pending: 5,
        in_progress: 2,
        rolled_back: 0,
        files: 66,
        objects: 29,
        logical_bytes: 1_794_229,
        stored_bytes: 705_740,
        space_saved: 1_088_489,
        dedup_ratio: 1_794_229.0 / 705_740.0,
        eta_s: Some(4.2),
        ..Default::default()
    }
}

/// The package store of [`multi`] selected and migrating: packages
/// verified with the space they saved, one failed, the store's numbers read.
pub fn store_running(t0: Instant) -> State {
    let mut s = multi(t0);
    update(&mut s, Msg::ch('j'));
    update(&mut s, Msg::ch(' '));
    update(&mut s, Msg::key(crossterm::event::KeyCode::Enter));
    update(&mut s, Msg::JobSpawned { job: 4 });
    let job = 4;
    engine(
        &mut s,
        t0,
        100,
        Event::JobStarted {
            job,
            kind: "store-to-cas".into(),
            items_total: 18,
            items_skipped: 0,
            files_total: 108,
            bytes_total: 2_936_012,
            verify: "full".into(),
            dry_run: false,
            units: crate::migrate::store_to_cas::kind::UNITS,
        },
    );
    let packages = [
        ("0b3f6c1e9d2a4b7f8e5c3a1d9f0e2b4c-openssl-1.0", 0),
        ("1c4e7a2b9f3d5c8e0a6b4d2f1e3c5a7b-openssl-1.1", 102_400),
        ("2d5f8b3c0a4e6d9f1b7c5e3a2f4d6b8c-openssl-1.2", 167_936),
    ];
    for (i, (name, saved)) in packages.iter().enumerate() {
        engine(
            &mut s,
            t0,
            200 + i as u64 * 300,
            Event::ItemVerified {
                job,
                item: (*name).into(),
                report: ItemReport {
                    files: 6,
                    bytes: 196_608,
                    files_transferred: if *saved == 0 { 4 } else { 2 },
                    bytes_transferred: 196_608 - saved,
                    files_hashed: 4,
                    space_saved_bytes: *saved,
                    elapsed_s: 0.04,
                    ..Default::default()
                },
            },
        );
    }
    engine(
        &mut s,
        t0,
        1_200,
        Event::ItemFailed {
            job,
            item: "3e6a9c4d1b5f7e0a2c8d6f4b3a5e7c9d-zlib-1.0".into(),
            reason: "package 3e6a9c4d1b5f7e0a2c8d6f4b3a5e7c9d-zlib-1.0: lib/libzlib.so:                          object 9f3a… re-read hashes to 1b2c…"
                .into(),
            report: ItemReport {
                files: 6,
                bytes: 163_840,
                ..Default::default()
            },
        },
    );
    for (ms, files, bytes) in [(1_300, 24, 655_360), (2_300, 40, 1_100_000)] {
        engine(
            &mut s,
            t0,
            ms,
            Event::Progress {
                job,
                files_done: files,
                bytes_done: bytes,
                files_total: 108,
                bytes_total: 2_936_012,
            },
        );
    }
    update(
        &mut s,
        Msg::Details {
            source: 1,
            reading: Reading::Read(crate::migrate::store_to_cas::console::numbers(
                store_numbers(),
            )),
        },
    );
    update(&mut s, Msg::Tick(at(t0, 2_400)));
    s
}

/// Node 1 of [`multi`] migrated: its tables' results, then its file verified.
pub fn redb_done(t0: Instant) -> State {
    let mut s = multi(t0);
    update(&mut s, Msg::ch('j'));
    update(&mut s, Msg::ch('j'));
    update(&mut s, Msg::ch(' '));
    update(&mut s, Msg::key(crossterm::event::KeyCode::Enter));
    update(&mut s, Msg::JobSpawned { job: 5 });
    let job = 5;
    engine(
        &mut s,
        t0,
        100,
        Event::JobStarted {
            job,
            kind: "redb-to-sqlite".into(),
            items_total: 1,
            items_skipped: 0,
            files_total: 810,
            bytes_total: 1_589_248,
            verify: "sample=100 seed=42".into(),
            dry_run: false,
            units: crate::migrate::redb_to_sqlite::kind::UNITS,
        },
    );
    let item = "node-1/state-machine.redb";
    let row = |table: &str, n: u64, verified: u64, ms: f64| {
        let result = TableResult {
            item: item.into(),
            table: table.into(),
            read: n,
            written: n,
            verified,
            errors: 0,
            checksum_equal: Some(true),
            elapsed_s: ms / 1000.0,
            ..Default::default()
        };
        crate::migrate::redb_to_sqlite::console::row_cells(&Row::of("table", &result))
            .expect("a table row")
    };
    update(
        &mut s,
        Msg::Rows {
            job,
            source: 2,
            item: item.into(),
            rows: vec![
                row("kv", 240, 100, 4.0),
                row("log", 507, 100, 7.5),
                row("metadata", 3, 3, 0.4),
                row("watchers", 60, 60, 0.9),
            ],
        },
    );
    engine(
        &mut s,
        t0,
        400,
        Event::ItemVerified {
            job,
            item: item.into(),
            report: ItemReport {
                files: 810,
                bytes: 1_589_248,
                files_transferred: 810,
                bytes_transferred: 135_168,
                files_hashed: 263,
                elapsed_s: 0.3,
                ..Default::default()
            },
        },
    );
    engine(
        &mut s,
        t0,
        500,
        Event::Summary(Summary {
            job,
            kind: "redb-to-sqlite".into(),
            items_total: 1,
            items_verified: 1,
            files: 810,
            bytes: 1_589_248,
            files_transferred: 810,
            bytes_transferred: 135_168,
            elapsed_s: 0.4,
            ..Default::default()
        }),
    );
    s
}

/// A fresh console with three sources, the last one unusable.
pub fn fresh(t0: Instant) -> State {
    State::new(
        StateConfig {
            title: "db-03".into(),
            sources: vec![
                source("photos", 12_480, 3_435_973_837, None),
                source("mail", 1_204, 52_428_800, None),
                source("scratch", 0, 0, Some("target exists and is not empty")),
            ],
            verify: "full".into(),
            parallel: 4,
        },
        t0,
    )
}

/// Offset `ms` milliseconds from `t0`.
pub fn at(t0: Instant, ms: u64) -> Instant {
    t0 + Duration::from_millis(ms)
}

fn engine(state: &mut State, t0: Instant, ms: u64, event: Event) {
    update(
        state,
        Msg::Engine {
            event,
            at: at(t0, ms),
        },
    );
}

/// `photos` and `mail` selected, a bulk copy of `photos` half done:
/// items verified, one failed, one warning, two in flight.
pub fn running(t0: Instant) -> State {
    let mut s = fresh(t0);
    update(&mut s, Msg::ch(' '));
    update(&mut s, Msg::ch('j'));
    update(&mut s, Msg::ch(' '));
    update(&mut s, Msg::key(crossterm::event::KeyCode::Enter));
    update(&mut s, Msg::JobSpawned { job: 7 });
    let job = 7;
    engine(
        &mut s,
        t0,
        100,
        Event::JobStarted {
            job,
            kind: "tree-sync".into(),
            items_total: 40,
            items_skipped: 0,
            files_total: 12_480,
            bytes_total: 3_435_973_837,
            verify: "full".into(),
            dry_run: false,
            units: crate::migrate::tree_sync::kind::UNITS,
        },
    );
    for (i, name) in ["2019", "2020", "2021"].iter().enumerate() {
        engine(
            &mut s,
            t0,
            200 + i as u64,
            Event::ItemStarted {
                job,
                item: format!("albums/{name}"),
            },
        );
    }
    engine(
        &mut s,
        t0,
        1_000,
        Event::Progress {
            job,
            files_done: 1_000,
            bytes_done: 200 << 20,
            files_total: 12_480,
            bytes_total: 3_435_973_837,
        },
    );
    engine(
        &mut s,
        t0,
        1_500,
        Event::ItemVerified {
            job,
            item: "albums/2019".into(),
            report: ItemReport {
                files: 310,
                bytes: 88 << 20,
                files_transferred: 310,
                bytes_transferred: 88 << 20,
                files_hashed: 310,
                elapsed_s: 1.4,
                ..Default::default()
            },
        },
    );
    engine(
        &mut s,
        t0,
        1_600,
        Event::Warning {
            job,
            item: "albums/2020".into(),
            message: "changed while copied: albums/2020/raw/0042.cr2".into(),
        },
    );
    engine(
        &mut s,
        t0,
        1_700,
        Event::ItemFailed {
            job,
            item: "albums/2020".into(),
            reason: "2 files differ: raw/0042.cr2 content, raw/0043.cr2 size 10 != 12".into(),
            report: ItemReport {
                files: 120,
                bytes: 40 << 20,
                files_transferred: 120,
                bytes_transferred: 40 << 20,
                ..Default::default()
            },
        },
    );
    // Progress arrives while the counters move (every 200 ms in the engine).
    for (ms, files, mib) in [
        (2_000, 2_000, 450),
        (3_000, 2_600, 600),
        (4_000, 3_300, 800),
        (5_000, 4_000, 1_000),
    ] {
        engine(
            &mut s,
            t0,
            ms,
            Event::Progress {
                job,
                files_done: files,
                bytes_done: mib << 20,
                files_total: 12_480,
                bytes_total: 3_435_973_837,
            },
        );
    }
    update(&mut s, Msg::Tick(at(t0, 5_250)));
    s
}

/// The job of [`running`] ended with every item verified but one.
pub fn finished(t0: Instant) -> State {
    let mut s = running(t0);
    engine(
        &mut s,
        t0,
        8_900,
        Event::Progress {
            job: 7,
            files_done: 12_480,
            bytes_done: 3_435_973_837,
            files_total: 12_480,
            bytes_total: 3_435_973_837,
        },
    );
    engine(
        &mut s,
        t0,
        9_000,
        Event::Summary(Summary {
            job: 7,
            kind: "tree-sync".into(),
            items_total: 40,
            items_verified: 39,
            items_failed: 1,
            files: 12_480,
            bytes: 3_435_973_837,
            bytes_transferred: 3_435_973_837,
            files_transferred: 12_480,
            warnings: 1,
            elapsed_s: 8.9,
            ..Default::default()
        }),
    );
    s
}

/// Two repositories of a BTRFS mount going into ZFS: `app` (BTRFS
/// read-only snapshots, 3 of 5 migrated into a dataset cutover created)
/// and `docs` (directories of snapshot copies, its dataset not created).
pub fn repositories(t0: Instant) -> State {
    use crate::migrate::btrfs_to_zfs::dataset::State as DsState;
    use crate::migrate::btrfs_to_zfs::discover::{fill, Facts, Pool, SnapFacts};
    let snaps = |n: usize, readonly: bool| -> Vec<SnapFacts> {
        (1..=n)
            .map(|i| SnapFacts {
                name: format!("s{i}"),
                readonly,
                bytes: 40 << 20,
                files: 5_000,
            })
            .collect()
    };
    let pools = vec![
        Pool {
            name: "tank".into(),
            free: "1.21G".into(),
            health: "ONLINE".into(),
        },
        Pool {
            name: "backup".into(),
            free: "870M".into(),
            health: "DEGRADED".into(),
        },
    ];
    let repo = |name: &str, ds: &str, snaps: &[SnapFacts], facts: &Facts| {
        let mut s = Source::new(
            "btrfs-to-zfs",
            &format!("/mnt/btrfs/{name}"),
            format!("/mnt/btrfs/{name}").into(),
            ds.into(),
        );
        s.group = Some("/mnt/btrfs".into());
        s.params = serde_json::json!({ "dataset": ds });
        fill(&mut s, ds, snaps, facts);
        view(&s)
    };
    let app = repo(
        "app",
        "tank/repos/app",
        &snaps(5, true),
        &Facts {
            state: DsState {
                exists: true,
                snapshots: vec!["s1".into(), "s2".into(), "s3".into()],
                created_by: Some("5f1c0a9e2b7d4c11".into()),
                mountpoint: Some("/tank/repos/app".into()),
            },
            used: Some(52 << 20),
            available: Some(1_300 << 20),
            dialect: "zfs-fuse (no zfs list -p, no resume tokens)".into(),
            pools: pools.clone(),
        },
    );
    let docs = repo(
        "docs",
        "tank/repos/docs",
        &snaps(2, false),
        &Facts {
            dialect: "OpenZFS (zfs list -p, resume tokens)".into(),
            pools,
            ..Facts::default()
        },
    );
    State::new(
        StateConfig {
            title: "btrfs-01".into(),
            sources: vec![app, docs],
            verify: "full".into(),
            parallel: 2,
        },
        t0,
    )
}
