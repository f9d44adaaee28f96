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

/// What the journal keeps of a job beyond [`JobInfo`] (kept in the same
/// record, so journals written before these fields read as their defaults).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobRun {
    /// How the job ran: `bulk`, `final`, `verify`, `migrate`… Empty in
    /// journals older than modes (those jobs all wrote their target).
    #[serde(default)]
    pub mode: String,
    /// When the job last stopped (completed, failed, interrupted); none while running.
    #[serde(default)]
    pub ended_unix: Option<u64>,
    /// Warnings of its items' latest results (exact, kept or not).
    #[serde(default)]
    pub warnings: u64,
    /// Failed items whose reason is kept in full (at most [`KEEP_FAILURES`]).
    #[serde(default)]
    pub failures_kept: u64,
    /// Warning messages kept in full (at most [`KEEP_WARNINGS`]).
    #[serde(default)]
    pub warnings_kept: u64,
    /// The summary of the job's latest run.
    #[serde(default)]
    pub summary: Option<crate::job::event::Summary>,
    /// How many items the kind's own record held done when the job was
    /// created (`Plan::done_before`), so a resume can tell those the job
    /// finished but whose journal lines a kill lost. None in older journals.
    #[serde(default)]
    pub done_before_start: Option<u64>,
}

/// The mode of a job that only verified its target (never resumable as a writer).
pub const MODE_VERIFY: &str = "verify";

/// Failed items whose reason, report and rows a job keeps in full.
pub const KEEP_FAILURES: u64 = 1000;
/// Warning messages a job keeps in full.
pub const KEEP_WARNINGS: u64 = 1000;

/// A job as stored: [`JobInfo`] and [`JobRun`], one JSON object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    /// What every reader of the journal knows of a job.
    #[serde(flatten)]
    pub info: JobInfo,
    /// How it ran, and the bookkeeping of its kept results.
    #[serde(flatten)]
    pub run: JobRun,
}

impl JobRecord {
    /// A path parameter of the job (`source`, `target`), as journalled.
    pub fn param_path(&self, name: &str) -> Option<&str> {
        self.info.params.get(name).and_then(|v| v.as_str())
    }

    /// Whether the job only verified (its mode is `verify`).
    pub fn verify_only(&self) -> bool {
        self.run.mode == MODE_VERIFY
    }

    /// When the job last stopped; none while it runs. Jobs recorded before
    /// end times stopped when last updated.
    pub fn ended_unix(&self) -> Option<u64> {
        match self.info.status {
            JobStatus::Running => None,
            _ => Some(self.run.ended_unix.unwrap_or(self.info.updated_unix)),
        }
    }

    /// Seconds from its first start to its last stop (to now while running).
    pub fn duration_s(&self, now_unix: u64) -> u64 {
        self.ended_unix()
            .unwrap_or_else(|| now_unix.max(self.info.updated_unix))
            .saturating_sub(self.info.created_unix)
    }
}

/// One item's latest result, kept when it failed or warned: what a report
/// shows. Beyond a job's bound only counts are kept (`reason` none,
/// `warnings` cut short).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ItemResult {
    /// The item's key.
    pub item: String,
    /// Whether the item failed.
    pub failed: bool,
    /// Every difference found, when it failed and the reason is kept.
    #[serde(default)]
    pub reason: Option<String>,
    /// Warning messages kept.
    #[serde(default)]
    pub warnings: Vec<String>,
    /// Warnings the item had, kept or not.
    #[serde(default)]
    pub warnings_total: u64,
    /// The item's report (empty when its failure is not kept).
    #[serde(default)]
    pub report: crate::job::event::ItemReport,
    /// The kind-specific rows of a failed item, each its NDJSON object.
    #[serde(default)]
    pub rows: Vec<serde_json::Value>,
}

impl ItemResult {
    /// The result of an item from its report; `None` when it verified
    /// without warnings (nothing to show).
    pub fn of(
        item: &str,
        reason: Option<&str>,
        report: &crate::job::event::ItemReport,
    ) -> Option<ItemResult> {
        if reason.is_none() && report.warnings.is_empty() {
            return None;
        }
        Some(ItemResult {
            item: item.to_string(),
            failed: reason.is_some(),
            reason: reason.map(str::to_string),
            warnings: report.warnings.clone(),
            warnings_total: report.warnings.len() as u64,
            report: report.clone(),
            // Rows say where a failure lies; a report shows them with it.
            rows: report
                .rows
                .iter()
                .filter(|_| reason.is_some())
                .map(|r| serde_json::Value::Object(r.json_object()))
                .collect(),
        })
    }

    /// Whether anything beyond counts is kept.
    pub fn keeps_anything(&self) -> bool {
        self.reason.is_some() || !self.warnings.is_empty()
    }

    /// Take `old` out of the job's tallies and admit `new` within the
    /// job's bounds (cutting it short beyond them). Returns what to store.
    pub fn admit(
        run: &mut JobRun,
        old: Option<&ItemResult>,
        new: Option<ItemResult>,
    ) -> Option<ItemResult> {
        if let Some(old) = old {
            run.warnings = run.warnings.saturating_sub(old.warnings_total);
            if old.reason.is_some() {
                run.failures_kept = run.failures_kept.saturating_sub(1);
            }
            run.warnings_kept = run.warnings_kept.saturating_sub(old.warnings.len() as u64);
        }
        let mut new = new?;
        run.warnings += new.warnings_total;
        if new.reason.is_some() {
            if run.failures_kept < KEEP_FAILURES {
                run.failures_kept += 1;
            } else {
                new.reason = None;
                new.rows.clear();
            }
        }
        let room = KEEP_WARNINGS.saturating_sub(run.warnings_kept);
        new.warnings
            .truncate(usize::try_from(room).unwrap_or(usize::MAX));
        run.warnings_kept += new.warnings.len() as u64;
        if !new.keeps_anything() {
            // Counts only.
            new.report = crate::job::event::ItemReport::default();
            new.rows.clear();
        }
        Some(new)
    }
}
