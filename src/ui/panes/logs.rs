//! The log: `tracing` events collected by tui-logger (also written to the
//! console's log file in the state directory).

use ratatui::layout::Rect;
use ratatui::Frame;
use tui_logger::{TuiLoggerLevelOutput, TuiLoggerWidget};

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
        .output_separator(' ')
        .output_timestamp(Some("%H:%M:%S".to_string()))
        .output_level(Some(TuiLoggerLevelOutput::Abbreviated))
        .output_target(false)
        .output_file(false)
        .output_line(false)
        .style_error(theme::bad())
        .style_warn(theme::warn())
        .style_info(ratatui::style::Style::new())
        .style_debug(theme::dim())
        .style_trace(theme::dim());
    frame.render_widget(widget, area);
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::ui::app::{update, Msg};
    use crate::ui::panes::testing::{fresh, screen};

    /// The unit tests never install the logger, so the buffer stays empty
    /// and the pane renders deterministically.
    #[test]
    fn logs_empty_focused() {
        let mut state = fresh(Instant::now());
        update(&mut state, Msg::key(crossterm::event::KeyCode::BackTab));
        insta::assert_snapshot!(screen(60, 5, |f, a| render(f, a, &state)));
    }
}
