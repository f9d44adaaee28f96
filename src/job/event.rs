//! The events a running job emits. Both front ends (console and headless)
//! consume exactly this stream, so it is the contract between the engine and
//! everything that shows progress.

use serde::{Deserialize, Serialize};

/// Identifier of a job in the journal.
pub type JobId = u64;

/// What happened to one item once the engine is done with it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ItemReport {
    /// Entries (files, symlinks, dirs) the item covers in the source.
    pub files: u64,
    /// Bytes of regular-file content the item covers.
    pub bytes: u64,
    /// Files whose data was written to the target in this run.
    pub files_transferred: u64,
    /// Bytes written to the target in this run.
    pub bytes_transferred: u64,
    /// Target entries deleted because the source no longer has them (final sync).
    pub files_deleted: u64,
    /// Bytes the target did not need to store (dedup, sharing); 0 where the kind saves nothing.
    pub space_saved_bytes: u64,
    /// Files whose content was hashed on both sides during verification.
    pub files_hashed: u64,
    /// Files whose content verification inherited instead of reading: the
    /// same file, untouched since it was read back for an earlier snapshot
    /// of the same dataset (btrfs-to-zfs).
    #[serde(skip_serializing_if = "is_zero")]
    pub files_inherited: u64,
    /// Non-fatal notes: files that vanished or changed while being copied.
    pub warnings: Vec<String>,
    /// Wall time spent on the item (copy + verify), in seconds.
    pub elapsed_s: f64,
    /// Kind-specific results of the item (redb: one per table), printed
    /// as their own NDJSON lines before the item's result, not inside it.
    #[serde(skip)]
    pub rows: Vec<Row>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One kind-specific result of an item, printed as one NDJSON line
/// `{"event": NAME, ...fields}` (redb-to-sqlite: `"table"`).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The line's `"event"` value.
    pub name: String,
    pub fields: serde_json::Map<String, serde_json::Value>,
}

impl Row {
    /// A row from any serialisable value (its fields).
    pub fn of(name: &str, value: &impl Serialize) -> Row {
        let fields = match serde_json::to_value(value) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        };
        Row {
            name: name.to_string(),
            fields,
        }
    }

    /// The NDJSON line: `event` first, then the fields.
    pub fn json_line(&self) -> String {
        serde_json::Value::Object(self.json_object()).to_string()
    }

    /// The NDJSON object: `event` first, then the fields.
    pub fn json_object(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut map = serde_json::Map::new();
        map.insert("event".into(), self.name.clone().into());
        map.extend(self.fields.clone());
        map
    }

    /// Back from its NDJSON object (`None` without an `event` name).
    pub fn from_object(value: &serde_json::Value) -> Option<Row> {
        let mut fields = value.as_object()?.clone();
        let name = fields.remove("event")?.as_str()?.to_string();
        Some(Row { name, fields })
    }

    /// `NAME key=value …`, for kinds with no layout of their own.
    pub fn plain_line(&self) -> String {
        let fields: Vec<String> = self
            .fields
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
            .collect();
        format!("  {} {}", self.name, fields.join(" "))
    }
}

/// Totals of a finished job; the last line of every headless run.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Summary {
    pub job: JobId,
    pub kind: String,
    pub items_total: u64,
    pub items_verified: u64,
    pub items_failed: u64,
    pub files: u64,
    pub bytes: u64,
    pub bytes_transferred: u64,
    pub files_transferred: u64,
    pub files_deleted: u64,
    pub space_saved_bytes: u64,
    pub warnings: u64,
    pub elapsed_s: f64,
    /// True when the operator cancelled the job before every item finished.
    pub cancelled: bool,
    /// True for a dry run: nothing was written or verified.
    pub dry_run: bool,
}

impl Summary {
    /// Whether every item of the plan was verified.
    pub fn all_verified(&self) -> bool {
        !self.cancelled
            && self.items_failed == 0
            && (self.dry_run || self.items_verified == self.items_total)
    }
}

/// One event of a job, serialised as one NDJSON line with an `"event"` field.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The plan is ready; the job is about to run its items.
    JobStarted {
        job: JobId,
        kind: String,
        items_total: u64,
        /// Items already verified by an earlier run of the same job (resume).
        items_skipped: u64,
        files_total: u64,
        bytes_total: u64,
        /// How items are verified, e.g. `full` or `sample=100 seed=42`.
        verify: String,
        dry_run: bool,
        /// What the kind's items and entries are called.
        units: super::Units,
    },
    /// Dry run only: a step the plan would execute.
    PlanStep {
        job: JobId,
        item: String,
        action: String,
    },
    /// An item began (copy or verification).
    ItemStarted { job: JobId, item: String },
    /// Coalesced progress counters for the whole job (may be dropped under load).
    Progress {
        job: JobId,
        files_done: u64,
        bytes_done: u64,
        files_total: u64,
        bytes_total: u64,
    },
    /// A non-fatal problem (a file vanished or changed mid-copy).
    Warning {
        job: JobId,
        item: String,
        message: String,
    },
    /// The item was written (or found current) and re-read from the target successfully.
    ItemVerified {
        job: JobId,
        item: String,
        report: ItemReport,
    },
    /// The item failed; `reason` names every difference found.
    ItemFailed {
        job: JobId,
        item: String,
        reason: String,
        report: ItemReport,
    },
    /// The job ended (all items done, or cancelled).
    Summary(Summary),
}

impl Event {
    /// The job this event belongs to.
    pub fn job(&self) -> JobId {
        match self {
            Event::JobStarted { job, .. }
            | Event::PlanStep { job, .. }
            | Event::ItemStarted { job, .. }
            | Event::Progress { job, .. }
            | Event::Warning { job, .. }
            | Event::ItemVerified { job, .. }
            | Event::ItemFailed { job, .. } => *job,
            Event::Summary(s) => s.job,
        }
    }
}
