//! The details pane: what the source in view holds beyond its counts, as
//! its kind describes it — labelled sections with health levels (a store's
//! numbers, read again while it migrates) and tables (a redb node's tables,
//! then its last job's per-table summary) — or, for a source with nothing
//! more to say, its paths, size and runs. The source in view is the one
//! under the cursor in the sources or selection pane, else the current
//! job's ([`State::detail_source`]). No kind is named here.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::table::{self, health_style};
use crate::ui::app::State;
use crate::ui::fmt;
use crate::ui::model::{Details, Outcome, Pane, Reading, SourceView, Table};
use crate::ui::theme;

/// Width of the labels in the details sections.
pub const LABEL: usize = 10;

/// A line `label  value…` in the style of the details sections.
pub fn labelled(label: &str, value: Vec<Span<'static>>) -> Line<'static> {
    labelled_in(LABEL, label, value)
}

/// [`labelled`] with labels `width` wide; a longer label keeps one space.
fn labelled_in(width: usize, label: &str, value: Vec<Span<'static>>) -> Line<'static> {
    let w = width.max(label.chars().count() + 1);
    let mut spans = vec![Span::styled(format!("{label:<w$}"), theme::label())];
    spans.extend(value);
    Line::from(spans)
}

/// Whether the source in view has details of its own (sections or tables),
/// which the full layout then shows beside the other panes.
pub fn worth_showing(state: &State) -> bool {
    state
        .detail_source()
        .and_then(|i| state.sources.get(i))
        .is_some_and(SourceView::has_details)
}

/// Paths, size and runs: all there is to say of a source without details.
fn summary(s: &SourceView, width: usize) -> Vec<Line<'static>> {
    let w = width.saturating_sub(LABEL);
    let runs: Vec<Span> = s
        .modes
        .iter()
        .flat_map(|&m| {
            let (mark, style) = match s.runs.get(m) {
                None => ("·", theme::dim()),
                Some(Outcome::Verified) => ("✓", theme::ok()),
                Some(o @ (Outcome::Running | Outcome::Cancelled)) => (o.mark(), theme::warn()),
                Some(o) => (o.mark(), theme::bad()),
            };
            vec![
                Span::raw(format!("{} ", m.short())),
                Span::styled(format!("{mark}  "), style),
            ]
        })
        .collect();
    vec![
        labelled("kind", vec![Span::raw(s.kind.clone())]),
        labelled("from", vec![Span::raw(fmt::clip_left(&s.source, w))]),
        labelled("to", vec![Span::raw(fmt::clip_left(&s.target, w))]),
        labelled(
            "size",
            vec![Span::raw(format!("{} · {}", s.count, fmt::bytes(s.bytes)))],
        ),
        labelled("runs", runs),
    ]
}

/// A kind's sections and tables.
fn described(d: &Details, width: usize) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    let titled = d.sections.len() > 1;
    // One label column for all sections, as wide as the longest label.
    let label_width = d
        .sections
        .iter()
        .flat_map(|s| &s.fields)
        .map(|f| f.label.chars().count() + 1)
        .max()
        .unwrap_or(0)
        .max(LABEL);
    for section in &d.sections {
        if titled && !section.title.is_empty() {
            lines.push(Line::styled(section.title.clone(), theme::strong()));
        }
        for f in &section.fields {
            lines.push(labelled_in(
                label_width,
                &f.label,
                vec![Span::styled(f.value.clone(), health_style(f.health))],
            ));
        }
    }
    for t in &d.tables {
        lines.extend(table::lines(t, &[], width));
    }
    lines
}

/// The table of the last job's rows, grouped by item.
fn results(s: &SourceView, width: usize) -> Vec<Line<'static>> {
    let table = Table {
        title: String::new(),
        columns: s.columns.clone(),
        rows: s.results.iter().map(|(_, r)| r.clone()).collect(),
    };
    let groups: Vec<&str> = s.results.iter().map(|(i, _)| i.as_str()).collect();
    table::lines(&table, &groups, width)
}

/// Draw the details pane.
pub fn render(frame: &mut Frame, area: Rect, state: &State) {
    let focused = state.focus == Pane::Details;
    let Some(src) = state.detail_source().and_then(|i| state.sources.get(i)) else {
        let block = theme::pane_block("Details".to_string(), focused);
        let inner = block.inner(area);
        frame.render_widget(block, area);
        frame.render_widget(
            Paragraph::new("No source to show.").style(theme::dim()),
            inner,
        );
        return;
    };
    let title = if src.results.is_empty() {
        format!("Details · {}", src.name)
    } else {
        format!("Details · {} · last job", src.name)
    };
    let block = theme::pane_block(title, focused);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = inner.width as usize;
    let mut lines = Vec::new();
    if let Some(p) = &src.problem {
        lines.push(labelled(
            "unusable",
            vec![Span::styled(p.clone(), theme::bad())],
        ));
    }
    if !src.has_details() {
        lines.extend(summary(src, width));
    }
    if let Some(live) = &src.live {
        match &live.reading {
            Reading::Unread => lines.push(Line::styled("reading…", theme::dim())),
            Reading::Failed(e) => lines.push(Line::styled(e.clone(), theme::bad())),
            Reading::Read(d) => lines.extend(described(d, width)),
        }
    }
    if src.results.is_empty() {
        lines.extend(described(&src.details, width));
    } else {
        lines.extend(results(src, width));
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::ui::app::{update, Msg};
    use crate::ui::model::Reading;
    use crate::ui::panes::testing::{
        finished, fresh, multi, redb_done, repositories, screen, store_numbers, store_running,
    };

    fn store_reading(n: crate::migrate::store_to_cas::phases::StoreStatus) -> Msg {
        Msg::Details {
            source: 1,
            reading: Reading::Read(crate::migrate::store_to_cas::console::numbers(n)),
        }
    }

    #[test]
    fn details_of_a_tree_follow_the_cursor() {
        let mut state = finished(Instant::now());
        update(&mut state, Msg::ch('j'));
        let small = screen(80, 24, |f, a| render(f, a, &state));
        // Focus elsewhere: the source under the cursor stays in view.
        update(&mut state, Msg::key(crossterm::event::KeyCode::BackTab));
        let job = screen(50, 8, |f, a| render(f, a, &state));
        insta::assert_snapshot!(format!("{small}\n{job}"));
        assert!(!worth_showing(&state));
    }

    #[test]
    fn details_without_sources() {
        let mut state = fresh(Instant::now());
        state.sources.clear();
        insta::assert_snapshot!(screen(40, 4, |f, a| render(f, a, &state)));
    }

    #[test]
    fn details_show_what_kind_is_under_the_cursor() {
        let mut state = multi(Instant::now());
        assert!(!worth_showing(&state));
        update(&mut state, Msg::ch('j'));
        assert!(worth_showing(&state));
        update(&mut state, Msg::ch('j'));
        assert!(worth_showing(&state));
    }

    #[test]
    fn store_before_any_migration() {
        let mut state = multi(Instant::now());
        update(&mut state, Msg::ch('j'));
        let unread = screen(60, 5, |f, a| render(f, a, &state));
        // /srv/cas does not exist: nothing migrated yet.
        let src = crate::job::console::Source {
            params: serde_json::json!({ "packages": 18 }),
            ..crate::job::console::Source::new(
                "store-to-cas",
                "package store",
                "/srv/package-store".into(),
                "/srv/cas".into(),
            )
        };
        let reading = crate::ui::kinds::read_details(&src);
        update(&mut state, Msg::Details { source: 1, reading });
        let missing = screen(60, 6, |f, a| render(f, a, &state));
        update(
            &mut state,
            Msg::Details {
                source: 1,
                reading: Reading::Failed(
                    "cannot read the store: store.db: database disk image is malformed".into(),
                ),
            },
        );
        let failed = screen(60, 5, |f, a| render(f, a, &state));
        insta::assert_snapshot!(format!("{unread}\n{missing}\n{failed}"));
    }

    #[test]
    fn repositories_on_btrfs_going_into_zfs_at_80x24_and_120x40() {
        let mut state = repositories(Instant::now());
        let app = screen(80, 24, |f, a| render(f, a, &state));
        update(&mut state, Msg::ch('j'));
        let docs = screen(120, 16, |f, a| render(f, a, &state));
        assert!(app.contains("3 of 5"), "{app}");
        assert!(docs.contains("not created yet"), "{docs}");
        insta::assert_snapshot!(format!("{app}\n{docs}"));
    }

    #[test]
    fn store_numbers_at_80x24() {
        let mut state = store_running(Instant::now());
        update(&mut state, Msg::key(crossterm::event::KeyCode::BackTab));
        update(&mut state, Msg::key(crossterm::event::KeyCode::BackTab));
        assert_eq!(state.focus, Pane::Details);
        insta::assert_snapshot!(screen(80, 24, |f, a| render(f, a, &state)));
    }

    #[test]
    fn store_numbers_with_health_warnings_at_120x40() {
        let mut state = store_running(Instant::now());
        let mut n = store_numbers();
        n.failed = 2;
        n.warnings = vec![
            "error rate 15.4% is over 5%: 2 of 13 packages failed".into(),
            "free space on the store's filesystem is low: 512.0 MiB left".into(),
        ];
        n.failures = vec![
            (
                "3f2a9c0d1b2e4f5a6b7c8d9e0f1a2b3c-openssl-1.1".into(),
                "lib/libssl.so: content differs".into(),
            ),
            (
                "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b-zlib-1.2".into(),
                "bin/zlib: mode 755 != 700".into(),
            ),
        ];
        update(&mut state, store_reading(n));
        insta::assert_snapshot!(screen(120, 40, |f, a| render(f, a, &state)));
    }

    #[test]
    fn tables_discovered_before_a_job() {
        let mut state = multi(Instant::now());
        for _ in 0..2 {
            update(&mut state, Msg::ch('j'));
        }
        let wide = screen(80, 24, |f, a| render(f, a, &state));
        let narrow = screen(56, 8, |f, a| render(f, a, &state));
        update(&mut state, Msg::ch('G'));
        let broken = screen(56, 9, |f, a| render(f, a, &state));
        insta::assert_snapshot!(format!("{wide}\n{narrow}\n{broken}"));
    }

    #[test]
    fn tables_summary_after_the_job_80x24_and_120x40() {
        let state = redb_done(Instant::now());
        let small = screen(80, 24, |f, a| render(f, a, &state));
        let large = screen(120, 40, |f, a| render(f, a, &state));
        let slot = screen(58, 8, |f, a| render(f, a, &state));
        assert!(small.contains("total"), "{small}");
        insta::assert_snapshot!(format!("{small}\n{large}\n{slot}"));
    }
}
