//! A runbook as the console's checklist shows it: every step of every
//! phase (and each phase's rollback steps) with its state, who confirmed it
//! and when, its note and its job; the current step is the first not done
//! (of the phase being rolled back, while one is).

use std::collections::BTreeMap;

use super::active::Loaded;
use super::file::Action;
use super::state::{StepRecord, StepState};

/// One line of the checklist.
#[derive(Debug, Clone, PartialEq)]
pub struct ChecklistStep {
    /// Its phase.
    pub phase: String,
    /// Its id.
    pub id: String,
    /// `manual`, `command`, `cutover`, `wait`.
    pub kind: &'static str,
    /// What it does.
    pub text: String,
    /// The word a dangerous manual step wants typed.
    pub confirm: Option<String>,
    /// Whether it belongs to its phase's rollback.
    pub rollback: bool,
    /// A watch window's length, in minutes.
    pub minutes: Option<f64>,
    /// Its latest record.
    pub record: StepRecord,
}

/// The checklist.
#[derive(Debug, Clone, PartialEq)]
pub struct Checklist {
    /// The runbook's name.
    pub name: String,
    /// Every step, in order: each phase's steps, then its rollback steps.
    pub steps: Vec<ChecklistStep>,
    /// The phase being rolled back, if one is.
    pub rolling_back: Option<String>,
}

impl Checklist {
    /// The step to act on: the first not done, among the phase's rollback
    /// steps while it is rolled back, else among the runbook's steps.
    pub fn current(&self) -> Option<usize> {
        self.steps.iter().position(|s| {
            let here = match &self.rolling_back {
                Some(p) => s.rollback && &s.phase == p,
                None => !s.rollback,
            };
            here && !s.record.state.done()
        })
    }

    /// Whether every step of the runbook passed.
    pub fn finished(&self) -> bool {
        self.rolling_back.is_none() && self.current().is_none()
    }
}

/// The checklist of `loaded` with the journal's `records`.
pub fn checklist(
    loaded: &Loaded,
    records: &BTreeMap<String, StepRecord>,
    rolling_back: Option<String>,
) -> Checklist {
    let mut steps = Vec::new();
    for p in &loaded.book.phases {
        for (rollback, list) in [(false, &p.steps), (true, &p.rollback)] {
            for s in list {
                steps.push(ChecklistStep {
                    phase: p.name.clone(),
                    id: s.id.clone(),
                    kind: s.action.kind(),
                    text: s.action.describe(),
                    confirm: match &s.action {
                        Action::Manual { confirm, .. } => confirm.clone(),
                        _ => None,
                    },
                    rollback,
                    minutes: match &s.action {
                        Action::Wait { minutes } => Some(*minutes),
                        _ => None,
                    },
                    record: records.get(&s.id).cloned().unwrap_or_default(),
                });
            }
        }
    }
    Checklist {
        name: loaded.book.name.clone(),
        steps,
        rolling_back,
    }
}

/// `✓`, `✗`, `…`, `!`, `·`: a step's state at a glance.
pub fn mark(state: StepState) -> &'static str {
    match state {
        StepState::Passed | StepState::Confirmed => "✓",
        StepState::Failed => "✗",
        StepState::Running => "…",
        StepState::Interrupted => "!",
        StepState::Skipped => "-",
        StepState::Pending => "·",
    }
}
