//! The nodes pane: each node of the inventory, reachable (`●`) or not
//! (`✗`, and why), how it is reached, its ZFS, free space and services;
//! under the node at the cursor, its services (a dataset or a plain
//! directory, size, files) and the stacks they make.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::names::display_name;
use crate::nodes::probe::Probed;
use crate::ui::app::State;
use crate::ui::fmt;
use crate::ui::model::Pane;
use crate::ui::theme;

/// One node's line.
fn node_line(p: &Probed, here: bool, focused: bool) -> Line<'static> {
    let cursor = if !here {
        theme::plain()
    } else if focused {
        theme::cursor()
    } else {
        theme::cursor_unfocused()
    };
    let (mark, style) = if p.reachable {
        ("●", theme::ok())
    } else {
        ("✗", theme::bad())
    };
    let how = p.ssh.clone().unwrap_or_else(|| "this machine".into());
    let mut spans = vec![
        Span::styled(format!("{mark} "), style),
        Span::styled(format!("{:<10} ", p.name), cursor),
        Span::raw(format!("{how}  ")),
    ];
    if !p.reachable {
        let why = p.why.clone().unwrap_or_else(|| "unreachable".into());
        let prefix = format!("node {}: ", p.name);
        let why = why.strip_prefix(&prefix).map(str::to_string).unwrap_or(why);
        spans.push(Span::styled(why, theme::bad()));
        return Line::from(spans);
    }
    // The dialect's name only (`zfs-fuse`, `OpenZFS`): a line per node.
    let short = p
        .dialect
        .as_deref()
        .map(|d| d.split(" (").next().unwrap_or(d).to_string());
    let zfs = short.unwrap_or_else(|| {
        if p.zfs {
            "ZFS".into()
        } else {
            "no ZFS (rsync fallback)".into()
        }
    });
    spans.push(Span::raw(zfs));
    if let Some(free) = p.free_bytes {
        spans.push(Span::raw(format!(" · {} free", fmt::bytes(free))));
    }
    spans.push(Span::raw(format!(
        " · {} services",
        fmt::count(p.services.len() as u64)
    )));
    if let Some(why) = &p.why {
        spans.push(Span::styled(format!(" · {why}"), theme::warn()));
    }
    Line::from(spans)
}

/// What the console's sources say of a service: `[x]` when selected,
/// and the node it goes to once picked (`→ beta`).
fn source_spans(state: &State, node: &str, service: &str) -> Vec<Span<'static>> {
    let name = format!("{node}/{service}");
    let mut spans = Vec::new();
    for s in state
        .sources
        .iter()
        .filter(|s| s.node.as_deref() == Some(node) && s.name == name)
    {
        if let Some(to) = s.to_node.as_deref().filter(|&to| to != node) {
            spans.push(Span::styled(format!(" → {to}"), theme::strong()));
        }
        if s.selected {
            spans.push(Span::styled(" [x]", theme::ok()));
        }
    }
    spans
}

/// The services of `p`, and its stacks.
fn service_lines(p: &Probed, state: &State) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    for s in &p.services {
        let what = match &s.dataset {
            Some(ds) => format!("dataset {ds}"),
            None => "plain directory".into(),
        };
        let size = match (s.bytes, s.files) {
            (Some(b), Some(f)) => format!(" · {} · {} files", fmt::bytes(b), fmt::count(f)),
            (Some(b), None) => format!(" · {}", fmt::bytes(b)),
            _ => String::new(),
        };
        let style = if s.dataset.is_some() {
            theme::plain()
        } else {
            theme::warn()
        };
        let mut spans = vec![
            Span::raw(format!("    {:<20} ", display_name(&s.name))),
            Span::styled(what, style),
            Span::raw(size),
        ];
        spans.extend(source_spans(state, &p.name, &s.name));
        lines.push(Line::from(spans));
    }
    for st in p.stacks.iter().filter(|st| st.services.len() > 1) {
        let names: Vec<String> = st.services.iter().map(|s| display_name(s)).collect();
        lines.push(Line::styled(
            format!("    stack {}: {}", display_name(&st.name), names.join(", ")),
            theme::label(),
        ));
    }
    lines
}

/// Draw the nodes pane.
pub fn render(frame: &mut Frame, area: Rect, state: &State) {
    let focused = state.focus == Pane::Nodes;
    let nodes = state.nodes.as_deref().unwrap_or_default();
    let up = nodes.iter().filter(|p| p.reachable).count();
    let mut title = format!("Nodes · {up} reachable of {}", nodes.len());
    if state.nodes_probing {
        title.push_str(" · probing…");
    }
    let block = theme::pane_block(title, focused);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if nodes.is_empty() {
        let text = if state.nodes_probing {
            "Probing the nodes of the inventory…"
        } else if state.nodes.is_some() {
            "No nodes: the inventory could not be read (see the log)."
        } else {
            "No nodes inventory: --nodes FILE, or nodes.toml in the state directory."
        };
        frame.render_widget(Paragraph::new(text).style(theme::dim()), inner);
        return;
    }
    let mut lines = Vec::new();
    let mut cursor_line = 0;
    for (i, p) in nodes.iter().enumerate() {
        let here = i == state.cursor.nodes;
        if here {
            cursor_line = lines.len();
        }
        lines.push(node_line(p, here, focused));
        if here && focused {
            lines.extend(service_lines(p, state));
        }
    }
    // Keep the cursor's node in view.
    let rows = inner.height as usize;
    let skip = cursor_line.saturating_sub(rows.saturating_sub(1) / 2);
    let shown: Vec<Line> = lines.into_iter().skip(skip).collect();
    // One line per node, cut at the pane's edge (the log has every reason whole).
    frame.render_widget(Paragraph::new(shown), inner);
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::nodes::services::{Service, Stack};
    use crate::ui::app::{update, Msg};
    use crate::ui::panes::testing::{fresh, screen};

    fn probed() -> Vec<Probed> {
        let svc = |name: &str, dataset: Option<&str>, mb: u64, files: u64| Service {
            name: name.into(),
            dataset: dataset.map(str::to_string),
            bytes: Some(mb << 20),
            files: Some(files),
        };
        vec![
            Probed {
                name: "alpha".into(),
                ssh: None,
                reachable: true,
                why: None,
                hostname: Some("alpha".into()),
                free_bytes: Some(120 << 30),
                zfs: true,
                dialect: Some("zfs-fuse (no zfs list -p, no resume tokens)".into()),
                services: vec![
                    svc("authelia", Some("alpha/appdata/authelia"), 12, 340),
                    svc("authelia-mariadb", None, 230, 1_204),
                    svc("authelia-redis", Some("alpha/appdata/authelia-redis"), 3, 12),
                ],
                stacks: vec![Stack {
                    name: "authelia".into(),
                    services: vec![
                        "authelia".into(),
                        "authelia-mariadb".into(),
                        "authelia-redis".into(),
                    ],
                }],
            },
            Probed {
                name: "beta".into(),
                ssh: Some("root@127.0.0.1".into()),
                reachable: true,
                why: None,
                hostname: Some("beta".into()),
                free_bytes: Some(80 << 30),
                zfs: false,
                dialect: None,
                services: Vec::new(),
                stacks: Vec::new(),
            },
            Probed::unreached(
                "gamma",
                Some("root@127.0.0.1".into()),
                Some("node gamma: nothing listens on 127.0.0.1:2299 (connection refused): check the port and that sshd runs".into()),
            ),
        ]
    }

    #[test]
    fn nodes_reachable_or_not_and_the_services_of_the_one_at_the_cursor() {
        let mut state = fresh(Instant::now());
        assert!(!state.has_pane(Pane::Nodes), "no inventory, no pane");
        update(&mut state, Msg::Nodes(probed()));
        assert!(state.has_pane(Pane::Nodes));
        state.focus = Pane::Nodes;
        let first = screen(100, 10, |f, a| render(f, a, &state));
        assert!(first.contains("plain directory"), "{first}");
        update(&mut state, Msg::ch('j'));
        update(&mut state, Msg::ch('j'));
        let last = screen(100, 6, |f, a| render(f, a, &state));
        assert!(last.contains("connection refused"), "{last}");
        insta::assert_snapshot!(format!("{first}\n{last}"));
        // enter probes again, once at a time.
        let commands = update(&mut state, Msg::key(crossterm::event::KeyCode::Enter));
        assert_eq!(commands, vec![crate::ui::app::Command::ProbeNodes]);
        let again = update(&mut state, Msg::key(crossterm::event::KeyCode::Enter));
        assert!(again.is_empty());
    }

    #[test]
    fn a_service_name_with_a_newline_stays_on_its_line() {
        let mut nodes = probed();
        nodes[0].services.push(Service {
            name: "odd\nname".into(),
            dataset: None,
            bytes: None,
            files: None,
        });
        nodes[0].stacks[0].services.push("odd\nname".into());
        let mut state = fresh(Instant::now());
        update(&mut state, Msg::Nodes(nodes));
        state.focus = Pane::Nodes;
        let text = screen(100, 12, |f, a| render(f, a, &state));
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines
                .iter()
                .any(|l| l.contains("odd\\x0aname") && l.contains("plain directory")),
            "{text}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.contains("stack authelia:") && l.contains("odd\\x0aname")),
            "{text}"
        );
    }
}
