//! The selection: the sources the next job runs on, where each goes, and
//! what this session has done with each run its kind offers (a tree's bulk
//! copy, final sync and verify; a store's or a redb node's migrate…).

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{List, ListItem, ListState, Paragraph};
use ratatui::Frame;

use super::spread;
use crate::ui::app::State;
use crate::ui::fmt;
use crate::ui::model::{Outcome, Pane, SourceView};
use crate::ui::theme;

fn run_mark(label: String, outcome: Option<Outcome>) -> Vec<Span<'static>> {
    let (mark, style) = match outcome {
        None => ("·", theme::dim()),
        Some(Outcome::Verified) => ("✓", theme::ok()),
        Some(Outcome::Running) => ("…", theme::warn()),
        Some(o @ Outcome::Cancelled) => (o.mark(), theme::warn()),
        Some(o) => (o.mark(), theme::bad()),
    };
    vec![
        Span::raw(" "),
        Span::styled(label, theme::dim()),
        Span::styled(mark, style),
    ]
}

fn row(s: &SourceView, width: u16) -> ListItem<'static> {
    let right: Vec<Span> = s
        .modes
        .iter()
        .flat_map(|&m| run_mark(format!("{} ", m.short()), s.runs.get(m)))
        .collect();
    let first = spread(
        vec![Span::styled(s.name.clone(), theme::strong())],
        right,
        width,
    );
    let w = (width as usize).saturating_sub(4);
    let second = Line::from(vec![
        Span::styled("  → ", theme::dim()),
        Span::styled(fmt::clip_left(&s.target, w), theme::dim()),
    ]);
    ListItem::new(Text::from(vec![first, second]))
}

/// Draw the selection pane.
pub fn render(frame: &mut Frame, area: Rect, state: &State) {
    let focused = state.focus == Pane::Selection;
    let selected = state.selected();
    let (files, bytes) = selected
        .iter()
        .filter_map(|&i| state.sources.get(i))
        .fold((0, 0), |(f, b), s| (f + s.files, b + s.bytes));
    let title = if selected.is_empty() {
        "Selection".to_string()
    } else {
        format!(
            "Selection · {} · {} files · {}",
            selected.len(),
            fmt::count(files),
            fmt::bytes(bytes)
        )
    };
    let block = theme::pane_block(title, focused);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if selected.is_empty() {
        let text = vec![
            Line::styled("Nothing selected.", theme::dim()),
            Line::styled("Move to a source and press space;", theme::dim()),
            Line::styled("then enter runs it.", theme::dim()),
        ];
        frame.render_widget(Paragraph::new(text), inner);
        return;
    }
    let (list_area, foot) = if inner.height >= 4 {
        let [l, f] = Layout::vertical([Constraint::Fill(1), Constraint::Length(1)]).areas(inner);
        (l, Some(f))
    } else {
        (inner, None)
    };
    let items: Vec<ListItem> = selected
        .iter()
        .filter_map(|&i| state.sources.get(i))
        .map(|s| row(s, list_area.width))
        .collect();
    let mut list_state = ListState::default();
    let mut list = List::new(items);
    if focused {
        list = list.highlight_style(theme::cursor());
        list_state.select(Some(state.cursor.selection.min(selected.len() - 1)));
    }
    frame.render_stateful_widget(list, list_area, &mut list_state);
    if let Some(f) = foot {
        let mut spans = vec![
            Span::styled("verify ", theme::dim()),
            Span::raw(state.verify.clone()),
            Span::styled(" · parallel ", theme::dim()),
            Span::raw(state.parallel.to_string()),
        ];
        let grouped: Vec<_> = selected
            .iter()
            .filter_map(|&i| state.sources.get(i))
            .filter(|s| s.group.is_some())
            .collect();
        if !grouped.is_empty() && grouped.iter().all(|s| s.joint) {
            // A stack's services always go as one job.
            spans.push(Span::styled(" · stack: one job", theme::dim()));
        } else if !grouped.is_empty() {
            spans.push(Span::styled(" · nodes ", theme::dim()));
            spans.push(Span::raw(if state.together {
                "together"
            } else {
                "rolling"
            }));
            spans.push(Span::styled(" (p)", theme::dim()));
        }
        let line = Line::from(spans);
        frame.render_widget(Paragraph::new(line), f);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::ui::app::{update, Msg};
    use crate::ui::panes::testing::{finished, fresh, screen};

    #[test]
    fn selection_empty() {
        let state = fresh(Instant::now());
        insta::assert_snapshot!(screen(42, 7, |f, a| render(f, a, &state)));
    }

    #[test]
    fn selection_after_a_run_focused() {
        let mut state = finished(Instant::now());
        update(&mut state, Msg::key(crossterm::event::KeyCode::Tab));
        update(&mut state, Msg::ch('j'));
        insta::assert_snapshot!(screen(50, 8, |f, a| render(f, a, &state)));
    }
}
