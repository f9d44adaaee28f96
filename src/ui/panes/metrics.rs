//! Metrics of the current (or last) job: items, files, bytes, the rate over
//! a rolling window, the ETA from that rate, what was written, space saved
//! and health. Also the one-line strip shown under compact layouts.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{LineGauge, Paragraph};
use ratatui::Frame;

use super::spinner;
use crate::ui::app::State;
use crate::ui::fmt;
use crate::ui::model::{JobMetrics, Pane, Phase, Rate};
use crate::ui::theme;

const LABEL: usize = 9;

fn labelled(label: &str, value: Vec<Span<'static>>) -> Line<'static> {
    let mut spans = vec![Span::styled(format!("{label:<LABEL$}"), theme::label())];
    spans.extend(value);
    Line::from(spans)
}

fn phase_spans(m: &JobMetrics, state: &State) -> Vec<Span<'static>> {
    let elapsed = m.elapsed(state.now);
    match m.phase {
        Phase::Done => {
            let (word, style) = match m.outcome() {
                crate::ui::model::Outcome::Verified => ("done", theme::ok()),
                crate::ui::model::Outcome::Cancelled => ("done", theme::warn()),
                // It could not start, or ended abnormally: not "done".
                crate::ui::model::Outcome::Error => ("stopped by an error", theme::bad()),
                _ => ("done", theme::bad()),
            };
            vec![
                Span::styled(word, style),
                Span::styled(format!(" in {}", fmt::clock(elapsed)), theme::dim()),
            ]
        }
        phase => {
            let word = match phase {
                Phase::Starting => "planning",
                Phase::Cancelling => "cancelling",
                _ => "running",
            };
            vec![
                Span::styled(
                    format!("{} {word}", spinner(elapsed.as_millis())),
                    theme::warn(),
                ),
                Span::styled(format!(" {}", fmt::clock(elapsed)), theme::dim()),
            ]
        }
    }
}

fn rate_text(m: &JobMetrics, state: &State) -> String {
    match m.rate(state.now) {
        Rate::Measured { bytes, files } => format!(
            "{} · {} {}/s (last 5 s)",
            fmt::rate(bytes),
            fmt::count(files.round() as u64),
            m.units.entries
        ),
        Rate::Counting => "counting…".to_string(),
        Rate::Idle => "idle (no progress for 3 s)".to_string(),
        Rate::NotRunning => {
            let secs = m.elapsed(state.now).as_secs_f64();
            if m.phase == Phase::Done && secs > 0.0 {
                format!("avg {}", fmt::rate(m.bytes_done as f64 / secs))
            } else {
                "—".to_string()
            }
        }
    }
}

/// Space saved so far, and out of how many bytes of finished items: it
/// grows with every verified package of a store.
fn saved(m: &JobMetrics) -> Vec<Span<'static>> {
    let style = if m.space_saved > 0 {
        theme::ok()
    } else {
        ratatui::style::Style::new()
    };
    let mut spans = vec![Span::styled(fmt::bytes(m.space_saved), style)];
    if m.bytes_of_items_done > 0 && m.space_saved > 0 {
        spans.push(Span::styled(
            format!(
                " · {}% of {} done",
                fmt::percent(m.space_saved, m.bytes_of_items_done),
                fmt::bytes(m.bytes_of_items_done)
            ),
            theme::dim(),
        ));
    }
    spans
}

fn health(m: &JobMetrics) -> Vec<Span<'static>> {
    if m.error.is_some() {
        return vec![Span::styled("error (see the log)", theme::bad())];
    }
    let mut spans = Vec::new();
    if m.warnings == 0 && m.items_failed == 0 {
        spans.push(Span::styled("ok", theme::ok()));
    }
    if m.items_failed > 0 {
        let done = (m.items_verified + m.items_failed).max(1);
        spans.push(Span::styled(
            format!(
                "* {} failed ({}%)",
                m.items_failed,
                fmt::percent(m.items_failed, done)
            ),
            theme::bad(),
        ));
    }
    if m.warnings > 0 {
        if !spans.is_empty() {
            spans.push(Span::raw(" · "));
        }
        spans.push(Span::styled(
            format!("! {} warnings", m.warnings),
            theme::warn(),
        ));
    }
    spans
}

/// The rate, and the job's live rate limit when it has one
/// (`12.0 MiB/s · limit 50 MiB/s`; `[` / `]` change it).
fn rate_spans(m: &JobMetrics, state: &State) -> Vec<Span<'static>> {
    let mut spans = vec![Span::raw(rate_text(m, state))];
    if let Some(limit) = m.rate_limit.filter(|_| m.active()) {
        spans.push(Span::raw(" · "));
        spans.push(Span::styled(
            crate::ui::model::rate_limit_label(limit),
            theme::strong(),
        ));
    }
    spans
}

/// Whether the job's plan gave its size (see [`fmt::sized`]).
fn sized(m: &JobMetrics) -> bool {
    fmt::sized(m.items_total, m.files_total, m.bytes_total)
}

/// How far the job is, in percent: of its bytes, or — a plan without
/// sizes — of its items.
fn done_percent(m: &JobMetrics) -> u64 {
    if sized(m) {
        fmt::percent(m.bytes_done, m.bytes_total)
    } else {
        fmt::percent(m.items_verified + m.items_failed, m.items_total)
    }
}

/// Draw the metrics pane.
pub fn render(frame: &mut Frame, area: Rect, state: &State) {
    let focused = state.focus == Pane::Metrics;
    let block = theme::pane_block("Metrics".to_string(), focused);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(m) = &state.job else {
        let text = vec![
            Line::styled("No job yet.", theme::dim()),
            Line::styled("Select sources (space), then enter runs each", theme::dim()),
            Line::styled("one's first run (a tree's bulk copy, a", theme::dim()),
            Line::styled("migration); f final sync, v verify only.", theme::dim()),
            labelled("verify", vec![Span::raw(state.verify.clone())]),
            labelled("parallel", vec![Span::raw(state.parallel.to_string())]),
        ];
        frame.render_widget(Paragraph::new(text), inner);
        return;
    };
    let mut job = vec![Span::styled(
        format!("{} of {} ", m.title(), m.name),
        theme::strong(),
    )];
    job.extend(phase_spans(m, state));
    let mut items = vec![Span::raw(format!(
        "{}/{} verified",
        m.items_verified, m.items_total
    ))];
    if m.items_skipped > 0 {
        items.push(Span::styled(
            format!(" ({} from before)", m.items_skipped),
            theme::dim(),
        ));
    }
    if !m.in_flight.is_empty() && m.active() {
        items.push(Span::styled(
            format!(" · {} running", m.in_flight.len()),
            theme::dim(),
        ));
    }
    let sized = sized(m);
    let files = if sized {
        format!(
            "{} / {} ({}%)",
            fmt::count(m.files_done),
            fmt::count(m.files_total),
            fmt::percent(m.files_done, m.files_total)
        )
    } else {
        format!("{} (counted as each is checked)", fmt::count(m.files_done))
    };
    let (counted, wrote) = (m.units.entries, m.units.written);
    let mut written = format!(
        "{} {wrote} · {}",
        fmt::count(m.files_transferred),
        fmt::bytes(m.bytes_transferred)
    );
    if m.files_deleted > 0 {
        written.push_str(&format!(" · {} deleted", fmt::count(m.files_deleted)));
    }
    let lines = vec![
        labelled("job", job),
        labelled("items", items),
        labelled(counted, vec![Span::raw(files)]),
        Line::default(), // the bytes gauge goes here
        labelled("rate", rate_spans(m, state)),
        labelled("ETA", vec![Span::raw(m.eta(state.now))]),
        labelled("written", vec![Span::raw(written)]),
        labelled("saved", saved(m)),
        labelled("health", health(m)),
    ];
    frame.render_widget(Paragraph::new(lines), inner);
    if inner.height > 3 {
        let [_, gauge_row] =
            Layout::vertical([Constraint::Length(3), Constraint::Length(1)]).areas(inner);
        let [label, gauge] =
            Layout::horizontal([Constraint::Length(LABEL as u16), Constraint::Fill(1)])
                .areas(gauge_row);
        frame.render_widget(Paragraph::new(Span::styled("bytes", theme::label())), label);
        let ratio = if sized && m.bytes_total > 0 {
            (m.bytes_done.min(m.bytes_total) as f64 / m.bytes_total as f64).clamp(0.0, 1.0)
        } else {
            done_percent(m) as f64 / 100.0
        };
        let text = if sized {
            format!(
                "{} / {} {:>3}%",
                fmt::bytes(m.bytes_done),
                fmt::bytes(m.bytes_total),
                fmt::percent(m.bytes_done, m.bytes_total)
            )
        } else {
            format!("{} · total known once sent", fmt::bytes(m.bytes_done))
        };
        frame.render_widget(
            LineGauge::default()
                .ratio(ratio)
                .label(text)
                .filled_symbol("━")
                .unfilled_symbol("─")
                .filled_style(theme::ok())
                .unfilled_style(theme::dim()),
            gauge,
        );
    }
}

fn short_health(m: &JobMetrics) -> Vec<Span<'static>> {
    let mut spans = Vec::new();
    if m.error.is_some() {
        spans.push(Span::styled("error", theme::bad()));
    } else if m.items_failed == 0 && m.warnings == 0 {
        spans.push(Span::styled("ok", theme::ok()));
    }
    if m.items_failed > 0 {
        spans.push(Span::styled(
            format!("*{} failed ", m.items_failed),
            theme::bad(),
        ));
    }
    if m.warnings > 0 {
        spans.push(Span::styled(
            format!("!{} warnings", m.warnings),
            theme::warn(),
        ));
    }
    spans
}

/// One line for compact layouts: the job's state at a glance.
pub fn render_strip(frame: &mut Frame, area: Rect, state: &State) {
    let line = match &state.job {
        None => Line::styled(
            format!(
                "no job · {} sources · {} selected · verify {}",
                state.sources.len(),
                state.selected().len(),
                state.verify
            ),
            theme::dim(),
        ),
        Some(m) => {
            let elapsed = fmt::clock(m.elapsed(state.now));
            if m.phase == Phase::Starting {
                let line = Line::styled(
                    format!(
                        "{} {elapsed} · planning {} of {}…",
                        spinner(m.elapsed(state.now).as_millis()),
                        m.mode.label(),
                        m.name
                    ),
                    theme::warn(),
                );
                frame.render_widget(Paragraph::new(line), area);
                return;
            }
            let mut spans = if m.active() {
                vec![Span::styled(
                    format!("{} {elapsed}", spinner(m.elapsed(state.now).as_millis())),
                    theme::warn(),
                )]
            } else {
                vec![Span::raw(format!("done in {elapsed}"))]
            };
            spans.push(Span::raw(format!(
                " · {}/{} items",
                m.items_verified, m.items_total
            )));
            if m.active() {
                let rate = match m.rate(state.now) {
                    Rate::Measured { bytes, .. } => fmt::rate(bytes),
                    Rate::Idle => "idle".into(),
                    _ => "counting…".into(),
                };
                spans.push(Span::raw(format!(
                    " · {}% · {rate} · ETA {}",
                    done_percent(m),
                    m.eta(state.now)
                )));
                if let Some(limit) = m.rate_limit {
                    spans.push(Span::styled(
                        format!(" · {}", crate::ui::model::rate_limit_label(limit)),
                        theme::strong(),
                    ));
                }
            } else {
                spans.push(Span::raw(format!(
                    " · {} files written",
                    fmt::count(m.files_transferred)
                )));
            }
            if m.space_saved > 0 {
                spans.push(Span::styled(
                    format!(" · saved {}", fmt::bytes(m.space_saved)),
                    theme::ok(),
                ));
            }
            spans.push(Span::raw(" · "));
            spans.extend(short_health(m));
            Line::from(spans)
        }
    };
    frame.render_widget(Paragraph::new(line), area);
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::ui::app::{update, Msg};
    use crate::ui::panes::testing::{at, finished, fresh, running, screen};

    #[test]
    fn metrics_no_job() {
        let state = fresh(Instant::now());
        insta::assert_snapshot!(screen(56, 11, |f, a| render(f, a, &state)));
    }

    #[test]
    fn metrics_running_with_rolling_rate() {
        let state = running(Instant::now());
        insta::assert_snapshot!(screen(56, 11, |f, a| render(f, a, &state)));
    }

    #[test]
    fn metrics_idle_says_so() {
        let t0 = Instant::now();
        let mut state = running(t0);
        update(&mut state, Msg::Tick(at(t0, 9_000)));
        insta::assert_snapshot!(screen(56, 11, |f, a| render(f, a, &state)));
    }

    #[test]
    fn metrics_finished() {
        let state = finished(Instant::now());
        insta::assert_snapshot!(screen(56, 11, |f, a| render(f, a, &state)));
    }

    #[test]
    fn a_job_that_could_not_start_is_not_called_done() {
        let t0 = Instant::now();
        let mut state = fresh(t0);
        update(&mut state, Msg::ch(' '));
        update(&mut state, Msg::key(crossterm::event::KeyCode::Enter));
        update(
            &mut state,
            Msg::JobStartFailed {
                error: "target's parent /mnt/new cannot be used".into(),
            },
        );
        let text = screen(56, 11, |f, a| render(f, a, &state));
        assert!(text.contains("stopped by an error"), "{text}");
        assert!(!text.contains("done in"), "{text}");
    }

    /// A plan without sizes (ZFS streams): no "/ 0" and no 0 %; the
    /// progress is of items.
    #[test]
    fn a_job_without_planned_sizes_shows_counts_not_fractions_of_zero() {
        use crate::job::event::Event;
        let t0 = Instant::now();
        let mut state = fresh(t0);
        update(&mut state, Msg::ch(' '));
        update(&mut state, Msg::key(crossterm::event::KeyCode::Enter));
        update(&mut state, Msg::JobSpawned { job: 3 });
        let events = [
            Event::JobStarted {
                job: 3,
                kind: "zfs-transfer".into(),
                items_total: 4,
                items_skipped: 0,
                files_total: 0,
                bytes_total: 0,
                verify: "full".into(),
                dry_run: false,
                units: crate::migrate::zfs_transfer::kind::UNITS,
            },
            Event::ItemVerified {
                job: 3,
                item: "alpha/web".into(),
                report: Default::default(),
            },
            Event::Progress {
                job: 3,
                files_done: 14,
                bytes_done: 30 << 20,
                files_total: 0,
                bytes_total: 0,
            },
        ];
        for (i, event) in events.into_iter().enumerate() {
            update(
                &mut state,
                Msg::Engine {
                    event,
                    at: at(t0, 100 * (i as u64 + 1)),
                },
            );
        }
        let pane = screen(64, 11, |f, a| render(f, a, &state));
        assert!(pane.contains("14 (counted as each is checked)"), "{pane}");
        assert!(pane.contains("30 MiB · total known once sent"), "{pane}");
        assert!(!pane.contains("/ 0"), "{pane}");
        let strip = screen(80, 1, |f, a| render_strip(f, a, &state));
        assert!(strip.contains("1/4 items · 25%"), "{strip}");
    }

    #[test]
    fn metrics_strip() {
        let t0 = Instant::now();
        let none = screen(80, 1, |f, a| render_strip(f, a, &fresh(t0)));
        let run = screen(80, 1, |f, a| render_strip(f, a, &running(t0)));
        let done = screen(80, 1, |f, a| render_strip(f, a, &finished(t0)));
        insta::assert_snapshot!(format!("{none}\n{run}\n{done}"));
    }
}
