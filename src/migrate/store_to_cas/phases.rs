//! The store's phases after (and around) the background migration: status
//! with health, cutover, cleanup of the old store, and rollback. Each
//! refusal says why and what to do; nothing is removed without its check.

use std::ffi::OsString;
use std::path::Path;

use serde::Serialize;

use super::check::{check_package, damaged_objects, CheckedObjects, DamagedObject};
use super::db;
use super::layout::Layout;
use crate::error::{Error, Result};
use crate::names;
use crate::verify::sample::Sample;

/// Error rate above which the store is unhealthy.
pub const MAX_ERROR_RATE: f64 = 0.05;
/// Free space on the store's filesystem below which a warning is shown.
pub const MIN_FREE_BYTES: u64 = 1 << 30;
/// Throughput below which the migration is called slow (bytes/s).
pub const SLOW_BYTES_PER_S: f64 = 1024.0 * 1024.0;

/// The numbers of a store, for `cutover store status` and the console.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct StoreStatus {
    pub packages: u64,
    pub pending: u64,
    pub in_progress: u64,
    pub completed: u64,
    pub failed: u64,
    pub rolled_back: u64,
    pub files: u64,
    pub objects: u64,
    /// Bytes of all package files (what a plain copy stores).
    pub logical_bytes: u64,
    /// Bytes of distinct objects (what the store holds).
    pub stored_bytes: u64,
    pub space_saved: u64,
    /// logical / stored.
    pub dedup_ratio: f64,
    /// Seconds to finish at the recent rate, while packages remain.
    pub eta_s: Option<f64>,
    pub cut_over: bool,
    pub cleaned_up: bool,
    pub rolled_back_store: bool,
    pub warnings: Vec<String>,
    /// Names of damaged objects (with `--verify`): see `damaged_objects`.
    pub corrupt_objects: Vec<String>,
    /// Each damaged object (with `--verify`): what is wrong with it
    /// (missing, writable, not a regular file, content does not match its
    /// name) and the packages that use it.
    pub damaged_objects: Vec<DamagedObject>,
    /// Failed packages and why.
    pub failures: Vec<(String, String)>,
}

fn q(e: rusqlite::Error) -> Error {
    Error::Journal(format!("store.db: {e}"))
}

/// Read the status of the store at `target`; `verify` re-hashes every object.
pub fn status(target: &Path, verify: bool) -> Result<StoreStatus> {
    let layout = Layout::new(target);
    let conn = db::open_read_only(&layout.db()).map_err(Error::bad)?;
    let mut s = StoreStatus::default();
    {
        let mut stmt = conn
            .prepare("SELECT status, COUNT(*) FROM store_migration GROUP BY status")
            .map_err(q)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
            })
            .map_err(q)?;
        for row in rows {
            let (st, n) = row.map_err(q)?;
            s.packages += n;
            match st.as_str() {
                "pending" => s.pending = n,
                "in_progress" => s.in_progress = n,
                "completed" => s.completed = n,
                "failed" => s.failed = n,
                "rolled_back" => s.rolled_back = n,
                _ => {}
            }
        }
    }
    let (files, logical, saved): (i64, i64, i64) = conn
        .query_row(
            "SELECT COALESCE(SUM(file_count),0), COALESCE(SUM(bytes),0), COALESCE(SUM(space_saved),0)
             FROM store_migration WHERE status = 'completed'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .map_err(q)?;
    s.files = files as u64;
    s.logical_bytes = logical as u64;
    s.space_saved = saved as u64;
    let (objects, stored): (i64, i64) = conn
        .query_row(
            "SELECT COUNT(*), COALESCE(SUM(size),0) FROM objects WHERE refcount > 0",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(q)?;
    s.objects = objects as u64;
    s.stored_bytes = stored as u64;
    s.dedup_ratio = if stored > 0 {
        logical as f64 / stored as f64
    } else {
        1.0
    };
    s.cut_over = db::state(&conn, "cut_over_at")
        .map_err(Error::bad)?
        .is_some();
    s.cleaned_up = db::state(&conn, "cleaned_up_at")
        .map_err(Error::bad)?
        .is_some();
    s.rolled_back_store = db::state(&conn, "rolled_back_at")
        .map_err(Error::bad)?
        .is_some();
    {
        let mut stmt = conn
            .prepare(
                "SELECT package_hash, COALESCE(error_message,'') FROM store_migration
                 WHERE status = 'failed' ORDER BY package_hash LIMIT 20",
            )
            .map_err(q)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(q)?;
        for row in rows {
            s.failures.push(row.map_err(q)?);
        }
    }
    // Rate over the last minute of completions, for the ETA and "slow".
    let now = db::now();
    let (recent, recent_bytes): (i64, i64) = conn
        .query_row(
            "SELECT COUNT(*), COALESCE(SUM(bytes),0) FROM store_migration
             WHERE completed_at >= ?1 AND status IN ('completed','failed')",
            [now - 60],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(q)?;
    let remaining = s.pending + s.in_progress;
    if remaining > 0 && recent > 0 {
        s.eta_s = Some(remaining as f64 / (recent as f64 / 60.0));
        if (recent_bytes as f64 / 60.0) < SLOW_BYTES_PER_S && s.in_progress > 0 {
            s.warnings.push(format!(
                "slow: {:.0} KiB/s over the last minute",
                recent_bytes as f64 / 60.0 / 1024.0
            ));
        }
    }
    let attempted = s.completed + s.failed;
    if attempted > 0 && s.failed as f64 / attempted as f64 > MAX_ERROR_RATE {
        s.warnings.push(format!(
            "error rate {:.1}% is over {:.0}%: {} of {} packages failed",
            100.0 * s.failed as f64 / attempted as f64,
            100.0 * MAX_ERROR_RATE,
            s.failed,
            attempted
        ));
    }
    if let Some(free) = free_bytes(target) {
        if free < MIN_FREE_BYTES {
            s.warnings.push(format!(
                "free space on the store's filesystem is low: {} left",
                humansize::format_size(free, humansize::BINARY)
            ));
        }
    }
    if verify {
        let expected = db::live_objects(&conn).map_err(Error::bad)?;
        let mut damaged = damaged_objects(&layout, &expected);
        for d in &mut damaged {
            d.packages = db::packages_using(&conn, &d.object, 5).map_err(Error::bad)?;
        }
        if !damaged.is_empty() {
            s.warnings.push(format!(
                "{} damaged objects (missing, writable, not a regular file, or content not matching the name); re-run the migration of the packages that use them after `cutover store rollback`, or restore the objects",
                damaged.len()
            ));
        }
        s.corrupt_objects = damaged.iter().map(|d| d.object.clone()).collect();
        s.damaged_objects = damaged;
    }
    Ok(s)
}

impl StoreStatus {
    /// Nothing failed and (with `--verify`) no object is damaged.
    pub fn healthy(&self) -> bool {
        self.failed == 0 && self.damaged_objects.is_empty() && self.corrupt_objects.is_empty()
    }
}

/// Free bytes on the filesystem holding `path`.
pub fn free_bytes(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: c is NUL-terminated and st is a valid out pointer.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    (rc == 0).then(|| st.f_bavail as u64 * st.f_frsize as u64)
}

/// The result of a phase: what was done, and whether everything checked out.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseResult {
    pub ok: bool,
    pub message: String,
    /// Per-package problems found while checking.
    pub problems: Vec<String>,
}

fn source_of(conn: &rusqlite::Connection) -> Result<String> {
    db::state(conn, "source")
        .map_err(Error::bad)?
        .ok_or_else(|| {
            Error::bad("store.db does not record its source store; run the migration first")
        })
}

/// Verify every completed package against the source, in full.
fn verify_all(layout: &Layout, source: &Path, packages: &[String]) -> Vec<String> {
    let checked = CheckedObjects::default();
    let mut problems = Vec::new();
    for p in packages {
        let Some(name) = names::decode_path(p) else {
            problems.push(format!("{p}: not a package name"));
            continue;
        };
        let name: OsString = name.into_os_string();
        let r = check_package(layout, source, &name, &Sample::all(), &checked, None);
        if !r.diff.is_empty() {
            problems.push(format!("{p}: {}", r.diff.summary()));
        }
    }
    problems
}

/// Cut over: refused while anything is pending, in progress or failed;
/// re-verifies every package, then marks the store cut over.
pub fn cutover(target: &Path) -> Result<PhaseResult> {
    let layout = Layout::new(target);
    let s = status(target, false)?;
    if s.rolled_back_store {
        return Err(Error::bad(
            "the store was rolled back; migrate again before cutting over",
        ));
    }
    if s.pending + s.in_progress + s.failed > 0 {
        return Err(Error::bad(format!(
            "cutover refused: {} pending, {} in progress, {} failed; finish the migration (cutover resume / run store-to-cas) first",
            s.pending, s.in_progress, s.failed
        )));
    }
    if s.completed == 0 {
        return Err(Error::bad("cutover refused: no package has been migrated"));
    }
    let mut conn = db::open(&layout.db(), false).map_err(Error::bad)?;
    let source = source_of(&conn)?;
    let packages = db::packages_with(&conn, "completed").map_err(Error::bad)?;
    let problems = verify_all(&layout, Path::new(&source), &packages);
    if !problems.is_empty() {
        return Ok(PhaseResult {
            ok: false,
            message: format!(
                "cutover refused: {} of {} packages do not verify",
                problems.len(),
                packages.len()
            ),
            problems,
        });
    }
    // What was verified is on stable storage before anything trusts it.
    crate::target::flush::syncfs_path(target).map_err(|e| {
        Error::Io(format!(
            "cannot flush store {} to disk: {e}",
            names::display(target)
        ))
    })?;
    db::mark_flushed(&mut conn).map_err(Error::bad)?;
    db::set_state(&conn, "cut_over_at", &db::now().to_string()).map_err(Error::bad)?;
    Ok(PhaseResult {
        ok: true,
        message: format!(
            "cut over: {} packages verified in the new store; the old store is still intact",
            packages.len()
        ),
        problems,
    })
}

/// Remove old package directories, each only after it verifies in the new store.
pub fn cleanup(source: &Path, target: &Path, confirm: bool) -> Result<PhaseResult> {
    if !confirm {
        return Err(Error::bad(
            "cleanup removes the old package directories; add --confirm to proceed",
        ));
    }
    let layout = Layout::new(target);
    let s = status(target, false)?;
    if !s.cut_over {
        return Err(Error::bad(
            "cleanup refused: the store is not cut over; run `cutover store cutover --target ...` first",
        ));
    }
    let conn = db::open(&layout.db(), false).map_err(Error::bad)?;
    let recorded = source_of(&conn)?;
    let csrc = source
        .canonicalize()
        .map_err(|e| Error::bad(format!("store {}: {e}", names::display(source))))?;
    if Path::new(&recorded) != csrc {
        return Err(Error::bad(format!(
            "cleanup refused: this store was migrated from {recorded}, not {}",
            names::display(source)
        )));
    }
    if !db::flushed_after_last_completion(&conn).map_err(Error::bad)? {
        return Err(Error::bad(format!(
            "cleanup refused: store.db does not record that store {} was flushed to disk after its last package completed; run `cutover store cutover --target {}` again (it flushes the store and records it)",
            names::display(target),
            names::display(target)
        )));
    }
    let packages = db::packages_with(&conn, "completed").map_err(Error::bad)?;
    // Packages an interrupted cleanup already began to remove have no (whole)
    // source left to compare with: they were verified right before it began.
    let mut pending = Vec::new();
    let mut resumed = Vec::new();
    for p in packages {
        match db::cleaned(&conn, &p).map_err(Error::bad)?.as_deref() {
            None => pending.push(p),
            Some("removing") => resumed.push(p),
            Some(_) => {}
        }
    }
    let problems = verify_all(&layout, &csrc, &pending);
    if !problems.is_empty() {
        return Ok(PhaseResult {
            ok: false,
            message: format!(
                "cleanup refused: {} packages do not verify in the new store; nothing was removed",
                problems.len()
            ),
            problems,
        });
    }
    db::set_state(&conn, "cleanup_started_at", &db::now().to_string()).map_err(Error::bad)?;
    let checked = CheckedObjects::default();
    let mut removed = 0;
    for (p, check) in resumed
        .iter()
        .map(|p| (p, false))
        .chain(pending.iter().map(|p| (p, true)))
    {
        let Some(name) = names::decode_path(p) else {
            continue;
        };
        let name = name.into_os_string();
        if check {
            // Each directory is checked again right before it goes.
            let r = check_package(&layout, &csrc, &name, &Sample::all(), &checked, None);
            if !r.diff.is_empty() {
                return Ok(PhaseResult {
                    ok: false,
                    message: format!("cleanup stopped at {p} after removing {removed} packages"),
                    problems: vec![format!("{p}: {}", r.diff.summary())],
                });
            }
        }
        db::set_cleaned(&conn, p, "removing").map_err(Error::bad)?;
        let dir = csrc.join(&name);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Ok(PhaseResult {
                    ok: false,
                    message: format!(
                        "cleanup stopped at {p} after removing {removed} packages: cannot remove {}: {e}; fix it and run cleanup again to continue",
                        names::display(&dir)
                    ),
                    problems: vec![format!("{p}: {e}")],
                })
            }
        }
        db::set_cleaned(&conn, p, "removed").map_err(Error::bad)?;
        removed += 1;
    }
    db::set_state(&conn, "cleaned_up_at", &db::now().to_string()).map_err(Error::bad)?;
    Ok(PhaseResult {
        ok: true,
        message: format!("cleanup: removed {removed} old package directories, each verified first"),
        problems: Vec::new(),
    })
}

/// Roll back before cleanup: completed packages become rolled_back and, with
/// `remove_new`, the new structure is removed. The old store is untouched.
pub fn rollback(target: &Path, remove_new: bool) -> Result<PhaseResult> {
    let layout = Layout::new(target);
    let conn = db::open(&layout.db(), false).map_err(Error::bad)?;
    if db::cleanup_started(&conn).map_err(Error::bad)? {
        return Err(Error::bad(
            "rollback refused: the old store was already cleaned up; the new store is the only copy",
        ));
    }
    let mut n = 0;
    for from in ["completed", "in_progress", "failed", "pending"] {
        n += db::move_status(&conn, from, "rolled_back").map_err(Error::bad)?;
    }
    conn.execute("DELETE FROM store_state WHERE key = 'cut_over_at'", [])
        .map_err(q)?;
    db::set_state(&conn, "rolled_back_at", &db::now().to_string()).map_err(Error::bad)?;
    let mut message = format!("rolled back {n} packages; the old store is intact");
    if remove_new {
        for dir in [layout.objects(), layout.packages()] {
            if dir.exists() {
                std::fs::remove_dir_all(&dir).map_err(|e| Error::io("cannot remove", &dir, &e))?;
            }
        }
        conn.execute_batch("DELETE FROM objects; DELETE FROM package_files; DELETE FROM inodes;")
            .map_err(q)?;
        message.push_str("; removed objects/ and packages/");
    }
    Ok(PhaseResult {
        ok: true,
        message,
        problems: Vec::new(),
    })
}
