//! How long the console takes to draw one whole frame from a big state:
//! 100,000 lines in the item stream, 10,000 sources and 1,000 jobs, at
//! 200x60, with each pane focused in turn (and a filter on the stream).
//! Goal: ≤ 2 ms a frame. Run: `cargo bench --bench console_frame`.

use std::time::{Duration, Instant};

use cutover::job::console::Source;
use cutover::job::event::{Event, ItemReport};
use cutover::ui::model::{JobRow, Pane};
use cutover::ui::{render, update, Msg, State, StateConfig};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

const SOURCES: usize = 10_000;
const JOBS: u64 = 1_000;
const LINES: usize = 100_000;
const FRAMES: usize = 300;

fn state() -> State {
    let sources = (0..SOURCES)
        .map(|i| {
            let mut s = Source::new(
                "tree-sync",
                &format!("service-{i:05}"),
                format!("/srv/appdata/service-{i:05}").into(),
                format!("/mnt/tank/appdata/service-{i:05}").into(),
            );
            s.entries = 1_000 + i as u64;
            s.bytes = 1 << 30;
            s.count = format!("{} files", 1_000 + i);
            cutover::ui::kinds::view(&s)
        })
        .collect();
    let t0 = Instant::now();
    let mut state = State::new(
        StateConfig {
            title: "bench".into(),
            sources,
            verify: "full".into(),
            parallel: 4,
        },
        t0,
    );
    let jobs = (0..JOBS)
        .map(|j| JobRow {
            job: JOBS - j,
            kind: "tree-sync".into(),
            status: if j % 7 == 0 { "failed" } else { "completed" }.into(),
            items_total: 40,
            items_verified: 40,
            items_failed: 0,
            label: format!("service-{j:05} (bulk)"),
            mode: "bulk".into(),
            params: serde_json::Value::Null,
            sources: vec![j as usize],
        })
        .collect();
    update(&mut state, Msg::Jobs(jobs));
    update(&mut state, Msg::ch(' '));
    update(&mut state, Msg::key(crossterm::event::KeyCode::Enter));
    update(&mut state, Msg::JobSpawned { job: JOBS + 1 });
    update(
        &mut state,
        Msg::Engine {
            event: Event::JobStarted {
                job: JOBS + 1,
                kind: "tree-sync".into(),
                items_total: LINES as u64,
                items_skipped: 0,
                files_total: 1_000_000,
                bytes_total: 1 << 40,
                verify: "full".into(),
                dry_run: false,
                units: cutover::migrate::tree_sync::kind::UNITS,
            },
            at: t0,
        },
    );
    for i in 0..LINES {
        let event = if i % 997 == 0 {
            Event::ItemFailed {
                job: JOBS + 1,
                item: format!("photos/{i:06}"),
                reason: "2 differences: * raw/0042.cr2 content (blake3 1f2e… != 9a8b…), * raw/0043.cr2 size 10 != 12".into(),
                report: ItemReport::default(),
            }
        } else {
            Event::ItemVerified {
                job: JOBS + 1,
                item: format!("photos/{i:06}"),
                report: ItemReport {
                    files: 10,
                    bytes: 10 << 20,
                    files_transferred: 10,
                    files_hashed: 10,
                    elapsed_s: 0.1,
                    ..Default::default()
                },
            }
        };
        update(&mut state, Msg::Engine { event, at: t0 });
    }
    assert!(state.items.lines.len() >= LINES);
    state
}

fn frames(state: &State, terminal: &mut Terminal<TestBackend>) -> Vec<Duration> {
    (0..FRAMES)
        .map(|_| {
            let t = Instant::now();
            terminal.draw(|f| render(f, state)).expect("draw");
            t.elapsed()
        })
        .collect()
}

fn report(what: &str, mut times: Vec<Duration>) {
    times.sort();
    let mean = times.iter().sum::<Duration>() / times.len() as u32;
    let p99 = times[times.len() * 99 / 100];
    println!(
        "{what:<28} mean {:>7.3} ms   p50 {:>7.3} ms   p99 {:>7.3} ms   max {:>7.3} ms",
        mean.as_secs_f64() * 1e3,
        times[times.len() / 2].as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3,
    );
}

fn main() {
    let built = Instant::now();
    let mut state = state();
    println!(
        "state: {} stream lines, {} sources, {} jobs (built in {:.1}s); {FRAMES} frames at 200x60 each",
        state.items.lines.len(),
        state.sources.len(),
        state.jobs.len(),
        built.elapsed().as_secs_f64()
    );
    let mut terminal = Terminal::new(TestBackend::new(200, 60)).expect("terminal");
    for pane in Pane::ALL {
        state.focus = pane;
        state.cursor.sources = SOURCES / 2;
        state.cursor.jobs = JOBS as usize / 2;
        report(
            &format!("focus {}", pane.title()),
            frames(&state, &mut terminal),
        );
    }
    state.focus = Pane::Items;
    state.cursor.items_back = LINES / 2;
    report("Items scrolled back", frames(&state, &mut terminal));
    state.filter = Some("photos/0999".into());
    report("Items filtered", frames(&state, &mut terminal));
}
