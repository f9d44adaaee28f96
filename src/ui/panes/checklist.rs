//! The runbook's checklist: every phase and its steps with their state
//! (`✓` passed or confirmed — by whom, when —, `✗` failed with why, `…`
//! running, `!` interrupted, `·` pending), the current step marked `▶`, and
//! each phase's rollback steps under it.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use crate::runbook::state::StepState;
use crate::runbook::view::mark;
use crate::ui::app::State;
use crate::ui::fmt;
use crate::ui::model::Pane;
use crate::ui::theme;

/// Draw the checklist pane.
pub fn render(frame: &mut Frame, area: Rect, state: &State) {
    let focused = state.focus == Pane::Checklist;
    let Some(list) = &state.checklist else {
        let block = theme::pane_block("Checklist".into(), focused);
        let inner = block.inner(area);
        frame.render_widget(block, area);
        frame.render_widget(
            Paragraph::new("No runbook: cutover runbook open FILE.").style(theme::dim()),
            inner,
        );
        return;
    };
    let done = list
        .steps
        .iter()
        .filter(|s| !s.rollback && s.record.state.done())
        .count();
    let total = list.steps.iter().filter(|s| !s.rollback).count();
    let mut title = format!("Checklist · {} · {done}/{total}", list.name);
    if let Some(p) = &list.rolling_back {
        title.push_str(&format!(" · rolling back {p}"));
    }
    let block = theme::pane_block(title, focused);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let current = list.current();
    let width = inner.width as usize;
    let mut lines: Vec<Line> = Vec::new();
    let mut phase = None;
    let mut current_line = 0;
    for (i, s) in list.steps.iter().enumerate() {
        let heading = if s.rollback {
            format!("{} · rollback", s.phase)
        } else {
            s.phase.clone()
        };
        if phase.as_ref() != Some(&heading) {
            lines.push(Line::styled(heading.clone(), theme::label()));
            phase = Some(heading);
        }
        let here = current == Some(i);
        if here {
            current_line = lines.len();
        }
        let style = match s.record.state {
            StepState::Passed | StepState::Confirmed => theme::ok(),
            StepState::Failed => theme::bad(),
            StepState::Running | StepState::Interrupted => theme::warn(),
            StepState::Pending | StepState::Skipped => ratatui::style::Style::new(),
        };
        let who = match (&s.record.by, s.record.at, s.record.state) {
            (Some(by), Some(at), StepState::Confirmed | StepState::Passed) => {
                format!(" · {by} {}", crate::report::utc(at))
            }
            _ => String::new(),
        };
        let head = format!(
            "{}{} {} ",
            if here { "▶" } else { " " },
            mark(s.record.state),
            s.id
        );
        // A watch window counts down while it runs.
        let left = match (s.minutes, s.record.state, s.record.at) {
            (Some(m), StepState::Running, Some(at)) => {
                let end = at + (m * 60.0) as u64;
                let left = end.saturating_sub(crate::journal::now_unix());
                format!(
                    " · {} left (enter ends it)",
                    fmt::clock(std::time::Duration::from_secs(left))
                )
            }
            _ => String::new(),
        };
        let rest = format!("{} · {}{who}{left}", s.kind, s.text);
        let mut spans = vec![
            Span::styled(head.clone(), style),
            Span::styled(
                fmt::clip(&rest, width.saturating_sub(head.chars().count())),
                if here { theme::strong() } else { theme::dim() },
            ),
        ];
        if here {
            for sp in &mut spans {
                sp.style = sp.style.patch(theme::cursor());
            }
        }
        lines.push(Line::from(spans));
        if let (Some(note), StepState::Failed | StepState::Interrupted) =
            (&s.record.note, s.record.state)
        {
            lines.push(Line::styled(format!("    {note}"), style));
        }
    }
    // Keep the current step in view.
    let rows = inner.height as usize;
    let scroll = current_line.saturating_sub(rows.saturating_sub(3));
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((scroll as u16, 0)),
        inner,
    );
}
