//! What the journal keeps of a runbook: each step's latest state (who
//! confirmed it, when, with which note, which job it ran) and an audit trail
//! of every event, keyed by the runbook's file (absolute path) and name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::journal::Journal;

/// Where a step stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    /// Not reached yet.
    Pending,
    /// Running now (or when the process died: shown as interrupted).
    Running,
    /// Ran and passed its gate.
    Passed,
    /// Ran and failed: the next run retries it, never skips it.
    Failed,
    /// A manual step the operator confirmed.
    Confirmed,
    /// Skipped, with a reason.
    Skipped,
    /// Was running when cutover stopped: checked again, never assumed done.
    Interrupted,
}

impl StepState {
    /// Whether the runbook may go past it.
    pub fn done(self) -> bool {
        matches!(
            self,
            StepState::Passed | StepState::Confirmed | StepState::Skipped
        )
    }

    /// The word for it (`passed`).
    pub fn word(self) -> &'static str {
        match self {
            StepState::Pending => "pending",
            StepState::Running => "running",
            StepState::Passed => "passed",
            StepState::Failed => "failed",
            StepState::Confirmed => "confirmed",
            StepState::Skipped => "skipped",
            StepState::Interrupted => "interrupted",
        }
    }
}

/// A step's latest record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// Its state.
    pub state: StepState,
    /// Who ran or confirmed it.
    pub by: Option<String>,
    /// When (Unix seconds).
    pub at: Option<u64>,
    /// The operator's note, or what the gate found.
    pub note: Option<String>,
    /// The job a `cutover` step ran.
    pub job: Option<u64>,
}

impl Default for StepRecord {
    fn default() -> Self {
        StepRecord {
            state: StepState::Pending,
            by: None,
            at: None,
            note: None,
            job: None,
        }
    }
}

/// One entry of the audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    /// When (Unix seconds).
    pub at: u64,
    /// Who.
    pub by: String,
    /// The phase (`window`, or `rollback of window`).
    pub phase: String,
    /// The step.
    pub id: String,
    /// `started`, `passed`, `failed`, `confirmed`, `interrupted`, `reset`…
    pub event: String,
    /// What was noted.
    pub note: Option<String>,
    /// The job a `cutover` step ran.
    pub job: Option<u64>,
}

/// A runbook's key in the journal: its file's absolute path and its name.
pub fn key(file: &Path, name: &str) -> String {
    let abs = std::fs::canonicalize(file)
        .or_else(|_| std::path::absolute(file))
        .unwrap_or_else(|_| PathBuf::from(file));
    format!("{}#{name}", crate::names::display(&abs))
}

/// The operator's name: `--operator`, else `$USER`, else `$LOGNAME`, else
/// the account of this process's user id (a root shell started by `sudo -i`
/// or a service may have neither variable), else `uid N`.
pub fn operator(flag: Option<&str>) -> String {
    let from_env = |name: &str| std::env::var(name).ok().filter(|u| !u.is_empty());
    flag.map(str::to_string)
        .or_else(|| from_env("USER"))
        .or_else(|| from_env("LOGNAME"))
        .unwrap_or_else(account_name)
}

/// The name of this process's user id in the password database.
fn account_name() -> String {
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 4096];
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; `buf` outlives its use.
    let rc = unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut found) };
    if rc == 0 && !found.is_null() && !pwd.pw_name.is_null() {
        // SAFETY: getpwuid_r filled pw_name with a NUL-terminated string in `buf`.
        let name = unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) };
        if let Ok(name) = name.to_str() {
            if !name.is_empty() {
                return name.to_string();
            }
        }
    }
    format!("uid {uid}")
}

/// The journal, as whoever runs a runbook reaches it: opened for each
/// access (headless: a `cutover` step opens it in between), or held (the
/// console holds it for its whole life).
#[derive(Clone)]
pub enum Store {
    /// Open the journal in this state directory for each access.
    Dir(PathBuf),
    /// The journal the console holds.
    Held(std::sync::Arc<Journal>),
}

impl Store {
    fn with<T>(&self, f: impl FnOnce(&Journal) -> Result<T>) -> Result<T> {
        match self {
            Store::Dir(dir) => f(&Journal::open(dir)?),
            Store::Held(j) => f(j),
        }
    }

    /// Every step's record, by id.
    pub fn records(&self, key: &str) -> Result<BTreeMap<String, StepRecord>> {
        if let Store::Dir(dir) = self {
            if !Journal::file_in(dir).exists() {
                return Ok(BTreeMap::new());
            }
        }
        self.with(|j| Ok(j.runbook_steps(key)?.into_iter().collect()))
    }

    /// Record a step's new state and its audit entry, durably.
    pub fn record(
        &self,
        key: &str,
        step: &str,
        record: &StepRecord,
        entry: &LogEntry,
    ) -> Result<()> {
        self.with(|j| j.record_runbook_step(key, step, record, entry))
    }

    /// Record that `operator` moved step `id` (of `phase`) to `state`, with
    /// its audit entry (the state's word; `started` for running): the one
    /// way both the headless runner and the console record a step.
    #[allow(clippy::too_many_arguments)]
    pub fn set_step(
        &self,
        key: &str,
        operator: &str,
        phase: &str,
        id: &str,
        state: StepState,
        note: Option<String>,
        job: Option<u64>,
    ) -> Result<()> {
        let at = crate::journal::now_unix();
        let record = StepRecord {
            state,
            by: Some(operator.to_string()),
            at: Some(at),
            note: note.clone(),
            job,
        };
        let entry = LogEntry {
            at,
            by: operator.to_string(),
            phase: phase.to_string(),
            id: id.to_string(),
            event: match state {
                StepState::Running => "started".to_string(),
                other => other.word().to_string(),
            },
            note,
            job,
        };
        self.record(key, id, &record, &entry)
    }
}

/// Every step's record, by id: from the journal, or — while another
/// cutover (the console) holds it — as that process published them.
pub fn records(state_dir: &Path, key: &str) -> Result<BTreeMap<String, StepRecord>> {
    let (steps, _) = Journal::runbook_state::<StepRecord, LogEntry>(state_dir, key)?;
    Ok(steps.into_iter().collect())
}

/// The audit trail, oldest first (published, while another process holds the journal).
pub fn log(state_dir: &Path, key: &str) -> Result<Vec<LogEntry>> {
    let (_, log) = Journal::runbook_state::<StepRecord, LogEntry>(state_dir, key)?;
    Ok(log)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_account_name_stands_in_for_an_unset_user() {
        let name = super::account_name();
        assert!(!name.is_empty());
        // SAFETY: getuid cannot fail.
        if unsafe { libc::getuid() } == 0 {
            assert_eq!(name, "root");
        }
        assert_eq!(super::operator(Some("ana")), "ana");
    }
}
