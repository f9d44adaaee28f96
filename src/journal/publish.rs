//! What the process holding the journal publishes for readers while it
//! holds it: the job list (`jobs.json`) and each job's report
//! (`reports/JOB.json`: its record and the results it keeps in full).
//! Written to a temporary name and renamed, private to the operator,
//! throttled while items change, at once when a job starts or stops.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::record::{ItemResult, JobInfo, JobRecord};
use super::{jerr, JobId, Journal, PUBLISH_EVERY};
use crate::error::{Error, Result};

/// A job's report as published: its record and its kept results.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PublishedReport {
    /// The job's record.
    pub job: JobRecord,
    /// The item results it keeps in full, in item order.
    pub results: Vec<ItemResult>,
}

impl Journal {
    /// The published job list beside the journal.
    pub fn published_file(state_dir: &Path) -> PathBuf {
        state_dir.join("jobs.json")
    }

    /// The published report of a job.
    pub fn report_file(state_dir: &Path, id: JobId) -> PathBuf {
        state_dir.join("reports").join(format!("{id}.json"))
    }

    /// Jobs as last published by the process holding the journal.
    pub fn read_published(state_dir: &Path) -> Result<Vec<JobInfo>> {
        Self::read_published_records(state_dir).map(infos)
    }

    /// Job records as last published by the process holding the journal.
    pub fn read_published_records(state_dir: &Path) -> Result<Vec<JobRecord>> {
        let path = Self::published_file(state_dir);
        let bytes = std::fs::read(&path).map_err(|e| Error::io("cannot read", &path, &e))?;
        serde_json::from_slice(&bytes).map_err(|e| jerr(&path, e))
    }

    /// A job's report as last published; `None` when none was.
    pub fn read_published_report(state_dir: &Path, id: JobId) -> Result<Option<PublishedReport>> {
        let path = Self::report_file(state_dir, id);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| jerr(&path, e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("cannot read", &path, &e)),
        }
    }

    /// Jobs, from the journal when no other process holds it, else as published.
    pub fn list(state_dir: &Path) -> Result<Vec<JobInfo>> {
        Self::list_records(state_dir).map(infos)
    }

    /// Job records, from the journal when no other process holds it, else as published.
    pub fn list_records(state_dir: &Path) -> Result<Vec<JobRecord>> {
        match Self::open(state_dir) {
            Ok(j) => j.records(),
            Err(Error::Locked(_)) => Self::read_published_records(state_dir),
            Err(e) => Err(e),
        }
    }

    /// A job's report, from the journal when no other process holds it,
    /// else as published; `None` for a job the journal does not have.
    pub fn report(state_dir: &Path, id: JobId) -> Result<Option<PublishedReport>> {
        match Self::open(state_dir) {
            Ok(j) => match j.record(id)? {
                Some(job) => Ok(Some(PublishedReport {
                    job,
                    results: j.results(id)?,
                })),
                None => Ok(None),
            },
            Err(Error::Locked(_)) => match Self::read_published_report(state_dir, id)? {
                Some(r) => Ok(Some(r)),
                // Started but no report published yet: its header only.
                None => Ok(Self::read_published_records(state_dir)?
                    .into_iter()
                    .find(|r| r.info.job == id)
                    .map(|job| PublishedReport {
                        job,
                        results: Vec::new(),
                    })),
            },
            Err(e) => Err(e),
        }
    }

    /// Note that a job's report must be published again.
    pub(super) fn mark_unpublished(&self, id: JobId) {
        if let Ok(mut set) = self.unpublished.lock() {
            set.insert(id);
        }
    }

    /// Publish the job list and the reports that changed; throttled unless `now`.
    pub(super) fn publish(&self, now: bool) {
        let Ok(mut last) = self.last_published.lock() else {
            return;
        };
        if !now && last.is_some_and(|t| t.elapsed() < PUBLISH_EVERY) {
            return;
        }
        *last = Some(Instant::now());
        let dir = self.state_dir().to_path_buf();
        let Ok(jobs) = self.records() else {
            return;
        };
        if let Ok(bytes) = serde_json::to_vec(&jobs) {
            write_private(&dir, &Self::published_file(&dir), &bytes);
        }
        let ids: Vec<JobId> = match self.unpublished.lock() {
            Ok(mut set) => std::mem::take(&mut *set).into_iter().collect(),
            Err(_) => return,
        };
        for id in ids {
            let (Some(job), Ok(results)) =
                (jobs.iter().find(|j| j.info.job == id), self.results(id))
            else {
                continue;
            };
            let report = PublishedReport {
                job: job.clone(),
                results,
            };
            if let Ok(bytes) = serde_json::to_vec(&report) {
                let file = Self::report_file(&dir, id);
                if let Some(parent) = file.parent() {
                    if crate::state_dir::create(parent).is_err() {
                        continue;
                    }
                }
                write_private(&dir, &file, &bytes);
            }
        }
    }
}

/// The plain job infos of records.
pub(super) fn infos(records: Vec<JobRecord>) -> Vec<JobInfo> {
    records.into_iter().map(|r| r.info).collect()
}

/// Write `bytes` to `file` (mode 0600) through a temporary name in its directory.
pub(super) fn write_private(state_dir: &Path, file: &Path, bytes: &[u8]) {
    let Some(name) = file.file_name() else {
        return;
    };
    let tmp = file.with_file_name(format!(".{}.tmp", name.to_string_lossy()));
    if crate::state_dir::write_private(&tmp, bytes, false).is_ok() {
        if let Err(e) = std::fs::rename(&tmp, file) {
            tracing::warn!(
                "cannot publish {} in {}: {e}",
                file.display(),
                state_dir.display()
            );
        }
    }
}
