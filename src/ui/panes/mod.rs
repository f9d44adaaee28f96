//! One file per pane. Each exposes a pure
//! `render(frame: &mut Frame, area: Rect, state: &State)` and its own
//! snapshot tests. The details pane draws what any kind says of a source:
//! labelled sections and tables ([`table`]).

pub mod checklist;
pub mod confirm;
pub mod details;
pub mod help;
pub mod items;
pub mod jobs;
pub mod logs;
pub mod metrics;
pub mod nodes;
pub mod prompt;
pub mod selection;
pub mod sources;
pub mod status;
pub mod table;

use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};

/// The first row in view of a list of `rows` rows whose cursor is at
/// position `cursor`: from the top until the cursor would fall off the
/// bottom (what drawing and a mouse click both use).
pub fn list_offset(cursor: usize, rows: usize) -> usize {
    cursor.saturating_sub(rows.saturating_sub(1))
}

/// The rows of a list in view: of `shown` (indices), the `rows` that keep
/// `cursor` in view — from the top until the cursor would fall off the
/// bottom, as a list scrolls — and the cursor's position among them.
pub fn window(shown: &[usize], cursor: usize, rows: usize) -> (&[usize], Option<usize>) {
    let pos = shown.iter().position(|&i| i == cursor);
    let offset = list_offset(pos.unwrap_or(0), rows);
    let end = (offset + rows.max(1)).min(shown.len());
    (&shown[offset.min(end)..end], pos.map(|p| p - offset))
}

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
pub(crate) mod testing;
