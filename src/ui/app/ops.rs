//! Operations besides runs, every one reachable by a key: a kind's steps
//! on a source (`s`, then the step's key: a store's cut over, clean up,
//! roll back), rolling back the job under the cursor (`x` in Jobs), the
//! verification mode (`m`) and the items at once (`+` / `-`) of the jobs
//! to come. A step that deletes or replaces shows what goes first and waits
//! for `y` (or the typed name, when it cannot be undone).

use crossterm::event::{KeyCode, KeyEvent};

use crate::job::Preview;
use crate::ui::model::Pane;
use crate::verify::VerifyMode;

use super::confirm::{capitalised, change_lines, type_the_name};
use super::details::ask_details;
use super::{Command, Confirm, Dialog, Op, State, Then};

/// How an operation is named in messages (`clean up of pkgs`, `rollback of job #3`).
pub(super) fn op_name(state: &State, op: &Op) -> String {
    match op {
        Op::Step { source, name, .. } => {
            let src = state.sources.get(*source).map_or("?", |s| s.name.as_str());
            format!("{name} of {src}")
        }
        Op::Rollback { job, .. } => format!("rollback of job #{job}"),
    }
}

fn busy(state: &mut State) -> bool {
    if let Some(job) = state.active_job() {
        state.status = Some(format!("{} is running: wait for it", job.title()));
        return true;
    }
    false
}

/// The source under the cursor of the Sources or Selection pane.
fn source_under_cursor(state: &State) -> Option<usize> {
    match state.focus {
        Pane::Sources => Some(state.cursor.sources),
        Pane::Selection => state.selected().get(state.cursor.selection).copied(),
        _ => state.detail_source(),
    }
    .filter(|&i| i < state.sources.len())
}

/// `s`: the steps menu of the source under the cursor.
pub(super) fn open_steps(state: &mut State) -> Vec<Command> {
    let Some(i) = source_under_cursor(state) else {
        state.status = Some("no source here: move to one in Sources".into());
        return Vec::new();
    };
    let src = &state.sources[i];
    if src.steps.is_empty() {
        state.status = Some(format!(
            "{} ({}) has no steps besides its runs",
            src.name, src.kind
        ));
        return Vec::new();
    }
    state.dialog = Some(Dialog::Steps(i));
    Vec::new()
}

/// A key in the steps menu: a step's key asks what it would change.
pub(super) fn on_steps_key(state: &mut State, source: usize, ev: KeyEvent) -> Vec<Command> {
    let step = match ev.code {
        KeyCode::Esc | KeyCode::Char('q') => {
            state.dialog = None;
            return Vec::new();
        }
        KeyCode::Char(c) => state
            .sources
            .get(source)
            .and_then(|s| s.steps.iter().find(|st| st.key == c).copied()),
        _ => None,
    };
    let Some(step) = step else {
        return Vec::new();
    };
    state.dialog = None;
    if busy(state) {
        return Vec::new();
    }
    let op = Op::Step {
        source,
        key: step.key,
        name: step.name.to_string(),
    };
    state.status = Some(format!(
        "{}: looking at what it would change…",
        op_name(state, &op)
    ));
    vec![Command::Ask(op)]
}

/// `x` in the Jobs pane: roll back the job under the cursor (asks first).
pub(super) fn rollback(state: &mut State) -> Vec<Command> {
    if state.focus != Pane::Jobs {
        state.status = Some("x rolls back the job under the cursor in the Jobs pane".into());
        return Vec::new();
    }
    if busy(state) {
        return Vec::new();
    }
    let Some(row) = state.jobs.get(state.cursor.jobs).cloned() else {
        state.status = Some("no job to roll back".into());
        return Vec::new();
    };
    let op = Op::Rollback {
        job: row.job,
        kind: row.kind,
        params: row.params,
    };
    state.status = Some(format!(
        "{}: looking at what it would remove…",
        op_name(state, &op)
    ));
    vec![Command::Ask(op)]
}

/// The folder name an operation's typed confirmation asks for.
fn default_name(state: &State, op: &Op) -> String {
    let path = match op {
        Op::Step { source, .. } => state
            .sources
            .get(*source)
            .map(|s| s.target.clone())
            .unwrap_or_default(),
        Op::Rollback { params, .. } => params
            .get("target")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string(),
    };
    std::path::Path::new(&path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or(path)
}

/// What an operation would change arrived: run it, or ask.
pub(super) fn on_asked(
    state: &mut State,
    op: Op,
    preview: Result<Option<Preview>, String>,
) -> Vec<Command> {
    let what = op_name(state, &op);
    let preview = match preview {
        Ok(Some(p)) => p,
        Ok(None) => {
            state.status = Some(format!("{what}: running…"));
            return vec![Command::Do(op)];
        }
        Err(e) => {
            state.status = Some(format!("{what} not done: {e}"));
            return Vec::new();
        }
    };
    state.status = None;
    let changes = change_lines(&preview, "nothing to remove");
    let name = preview
        .name
        .clone()
        .unwrap_or_else(|| default_name(state, &op));
    let objection = preview.objection.is_some();
    state.dialog = Some(Dialog::Confirm(Box::new(Confirm {
        title: format!("{}?", capitalised(&what)),
        question: format!("{}:", capitalised(&what)),
        changes,
        note: preview
            .objection
            .unwrap_or_else(|| "The source is never modified.".into()),
        typed: None,
        input: String::new(),
        yes: "go on".into(),
        no: "change nothing".into(),
        then: Then::Op {
            op,
            objection,
            name,
        },
    })));
    Vec::new()
}

/// `y` (or the typed name) on an operation's question.
pub(super) fn confirmed(state: &mut State, then: Then) -> Vec<Command> {
    match then {
        Then::Op {
            op,
            objection: true,
            name,
        } => {
            let what = op_name(state, &op);
            state.dialog = Some(type_the_name(
                format!(
                    "{} cannot be undone. Type {name} and press enter.",
                    capitalised(&what)
                ),
                "esc changes nothing.",
                name,
                what,
                Then::OpForced(op),
            ));
            Vec::new()
        }
        Then::Op { op, .. } | Then::OpForced(op) => {
            state.status = Some(format!("{}: running…", op_name(state, &op)));
            vec![Command::Do(op)]
        }
        _ => Vec::new(),
    }
}

/// An operation finished: say so, and read again what it changed.
pub(super) fn on_done(state: &mut State, op: Op, result: Result<String, String>) -> Vec<Command> {
    let what = op_name(state, &op);
    state.status = Some(match &result {
        Ok(message) => format!("{what}: {message}"),
        Err(e) => format!("{what} failed: {e}"),
    });
    match op {
        Op::Step { source, .. } => ask_details(state, source).into_iter().collect(),
        Op::Rollback { .. } => vec![Command::RefreshJobs],
    }
}

/// The mode after `label`: full → sample=100 → sample=1000 → full.
fn next_mode(label: &str) -> VerifyMode {
    if label.starts_with("sample=1000") {
        VerifyMode::Full
    } else if label.starts_with("sample=") {
        VerifyMode::Sample(1000)
    } else {
        VerifyMode::Sample(100)
    }
}

/// `m`: the next verification mode for the jobs to come.
pub(super) fn next_verify(state: &mut State) -> Vec<Command> {
    vec![Command::SetVerify(next_mode(&state.verify))]
}

/// `+` / `-`: one more or one fewer item at once for the jobs to come.
pub(super) fn parallel(state: &mut State, delta: isize) -> Vec<Command> {
    let next = (state.parallel as isize + delta).clamp(1, 256) as usize;
    state.status = Some(if next == state.parallel {
        format!("items at once stays {next}")
    } else {
        format!("jobs to come run {next} items at once")
    });
    state.parallel = next;
    vec![Command::SetParallel(next)]
}

/// `[` / `]`: halve or double the running job's live rate limit.
pub(super) fn rate_limit(state: &mut State, raise: bool) -> Vec<Command> {
    let Some(m) = state.job.as_mut().filter(|m| m.active()) else {
        state.status =
            Some("no job is running: [ and ] change a running transfer's rate limit".into());
        return Vec::new();
    };
    let Some(now) = m.rate_limit else {
        state.status = Some(format!("{} has no rate limit to change", m.title()));
        return Vec::new();
    };
    let next = crate::ui::model::next_rate_limit(now, raise);
    m.rate_limit = Some(next);
    state.status = Some(if next == now {
        format!("{} already", crate::ui::model::rate_limit_label(now))
    } else {
        format!("{} from now on", crate::ui::model::rate_limit_label(next))
    });
    vec![Command::SetRateLimit(next)]
}

/// `w`: every usable source of the group at the Sources cursor, selected
/// (or unselected when all of them are).
pub(super) fn select_group(state: &mut State) {
    let at = state.cursor.sources;
    if state.focus != Pane::Sources || !state.shown_sources().contains(&at) {
        state.status = Some("w selects the group of the source at the cursor in Sources".into());
        return;
    }
    let Some(src) = state.sources.get(at) else {
        return;
    };
    let Some(group) = src.group.clone() else {
        state.status = Some(format!(
            "{} belongs to no group: space selects it alone",
            src.name
        ));
        return;
    };
    let kind = src.kind.clone();
    let members: Vec<usize> = (0..state.sources.len())
        .filter(|&i| {
            let s = &state.sources[i];
            s.kind == kind && s.group.as_deref() == Some(group.as_str()) && s.usable()
        })
        .collect();
    let all = members.iter().all(|&i| state.sources[i].selected);
    for &i in &members {
        state.sources[i].selected = !all;
    }
    state.status = Some(format!(
        "{} {} of {group}",
        if all { "unselected" } else { "selected" },
        match members.len() {
            1 => "the one source".to_string(),
            n => format!("all {n} sources"),
        }
    ));
    super::clamp_selection_cursor(state);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_modes_cycle() {
        assert_eq!(next_mode("full"), VerifyMode::Sample(100));
        assert_eq!(next_mode("sample=100 seed=7"), VerifyMode::Sample(1000));
        assert_eq!(next_mode("sample=1000 seed=7"), VerifyMode::Full);
        assert_eq!(next_mode("sample=5 seed=7"), VerifyMode::Sample(1000));
    }
}
