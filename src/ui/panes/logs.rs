//! The log: `tracing` events collected by tui-logger (also written to the
//! console's log file in the state directory). Long messages wrap at word
//! boundaries under an indent, never cut at the pane's edge.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::Frame;
use tui_logger::{ExtLogRecord, LogFormatter, TuiLoggerWidget};

use crate::ui::app::State;
use crate::ui::model::Pane;
use crate::ui::theme;

/// Draw the log pane. tui-logger keeps the messages in a global buffer;
/// nothing is shown until the console's logger is set up.
pub fn render(frame: &mut Frame, area: Rect, state: &State) {
    let focused = state.focus == Pane::Logs;
    let block = theme::pane_block("Log".to_string(), focused);
    let widget = TuiLoggerWidget::default()
        .block(block)
        .formatter(Box::new(Words));
    frame.render_widget(widget, area);
}

/// `HH:MM:SS L message`, the message wrapped at words.
struct Words;

/// Columns the continuation rows are indented by (under the message).
const INDENT: usize = 11;

/// The lines of one log message of `level` at `time`, in `width` columns.
fn lines(time: &str, level: &str, msg: &str, width: usize) -> Vec<Line<'static>> {
    let style = match level {
        "ERROR" => theme::bad(),
        "WARN" => theme::warn(),
        "INFO" => Style::new(),
        _ => theme::dim(),
    };
    let head = format!("{time} {} ", level.chars().next().unwrap_or(' '));
    let first = width.saturating_sub(head.chars().count()).max(1);
    let rest = width.saturating_sub(INDENT).max(1);
    crate::fmt::wrap_words(msg, first, rest)
        .into_iter()
        .enumerate()
        .map(|(i, chunk)| {
            let lead = if i == 0 {
                Span::styled(head.clone(), theme::dim())
            } else {
                Span::raw(" ".repeat(INDENT))
            };
            Line::from(vec![lead, Span::styled(chunk, style)])
        })
        .collect()
}

impl LogFormatter for Words {
    fn min_width(&self) -> u16 {
        (INDENT + 9) as u16
    }

    fn format(&self, width: usize, evt: &ExtLogRecord) -> Vec<Line<'_>> {
        let time = evt.timestamp.strftime("%H:%M:%S").to_string();
        lines(&time, evt.level.as_str(), evt.msg(), width)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::ui::app::{update, Msg};
    use crate::ui::panes::testing::{fresh, screen};

    #[test]
    fn long_messages_wrap_at_words() {
        let rows = lines(
            "12:00:01",
            "WARN",
            "cutover: stopping the running job; cutover resume continues it",
            40,
        );
        let text: Vec<String> = rows.iter().map(|l| l.to_string()).collect();
        assert_eq!(
            text,
            vec![
                "12:00:01 W cutover: stopping the running",
                "           job; cutover resume continues",
                "           it",
            ]
        );
        assert!(rows.iter().all(|l| l.width() <= 40));
    }

    /// The unit tests never install the logger, so the buffer stays empty
    /// and the pane renders deterministically.
    #[test]
    fn logs_empty_focused() {
        let mut state = fresh(Instant::now());
        update(&mut state, Msg::key(crossterm::event::KeyCode::BackTab));
        insta::assert_snapshot!(screen(60, 5, |f, a| render(f, a, &state)));
    }
}
