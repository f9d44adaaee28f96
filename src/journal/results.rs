//! Item results in the journal: each item's state, and — when it failed or
//! warned — its latest result, kept in full up to the job's bounds
//! ([`KEEP_FAILURES`], [`KEEP_WARNINGS`]) and as counts beyond them, so a
//! report's counts stay exact while its size stays bounded.

use redb::{ReadableTable, WriteTransaction};

use super::record::{ItemResult, ItemState, JobRecord};
#[cfg(doc)]
use super::record::{KEEP_FAILURES, KEEP_WARNINGS};
use super::{jerr, now_unix, JobId, Journal, ITEMS, JOBS, OVERFLOW, RESULTS};
use crate::error::Result;

impl Journal {
    /// Record an item's new state and, for a finished item, its result
    /// (`None`: verified without warnings), keeping the job's counters in
    /// step, in one commit.
    pub fn record_item(
        &self,
        id: JobId,
        key: &str,
        state: &ItemState,
        result: Option<ItemResult>,
    ) -> Result<()> {
        let bytes = serde_json::to_vec(state).map_err(|e| jerr(&self.path, e))?;
        let finished = matches!(state, ItemState::Verified | ItemState::Failed { .. });
        let path = self.path.clone();
        self.write(false, |txn| {
            let mut items = txn.open_table(ITEMS)?;
            let old: Option<ItemState> = items
                .get((id, key))?
                .and_then(|v| serde_json::from_slice(v.value()).ok());
            items.insert((id, key), bytes.as_slice())?;
            let mut jobs = txn.open_table(JOBS)?;
            let job_bytes = jobs.get(id)?.map(|v| v.value().to_vec());
            let Some(mut job) =
                job_bytes.and_then(|b| serde_json::from_slice::<JobRecord>(&b).ok())
            else {
                tracing::warn!("journal {}: item of unknown job {id}", path.display());
                return Ok(());
            };
            job.info.count(old.as_ref(), -1);
            job.info.count(Some(state), 1);
            job.info.updated_unix = now_unix();
            if finished {
                keep_result(txn, &mut job, id, key, result)?;
            }
            if let Ok(b) = serde_json::to_vec(&job) {
                jobs.insert(id, b.as_slice())?;
            }
            Ok(())
        })?;
        if finished {
            self.mark_unpublished(id);
        }
        self.publish(false);
        Ok(())
    }

    /// The results a job keeps in full, in item order.
    pub fn results(&self, id: JobId) -> Result<Vec<ItemResult>> {
        let txn = self.read_txn()?;
        let table = match txn.open_table(RESULTS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(jerr(&self.path, e)),
        };
        let range = table
            .range((id, "")..(id + 1, ""))
            .map_err(|e| jerr(&self.path, e))?;
        self.decode_all(range)
    }
}

/// Replace an item's kept result within the job's bounds: in full in
/// `results`, as counts in `results_overflow`, or nowhere.
fn keep_result(
    txn: &WriteTransaction,
    job: &mut JobRecord,
    id: JobId,
    key: &str,
    result: Option<ItemResult>,
) -> std::result::Result<(), redb::Error> {
    let mut full = txn.open_table(RESULTS)?;
    let mut overflow = txn.open_table(OVERFLOW)?;
    let old = match full.remove((id, key))? {
        Some(v) => serde_json::from_slice::<ItemResult>(v.value()).ok(),
        None => None,
    };
    let old = match old {
        Some(o) => Some(o),
        None => overflow
            .remove((id, key))?
            .and_then(|v| serde_json::from_slice::<ItemResult>(v.value()).ok()),
    };
    let Some(new) = ItemResult::admit(&mut job.run, old.as_ref(), result) else {
        return Ok(());
    };
    let Ok(bytes) = serde_json::to_vec(&new) else {
        return Ok(());
    };
    if new.keeps_anything() {
        full.insert((id, key), bytes.as_slice())?;
    } else {
        overflow.insert((id, key), bytes.as_slice())?;
    }
    Ok(())
}
