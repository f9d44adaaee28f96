//! Guided cutover checklists: a runbook file's phases and steps
//! ([`file`]), run in order with gates that refuse ([`run`]), their state
//! and audit trail kept in the journal so a killed process or a dropped
//! session continues at the same step ([`state`]), and `cutover runbook …`
//! ([`cmd`]).

pub mod active;
pub mod cmd;
pub mod file;
pub mod lock;
pub mod run;
pub mod state;
pub mod view;
