//! Questions that need a `y` first: quitting or cancelling while a job
//! runs, forgetting a source.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::centered;
use crate::ui::app::{Dialog, State};
use crate::ui::model::RunMode;
use crate::ui::theme;

fn keep_note(state: &State) -> String {
    match state.active_job() {
        Some(m) if m.mode == RunMode::Verify => {
            "Verification stops; it wrote nothing, run it again later.".to_string()
        }
        Some(m) => match m.job {
            Some(id) if id > 0 => format!(
                "Running items stop; the journal keeps the job: cutover resume {id} \
                 (or r in the Jobs pane) continues without redoing verified items."
            ),
            _ => "Running items stop; the journal keeps the job resumable.".to_string(),
        },
        None => String::new(),
    }
}

/// Draw the open question, if any, centred over `area`.
pub fn render(frame: &mut Frame, area: Rect, state: &State) {
    let Some(dialog) = state.dialog else {
        return;
    };
    let job = state
        .active_job()
        .map(|m| format!("{} of {}", m.title(), m.name))
        .unwrap_or_else(|| "The job".to_string());
    let (title, question, note, yes, no) = match dialog {
        Dialog::QuitWhileRunning => (
            "Quit?",
            format!("{job} is running. Cancel it and quit?"),
            keep_note(state),
            "cancel the job and quit",
            "keep it running",
        ),
        Dialog::CancelJob => (
            "Cancel?",
            format!("Cancel {job}?"),
            keep_note(state),
            "cancel the job",
            "keep it running",
        ),
        Dialog::ForgetSource(i) => {
            let name = state.sources.get(i).map_or("?", |s| s.name.as_str());
            (
                "Forget?",
                format!("Forget the source {name}?"),
                "Nothing is deleted: its data and any copy stay where they are; \
                 `cutover sources add PATH` brings it back."
                    .to_string(),
                "forget it",
                "keep it",
            )
        }
    };
    let text = vec![
        Line::styled(question, theme::strong()),
        Line::default(),
        Line::raw(note),
        Line::default(),
        Line::from(vec![
            Span::styled("y", theme::strong()),
            Span::raw(format!(": {yes}   ")),
            Span::styled("n / esc", theme::strong()),
            Span::raw(format!(": {no}")),
        ]),
    ];
    let width = 60.min(area.width.saturating_sub(2)).max(20);
    let popup = centered(area, width, 9);
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: true })
            .block(theme::pane_block(title.to_string(), true)),
        popup,
    );
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::ui::app::{update, Command, Msg};
    use crate::ui::panes::testing::{running, screen};

    #[test]
    fn confirm_quit_while_running() {
        let mut state = running(Instant::now());
        assert!(update(&mut state, Msg::ch('q')).is_empty());
        assert_eq!(state.dialog, Some(Dialog::QuitWhileRunning));
        insta::assert_snapshot!(screen(64, 11, |f, a| render(f, a, &state)));
        assert_eq!(update(&mut state, Msg::ch('y')), vec![Command::CancelJob]);
        assert!(state.quitting && !state.should_quit);
    }

    #[test]
    fn confirm_cancel_at_80_columns() {
        let mut state = running(Instant::now());
        update(&mut state, Msg::ch('c'));
        insta::assert_snapshot!(screen(80, 11, |f, a| render(f, a, &state)));
        update(&mut state, Msg::key(crossterm::event::KeyCode::Esc));
        assert_eq!(state.dialog, None);
    }
}
