//! Jobs in the journal, newest first, with live counts for the running one.
//! `r` resumes the job under the cursor.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{List, ListItem, ListState, Paragraph};
use ratatui::Frame;

use super::spread;
use crate::ui::app::State;
use crate::ui::model::{JobRow, Pane};
use crate::ui::theme;

fn status_style(status: &str) -> Style {
    match status {
        "completed" => theme::ok(),
        "failed" => theme::bad(),
        "running" => theme::warn(),
        _ => theme::warn(),
    }
}

fn row(job: &JobRow, state: &State, width: u16) -> ListItem<'static> {
    let live = state
        .active_job()
        .filter(|m| m.job == Some(job.job) && m.job != Some(0));
    let (status, verified, failed, total) = match live {
        Some(m) => (
            "running".to_string(),
            m.items_verified,
            m.items_failed,
            m.items_total,
        ),
        None => (
            job.status.clone(),
            job.items_verified,
            job.items_failed,
            job.items_total,
        ),
    };
    let mut right = vec![Span::raw(format!("{verified}/{total}"))];
    if failed > 0 {
        right.push(Span::styled(format!(" ✗{failed}"), theme::bad()));
    }
    let left = vec![
        Span::styled(format!("#{:<3} ", job.job), theme::strong()),
        Span::styled(format!("{status:<11} "), status_style(&status)),
        Span::raw(job.label.clone()),
    ];
    ListItem::new(spread(left, right, width))
}

/// Draw the jobs pane.
pub fn render(frame: &mut Frame, area: Rect, state: &State) {
    let focused = state.focus == Pane::Jobs;
    let title = if state.jobs.is_empty() {
        "Jobs".to_string()
    } else {
        format!("Jobs · {} in the journal", state.jobs.len())
    };
    let block = theme::pane_block(title, focused);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if state.jobs.is_empty() {
        let text = if state.jobs_loaded {
            "No jobs in the journal yet."
        } else {
            "Reading the journal…"
        };
        frame.render_widget(Paragraph::new(text).style(theme::dim()), inner);
        return;
    }
    let cursor = state.cursor.jobs.min(state.jobs.len() - 1);
    let hint = focused && inner.height >= 3 && state.active_job().is_none();
    let (list_area, foot) = if hint {
        let [l, f] = Layout::vertical([Constraint::Fill(1), Constraint::Length(1)]).areas(inner);
        (l, Some(f))
    } else {
        (inner, None)
    };
    let shown = state.shown_jobs();
    let (window, at) = super::window(&shown, cursor, list_area.height as usize);
    let items: Vec<ListItem> = window
        .iter()
        .map(|&i| row(&state.jobs[i], state, list_area.width))
        .collect();
    let mut list_state = ListState::default();
    let mut list = List::new(items);
    if focused {
        list = list.highlight_style(theme::cursor());
        list_state.select(at);
    }
    frame.render_stateful_widget(list, list_area, &mut list_state);
    if let (Some(f), Some(job)) = (foot, state.jobs.get(cursor)) {
        let line = if job.resumable() {
            Line::from(vec![
                Span::styled("r", theme::strong()),
                Span::styled(
                    format!(": resume #{} ({})", job.job, job.kind),
                    theme::dim(),
                ),
            ])
        } else {
            Line::styled(format!("#{} is completed", job.job), theme::dim())
        };
        frame.render_widget(Paragraph::new(line), f);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::ui::app::{update, Command, Msg};
    use crate::ui::model::JobRow;
    use crate::ui::panes::testing::{fresh, running, screen};

    fn rows() -> Vec<JobRow> {
        let row = |job, status: &str, v, f, label: &str| JobRow {
            job,
            kind: "tree-sync".into(),
            status: status.into(),
            items_total: 40,
            items_verified: v,
            items_failed: f,
            label: label.into(),
            mode: String::new(),
            params: serde_json::json!({ "source": "/srv/live/photos" }),
            sources: vec![0],
        };
        vec![
            row(7, "running", 0, 0, "photos (bulk)"),
            row(6, "interrupted", 12, 0, "mail (bulk)"),
            row(5, "failed", 38, 2, "photos (final)"),
            row(4, "completed", 40, 0, "photos (bulk)"),
        ]
    }

    #[test]
    fn jobs_unloaded_and_empty() {
        let mut state = fresh(Instant::now());
        let unloaded = screen(44, 3, |f, a| render(f, a, &state));
        update(&mut state, Msg::Jobs(Vec::new()));
        let empty = screen(44, 3, |f, a| render(f, a, &state));
        insta::assert_snapshot!(format!("{unloaded}\n{empty}"));
    }

    #[test]
    fn jobs_live_counts_for_the_running_job() {
        let mut state = running(Instant::now());
        update(&mut state, Msg::Jobs(rows()));
        insta::assert_snapshot!(screen(44, 6, |f, a| render(f, a, &state)));
    }

    #[test]
    fn jobs_focused_offers_resume() {
        let mut state = fresh(Instant::now());
        update(&mut state, Msg::Jobs(rows()[1..].to_vec()));
        assert_eq!(
            state.status.as_deref(),
            Some("unfinished job #6: tab to Jobs and press r to resume")
        );
        for _ in 0..5 {
            update(&mut state, Msg::key(crossterm::event::KeyCode::BackTab));
        }
        assert_eq!(state.focus, Pane::Jobs);
        insta::assert_snapshot!(screen(44, 6, |f, a| render(f, a, &state)));
        let cmds = update(&mut state, Msg::ch('r'));
        assert_eq!(
            cmds,
            vec![Command::ResumeJob {
                job: 6,
                kind: "tree-sync".into(),
                params: serde_json::json!({ "source": "/srv/live/photos" }),
            }]
        );
    }
}
