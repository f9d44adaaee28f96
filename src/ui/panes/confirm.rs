//! Questions that need a `y` first: quitting or cancelling while a job
//! runs, forgetting a source, and the one confirmation of every step that
//! deletes or replaces ([`Confirm`]: what will go, then `y`, or the name
//! typed out).

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::centered;
use crate::ui::app::{Confirm, Dialog, State};
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

/// A destructive step's question: its changes, why it is risky, then the
/// keys (or the line the name is typed on).
fn confirm(frame: &mut Frame, area: Rect, c: &Confirm) {
    let mut text = vec![
        Line::styled(c.question.clone(), theme::strong()),
        Line::default(),
    ];
    for change in &c.changes {
        let style = if change.starts_with("delete") || change.starts_with("replace") {
            theme::bad()
        } else {
            ratatui::style::Style::new()
        };
        text.push(Line::styled(format!("  {change}"), style));
    }
    if !c.changes.is_empty() {
        text.push(Line::default());
    }
    text.push(Line::raw(c.note.clone()));
    text.push(Line::default());
    match &c.typed {
        Some(name) => {
            text.push(Line::from(vec![
                Span::styled("type ", theme::label()),
                Span::styled(name.clone(), theme::strong()),
                Span::styled(": ", theme::label()),
                Span::raw(c.input.clone()),
                Span::styled("▏", theme::strong()),
            ]));
            text.push(Line::from(vec![
                Span::styled("enter", theme::strong()),
                Span::raw(format!(": {}   ", c.yes)),
                Span::styled("esc", theme::strong()),
                Span::raw(format!(": {}", c.no)),
            ]));
        }
        None => text.push(Line::from(vec![
            Span::styled("y", theme::strong()),
            Span::raw(format!(": {}   ", c.yes)),
            Span::styled("n / esc", theme::strong()),
            Span::raw(format!(": {}", c.no)),
        ])),
    }
    let width = 76.min(area.width.saturating_sub(2)).max(20);
    let inner = width.saturating_sub(2).max(1) as usize;
    let rows: usize = text
        .iter()
        .map(|l| l.width().max(1).div_ceil(inner))
        .sum::<usize>()
        + 2;
    let height = (rows as u16).min(area.height.saturating_sub(2)).max(5);
    let popup = centered(area, width, height);
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: true })
            .block(theme::pane_block(c.title.clone(), true)),
        popup,
    );
}

/// The steps menu of a source: each step's key, name and what it does.
fn steps(frame: &mut Frame, area: Rect, state: &State, source: usize) {
    let Some(src) = state.sources.get(source) else {
        return;
    };
    let mut text = vec![Line::styled(
        format!("Steps of {} ({})", src.name, src.kind),
        theme::strong(),
    )];
    text.push(Line::default());
    for st in &src.steps {
        text.push(Line::from(vec![
            Span::styled(format!("{}  ", st.key), theme::strong()),
            Span::raw(st.name.to_string()),
            Span::styled(format!(" — {}", st.about), theme::label()),
        ]));
    }
    text.push(Line::default());
    text.push(Line::from(vec![
        Span::styled("esc", theme::strong()),
        Span::raw(": close"),
    ]));
    let width = 76.min(area.width.saturating_sub(2)).max(20);
    let inner = width.saturating_sub(2).max(1) as usize;
    let rows: usize = text
        .iter()
        .map(|l| l.width().max(1).div_ceil(inner))
        .sum::<usize>()
        + 2;
    let popup = centered(
        area,
        width,
        (rows as u16).min(area.height.saturating_sub(2)).max(5),
    );
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: true })
            .block(theme::pane_block("Steps".to_string(), true)),
        popup,
    );
}

/// Draw the open question, if any, centred over `area`.
pub fn render(frame: &mut Frame, area: Rect, state: &State) {
    let Some(dialog) = &state.dialog else {
        return;
    };
    if let Dialog::Confirm(c) = dialog {
        return confirm(frame, area, c);
    }
    if let Dialog::Steps(i) = dialog {
        return steps(frame, area, state, *i);
    }
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
        Dialog::Confirm(_) | Dialog::Steps(_) => return,
        Dialog::ForgetSource(i) => {
            let name = state.sources.get(*i).map_or("?", |s| s.name.as_str());
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
