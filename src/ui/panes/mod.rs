//! One file per pane. Each exposes a pure
//! `render(frame: &mut Frame, area: Rect, state: &State)` and its own
//! snapshot tests.

pub mod confirm;
pub mod help;
pub mod items;
pub mod jobs;
pub mod logs;
pub mod metrics;
pub mod selection;
pub mod sources;
pub mod status;

use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};

/// A line with `left` at the start and `right` flush with the end of `width`
/// columns; `left` is clipped first when both do not fit.
pub fn spread<'a>(left: Vec<Span<'a>>, right: Vec<Span<'a>>, width: u16) -> Line<'a> {
    let width = width as usize;
    let rw: usize = right.iter().map(|s| s.width()).sum();
    let lw: usize = left.iter().map(|s| s.width()).sum();
    let mut spans = Vec::with_capacity(left.len() + right.len() + 1);
    if lw + rw + 1 > width {
        // Clip the last left span so the right part stays visible.
        let room = width.saturating_sub(rw + 1);
        let mut used = 0;
        for s in left {
            let w = s.width();
            if used + w <= room {
                used += w;
                spans.push(s);
            } else {
                let keep = room.saturating_sub(used);
                if keep > 0 {
                    let text = super::fmt::clip(&s.content, keep);
                    used += text.chars().count();
                    spans.push(Span::styled(text, s.style));
                }
                break;
            }
        }
        spans.push(Span::raw(
            " ".repeat(width.saturating_sub(used + rw).max(1)),
        ));
    } else {
        spans.extend(left);
        spans.push(Span::raw(" ".repeat(width - lw - rw)));
    }
    spans.extend(right);
    Line::from(spans)
}

/// A rectangle of at most `width` x `height` centred in `area`.
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let [v] = Layout::vertical([Constraint::Length(height.min(area.height))])
        .flex(Flex::Center)
        .areas(area);
    let [h] = Layout::horizontal([Constraint::Length(width.min(area.width))])
        .flex(Flex::Center)
        .areas(v);
    h
}

/// Braille spinner frame for a time in milliseconds.
pub fn spinner(millis: u128) -> &'static str {
    const FRAMES: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
    FRAMES[((millis / 100) % FRAMES.len() as u128) as usize]
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub(crate) mod testing {
    //! Fixtures for the pane snapshots: a state with three sources (one
    //! unusable), and a state in the middle of a job. Times are offsets from
    //! a base `Instant`, so the screens are the same on every run.

    use std::time::{Duration, Instant};

    use ratatui::backend::TestBackend;
    use ratatui::layout::Rect;
    use ratatui::{Frame, Terminal};

    use crate::engine::event::{Event, ItemReport, Summary};
    use crate::ui::app::{update, Msg, State, StateConfig};
    use crate::ui::model::SourceView;

    /// Render `draw` on a `w` x `h` test terminal and return the screen text.
    pub fn screen(w: u16, h: u16, draw: impl FnOnce(&mut Frame, Rect)) -> String {
        let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
        terminal.draw(|f| draw(f, f.area())).unwrap();
        terminal.backend().to_string()
    }

    fn source(name: &str, files: u64, bytes: u64, problem: Option<&str>) -> SourceView {
        SourceView {
            name: name.into(),
            source: format!("/srv/live/{name}"),
            target: format!("/mnt/new/{name}"),
            files,
            bytes,
            problem: problem.map(str::to_string),
            selected: false,
            runs: Default::default(),
        }
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
}
