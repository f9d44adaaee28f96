//! Editing the console's sources: `n` adds one (a path line with tab
//! completion; the detected kind and proposed target are shown, and a second
//! `enter` adds it), `t` sets the target of the source under the cursor,
//! `d` forgets it (asks first). The file system is read by the runner
//! (commands out, messages back); this module only changes state.

use crossterm::event::{KeyCode, KeyEvent};

use super::{Command, Dialog, State};
use crate::ui::model::{Pane, SourceView};

/// What a path line is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptFor {
    /// A new source.
    AddSource,
    /// The target of this source (index into the sources).
    SetTarget(usize),
    /// The node these node sources go to (indices into the sources).
    TargetNode(Vec<usize>),
}

/// What the runner found at a path typed for a new source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// The text it was found for (stale once the operator types on).
    pub path: String,
    /// The migration kind detected.
    pub kind: String,
    /// The name it would get.
    pub name: String,
    /// The target it would get (from the console's target root), if any.
    pub target: Option<String>,
}

/// A path line on screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    /// What it is for.
    pub purpose: PromptFor,
    /// What has been typed.
    pub text: String,
    /// For a new source: what the path is, or why it cannot be added.
    pub probe: Option<Result<Probe, String>>,
    /// A probe is under way.
    pub probing: bool,
}

impl Prompt {
    fn new(purpose: PromptFor, text: String) -> Prompt {
        Prompt {
            purpose,
            text,
            probe: None,
            probing: false,
        }
    }
}

fn editable(state: &mut State) -> bool {
    if state.active_job().is_some() {
        state.status =
            Some("sources cannot change while a job runs; wait for it or cancel it (c)".into());
        return false;
    }
    true
}

fn under_cursor(state: &mut State, what: &str) -> Option<usize> {
    if state.focus != Pane::Sources || state.cursor.sources >= state.sources.len() {
        state.status = Some(format!(
            "{what} works on the source under the cursor in the Sources pane (tab to it)"
        ));
        return None;
    }
    Some(state.cursor.sources)
}

/// `n`: open the path line for a new source.
pub fn add_source(state: &mut State) {
    if editable(state) {
        state.prompt = Some(Prompt::new(PromptFor::AddSource, String::new()));
    }
}

/// `t`: open the path line for the target of the source under the cursor.
pub fn set_target(state: &mut State) {
    if !editable(state) {
        return;
    }
    if let Some(i) = under_cursor(state, "t") {
        if state.sources[i].picks_node {
            // The selected services that go to a node, with the one at the cursor.
            let mut picked: Vec<usize> = state
                .selected()
                .into_iter()
                .filter(|&j| state.sources[j].picks_node)
                .collect();
            if !picked.contains(&i) {
                picked = vec![i];
            }
            let current = state.sources[i].to_node.clone().unwrap_or_default();
            state.prompt = Some(Prompt::new(PromptFor::TargetNode(picked), current));
            return;
        }
        if let Some(node) = state.sources[i].node.clone() {
            state.status = Some(format!(
                "{} stays on node {node}: its kind sets where it goes (Details shows it)",
                state.sources[i].name
            ));
            return;
        }
        let current = state.sources[i].target.clone();
        state.prompt = Some(Prompt::new(PromptFor::SetTarget(i), current));
    }
}

/// The names of the inventory's nodes, as last probed.
fn node_names(state: &State) -> Vec<String> {
    state
        .nodes
        .iter()
        .flatten()
        .map(|n| n.name.clone())
        .collect()
}

/// Tab on the node line: the longest common start of the node names
/// beginning with what was typed.
fn complete_node(state: &mut State) {
    let names = node_names(state);
    let Some(prompt) = state.prompt.as_mut() else {
        return;
    };
    let matching: Vec<&String> = names
        .iter()
        .filter(|n| n.starts_with(prompt.text.as_str()))
        .collect();
    let Some(first) = matching.first() else {
        prompt.probe = Some(Err(format!(
            "no node starts with '{}'; nodes: {}",
            prompt.text,
            names.join(", ")
        )));
        return;
    };
    let mut common = first.to_string();
    for m in &matching[1..] {
        while !m.starts_with(common.as_str()) {
            common.pop();
        }
    }
    prompt.text = common;
    prompt.probe = None;
}

/// Enter on the node line: a node of the inventory, not the one a source
/// is on, goes to the runner.
fn pick_node(state: &mut State, picked: Vec<usize>, text: String) -> Vec<Command> {
    let names = node_names(state);
    let on_it: Vec<String> = picked
        .iter()
        .filter_map(|&i| state.sources.get(i))
        .filter(|s| s.node.as_deref() == Some(text.as_str()))
        .map(|s| s.name.clone())
        .collect();
    let why = if names.is_empty() {
        Some("no nodes are known yet: wait for the probe (Nodes pane)".to_string())
    } else if !names.contains(&text) {
        Some(format!(
            "node '{text}' is not in the nodes inventory; pick one of: {}",
            names.join(", ")
        ))
    } else if !on_it.is_empty() {
        Some(format!(
            "{} {} on node {text} already: pick another node",
            on_it.join(", "),
            if on_it.len() == 1 { "is" } else { "are" }
        ))
    } else {
        None
    };
    if let Some(why) = why {
        if let Some(p) = state.prompt.as_mut() {
            p.probe = Some(Err(why));
        }
        return Vec::new();
    }
    state.prompt = None;
    vec![Command::PickNode {
        sources: picked,
        node: text,
    }]
}

/// `d`: ask before forgetting the source under the cursor.
pub fn forget(state: &mut State) {
    if !editable(state) {
        return;
    }
    if let Some(i) = under_cursor(state, "d") {
        if let Some(node) = &state.sources[i].node {
            state.status = Some(format!(
                "{} is a service of node {node}: it comes from the nodes inventory (nodes.toml), not from your sources",
                state.sources[i].name
            ));
            return;
        }
        state.dialog = Some(Dialog::ForgetSource(i));
    }
}

/// A key while the path line is open.
pub fn on_prompt_key(state: &mut State, ev: KeyEvent) -> Vec<Command> {
    let Some(prompt) = state.prompt.as_mut() else {
        return Vec::new();
    };
    match ev.code {
        KeyCode::Esc => {
            state.prompt = None;
            Vec::new()
        }
        KeyCode::Char(c) => {
            prompt.text.push(c);
            prompt.probe = None;
            Vec::new()
        }
        KeyCode::Backspace => {
            prompt.text.pop();
            prompt.probe = None;
            Vec::new()
        }
        KeyCode::Tab if matches!(prompt.purpose, PromptFor::TargetNode(_)) => {
            complete_node(state);
            Vec::new()
        }
        KeyCode::Tab => vec![Command::Complete {
            text: prompt.text.clone(),
        }],
        KeyCode::Enter => enter(state),
        _ => Vec::new(),
    }
}

fn enter(state: &mut State) -> Vec<Command> {
    let Some(prompt) = state.prompt.as_mut() else {
        return Vec::new();
    };
    let text = prompt.text.trim().to_string();
    if text.is_empty() {
        prompt.probe = Some(Err("type a path (tab completes)".into()));
        return Vec::new();
    }
    match prompt.purpose.clone() {
        PromptFor::AddSource => match &prompt.probe {
            // Seen and shown: the second enter adds it.
            Some(Ok(p)) if p.path == text => {
                let cmd = Command::AddSource {
                    path: text,
                    kind: p.kind.clone(),
                    target: p.target.clone(),
                };
                state.prompt = None;
                vec![cmd]
            }
            _ => {
                prompt.probing = true;
                vec![Command::ProbeSource { path: text }]
            }
        },
        PromptFor::TargetNode(picked) => pick_node(state, picked, text),
        PromptFor::SetTarget(i) => {
            state.prompt = None;
            match state.sources.get(i) {
                Some(s) => vec![Command::SetTarget {
                    source: i,
                    name: s.name.clone(),
                    target: text,
                }],
                None => Vec::new(),
            }
        }
    }
}

/// The runner completed the path line.
pub fn on_completed(state: &mut State, from: String, to: String) {
    if let Some(p) = state.prompt.as_mut().filter(|p| p.text == from) {
        p.text = to;
        p.probe = None;
    }
}

/// The runner looked at the typed path.
pub fn on_probed(state: &mut State, result: Result<Probe, String>) {
    if let Some(p) = state.prompt.as_mut() {
        p.probing = false;
        p.probe = Some(result);
    }
}

/// The sources changed (added, retargeted, forgotten): a new list.
pub fn on_sources(state: &mut State, mut sources: Vec<SourceView>, note: String) {
    // What this session did with a source stays with it (a new probe of
    // the nodes, a node picked, a rediscovery).
    for s in &mut sources {
        if let Some(old) = state
            .sources
            .iter()
            .find(|o| o.kind == s.kind && o.name == s.name)
        {
            s.selected = old.selected && s.usable();
            s.runs = old.runs;
            if s.results.is_empty() {
                s.results = old.results.clone();
            }
        }
    }
    state.sources = sources;
    state.cursor.sources = state
        .cursor
        .sources
        .min(state.sources.len().saturating_sub(1));
    state.cursor.selection = 0;
    if note.is_empty() {
        // The first count of the sources: nothing to say once it is done.
        if state.status.as_deref() == Some(COUNTING) {
            state.status = None;
        }
    } else {
        state.status = Some(note);
    }
}

/// What the footer says while the sources are counted at start.
pub const COUNTING: &str = "counting the sources…";

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::time::Instant;

    use crossterm::event::KeyCode;

    use crate::ui::app::{update, Command, Dialog, Msg};
    use crate::ui::panes::{prompt, testing};

    use super::*;

    fn typed(state: &mut crate::ui::app::State, text: &str) {
        for c in text.chars() {
            update(state, Msg::ch(c));
        }
    }

    #[test]
    fn n_adds_a_source_after_showing_what_it_is() {
        let mut s = testing::fresh(Instant::now());
        update(&mut s, Msg::ch('n'));
        assert!(s.prompt.is_some());
        typed(&mut s, "/srv/up");
        assert_eq!(
            update(&mut s, Msg::key(KeyCode::Tab)),
            vec![Command::Complete {
                text: "/srv/up".into()
            }]
        );
        update(
            &mut s,
            Msg::Completed {
                from: "/srv/up".into(),
                to: "/srv/uploads/".into(),
            },
        );
        assert_eq!(
            update(&mut s, Msg::key(KeyCode::Enter)),
            vec![Command::ProbeSource {
                path: "/srv/uploads/".into()
            }]
        );
        update(
            &mut s,
            Msg::Probed(Ok(Probe {
                path: "/srv/uploads/".into(),
                kind: "tree-sync".into(),
                name: "uploads".into(),
                target: Some("/mnt/new/uploads".into()),
            })),
        );
        insta::assert_snapshot!(testing::screen(80, 9, |f, a| prompt::render(f, a, &s)));
        assert_eq!(
            update(&mut s, Msg::key(KeyCode::Enter)),
            vec![Command::AddSource {
                path: "/srv/uploads/".into(),
                kind: "tree-sync".into(),
                target: Some("/mnt/new/uploads".into()),
            }]
        );
        assert!(s.prompt.is_none());
    }

    #[test]
    fn a_path_that_is_no_source_says_why_and_adds_nothing() {
        let mut s = testing::fresh(Instant::now());
        update(&mut s, Msg::ch('n'));
        typed(&mut s, "/nope");
        update(&mut s, Msg::key(KeyCode::Enter));
        update(
            &mut s,
            Msg::Probed(Err("source /nope does not exist; check the path".into())),
        );
        let screen = testing::screen(80, 9, |f, a| prompt::render(f, a, &s));
        assert!(screen.contains("does not exist"), "{screen}");
        // Typing on makes the probe stale; enter looks again, never adds.
        update(&mut s, Msg::key(KeyCode::Backspace));
        let cmds = update(&mut s, Msg::key(KeyCode::Enter));
        assert!(matches!(cmds.as_slice(), [Command::ProbeSource { .. }]));
        update(&mut s, Msg::key(KeyCode::Esc));
        assert!(s.prompt.is_none());
    }

    #[test]
    fn t_sets_a_target_and_d_forgets_after_asking() {
        let mut s = testing::fresh(Instant::now());
        let name = s.sources[0].name.clone();
        update(&mut s, Msg::ch('t'));
        let p = s.prompt.clone().expect("prompt");
        assert_eq!(p.text, s.sources[0].target);
        for _ in 0..p.text.len() {
            update(&mut s, Msg::key(KeyCode::Backspace));
        }
        typed(&mut s, "/mnt/elsewhere");
        assert_eq!(
            update(&mut s, Msg::key(KeyCode::Enter)),
            vec![Command::SetTarget {
                source: 0,
                name: name.clone(),
                target: "/mnt/elsewhere".into()
            }]
        );
        update(&mut s, Msg::ch('d'));
        assert_eq!(s.dialog, Some(Dialog::ForgetSource(0)));
        assert_eq!(
            update(&mut s, Msg::ch('y')),
            vec![Command::ForgetSource { source: 0, name }]
        );
    }

    #[test]
    fn a_node_service_takes_a_node_not_a_path_and_is_not_forgotten() {
        let mut s = testing::fresh(Instant::now());
        s.sources[0].node = Some("alpha".into());
        update(&mut s, Msg::ch('t'));
        assert!(s.prompt.is_none());
        assert!(s
            .status
            .as_deref()
            .unwrap_or("")
            .contains("stays on node alpha"));
        update(&mut s, Msg::ch('d'));
        assert!(s.dialog.is_none());
        assert!(s
            .status
            .as_deref()
            .unwrap_or("")
            .contains("nodes inventory"));
        // One that goes to a node: t asks for it, among the inventory's.
        s.sources[0].picks_node = true;
        s.nodes = Some(Vec::new());
        update(&mut s, Msg::ch('t'));
        assert_eq!(
            s.prompt.as_ref().map(|p| p.purpose.clone()),
            Some(PromptFor::TargetNode(vec![0]))
        );
        typed(&mut s, "beta");
        assert!(update(&mut s, Msg::key(KeyCode::Enter)).is_empty());
        let why = s.prompt.as_ref().and_then(|p| p.probe.clone());
        assert_eq!(
            why,
            Some(Err(
                "no nodes are known yet: wait for the probe (Nodes pane)".into()
            ))
        );
    }

    #[test]
    fn sources_do_not_change_while_a_job_runs() {
        let mut s = testing::running(Instant::now());
        update(&mut s, Msg::ch('n'));
        assert!(s.prompt.is_none());
        assert!(s
            .status
            .as_deref()
            .unwrap_or("")
            .contains("while a job runs"));
    }
}
