//! The per-item verification stream, one line per item like `rclone check`:
//! `=` verified, `*` failed with the differences, `!` warning, `·` dry-run
//! step, `≡` one table of a redb file (pgloader's columns), `─` a job began
//! or ended. Items of every kind: directories of a tree, packages of a store
//! (with the space they saved), redb files. Bounded; the counts in the
//! title are exact.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::ui::app::{stream, State};
use crate::ui::fmt;
use crate::ui::model::{ItemLine, ItemMark, Pane};
use crate::ui::theme;

fn styles(mark: ItemMark) -> (Style, Style, Style) {
    let (mark_style, detail_style) = match mark {
        ItemMark::Verified => (theme::ok(), theme::dim()),
        ItemMark::Failed => (theme::bad(), theme::bad()),
        ItemMark::Warning => (theme::warn(), theme::warn()),
        ItemMark::Step => (theme::dim(), theme::dim()),
        ItemMark::Note => (theme::label(), theme::dim()),
        ItemMark::Table => (theme::label(), theme::dim()),
    };
    let item_style = match mark {
        ItemMark::Note => theme::label(),
        _ => Style::new(),
    };
    (mark_style, item_style, detail_style)
}

/// The screen rows of one line: its details wrap at word boundaries under
/// an indent, so nothing is cut at the pane's edge.
fn rows(l: &ItemLine, width: usize) -> Vec<Line<'static>> {
    let (mark_style, item_style, detail_style) = styles(l.mark);
    // Long names (a package's hash) keep their start and end, so the
    // details stay in view.
    let item = if l.mark == ItemMark::Note {
        l.item.clone()
    } else {
        fmt::clip_middle(&l.item, (width / 2).max(28))
    };
    let head = vec![
        Span::styled(format!("{} ", l.mark.symbol()), mark_style),
        Span::styled(item, item_style),
        Span::raw("  "),
    ];
    let used: usize = head.iter().map(|s| s.width()).sum();
    if used + l.detail.chars().count() <= width {
        let mut spans = head;
        spans.push(Span::styled(l.detail.clone(), detail_style));
        return vec![Line::from(spans)];
    }
    let indent = 4;
    let chunks = fmt::wrap_words(
        &l.detail,
        width.saturating_sub(used).max(1),
        width.saturating_sub(indent).max(1),
    );
    let mut out = Vec::with_capacity(chunks.len());
    for (i, chunk) in chunks.into_iter().enumerate() {
        if i == 0 {
            let mut spans = head.clone();
            spans.push(Span::styled(chunk, detail_style));
            out.push(Line::from(spans));
        } else {
            out.push(Line::from(vec![
                Span::raw(" ".repeat(indent)),
                Span::styled(chunk, detail_style),
            ]));
        }
    }
    out
}

/// Draw the item stream (or the report opened from Jobs), filtered.
pub fn render(frame: &mut Frame, area: Rect, state: &State) {
    let focused = state.focus == Pane::Items;
    let mut title = String::from("Items");
    // The counts are those of the lines in the stream (every job of this
    // session), so they never contradict what is shown.
    let counted = stream::shown_log(state);
    match &state.report {
        Some(r) => title.push_str(&format!(" · report of job #{} · esc: live stream", r.job)),
        None if counted.lines.is_empty() && counted.dropped == 0 => {}
        None => title.push_str(&format!(
            " · = {} verified · * {} failed · ! {} warnings",
            counted.verified, counted.failed, counted.warnings
        )),
    }
    let log = stream::shown_log(state);
    let filter = state.filter.as_deref().filter(|f| !f.is_empty());
    let picked = filter.map(|_| stream::shown_lines(state));
    let count = picked.as_ref().map_or(log.lines.len(), Vec::len);
    if let Some(f) = filter {
        title.push_str(&format!(" · /{f}: {count} lines"));
    }
    if state.cursor.items_back > 0 {
        title.push_str(&format!(" · ↑{} (G: follow)", state.cursor.items_back));
    }
    let block = theme::pane_block(title, focused);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let height = inner.height as usize;
    state.items_page.set(height.max(1));
    if count == 0 {
        let text = match filter {
            Some(f) => format!("No line holds “{f}” (esc clears the filter)."),
            None => "No items yet: select a source (space) and press enter.".to_string(),
        };
        frame.render_widget(Paragraph::new(text).style(theme::dim()), inner);
        return;
    }
    let width = inner.width as usize;
    let line_at = |pos: usize| &log.lines[picked.as_ref().map_or(pos, |p| p[pos])];
    // Fill the pane from the newest shown line upwards; at the top of the
    // stream, fill the rest of the page downwards.
    let end = count.saturating_sub(state.cursor.items_back).max(1);
    let mut shown: Vec<Line> = Vec::with_capacity(height);
    let mut start = end;
    while start > 0 && shown.len() < height {
        start -= 1;
        let mut r = rows(line_at(start), width);
        r.append(&mut shown);
        shown = r;
    }
    let mut next = end;
    while shown.len() < height && next < count {
        shown.extend(rows(line_at(next), width));
        next += 1;
    }
    if shown.len() > height {
        if next > end {
            shown.truncate(height);
        } else {
            shown.drain(..shown.len() - height);
        }
    }
    let kept_all = state.report.is_some() || filter.is_some() || state.items.dropped == 0;
    if start == 0 && !kept_all && shown.len() == height && height > 0 {
        shown[0] = Line::styled(
            format!("… {} earlier lines not kept", state.items.dropped),
            theme::dim(),
        );
    }
    frame.render_widget(Paragraph::new(shown), inner);
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::ui::app::{update, Msg};
    use crate::ui::model::ITEM_LINES;
    use crate::ui::panes::testing::{finished, fresh, running, screen};

    #[test]
    fn items_empty() {
        let state = fresh(Instant::now());
        insta::assert_snapshot!(screen(70, 4, |f, a| render(f, a, &state)));
    }

    #[test]
    fn items_running() {
        let state = running(Instant::now());
        insta::assert_snapshot!(screen(78, 7, |f, a| render(f, a, &state)));
    }

    #[test]
    fn items_finished_and_scrolled_back() {
        let mut state = finished(Instant::now());
        let follow = screen(78, 7, |f, a| render(f, a, &state));
        for _ in 0..3 {
            update(&mut state, Msg::key(crossterm::event::KeyCode::Tab));
        }
        update(&mut state, Msg::ch('k'));
        update(&mut state, Msg::ch('k'));
        let back = screen(78, 7, |f, a| render(f, a, &state));
        insta::assert_snapshot!(format!("{follow}\n{back}"));
    }

    #[test]
    fn items_stream_is_bounded() {
        let t0 = Instant::now();
        let mut state = running(t0);
        for i in 0..(ITEM_LINES * 3) {
            update(
                &mut state,
                Msg::Engine {
                    event: crate::job::event::Event::ItemVerified {
                        job: 7,
                        item: format!("d/{i}"),
                        report: Default::default(),
                    },
                    at: t0,
                },
            );
        }
        assert_eq!(state.items.lines.len(), ITEM_LINES);
        let m = state.job.as_ref().map(|m| m.items_verified);
        assert_eq!(m, Some(1 + (ITEM_LINES * 3) as u64));
        let back = screen(60, 5, |f, a| render(f, a, &state));
        insta::assert_snapshot!(back);
    }
}
