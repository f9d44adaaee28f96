//! A job's mode: how it ran (`bulk`, `final`, `migrate`, `verify`), and
//! what that allows on resume — a verification never comes back as a job
//! that writes, nor a writing job as a verification.

use super::{JobId, RunOptions};
use crate::error::{Error, Result};
use crate::job::Migration;
use crate::journal::{JobRecord, Journal, MODE_VERIFY};

/// The mode a run is journalled in: `verify` for a verification, else the kind's.
pub fn mode_of(migration: &dyn Migration, opts: &RunOptions) -> &'static str {
    if opts.verify_only {
        MODE_VERIFY
    } else {
        migration.mode()
    }
}

/// A job may be resumed only as it first ran: a verification never comes
/// back as a job that writes.
pub(super) fn check_resumable(journal: &Journal, id: JobId, opts: &RunOptions) -> Result<()> {
    let Some(record) = journal.record(id)? else {
        return Err(Journal::no_such_job(journal.path(), id));
    };
    match (record.verify_only(), opts.verify_only) {
        (true, false) => Err(Error::bad(refuse_resume(&record))),
        (false, true) => Err(Error::bad(format!(
            "job {id} writes its target (mode {}): it is resumed as it ran, not as a verification",
            record.run.mode
        ))),
        _ => Ok(()),
    }
}

/// Why a job of mode `verify` is not resumed, in one line.
pub fn refuse_resume(record: &JobRecord) -> String {
    format!(
        "job {} only verified {} (mode verify) and wrote nothing: it is not resumed; run `cutover verify {} …` again to re-check",
        record.info.job,
        record.param_path("target").unwrap_or("its target"),
        record.info.kind
    )
}
