//! The help overlay, drawn from the key map so it cannot disagree with it.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};
use ratatui::Frame;

use super::centered;
use crate::ui::app::State;
use crate::ui::keymap::KEYMAP;
use crate::ui::theme;

/// Draw the help overlay centred over `area`.
pub fn render(frame: &mut Frame, area: Rect, state: &State) {
    let key_width = KEYMAP
        .iter()
        .map(|b| b.key_names().chars().count())
        .max()
        .unwrap_or(0);
    let mut lines: Vec<Line> = KEYMAP
        .iter()
        .map(|b| {
            Line::from(vec![
                Span::styled(format!(" {:<key_width$}  ", b.key_names()), theme::strong()),
                Span::raw(b.description),
            ])
        })
        .collect();
    lines.push(Line::styled(
        " Panes: tab cycles; small terminals show one at a time.",
        theme::dim(),
    ));
    let desc_width = KEYMAP
        .iter()
        .map(|b| b.description.chars().count())
        .max()
        .unwrap_or(0);
    let width = (key_width + desc_width + 6) as u16;
    let height = lines.len() as u16 + 2;
    let popup = centered(area, width, height);
    // A short terminal shows a window of the keys that j / k scroll.
    let room = popup.height.saturating_sub(2) as usize;
    let most = lines.len().saturating_sub(room);
    let scroll = state.help_scroll.min(most);
    let title = if most == 0 {
        "Keys · ? or esc closes".to_string()
    } else {
        format!(
            "Keys {}-{} of {} · j/k scroll · ? or esc closes",
            scroll + 1,
            (scroll + room).min(lines.len()),
            lines.len()
        )
    };
    let block = theme::pane_block(title, true);
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .scroll((scroll as u16, 0)),
        popup,
    );
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::ui::app::{update, Msg};
    use crate::ui::panes::testing::{fresh, screen};

    #[test]
    fn help_overlay_at_80x24() {
        let mut state = fresh(Instant::now());
        update(&mut state, Msg::ch('?'));
        let top = screen(80, 24, |f, a| render(f, a, &state));
        // Too many keys for 24 rows: j scrolls to the rest.
        for _ in 0..30 {
            update(&mut state, Msg::ch('j'));
        }
        let end = screen(80, 24, |f, a| render(f, a, &state));
        assert!(end.contains("quit (asks while a job runs)"), "{end}");
        assert!(state.help, "j scrolls, it does not close the help");
        insta::assert_snapshot!(format!("{top}\n{end}"));
    }
}
