//! The records the journal stores: jobs and item states (JSON values in redb).

use serde::{Deserialize, Serialize};

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Running,
    Interrupted,
    Completed,
    Failed,
}

impl std::fmt::Display for JobStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            JobStatus::Running => "running",
            JobStatus::Interrupted => "interrupted",
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
        })
    }
}

/// A job as the journal knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobInfo {
    pub job: u64,
    pub kind: String,
    pub status: JobStatus,
    pub items_total: u64,
    pub items_verified: u64,
    pub items_failed: u64,
    /// What `cutover resume` needs to rebuild the job.
    pub params: serde_json::Value,
    pub created_unix: u64,
    pub updated_unix: u64,
}

impl JobInfo {
    /// Adjust the counters for an item entering (`sign` 1) or leaving (-1) `state`.
    pub(crate) fn count(&mut self, state: Option<&ItemState>, sign: i64) {
        let apply = |n: &mut u64| {
            *n = if sign < 0 {
                n.saturating_sub(1)
            } else {
                *n + 1
            };
        };
        match state {
            Some(ItemState::Verified) => apply(&mut self.items_verified),
            Some(ItemState::Failed { .. }) => apply(&mut self.items_failed),
            _ => {}
        }
    }
}

/// The state of one item. Written before the work it names begins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum ItemState {
    /// Being written; not to be trusted if found after a crash.
    Running,
    /// Written; being verified.
    Verifying,
    /// Re-read from the target and found equal; skipped on resume.
    Verified,
    /// Failed with this reason; redone on resume.
    Failed { reason: String },
}
