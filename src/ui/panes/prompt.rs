//! The path line: a new source (with what it was found to be), a
//! source's target, or the node a node's services go to.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::centered;
use crate::ui::app::{PromptFor, State};
use crate::ui::theme;

/// Draw the open path line, if any, centred over `area`.
pub fn render(frame: &mut Frame, area: Rect, state: &State) {
    let Some(prompt) = &state.prompt else {
        return;
    };
    let (title, ask) = match &prompt.purpose {
        PromptFor::AddSource => (
            "Add a source",
            "Path of a tree, package store, redb file or cluster:".to_string(),
        ),
        PromptFor::SetTarget(i) => (
            "Set the target",
            format!(
                "Where {} goes:",
                state
                    .sources
                    .get(*i)
                    .map_or("the source", |s| s.name.as_str())
            ),
        ),
        PromptFor::TargetNode(picked) => {
            let names: Vec<&str> = picked
                .iter()
                .filter_map(|&i| state.sources.get(i))
                .map(|s| s.name.as_str())
                .collect();
            (
                "Pick the target node",
                format!("Move {} to node:", crate::ui::kinds::joined_names(&names)),
            )
        }
    };
    let mut text = vec![
        Line::raw(ask),
        Line::from(vec![
            Span::styled("> ", theme::dim()),
            Span::styled(prompt.text.clone(), theme::strong()),
            Span::styled("▏", theme::dim()),
        ]),
        Line::default(),
    ];
    let hint = match (&prompt.purpose, &prompt.probe) {
        (_, _) if prompt.probing => Line::styled("looking at it…", theme::dim()),
        (PromptFor::AddSource, Some(Ok(p))) => {
            let to = p
                .target
                .as_deref()
                .map(|t| format!(" → {t}"))
                .unwrap_or_else(|| " (no target yet: t sets one)".to_string());
            Line::from(vec![
                Span::styled(format!("{} ", p.kind), theme::strong()),
                Span::raw(format!("source {}{to}. enter adds it", p.name)),
            ])
        }
        (_, Some(Err(why))) => Line::styled(why.clone(), theme::bad()),
        (PromptFor::AddSource, None) => Line::styled(
            "tab completes · enter shows what it is · esc cancels",
            theme::dim(),
        ),
        (PromptFor::SetTarget(_), _) => {
            Line::styled("tab completes · enter sets it · esc cancels", theme::dim())
        }
        (PromptFor::TargetNode(_), _) => {
            let names: Vec<&str> = state
                .nodes
                .iter()
                .flatten()
                .map(|n| n.name.as_str())
                .collect();
            Line::styled(
                format!(
                    "nodes: {} · tab completes · enter picks · esc cancels",
                    names.join(", ")
                ),
                theme::dim(),
            )
        }
    };
    text.push(hint);
    let width = 72.min(area.width.saturating_sub(2)).max(20);
    let popup = centered(area, width, 7);
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: false })
            .block(theme::pane_block(title.to_string(), true)),
        popup,
    );
}
