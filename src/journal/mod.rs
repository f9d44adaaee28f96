//! The journal: cutover's own memory on disk (a redb file in the state
//! directory). Every item's transition is committed before the work it
//! describes, so a killed process resumes without trusting half-done items.
//! One process at a time holds it (redb locks the file). So that `cutover
//! jobs` works while a job runs, the holder also publishes the job list to
//! `jobs.json` beside it (atomically, throttled), which readers use, and
//! each job's kept item results to `reports/JOB.json` (see `publish`).

mod publish;
mod record;
mod results;
mod runbooks;

pub use publish::PublishedReport;
pub use record::{
    ItemResult, ItemState, JobInfo, JobRecord, JobRun, JobStatus, KEEP_FAILURES, KEEP_WARNINGS,
    MODE_VERIFY,
};

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};

use crate::error::{Error, Result};

const JOBS: TableDefinition<u64, &[u8]> = TableDefinition::new("jobs");
const ITEMS: TableDefinition<(u64, &str), &[u8]> = TableDefinition::new("items");
const CHECKLIST: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("checklist");
/// Item results kept in full (bounded per job), by (job, item key).
const RESULTS: TableDefinition<(u64, &str), &[u8]> = TableDefinition::new("results");
/// Counts of item results beyond a job's bounds, by (job, item key).
const OVERFLOW: TableDefinition<(u64, &str), &[u8]> = TableDefinition::new("results_overflow");

/// How long non-durable item commits may pile up before one is made durable.
const DURABLE_EVERY: Duration = Duration::from_millis(500);

/// How often the job list is republished while items change.
const PUBLISH_EVERY: Duration = Duration::from_millis(500);

/// One row of a table of JSON values, as redb iterates it.
type RowResult<'a, K> = std::result::Result<
    (
        redb::AccessGuard<'a, K>,
        redb::AccessGuard<'a, &'static [u8]>,
    ),
    redb::StorageError,
>;

/// The journal file, held by this process.
pub struct Journal {
    db: Database,
    path: PathBuf,
    last_durable: Mutex<Instant>,
    last_published: Mutex<Option<Instant>>,
    /// Jobs whose results changed since their report was last published.
    unpublished: Mutex<BTreeSet<JobId>>,
}

fn jerr(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Journal(format!(
        "journal {}: {e}; check the state directory or move the file aside",
        crate::display_path(path)
    ))
}

/// Seconds since the epoch, now.
pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Journal {
    /// The journal file inside a state directory.
    pub fn file_in(state_dir: &Path) -> PathBuf {
        state_dir.join("journal.redb")
    }

    /// Open the journal for writing. Refused with [`Error::Locked`] when another
    /// cutover process holds it. Jobs left `running` by a dead process become
    /// `interrupted`.
    pub fn open(state_dir: &Path) -> Result<Self> {
        crate::state_dir::create(state_dir)?;
        let path = Self::file_in(state_dir);
        crate::state_dir::private_file(&path)?;
        let db = Database::create(&path)
            .map_err(|e| match e {
                redb::DatabaseError::DatabaseAlreadyOpen => Error::Locked(format!(
                    "the journal {} is in use by another cutover process; wait for it to finish, or use another --state-dir",
                    crate::display_path(&path)
                )),
                other => jerr(&path, other),
            })?;
        let journal = Journal {
            db,
            path,
            last_durable: Mutex::new(Instant::now()),
            last_published: Mutex::new(None),
            unpublished: Mutex::new(BTreeSet::new()),
        };
        journal.init_tables()?;
        journal.mark_stale_running()?;
        journal.publish(true);
        Ok(journal)
    }

    /// The one-line refusal for a job the journal at `file` does not have.
    pub fn no_such_job(file: &Path, id: JobId) -> Error {
        Error::bad(format!(
            "no job {id} in {}; `cutover jobs` lists them",
            crate::display_path(file)
        ))
    }

    /// The state directory that holds this journal.
    pub fn state_dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    /// Path of the journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read_txn(&self) -> Result<redb::ReadTransaction> {
        self.db.begin_read().map_err(|e| jerr(&self.path, e))
    }

    fn init_tables(&self) -> Result<()> {
        self.write(true, |txn| {
            txn.open_table(JOBS)?;
            txn.open_table(ITEMS)?;
            txn.open_table(CHECKLIST)?;
            txn.open_table(RESULTS)?;
            txn.open_table(OVERFLOW)?;
            Ok(())
        })
    }

    /// Run `f` in one write transaction and commit it. `durable` forces an fsync;
    /// otherwise one is made at most every [`DURABLE_EVERY`].
    fn write<T>(
        &self,
        durable: bool,
        f: impl FnOnce(&redb::WriteTransaction) -> std::result::Result<T, redb::Error>,
    ) -> Result<T> {
        let db = &self.db;
        let mut last = self
            .last_durable
            .lock()
            .map_err(|_| jerr(&self.path, "journal lock poisoned"))?;
        let durable = durable || last.elapsed() >= DURABLE_EVERY;
        let mut txn = db.begin_write().map_err(|e| jerr(&self.path, e))?;
        if !durable {
            txn.set_durability(Durability::None)
                .map_err(|e| jerr(&self.path, e))?;
        }
        let out = f(&txn).map_err(|e| jerr(&self.path, e))?;
        txn.commit().map_err(|e| jerr(&self.path, e))?;
        if durable {
            *last = Instant::now();
        }
        Ok(out)
    }

    /// Jobs left `running` by a dead process become `interrupted`; their
    /// reports, and any a reader could not find yet (a journal from before
    /// reports), are published again.
    fn mark_stale_running(&self) -> Result<()> {
        let state_dir = self.state_dir().to_path_buf();
        for mut job in self.records()? {
            let id = job.info.job;
            if job.info.status == JobStatus::Running {
                job.info.status = JobStatus::Interrupted;
                job.run.ended_unix = Some(job.info.updated_unix);
                self.put_job(&job, true)?;
                self.mark_unpublished(id);
            } else if !Self::report_file(&state_dir, id).exists() {
                self.mark_unpublished(id);
            }
        }
        Ok(())
    }

    fn put_job(&self, job: &JobRecord, durable: bool) -> Result<()> {
        let bytes = serde_json::to_vec(job).map_err(|e| jerr(&self.path, e))?;
        self.write(durable, |txn| {
            txn.open_table(JOBS)?
                .insert(job.info.job, bytes.as_slice())?;
            Ok(())
        })
    }

    /// Record a new job, `running` in `mode` (`bulk`, `verify`…), and return its id.
    pub fn create_job(
        &self,
        kind: &str,
        mode: &str,
        params: serde_json::Value,
        items_total: u64,
        done_before: u64,
    ) -> Result<JobId> {
        let next = {
            let txn = self.read_txn()?;
            let table = txn.open_table(JOBS).map_err(|e| jerr(&self.path, e))?;
            let last = table.last().map_err(|e| jerr(&self.path, e))?;
            last.map(|(k, _)| k.value() + 1).unwrap_or(1)
        };
        let job = JobRecord {
            info: JobInfo {
                job: next,
                kind: kind.to_string(),
                status: JobStatus::Running,
                items_total,
                items_verified: 0,
                items_failed: 0,
                params,
                created_unix: now_unix(),
                updated_unix: now_unix(),
            },
            run: JobRun {
                mode: mode.to_string(),
                done_before_start: Some(done_before),
                ..JobRun::default()
            },
        };
        self.put_job(&job, true)?;
        self.publish(true);
        Ok(next)
    }

    /// One job by id.
    pub fn job(&self, id: JobId) -> Result<Option<JobInfo>> {
        Ok(self.record(id)?.map(|r| r.info))
    }

    /// One job's whole record by id.
    pub fn record(&self, id: JobId) -> Result<Option<JobRecord>> {
        let txn = self.read_txn()?;
        let table = txn.open_table(JOBS).map_err(|e| jerr(&self.path, e))?;
        let Some(v) = table.get(id).map_err(|e| jerr(&self.path, e))? else {
            return Ok(None);
        };
        serde_json::from_slice(v.value())
            .map(Some)
            .map_err(|e| jerr(&self.path, e))
    }

    /// Every job, oldest first.
    pub fn jobs(&self) -> Result<Vec<JobInfo>> {
        self.records().map(publish::infos)
    }

    /// Every job's whole record, oldest first.
    pub fn records(&self) -> Result<Vec<JobRecord>> {
        let txn = self.read_txn()?;
        let table = match txn.open_table(JOBS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(jerr(&self.path, e)),
        };
        let rows = table.iter().map_err(|e| jerr(&self.path, e))?;
        self.decode_all(rows)
    }

    /// The JSON values of a table's rows, decoded.
    fn decode_all<'a, K: redb::Key + 'static, T: serde::de::DeserializeOwned>(
        &self,
        rows: impl Iterator<Item = RowResult<'a, K>>,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        for row in rows {
            let (_, v) = row.map_err(|e| jerr(&self.path, e))?;
            out.push(serde_json::from_slice(v.value()).map_err(|e| jerr(&self.path, e))?);
        }
        Ok(out)
    }

    /// Set a job's status (and its item totals) durably.
    pub fn set_job_status(&self, id: JobId, status: JobStatus, items_total: u64) -> Result<()> {
        self.update_job(id, |job| {
            job.info.status = status;
            job.info.items_total = items_total;
        })
    }

    /// Record how a job's run ended, with its summary, durably.
    pub fn end_job(
        &self,
        id: JobId,
        status: JobStatus,
        summary: &crate::job::event::Summary,
    ) -> Result<()> {
        self.update_job(id, |job| {
            job.info.status = status;
            job.info.items_total = summary.items_total;
            if job.verify_only() {
                // A verification records only items with something to show.
                job.info.items_verified = summary.items_verified;
                job.info.items_failed = summary.items_failed;
            } else {
                // Items whose every line a kill lost are in the summary
                // only (counted on resume, see `engine::start`).
                job.info.items_verified = job.info.items_verified.max(summary.items_verified);
            }
            job.run.summary = Some(summary.clone());
        })
    }

    fn update_job(&self, id: JobId, f: impl FnOnce(&mut JobRecord)) -> Result<()> {
        let Some(mut job) = self.record(id)? else {
            return Err(Error::bad(format!("no job {id} in the journal")));
        };
        f(&mut job);
        job.info.updated_unix = now_unix();
        job.run.ended_unix =
            (job.info.status != JobStatus::Running).then_some(job.info.updated_unix);
        self.put_job(&job, true)?;
        self.mark_unpublished(id);
        self.publish(true);
        Ok(())
    }

    /// Record an item's new state, keeping the job's counters in step, in one commit.
    pub fn set_item(&self, id: JobId, key: &str, state: &ItemState) -> Result<()> {
        self.record_item(id, key, state, None)
    }

    /// Every item state recorded for a job (keys are the plan's item keys).
    pub fn item_states(&self, id: JobId) -> Result<Vec<(String, ItemState)>> {
        let txn = self.read_txn()?;
        let table = txn.open_table(ITEMS).map_err(|e| jerr(&self.path, e))?;
        let mut out = Vec::new();
        let range = table
            .range((id, "")..(id + 1, ""))
            .map_err(|e| jerr(&self.path, e))?;
        for row in range {
            let (k, v) = row.map_err(|e| jerr(&self.path, e))?;
            let state = serde_json::from_slice(v.value()).map_err(|e| jerr(&self.path, e))?;
            out.push((k.value().1.to_string(), state));
        }
        Ok(out)
    }

    /// Record that a checklist step was confirmed (who, when, what).
    pub fn record_checklist(&self, id: JobId, step: u64, entry: &serde_json::Value) -> Result<()> {
        let bytes = serde_json::to_vec(entry).map_err(|e| jerr(&self.path, e))?;
        self.write(true, |txn| {
            txn.open_table(CHECKLIST)?
                .insert((id, step), bytes.as_slice())?;
            Ok(())
        })
    }

    /// Force every earlier commit to disk.
    pub fn flush(&self) -> Result<()> {
        self.write(true, |_| Ok(()))
    }
}

/// Identifier of a job.
pub type JobId = u64;

#[cfg(test)]
mod tests;
