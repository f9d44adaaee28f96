//! The mouse, as operators of lazygit or k9s expect it: a click focuses the
//! pane under it (or the tab, in compact layouts) and, in Sources and Jobs,
//! puts the cursor on the row clicked; the wheel scrolls the pane under it.
//! Questions and the help take the keyboard only.

use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::Rect;

use crate::ui::model::Pane;
use crate::ui::view;

use super::{move_cursor, State};

/// Rows one wheel notch scrolls.
const WHEEL: isize = 3;

fn inside(r: Rect, x: u16, y: u16) -> bool {
    x >= r.x && x < r.x + r.width && y >= r.y && y < r.y + r.height
}

/// The list row at screen row `y` of a pane at `r` whose cursor is shown at
/// position `cursor` of `len` rows (a list keeps its cursor in view, from
/// the top until it would fall off the bottom).
fn row_at(r: Rect, y: u16, cursor: usize, len: usize, rows: usize) -> Option<usize> {
    let first = r.y + 1;
    if y < first || rows == 0 {
        return None;
    }
    let offset = crate::ui::panes::list_offset(cursor, rows);
    let pos = offset + (y - first) as usize;
    (pos < len && pos < offset + rows).then_some(pos)
}

/// A mouse event.
pub(super) fn on_mouse(state: &mut State, ev: MouseEvent) {
    if state.dialog.is_some() || state.help || state.prompt.is_some() {
        return;
    }
    let (w, h) = state.screen.get();
    let placed = view::place(state, Rect::new(0, 0, w, h));
    let (x, y) = (ev.column, ev.row);
    if let MouseEventKind::Down(MouseButton::Left) = ev.kind {
        if let Some(pane) = placed
            .tabs
            .filter(|t| inside(*t, x, y))
            .and_then(|t| view::tab_at(x, t, state))
        {
            state.focus = pane;
            return;
        }
    }
    let Some((pane, rect)) = placed.panes.iter().copied().find(|(_, r)| inside(*r, x, y)) else {
        return;
    };
    match ev.kind {
        MouseEventKind::Down(MouseButton::Left) => {
            state.focus = pane;
            click_row(state, pane, rect, y);
        }
        MouseEventKind::ScrollDown => {
            state.focus = pane;
            move_cursor(state, WHEEL);
        }
        MouseEventKind::ScrollUp => {
            state.focus = pane;
            move_cursor(state, -WHEEL);
        }
        _ => {}
    }
}

/// Put the cursor of Sources or Jobs on the row clicked.
fn click_row(state: &mut State, pane: Pane, rect: Rect, y: u16) {
    let inner_rows = rect.height.saturating_sub(2) as usize;
    match pane {
        Pane::Sources => {
            let shown = state.shown_sources();
            // The two rows under the list show the source under the cursor.
            let rows = if inner_rows >= 5 {
                inner_rows - 2
            } else {
                inner_rows
            };
            let cursor = shown
                .iter()
                .position(|&i| i == state.cursor.sources)
                .unwrap_or(0);
            if let Some(pos) = row_at(rect, y, cursor, shown.len(), rows) {
                state.cursor.sources = shown[pos];
            }
        }
        Pane::Jobs => {
            let shown = state.shown_jobs();
            let cursor = shown
                .iter()
                .position(|&i| i == state.cursor.jobs)
                .unwrap_or(0);
            if let Some(pos) = row_at(rect, y, cursor, shown.len(), inner_rows) {
                state.cursor.jobs = shown[pos];
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_under_the_mouse_follow_the_list_offset() {
        let r = Rect::new(0, 5, 40, 7); // 5 rows inside the border
        assert_eq!(row_at(r, 6, 0, 10, 5), Some(0));
        assert_eq!(row_at(r, 10, 0, 10, 5), Some(4));
        assert_eq!(row_at(r, 5, 0, 10, 5), None, "the border");
        // The cursor at row 7 scrolled the list by 3.
        assert_eq!(row_at(r, 6, 7, 10, 5), Some(3));
        assert_eq!(row_at(r, 10, 0, 2, 5), None, "below the last row");
    }
}
