//! The discovered sources of every kind: what exists, how big (files of a
//! tree, packages of a store, tables of a redb node), and why a source
//! cannot be used. `space` selects the row under the cursor.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{List, ListItem, ListState, Paragraph};
use ratatui::Frame;

use super::spread;
use crate::ui::app::State;
use crate::ui::fmt;
use crate::ui::model::{Pane, SourceView};
use crate::ui::theme;

fn row(s: &SourceView, width: u16) -> ListItem<'static> {
    let (mark, mark_style) = match (&s.problem, s.selected) {
        (Some(_), _) => ("[-]", theme::bad()),
        (None, true) => ("[x]", theme::ok()),
        (None, false) => ("[ ]", theme::dim()),
    };
    let left = vec![
        Span::styled(mark, mark_style),
        Span::raw(" "),
        Span::styled(s.name.clone(), theme::strong()),
    ];
    let right = if s.problem.is_some() {
        vec![Span::styled("unusable", theme::bad())]
    } else {
        vec![
            Span::raw(s.count.clone()),
            Span::styled(format!(" {:>9}", fmt::bytes(s.bytes)), theme::dim()),
        ]
    };
    ListItem::new(spread(left, right, width))
}

fn detail(s: &SourceView, width: u16) -> Vec<Line<'static>> {
    let w = (width as usize).saturating_sub(5);
    match &s.problem {
        Some(problem) => vec![
            Line::from(vec![
                Span::styled("from ", theme::dim()),
                Span::raw(fmt::clip_left(&s.source, w)),
            ]),
            Line::from(vec![
                Span::styled("  ✗  ", theme::bad()),
                Span::styled(fmt::clip(problem, w), theme::bad()),
            ]),
        ],
        None => vec![
            Line::from(vec![
                Span::styled("from ", theme::dim()),
                Span::raw(fmt::clip_left(&s.source, w)),
            ]),
            if s.picks_node && s.to_node.is_none() {
                Line::from(vec![
                    Span::styled("to   ", theme::dim()),
                    Span::styled("no node picked yet: t picks one", theme::warn()),
                ])
            } else {
                Line::from(vec![
                    Span::styled("to   ", theme::dim()),
                    Span::raw(fmt::clip_left(&s.target, w)),
                ])
            },
        ],
    }
}

/// Draw the sources pane.
pub fn render(frame: &mut Frame, area: Rect, state: &State) {
    let focused = state.focus == Pane::Sources;
    let usable = state.sources.iter().filter(|s| s.usable()).count();
    let title = format!(
        "Sources · {usable} usable of {} · {} selected",
        state.sources.len(),
        state.selected().len()
    );
    let block = theme::pane_block(title, focused);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if state.sources.is_empty() {
        frame.render_widget(
            Paragraph::new(
                "No sources yet: press n to add one (a path; its kind and target are proposed).",
            )
            .wrap(ratatui::widgets::Wrap { trim: true })
            .style(theme::dim()),
            inner,
        );
        return;
    }
    let cursor = state.cursor.sources.min(state.sources.len() - 1);
    let (list_area, detail_area) = if inner.height >= 5 {
        let [l, d] = Layout::vertical([Constraint::Fill(1), Constraint::Length(2)]).areas(inner);
        (l, Some(d))
    } else {
        (inner, None)
    };
    let shown = state.shown_sources();
    if shown.is_empty() {
        frame.render_widget(
            Paragraph::new("No source matches the filter (esc clears it).").style(theme::dim()),
            list_area,
        );
        return;
    }
    // Only the rows in view are built (thousands of sources stay cheap);
    // the cursor's row stays in view, as a list keeps it.
    let (window, at) = super::window(&shown, cursor, list_area.height as usize);
    let items: Vec<ListItem> = window
        .iter()
        .map(|&i| row(&state.sources[i], list_area.width))
        .collect();
    let highlight = if focused {
        theme::cursor()
    } else {
        theme::cursor_unfocused()
    };
    let list = List::new(items).highlight_style(highlight);
    let mut list_state = ListState::default().with_selected(at);
    frame.render_stateful_widget(list, list_area, &mut list_state);
    if let (Some(d), Some(s)) = (detail_area, state.sources.get(cursor)) {
        frame.render_widget(Paragraph::new(detail(s, d.width)), d);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::ui::app::{update, Msg};
    use crate::ui::panes::testing::{fresh, repositories, screen};

    #[test]
    fn sources_fresh() {
        let state = fresh(Instant::now());
        insta::assert_snapshot!(screen(60, 9, |f, a| render(f, a, &state)));
    }

    #[test]
    fn sources_selected_and_unusable_under_cursor() {
        let mut state = fresh(Instant::now());
        update(&mut state, Msg::ch(' '));
        update(&mut state, Msg::ch('G'));
        update(&mut state, Msg::ch(' '));
        assert_eq!(
            state.status.as_deref(),
            Some("scratch cannot be used: target exists and is not empty")
        );
        insta::assert_snapshot!(screen(42, 9, |f, a| render(f, a, &state)));
    }

    #[test]
    fn sources_repositories_of_a_btrfs_mount() {
        let mut state = repositories(Instant::now());
        update(&mut state, Msg::ch(' '));
        insta::assert_snapshot!(screen(60, 7, |f, a| render(f, a, &state)));
    }

    #[test]
    fn sources_tiny_and_empty() {
        let mut state = fresh(Instant::now());
        let tiny = screen(30, 4, |f, a| render(f, a, &state));
        state.sources.clear();
        let empty = screen(30, 4, |f, a| render(f, a, &state));
        insta::assert_snapshot!(format!("{tiny}\n{empty}"));
    }
}
