//! The console's one confirmation for steps that delete or replace: a run
//! that asks first (a final sync) is previewed off the UI thread, its
//! changes are shown (counts and first names), and it starts only after
//! `y` — or, when its kind objects (no bulk copy wrote that target), only
//! after the operator types the target's name. `n` / `esc` drop the run and
//! change nothing; the queue goes on with the next one.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::job::{Change, Preview};
use crate::ui::fmt;
use crate::ui::model::RunMode;

use super::queue::{job_name, next_in_queue};
use super::{Command, Confirm, Dialog, State, Then};

/// One line of a change: `delete 3 entries: a, b, c, …`.
pub(super) fn change_line(c: &Change) -> String {
    let what = if c.count == 1 { "entry" } else { "entries" };
    let mut line = format!("{} {} {what}", c.verb, fmt::count(c.count));
    if !c.first.is_empty() {
        line.push_str(": ");
        line.push_str(&c.first.join(", "));
        if c.count > c.first.len() as u64 {
            line.push_str(", …");
        }
    }
    line
}

/// Every change `preview` would make, one line each, or `nothing` when it
/// would change nothing.
pub(super) fn change_lines(preview: &Preview, nothing: &str) -> Vec<String> {
    let lines: Vec<String> = preview
        .changes
        .iter()
        .filter(|c| c.count > 0)
        .map(change_line)
        .collect();
    if lines.is_empty() {
        vec![nothing.to_string()]
    } else {
        lines
    }
}

/// The second question of a step its kind objects to: go on only once the
/// operator has typed `name` out.
pub(super) fn type_the_name(
    question: String,
    note: &str,
    name: String,
    yes: String,
    then: Then,
) -> Dialog {
    Dialog::Confirm(Box::new(Confirm {
        title: "Type the name".into(),
        question,
        changes: Vec::new(),
        note: note.into(),
        typed: Some(name),
        input: String::new(),
        yes,
        no: "change nothing".into(),
        then,
    }))
}

/// The target a run writes, as the operator knows it (the first source's).
fn target_of(state: &State, sources: &[usize]) -> String {
    let targets: Vec<&str> = sources
        .iter()
        .filter_map(|&i| state.sources.get(i))
        .map(|s| s.target.as_str())
        .collect();
    common_target(&targets)
}

/// One target, or — sources each with its own (a stack's services) — the
/// directory they share, saying each goes into its own.
fn common_target(targets: &[&str]) -> String {
    let Some(first) = targets.first() else {
        return String::new();
    };
    if targets.iter().all(|t| t == first) {
        return first.to_string();
    }
    let mut shared: Vec<&str> = first.split('/').collect();
    for t in &targets[1..] {
        let same = shared
            .iter()
            .zip(t.split('/'))
            .take_while(|(a, b)| *a == b)
            .count();
        shared.truncate(same);
    }
    match shared.join("/") {
        dir if dir.is_empty() => "their own targets".to_string(),
        dir => format!("{dir}/… (each its own)"),
    }
}

/// The name to type: the last part of the target path.
fn name_to_type(target: &str) -> String {
    std::path::Path::new(target)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| target.to_string())
}

/// What a run that asks first would change arrived: ask.
pub(super) fn on_previewed(
    state: &mut State,
    sources: Vec<usize>,
    mode: RunMode,
    preview: Result<Preview, String>,
) -> Vec<Command> {
    state.previewing = false;
    if !state.status_sticky {
        state.status = None;
    }
    let front = state
        .queue
        .front()
        .is_some_and(|r| r.sources == sources && r.mode == mode);
    if !front {
        return Vec::new();
    }
    let name = job_name(state, &sources);
    let preview = match preview {
        Ok(p) => p,
        Err(e) => {
            state.queue.pop_front();
            state.status = Some(format!("{} of {name} not started: {e}", mode.label()));
            return next_in_queue(state);
        }
    };
    let target = target_of(state, &sources);
    let changes = change_lines(&preview, "nothing to change: the target is up to date");
    let note = match &preview.objection {
        Some(why) => why.clone(),
        None if preview.destroys() > 0 => {
            "What is deleted or replaced in the target is gone; the source is never modified."
                .into()
        }
        None => "The source is never modified.".into(),
    };
    state.dialog = Some(Dialog::Confirm(Box::new(Confirm {
        title: format!("{}?", capitalised(mode.label())),
        question: format!("{} of {name} into {target}:", capitalised(mode.label())),
        changes,
        note,
        typed: None,
        input: String::new(),
        yes: format!("start the {}", mode.label()),
        no: "change nothing".into(),
        then: Then::StartQueued {
            objection: preview.objection.is_some(),
            name: preview.name.clone(),
        },
    })));
    Vec::new()
}

pub(super) fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// `y` (or the typed name): go on.
pub(super) fn confirmed(state: &mut State, then: Then) -> Vec<Command> {
    if matches!(then, Then::Op { .. } | Then::OpForced(_)) {
        return super::ops::confirmed(state, then);
    }
    match then {
        Then::RunbookStep { id } => return super::checklist::confirmed(id),
        Then::RunbookRollback { phase } => return vec![Command::RunbookRollback { phase }],
        _ => {}
    }
    let Some(run) = state.queue.front().cloned() else {
        return Vec::new();
    };
    let force = match then {
        Then::StartQueued {
            objection: true,
            name: Some(name),
        } => {
            // The kind objects and names what to type (e.g. the target node).
            state.dialog = Some(type_the_name(
                format!(
                    "Type {name} and press enter to {} anyway.",
                    run.mode.label()
                ),
                "What it replaces or destroys on the target is gone; the source is never modified.",
                name,
                format!("{} anyway", run.mode.label()),
                Then::StartForced,
            ));
            return Vec::new();
        }
        Then::StartQueued {
            objection: true,
            name: None,
        } => {
            // The kind objects: a second question, answered by typing.
            let target = target_of(state, &run.sources);
            let name = name_to_type(&target);
            state.dialog = Some(type_the_name(
                format!(
                    "No bulk copy journalled here wrote {target}. Type {name} and press enter to {} anyway.",
                    run.mode.label()
                ),
                "Files in the target that the source does not have will be deleted.",
                name,
                format!("{} anyway", run.mode.label()),
                Then::StartForced,
            ));
            return Vec::new();
        }
        Then::StartQueued {
            objection: false, ..
        } => false,
        Then::StartForced => true,
        Then::Op { .. } | Then::OpForced(_) => return super::ops::confirmed(state, then),
        Then::RunbookStep { .. } | Then::RunbookRollback { .. } => return Vec::new(),
    };
    if let Some(front) = state.queue.front_mut() {
        front.confirmed = true;
        front.force = force;
    }
    state.status = None;
    next_in_queue(state)
}

/// `n` / `esc`: drop the run, change nothing, go on with the queue.
pub(super) fn declined(state: &mut State, then: Then) -> Vec<Command> {
    match then {
        Then::RunbookStep { id } => {
            state.status = Some(format!("{id} not confirmed: it waits"));
            Vec::new()
        }
        Then::RunbookRollback { .. } => {
            state.status = Some("no rollback: the runbook goes on".into());
            Vec::new()
        }
        Then::Op { op, .. } | Then::OpForced(op) => {
            state.status = Some(format!(
                "{} not done: nothing was changed",
                super::ops::op_name(state, &op)
            ));
            Vec::new()
        }
        Then::StartQueued { .. } | Then::StartForced => {
            let Some(run) = state.queue.pop_front() else {
                return Vec::new();
            };
            let name = job_name(state, &run.sources);
            state.status = Some(format!(
                "{} of {name} not started: nothing was changed",
                run.mode.label()
            ));
            next_in_queue(state)
        }
    }
}

/// A key while a typed confirmation is on screen: characters, backspace,
/// enter (goes on only when the name matches), esc (changes nothing).
pub(super) fn on_typed_key(state: &mut State, ev: KeyEvent) -> Vec<Command> {
    let Some(Dialog::Confirm(c)) = state.dialog.as_mut() else {
        return Vec::new();
    };
    match ev.code {
        KeyCode::Esc => {
            let then = c.then.clone();
            state.dialog = None;
            declined(state, then)
        }
        KeyCode::Char('c') if ev.modifiers.contains(KeyModifiers::CONTROL) => {
            let then = c.then.clone();
            state.dialog = None;
            declined(state, then)
        }
        KeyCode::Enter => {
            if c.typed.as_deref() == Some(c.input.as_str()) {
                let then = c.then.clone();
                state.dialog = None;
                confirmed(state, then)
            } else {
                state.status = Some(format!(
                    "type {} exactly, or esc to change nothing",
                    c.typed.clone().unwrap_or_default()
                ));
                Vec::new()
            }
        }
        KeyCode::Backspace => {
            c.input.pop();
            Vec::new()
        }
        KeyCode::Char(ch) => {
            c.input.push(ch);
            Vec::new()
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::common_target;

    #[test]
    fn several_targets_are_named_by_the_directory_they_share() {
        assert_eq!(common_target(&["/mnt/new"]), "/mnt/new");
        assert_eq!(common_target(&["/mnt/new", "/mnt/new"]), "/mnt/new");
        assert_eq!(
            common_target(&["gamma:/srv/appdata/web app", "gamma:/srv/appdata/mail"]),
            "gamma:/srv/appdata/… (each its own)"
        );
        assert_eq!(
            common_target(&["gamma:/srv/appdata/web", "gamma:/srv/appdata/web-db"]),
            "gamma:/srv/appdata/… (each its own)"
        );
        assert_eq!(common_target(&["a:x", "b:y"]), "their own targets");
        assert_eq!(common_target(&[]), "");
    }
}
