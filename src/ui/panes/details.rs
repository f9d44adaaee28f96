//! The details pane: what the source in view holds beyond its counts, drawn
//! by its kind — a store's numbers ([`super::store`]), a redb node's tables
//! and the per-table summary of its last job ([`super::tables`]), a tree's
//! paths and runs. The source in view is the one under the cursor in the
//! sources or selection pane, else the current job's
//! ([`State::detail_source`]).

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::{store, tables};
use crate::ui::app::State;
use crate::ui::fmt;
use crate::ui::model::{Detail, Outcome, Pane, SourceView};
use crate::ui::theme;

/// Width of the labels in the details sections.
pub const LABEL: usize = 10;

/// A line `label  value…` in the style of the details sections.
pub fn labelled(label: &str, value: Vec<Span<'static>>) -> Line<'static> {
    let mut spans = vec![Span::styled(format!("{label:<LABEL$}"), theme::label())];
    spans.extend(value);
    Line::from(spans)
}

/// Whether the source in view has details of its own (a store or a redb
/// node), which the full layout then shows beside the other panes.
pub fn worth_showing(state: &State) -> bool {
    state
        .detail_source()
        .and_then(|i| state.sources.get(i))
        .is_some_and(|s| !matches!(s.detail, Detail::Tree))
}

fn tree(frame: &mut Frame, area: Rect, s: &SourceView, focused: bool) {
    let block = theme::pane_block(format!("Details · {}", s.name), focused);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let w = (inner.width as usize).saturating_sub(LABEL);
    let runs: Vec<Span> = s
        .kind()
        .modes()
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
    let mut lines = vec![
        labelled("kind", vec![Span::raw("tree (tree-sync)")]),
        labelled("from", vec![Span::raw(fmt::clip_left(&s.source, w))]),
        labelled("to", vec![Span::raw(fmt::clip_left(&s.target, w))]),
        labelled(
            "size",
            vec![Span::raw(format!(
                "{} files · {}",
                fmt::count(s.files),
                fmt::bytes(s.bytes)
            ))],
        ),
        labelled("runs", runs),
    ];
    if let Some(p) = &s.problem {
        lines.push(labelled(
            "unusable",
            vec![Span::styled(p.clone(), theme::bad())],
        ));
    }
    frame.render_widget(Paragraph::new(lines), inner);
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
    match &src.detail {
        Detail::Tree => tree(frame, area, src, focused),
        Detail::Store(d) => store::render(frame, area, state, src, d, focused),
        Detail::Redb(d) => tables::render(frame, area, src, d, focused),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::ui::app::{update, Msg};
    use crate::ui::panes::testing::{finished, fresh, multi, screen};

    #[test]
    fn details_of_a_tree_follow_the_cursor() {
        let mut state = finished(Instant::now());
        update(&mut state, Msg::ch('j'));
        let small = screen(80, 24, |f, a| render(f, a, &state));
        // Focus elsewhere: the job's source (photos) is in view.
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
}
