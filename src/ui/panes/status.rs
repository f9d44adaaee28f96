//! The bars around the panes: the header (title and the job's state), the
//! tab bar of compact layouts, and the footer (messages or key hints drawn
//! from the key map).

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Tabs};
use ratatui::Frame;

use super::{spinner, spread};
use crate::ui::action::Action;
use crate::ui::app::State;
use crate::ui::fmt;
use crate::ui::keymap::KEYMAP;
use crate::ui::model::{Outcome, Pane};
use crate::ui::theme;

/// The footer hints of the focused pane: an action and its short name;
/// keys come from the map. The most useful first: a narrow footer cuts the end.
fn hints(state: &State) -> &'static [(Action, &'static str)] {
    let node_source = state
        .sources
        .get(state.cursor.sources)
        .is_some_and(|s| s.picks_node);
    let rate_limited = state.active_job().is_some_and(|m| m.rate_limit.is_some());
    match state.focus {
        Pane::Sources if node_source => &[
            (Action::Select, "select"),
            (Action::SelectGroup, "stack"),
            (Action::SetTarget, "target node"),
            (Action::Run, "run"),
            (Action::FinalSync, "final"),
            (Action::Verify, "verify"),
            (Action::Filter, "filter"),
            (Action::NextPane, "pane"),
            (Action::Help, "help"),
            (Action::Quit, "quit"),
        ],
        Pane::Sources => &[
            (Action::Select, "select"),
            (Action::Run, "run"),
            (Action::FinalSync, "final"),
            (Action::Verify, "verify"),
            (Action::Steps, "steps"),
            (Action::No, "add"),
            (Action::Filter, "filter"),
            (Action::NextPane, "pane"),
            (Action::Help, "help"),
            (Action::Quit, "quit"),
        ],
        Pane::Nodes => &[
            (Action::Down, "node"),
            (Action::Run, "probe again"),
            (Action::NextPane, "pane"),
            (Action::Help, "help"),
            (Action::Quit, "quit"),
        ],
        Pane::Checklist => &[
            (Action::Run, "run / confirm step"),
            (Action::Rollback, "roll back phase"),
            (Action::NextPane, "pane"),
            (Action::Help, "help"),
            (Action::Quit, "quit"),
        ],
        Pane::Selection => &[
            (Action::Select, "unselect"),
            (Action::Run, "run"),
            (Action::FinalSync, "final"),
            (Action::Verify, "verify"),
            (Action::VerifyMode, "verify mode"),
            (Action::MoreParallel, "parallel"),
            (Action::Together, "rolling/together"),
            (Action::Help, "help"),
            (Action::Quit, "quit"),
        ],
        Pane::Jobs => &[
            (Action::Run, "report"),
            (Action::Resume, "resume"),
            (Action::Rollback, "roll back"),
            (Action::Filter, "filter"),
            (Action::NextPane, "pane"),
            (Action::Help, "help"),
            (Action::Quit, "quit"),
        ],
        Pane::Items if state.report.is_some() => &[
            (Action::Back, "live stream"),
            (Action::No, "next failure"),
            (Action::PrevMatch, "previous"),
            (Action::Filter, "filter"),
            (Action::PageDown, "page"),
            (Action::Help, "help"),
        ],
        Pane::Items => &[
            (Action::No, "next failure"),
            (Action::PrevMatch, "previous"),
            (Action::Filter, "filter"),
            (Action::PageDown, "page"),
            (Action::Bottom, "follow"),
            (Action::Zoom, "zoom"),
            (Action::Help, "help"),
            (Action::Quit, "quit"),
        ],
        Pane::Metrics | Pane::Details | Pane::Logs if rate_limited => &[
            (Action::LowerRate, "slower"),
            (Action::RaiseRate, "faster"),
            (Action::Cancel, "cancel"),
            (Action::NextPane, "pane"),
            (Action::Zoom, "zoom"),
            (Action::Help, "help"),
            (Action::Quit, "quit"),
        ],
        Pane::Metrics | Pane::Details | Pane::Logs => &[
            (Action::Cancel, "cancel"),
            (Action::NextPane, "pane"),
            (Action::Zoom, "zoom"),
            (Action::Help, "help"),
            (Action::Quit, "quit"),
        ],
    }
}

/// The first key that triggers `action` (also the second key of a row
/// holding two opposite actions, like `n` in `y / n`).
fn first_key(action: Action) -> String {
    KEYMAP
        .iter()
        .flat_map(|b| b.keys.iter())
        .find(|k| {
            let ev = crossterm::event::KeyEvent::new(
                k.code,
                if k.ctrl {
                    crossterm::event::KeyModifiers::CONTROL
                } else {
                    crossterm::event::KeyModifiers::NONE
                },
            );
            crate::ui::keymap::action_for(&ev) == Some(action)
        })
        .map(|k| k.name())
        .unwrap_or_default()
}

/// Draw the header: `cutover · title` and the job's state on the right.
pub fn render_header(frame: &mut Frame, area: Rect, state: &State) {
    let left = vec![
        Span::styled(" cutover", theme::strong()),
        Span::raw(format!(" · {}", state.title)),
    ];
    let right = match &state.job {
        None => vec![Span::raw("idle ")],
        Some(m) if m.active() => vec![Span::raw(format!(
            "{} {} · {} ",
            spinner(m.elapsed(state.now).as_millis()),
            m.verdict(),
            fmt::clock(m.elapsed(state.now))
        ))],
        Some(m) => {
            let mark = match m.outcome() {
                Outcome::Verified => "✓",
                Outcome::Cancelled => "-",
                _ => "✗",
            };
            let mut spans = Vec::new();
            if state.batch_done > 1 && state.batch_failed > 0 {
                spans.push(Span::styled(
                    format!(
                        "✗ {} of {} sources not verified · ",
                        state.batch_failed, state.batch_done
                    ),
                    theme::bad(),
                ));
            }
            spans.push(Span::raw(format!("{mark} {} ", m.verdict())));
            spans
        }
    };
    let line = spread(left, right, area.width);
    frame.render_widget(Paragraph::new(line).style(theme::bar()), area);
}

/// Draw the footer: the status message if there is one, else key hints.
pub fn render_footer(frame: &mut Frame, area: Rect, state: &State) {
    if let Some(text) = &state.filter_input {
        let line = Line::from(vec![
            Span::styled(" /", theme::strong()),
            Span::raw(text.clone()),
            Span::styled("▏", theme::strong()),
            Span::styled("  enter keeps · esc clears", theme::label()),
        ]);
        frame.render_widget(Paragraph::new(line), area);
        return;
    }
    let line = match &state.status {
        Some(msg) => Line::from(Span::styled(format!(" {msg}"), theme::warn())),
        None => {
            let mut spans = vec![Span::raw(" ")];
            for (action, name) in hints(state) {
                spans.push(Span::styled(first_key(*action), theme::strong()));
                spans.push(Span::styled(format!(" {name}  "), theme::dim()));
            }
            Line::from(spans)
        }
    };
    frame.render_widget(Paragraph::new(line), area);
}

/// Draw the tab bar of compact layouts (the focused pane is highlighted).
pub fn render_tabs(frame: &mut Frame, area: Rect, state: &State) {
    let shown: Vec<Pane> = Pane::ALL
        .into_iter()
        .filter(|p| state.has_pane(*p))
        .collect();
    let titles = shown.iter().map(|p| p.title());
    let selected = shown.iter().position(|p| *p == state.focus);
    let tabs = Tabs::new(titles)
        .select(selected)
        .style(theme::dim())
        .highlight_style(theme::focused_border())
        .divider("│");
    frame.render_widget(tabs, area);
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::ui::app::{update, Msg};
    use crate::ui::panes::testing::{finished, fresh, running, screen};

    fn bars(state: &State, width: u16) -> String {
        screen(width, 3, |f, a| {
            let [h, t, foot] = ratatui::layout::Layout::vertical([
                ratatui::layout::Constraint::Length(1),
                ratatui::layout::Constraint::Length(1),
                ratatui::layout::Constraint::Length(1),
            ])
            .areas(a);
            render_header(f, h, state);
            render_tabs(f, t, state);
            render_footer(f, foot, state);
        })
    }

    #[test]
    fn status_bars() {
        let t0 = Instant::now();
        let mut idle = fresh(t0);
        let a = bars(&idle, 80);
        update(&mut idle, Msg::key(crossterm::event::KeyCode::Enter));
        let b = bars(&idle, 80);
        let c = bars(&running(t0), 80);
        let d = bars(&finished(t0), 80);
        insta::assert_snapshot!(format!("{a}\n{b}\n{c}\n{d}"));
    }
}
