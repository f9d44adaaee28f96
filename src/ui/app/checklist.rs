//! The runbook's checklist in the console: `enter` acts on the current step
//! (runs it; a manual step asks for `y`, or the typed word of a dangerous
//! one; a failed gate is only retried), `x` rolls back the current phase
//! (asks). The runner does the work and sends the checklist back.

use crate::runbook::state::StepState;
use crate::runbook::view::Checklist;
use crate::ui::model::Pane;

use super::{Command, Confirm, Dialog, State, Then};

/// The checklist, as the journal has it now.
pub(super) fn on_checklist(state: &mut State, list: Checklist) {
    let first = state.checklist.is_none();
    if list.finished() && !first {
        state.status = Some(format!("runbook '{}': every step passed", list.name));
    }
    state.checklist = Some(list);
    if first {
        state.focus = Pane::Checklist;
    }
}

/// `enter` in the checklist: act on the current step.
pub(super) fn act(state: &mut State) -> Vec<Command> {
    let Some(list) = &state.checklist else {
        return Vec::new();
    };
    let Some(i) = list.current() else {
        state.status = Some(if list.rolling_back.is_some() {
            "the rollback is done".into()
        } else {
            format!("runbook '{}': every step passed", list.name)
        });
        return Vec::new();
    };
    let step = list.steps[i].clone();
    match (step.kind, step.record.state) {
        ("manual", _) => {
            state.dialog = Some(Dialog::Confirm(Box::new(Confirm {
                title: "Confirm the step".into(),
                question: format!("{} ({}): {}", step.id, step.phase, step.text),
                changes: Vec::new(),
                note: "Confirm only once it is done: the journal records who and when.".into(),
                typed: step.confirm.clone(),
                input: String::new(),
                yes: "it is done".into(),
                no: "not yet".into(),
                then: Then::RunbookStep { id: step.id },
            })));
            Vec::new()
        }
        ("wait", StepState::Running) => {
            state.dialog = Some(Dialog::Confirm(Box::new(Confirm {
                title: "End the watch early?".into(),
                question: format!("{} ({}): {}", step.id, step.phase, step.text),
                changes: Vec::new(),
                note: "The watch window passes now, noted as ended early.".into(),
                typed: None,
                input: String::new(),
                yes: "end it now".into(),
                no: "keep watching".into(),
                then: Then::RunbookStep { id: step.id },
            })));
            Vec::new()
        }
        (_, StepState::Running) => {
            state.status = Some(format!("{} is running", step.id));
            Vec::new()
        }
        _ => {
            if state.active_job().is_some() || state.previewing {
                state.status = Some("a job is running: wait for it".into());
                return Vec::new();
            }
            state.status = Some(format!("{}: running…", step.id));
            vec![Command::RunbookStep {
                id: step.id,
                yes: false,
            }]
        }
    }
}

/// A confirmed step.
pub(super) fn confirmed(id: String) -> Vec<Command> {
    vec![Command::RunbookStep { id, yes: true }]
}

/// `x` in the checklist: roll back the current phase (asks).
pub(super) fn rollback(state: &mut State) -> Vec<Command> {
    let Some(list) = &state.checklist else {
        return Vec::new();
    };
    // The phase of the current step, else the last phase with a step done.
    let phase = list
        .current()
        .map(|i| list.steps[i].phase.clone())
        .or_else(|| {
            list.steps
                .iter()
                .rev()
                .find(|s| s.record.state.done())
                .map(|s| s.phase.clone())
        });
    let Some(phase) = phase else {
        return Vec::new();
    };
    let steps: Vec<String> = list
        .steps
        .iter()
        .filter(|s| s.rollback && s.phase == phase)
        .map(|s| format!("{}: {}", s.id, s.text))
        .collect();
    if steps.is_empty() {
        state.status = Some(format!("phase {phase} has no rollback steps"));
        return Vec::new();
    }
    state.dialog = Some(Dialog::Confirm(Box::new(Confirm {
        title: format!("Roll back {phase}?"),
        question: format!("Roll back phase {phase}: its rollback steps become the current ones:"),
        changes: steps,
        note: "Each step still runs or waits for your confirmation.".into(),
        typed: None,
        input: String::new(),
        yes: "roll back".into(),
        no: "keep going".into(),
        then: Then::RunbookRollback { phase },
    })));
    Vec::new()
}
