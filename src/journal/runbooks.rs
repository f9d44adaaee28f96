//! Runbook state in the journal: each step's latest record (state, who,
//! when, note, linked job) and the audit trail of everything that happened,
//! oldest first, both keyed by the runbook (its file's absolute path and
//! its name). Every write is durable: a confirmation is never lost.

use std::path::{Path, PathBuf};

use redb::{ReadableTable, TableDefinition};
use serde::{de::DeserializeOwned, Serialize};

use super::{jerr, Journal};
use crate::error::{Error, Result};

/// (runbook, step key) → the step's latest record (JSON).
const STEPS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("runbook_steps");
/// (runbook, sequence) → one entry of the audit trail (JSON).
const LOG: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("runbook_log");

/// A runbook's state as published for readers while another process holds
/// the journal: its step records and its audit trail, as JSON values.
#[derive(serde::Serialize, serde::Deserialize, Default)]
struct Published {
    steps: Vec<(String, serde_json::Value)>,
    log: Vec<serde_json::Value>,
}

/// A runbook's step records (by step key) and its audit trail.
pub type RunbookState<T, E> = (Vec<(String, T)>, Vec<E>);

/// Where a runbook's state is published: `runbooks/<hash of its key>.json`.
fn published_file(state_dir: &Path, runbook: &str) -> PathBuf {
    let hash = blake3::hash(runbook.as_bytes()).to_hex();
    state_dir
        .join("runbooks")
        .join(format!("{}.json", &hash[..16]))
}

impl Journal {
    /// Publish `runbook`'s steps and trail for readers (best effort).
    fn publish_runbook(&self, runbook: &str) {
        let (Ok(steps), Ok(log)) = (
            self.runbook_steps::<serde_json::Value>(runbook),
            self.runbook_log::<serde_json::Value>(runbook),
        ) else {
            return;
        };
        let file = published_file(self.state_dir(), runbook);
        if let Some(dir) = file.parent() {
            let _ = crate::state_dir::create(dir);
        }
        if let Ok(bytes) = serde_json::to_vec(&Published { steps, log }) {
            super::publish::write_private(self.state_dir(), &file, &bytes);
        }
    }

    /// A runbook's step records and trail, from the journal when no other
    /// process holds it, else as that process published them.
    pub fn runbook_state<T: DeserializeOwned, E: DeserializeOwned>(
        state_dir: &Path,
        runbook: &str,
    ) -> Result<RunbookState<T, E>> {
        if !Self::file_in(state_dir).exists() {
            return Ok((Vec::new(), Vec::new()));
        }
        match Self::open(state_dir) {
            Ok(j) => Ok((j.runbook_steps(runbook)?, j.runbook_log(runbook)?)),
            Err(Error::Locked(_)) => {
                let file = published_file(state_dir, runbook);
                let published: Published = match std::fs::read(&file) {
                    Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
                    Err(_) => Published::default(),
                };
                let steps = published
                    .steps
                    .into_iter()
                    .filter_map(|(k, v)| serde_json::from_value(v).ok().map(|r| (k, r)))
                    .collect();
                let log = published
                    .log
                    .into_iter()
                    .filter_map(|v| serde_json::from_value(v).ok())
                    .collect();
                Ok((steps, log))
            }
            Err(e) => Err(e),
        }
    }

    /// Every step record of `runbook`, by step key.
    pub fn runbook_steps<T: DeserializeOwned>(&self, runbook: &str) -> Result<Vec<(String, T)>> {
        let txn = self.read_txn()?;
        let table = match txn.open_table(STEPS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(jerr(&self.path, e)),
        };
        let mut out = Vec::new();
        let range = table
            .range((runbook, "")..)
            .map_err(|e| jerr(&self.path, e))?;
        for entry in range {
            let (k, v) = entry.map_err(|e| jerr(&self.path, e))?;
            let (book, step) = k.value();
            if book != runbook {
                break;
            }
            if let Ok(record) = serde_json::from_slice(v.value()) {
                out.push((step.to_string(), record));
            }
        }
        Ok(out)
    }

    /// Record a step's new state and append `entry` to the audit trail, in
    /// one durable commit.
    pub fn record_runbook_step<R: Serialize, E: Serialize>(
        &self,
        runbook: &str,
        step: &str,
        record: &R,
        entry: &E,
    ) -> Result<()> {
        let record = serde_json::to_vec(record).map_err(|e| jerr(&self.path, e))?;
        let entry = serde_json::to_vec(entry).map_err(|e| jerr(&self.path, e))?;
        self.write(true, |txn| {
            txn.open_table(STEPS)?
                .insert((runbook, step), record.as_slice())?;
            append(txn, runbook, &entry)
        })?;
        self.publish_runbook(runbook);
        Ok(())
    }

    /// The audit trail of `runbook`, oldest first.
    pub fn runbook_log<E: DeserializeOwned>(&self, runbook: &str) -> Result<Vec<E>> {
        let txn = self.read_txn()?;
        let table = match txn.open_table(LOG) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(jerr(&self.path, e)),
        };
        let range = table
            .range((runbook, 0)..=(runbook, u64::MAX))
            .map_err(|e| jerr(&self.path, e))?;
        let mut out = Vec::new();
        for entry in range {
            let (_, v) = entry.map_err(|e| jerr(&self.path, e))?;
            if let Ok(e) = serde_json::from_slice(v.value()) {
                out.push(e);
            }
        }
        Ok(out)
    }

    /// Forget every step's state of `runbook` (its audit trail stays, with
    /// `entry` saying it was reset).
    pub fn reset_runbook<E: Serialize>(&self, runbook: &str, entry: &E) -> Result<()> {
        let entry = serde_json::to_vec(entry).map_err(|e| jerr(&self.path, e))?;
        self.write(true, |txn| {
            let mut steps = txn.open_table(STEPS)?;
            let mut keys: Vec<String> = Vec::new();
            for entry in steps.range((runbook, "")..)? {
                let (k, _) = entry?;
                let (book, step) = k.value();
                if book != runbook {
                    break;
                }
                keys.push(step.to_string());
            }
            for k in keys {
                steps.remove((runbook, k.as_str()))?;
            }
            drop(steps);
            append(txn, runbook, &entry)
        })?;
        self.publish_runbook(runbook);
        Ok(())
    }
}

/// Append one entry to `runbook`'s audit trail.
fn append(
    txn: &redb::WriteTransaction,
    runbook: &str,
    entry: &[u8],
) -> std::result::Result<(), redb::Error> {
    let mut log = txn.open_table(LOG)?;
    let next = log
        .range((runbook, 0)..=(runbook, u64::MAX))?
        .next_back()
        .transpose()?
        .map_or(0, |(k, _)| k.value().1 + 1);
    log.insert((runbook, next), entry)?;
    Ok(())
}
