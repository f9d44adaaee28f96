//! `store.db`: the tracking database of a content-addressed store — the
//! seed's `store_migration` table plus objects (with reference counts),
//! package files, multiply-linked inodes and store-wide state.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension};

use super::layout::Entry;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS store_migration (
    id INTEGER PRIMARY KEY,
    package_hash TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL CHECK (status IN ('pending','in_progress','completed','failed','rolled_back')),
    started_at INTEGER,
    completed_at INTEGER,
    error_message TEXT,
    file_count INTEGER,
    space_saved INTEGER,
    bytes INTEGER
);
CREATE TABLE IF NOT EXISTS objects (
    hash TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    refcount INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS package_files (
    package_hash TEXT NOT NULL,
    path TEXT NOT NULL,
    type TEXT NOT NULL,
    size INTEGER NOT NULL,
    mode INTEGER NOT NULL,
    hash TEXT,
    target TEXT,
    PRIMARY KEY (package_hash, path)
);
CREATE TABLE IF NOT EXISTS inodes (
    dev INTEGER NOT NULL,
    ino INTEGER NOT NULL,
    hash TEXT NOT NULL,
    package_hash TEXT NOT NULL,
    PRIMARY KEY (dev, ino)
);
CREATE TABLE IF NOT EXISTS store_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cleaned (
    package_hash TEXT PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('removing','removed'))
);
";

/// Seconds since the epoch.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn err(e: rusqlite::Error) -> String {
    format!("store.db: {e}")
}

/// Open (creating if asked) the database with the schema.
pub fn open(path: &Path, create: bool) -> Result<Connection, String> {
    if !create && !path.exists() {
        return Err(format!(
            "{} does not exist: no migration has run into this store",
            crate::display_path(path)
        ));
    }
    let conn = Connection::open(path).map_err(err)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(err)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(err)?;
    conn.execute_batch(SCHEMA).map_err(err)?;
    Ok(conn)
}

/// Commits of this connection are not fsynced (WAL, `synchronous =
/// NORMAL`): still atomic and in order, durable at the next `syncfs` of the
/// store or checkpoint. For the migration, which orders its records after
/// its own flushes.
pub fn commit_without_fsync(conn: &Connection) -> Result<(), String> {
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(err)
}

/// Commits of this connection are fsynced again (`synchronous = FULL`).
pub fn commit_with_fsync(conn: &Connection) -> Result<(), String> {
    conn.pragma_update(None, "synchronous", "FULL").map_err(err)
}

/// Open the database read-only (status readers, the console's polling):
/// no schema change, no journal-mode switch, nothing written.
pub fn open_read_only(path: &Path) -> Result<Connection, String> {
    if !path.exists() {
        return Err(format!(
            "{} does not exist: no migration has run into this store",
            crate::display_path(path)
        ));
    }
    let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(err)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(err)?;
    Ok(conn)
}

/// A value of `store_state`.
pub fn state(conn: &Connection, key: &str) -> Result<Option<String>, String> {
    conn.query_row("SELECT value FROM store_state WHERE key = ?1", [key], |r| {
        r.get(0)
    })
    .optional()
    .map_err(err)
}

/// Set a value of `store_state`.
pub fn set_state(conn: &Connection, key: &str, value: &str) -> Result<(), String> {
    conn.execute(
        "INSERT INTO store_state(key, value) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )
    .map(|_| ())
    .map_err(err)
}

/// Where the cleanup of one old package directory stands: `removing` is
/// written before its directory is touched, `removed` after.
pub fn cleaned(conn: &Connection, package: &str) -> Result<Option<String>, String> {
    conn.query_row(
        "SELECT state FROM cleaned WHERE package_hash = ?1",
        [package],
        |r| r.get(0),
    )
    .optional()
    .map_err(err)
}

/// Record the cleanup state of one old package directory.
pub fn set_cleaned(conn: &Connection, package: &str, state: &str) -> Result<(), String> {
    conn.execute(
        "INSERT INTO cleaned(package_hash, state) VALUES (?1, ?2)
         ON CONFLICT(package_hash) DO UPDATE SET state = excluded.state",
        params![package, state],
    )
    .map(|_| ())
    .map_err(err)
}

/// Whether a cleanup has begun removing old package directories.
pub fn cleanup_started(conn: &Connection) -> Result<bool, String> {
    Ok(state(conn, "cleanup_started_at")?.is_some())
}

/// Status of one package, if it is known.
pub fn status(conn: &Connection, package: &str) -> Result<Option<String>, String> {
    conn.query_row(
        "SELECT status FROM store_migration WHERE package_hash = ?1",
        [package],
        |r| r.get(0),
    )
    .optional()
    .map_err(err)
}

/// Record packages as pending (those already known keep their status).
pub fn add_pending(conn: &mut Connection, packages: &[String]) -> Result<(), String> {
    let tx = conn.transaction().map_err(err)?;
    {
        let mut stmt = tx
            .prepare_cached(
                "INSERT INTO store_migration(package_hash, status) VALUES (?1, 'pending')
                 ON CONFLICT(package_hash) DO NOTHING",
            )
            .map_err(err)?;
        for p in packages {
            stmt.execute([p]).map_err(err)?;
        }
    }
    tx.commit().map_err(err)
}

/// Start counting completions (`completed_seq`) in a store that does not
/// yet: packages completed before count as completed but not flushed.
pub fn init_seq(conn: &Connection) -> Result<(), String> {
    if state(conn, "completed_seq")?.is_some() {
        return Ok(());
    }
    let done: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM store_migration WHERE status = 'completed'",
            [],
            |r| r.get(0),
        )
        .map_err(err)?;
    set_state(conn, "completed_seq", &done.to_string())?;
    if done == 0 {
        set_state(conn, "flushed_seq", "0")?;
    }
    Ok(())
}

/// Packages left in progress by a killed run go back to pending.
pub fn reset_in_progress(conn: &Connection) -> Result<usize, String> {
    conn.execute(
        "UPDATE store_migration SET status = 'pending' WHERE status = 'in_progress'",
        [],
    )
    .map_err(err)
}

/// Start a package: undo what an earlier attempt recorded (so nothing is
/// counted twice) and mark it in progress.
pub fn begin_package(conn: &mut Connection, package: &str) -> Result<(), String> {
    let tx = conn.transaction().map_err(err)?;
    tx.execute(
        "UPDATE objects SET refcount = refcount - (
             SELECT COUNT(*) FROM package_files f
             WHERE f.package_hash = ?1 AND f.hash = objects.hash)
         WHERE hash IN (SELECT hash FROM package_files WHERE package_hash = ?1 AND hash IS NOT NULL)",
        [package],
    )
    .map_err(err)?;
    tx.execute(
        "DELETE FROM package_files WHERE package_hash = ?1",
        [package],
    )
    .map_err(err)?;
    tx.execute("DELETE FROM inodes WHERE package_hash = ?1", [package])
        .map_err(err)?;
    tx.execute(
        "INSERT INTO store_migration(package_hash, status, started_at) VALUES (?1, 'in_progress', ?2)
         ON CONFLICT(package_hash) DO UPDATE SET status = 'in_progress', started_at = ?2,
             completed_at = NULL, error_message = NULL, space_saved = NULL, file_count = NULL",
        params![package, now()],
    )
    .map_err(err)?;
    tx.commit().map_err(err)
}

/// What ingesting a package found, recorded in one transaction.
pub struct Ingested<'a> {
    pub package: &'a str,
    pub entries: &'a [Entry],
    /// Aligned with `entries`: an extra name of an inode already counted.
    pub extra_names: &'a [bool],
    /// (entry index, dev, ino) of every multiply-linked file.
    pub links: &'a [(usize, u64, u64)],
    pub bytes: u64,
}

/// Record a written package (still `in_progress` until verified) and return
/// its space saved: the size of every file (inode) whose object some file
/// recorded earlier already references. Transactions are serialised, so
/// exactly one file of each content is not counted as saved.
pub fn record_package(conn: &mut Connection, ing: &Ingested) -> Result<u64, String> {
    let tx = conn.transaction().map_err(err)?;
    let mut saved = 0u64;
    {
        let mut refs = tx
            .prepare_cached("SELECT refcount FROM objects WHERE hash = ?1")
            .map_err(err)?;
        let mut file = tx
            .prepare_cached(
                "INSERT INTO package_files(package_hash, path, type, size, mode, hash, target)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .map_err(err)?;
        let mut obj = tx
            .prepare_cached(
                "INSERT INTO objects(hash, size, refcount) VALUES (?1, ?2, 1)
                 ON CONFLICT(hash) DO UPDATE SET refcount = refcount + 1",
            )
            .map_err(err)?;
        let mut held = tx
            .prepare_cached("SELECT package_hash FROM inodes WHERE dev = ?1 AND ino = ?2")
            .map_err(err)?;
        let mut ino = tx
            .prepare_cached(
                "INSERT OR IGNORE INTO inodes(dev, ino, hash, package_hash) VALUES (?1, ?2, ?3, ?4)",
            )
            .map_err(err)?;
        let links: std::collections::HashMap<usize, (u64, u64)> =
            ing.links.iter().map(|&(n, d, i)| (n, (d, i))).collect();
        for (n, e) in ing.entries.iter().enumerate() {
            let mut extra = ing.extra_names.get(n).copied().unwrap_or(false);
            if let (Some(&(dev, i)), Some(h)) = (links.get(&n), &e.hash) {
                // A name of an inode another package recorded first counts
                // nothing: one inode is stored (and saved) once.
                let holder: Option<String> = held
                    .query_row(params![dev as i64, i as i64], |r| r.get(0))
                    .optional()
                    .map_err(err)?;
                match holder {
                    Some(p) if p != ing.package => extra = true,
                    Some(_) => {}
                    None => {
                        ino.execute(params![dev as i64, i as i64, h, ing.package])
                            .map_err(err)?;
                    }
                }
            }
            if let (Some(h), false) = (&e.hash, extra) {
                let existing: i64 = refs
                    .query_row([h], |r| r.get(0))
                    .optional()
                    .map_err(err)?
                    .unwrap_or(0);
                if existing > 0 {
                    saved += e.size;
                }
            }
            file.execute(params![
                ing.package,
                e.path,
                e.kind,
                e.size as i64,
                e.mode,
                e.hash,
                e.target
            ])
            .map_err(err)?;
            if let Some(h) = &e.hash {
                obj.execute(params![h, e.size as i64]).map_err(err)?;
            }
        }
    }
    let files = ing.entries.iter().filter(|e| e.kind != "dir").count() as i64;
    tx.execute(
        "UPDATE store_migration SET file_count = ?2, space_saved = ?3, bytes = ?4 WHERE package_hash = ?1",
        params![ing.package, files, saved as i64, ing.bytes as i64],
    )
    .map_err(err)?;
    tx.commit().map_err(err)?;
    Ok(saved)
}

/// Mark a package completed (verified) or failed. `flushed`: everything the
/// package wrote was on stable storage before this call. Each completion
/// counts in `store_state.completed_seq`; `flushed_seq` follows it while
/// every completion so far was flushed (see [`flushed_after_last_completion`]).
pub fn finish_package(
    conn: &mut Connection,
    package: &str,
    error: Option<&str>,
    flushed: bool,
) -> Result<(), String> {
    let tx = conn.transaction().map_err(err)?;
    match error {
        None => {
            tx.execute(
                "UPDATE store_migration SET status = 'completed', completed_at = ?2, error_message = NULL
                 WHERE package_hash = ?1",
                params![package, now()],
            )
            .map_err(err)?;
            let seq = seq(&tx, "completed_seq")?;
            let was_flushed = seq == self::seq(&tx, "flushed_seq")?;
            set_state(&tx, "completed_seq", &(seq + 1).to_string())?;
            if flushed && was_flushed {
                set_state(&tx, "flushed_seq", &(seq + 1).to_string())?;
            }
        }
        Some(e) => {
            tx.execute(
                "UPDATE store_migration SET status = 'failed', completed_at = ?2, error_message = ?3
                 WHERE package_hash = ?1",
                params![package, now(), e],
            )
            .map_err(err)?;
        }
    }
    tx.commit().map_err(err)
}

/// Record packages failed in one transaction (what a full disk kept back).
pub fn record_failures(conn: &mut Connection, failed: &[(String, String)]) -> Result<(), String> {
    // One small transaction first: make room in the WAL.
    let _ = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);");
    let tx = conn.transaction().map_err(err)?;
    {
        let mut stmt = tx
            .prepare_cached(
                "UPDATE store_migration SET status = 'failed', completed_at = ?2, error_message = ?3
                 WHERE package_hash = ?1",
            )
            .map_err(err)?;
        for (package, why) in failed {
            let why: String = why.chars().take(400).collect();
            stmt.execute(params![package, now(), why]).map_err(err)?;
        }
    }
    tx.commit().map_err(err)
}

fn seq(conn: &Connection, key: &str) -> Result<u64, String> {
    Ok(state(conn, key)?.and_then(|v| v.parse().ok()).unwrap_or(0))
}

/// Record that the whole store was flushed (syncfs) after every completion so far.
pub fn mark_flushed(conn: &mut Connection) -> Result<(), String> {
    let tx = conn.transaction().map_err(err)?;
    let done = seq(&tx, "completed_seq")?;
    set_state(&tx, "flushed_seq", &done.to_string())?;
    tx.commit().map_err(err)
}

/// Whether store.db records that the store was flushed after its last
/// package completed (a store whose completions predate the record is not).
pub fn flushed_after_last_completion(conn: &Connection) -> Result<bool, String> {
    let completed = state(conn, "completed_seq")?;
    let flushed = state(conn, "flushed_seq")?;
    Ok(match (completed, flushed) {
        (Some(c), Some(f)) => f.parse::<u64>().ok() >= c.parse::<u64>().ok(),
        _ => false,
    })
}

/// Hashes of the objects completed packages use: on stable storage (a
/// package is completed only after its flush). A package still
/// `in_progress` may have recorded objects a power loss emptied; a run
/// starting writes those again rather than trusting them.
pub fn flushed_objects(conn: &Connection) -> Result<Vec<String>, String> {
    let mut stmt = conn
        .prepare(
            "SELECT DISTINCT f.hash FROM store_migration m
             JOIN package_files f ON f.package_hash = m.package_hash
             WHERE m.status = 'completed' AND f.hash IS NOT NULL",
        )
        .map_err(err)?;
    let rows = stmt.query_map([], |r| r.get(0)).map_err(err)?;
    rows.collect::<Result<Vec<String>, _>>().map_err(err)
}

/// Hashes of objects some package references.
pub fn live_objects(conn: &Connection) -> Result<Vec<String>, String> {
    let mut stmt = conn
        .prepare("SELECT hash FROM objects WHERE refcount > 0")
        .map_err(err)?;
    let rows = stmt.query_map([], |r| r.get(0)).map_err(err)?;
    rows.collect::<Result<Vec<String>, _>>().map_err(err)
}

/// Up to `limit` packages whose files use object `hash` (then "…" if more).
pub fn packages_using(conn: &Connection, hash: &str, limit: usize) -> Result<Vec<String>, String> {
    let mut stmt = conn
        .prepare(
            "SELECT DISTINCT package_hash FROM package_files WHERE hash = ?1
             ORDER BY package_hash LIMIT ?2",
        )
        .map_err(err)?;
    let rows = stmt
        .query_map(params![hash, (limit + 1) as i64], |r| r.get(0))
        .map_err(err)?;
    let mut out = rows.collect::<Result<Vec<String>, _>>().map_err(err)?;
    if out.len() > limit {
        out.truncate(limit);
        out.push("…".to_string());
    }
    Ok(out)
}

/// Multiply-linked inodes of completed (so flushed) packages: (dev, ino) → hash.
pub fn known_inodes(conn: &Connection) -> Result<Vec<(u64, u64, String)>, String> {
    let mut stmt = conn
        .prepare(
            "SELECT i.dev, i.ino, i.hash FROM inodes i
             JOIN store_migration m ON m.package_hash = i.package_hash
             WHERE m.status = 'completed'",
        )
        .map_err(err)?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)? as u64,
                r.get::<_, i64>(1)? as u64,
                r.get(2)?,
            ))
        })
        .map_err(err)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(err)
}

/// Package names with a given status.
pub fn packages_with(conn: &Connection, status: &str) -> Result<Vec<String>, String> {
    let mut stmt = conn
        .prepare("SELECT package_hash FROM store_migration WHERE status = ?1 ORDER BY package_hash")
        .map_err(err)?;
    let rows = stmt.query_map([status], |r| r.get(0)).map_err(err)?;
    rows.collect::<Result<Vec<String>, _>>().map_err(err)
}

/// Set every package with status `from` to `to`.
pub fn move_status(conn: &Connection, from: &str, to: &str) -> Result<usize, String> {
    conn.execute(
        "UPDATE store_migration SET status = ?2 WHERE status = ?1",
        params![from, to],
    )
    .map_err(err)
}
