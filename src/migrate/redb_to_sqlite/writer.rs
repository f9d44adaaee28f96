//! Writing the SQLite target of one redb file: a temporary file beside the
//! target, every table and the `_cutover_source` table in one transaction,
//! commit, fsync, then an atomic rename that never replaces an existing
//! file. Any failure removes the temporary file: no target appears.

use std::collections::HashSet;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use rusqlite::{Connection, OpenFlags};

use super::codec::{self, Cell, Inexact};
use super::pipe::{self, Checksum, HashOn, SampleSet, Sampled, Stopped};
use super::source::{Source, TableInfo};
use super::types::{Column, Int, Mapping};
use crate::job::Progress;

/// Name of the table that records where the data came from.
pub const META_TABLE: &str = "_cutover_source";

/// How often (entries) progress is reported and cancellation checked.
const PROGRESS_EVERY: u64 = 1024;

/// An SQL identifier, quoted (`"` doubled inside).
pub fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// SQLite names for the redb tables, in the same order: the redb name
/// unless it is reserved (`sqlite_…`, the metadata table), holds a NUL, or
/// collides case-insensitively with an earlier one; then a suffix is added.
pub fn sql_names(tables: &[TableInfo]) -> Vec<String> {
    let mut used: HashSet<String> = HashSet::new();
    used.insert(META_TABLE.to_ascii_lowercase());
    let mut out = Vec::with_capacity(tables.len());
    for t in tables {
        let mut base = t.name.replace('\0', "_");
        if base.to_ascii_lowercase().starts_with("sqlite_") || base.is_empty() {
            base = format!("redb_{base}");
        }
        let mut name = base.clone();
        let mut n = 2;
        while used.contains(&name.to_ascii_lowercase()) {
            name = format!("{base}_{n}");
            n += 1;
        }
        used.insert(name.to_ascii_lowercase());
        out.push(name);
    }
    out
}

/// The SQLite shape of one redb table.
#[derive(Debug, Clone)]
pub struct Layout {
    pub sql_name: String,
    pub key: Mapping,
    pub value: Mapping,
    pub key_cols: Vec<Column>,
    pub value_cols: Vec<Column>,
    pub multimap: bool,
    /// The key is one integer column used as the rowid (`INTEGER PRIMARY KEY`).
    pub rowid_key: bool,
}

impl Layout {
    /// The layout of `table` under `sql_name`. `max_key` is the table's
    /// greatest key (an integer key becomes the rowid when it fits i64).
    pub fn new(
        table: &TableInfo,
        sql_name: &str,
        max_key: Option<&[u8]>,
    ) -> Result<Layout, String> {
        let (key, value) = table.mappings()?;
        let rowid_key = !table.multimap
            && match key.single_integer() {
                Some(Int::U64) => max_key.is_none_or(|k| k.len() == 8 && k[7] & 0x80 == 0),
                Some(_) => true,
                None => false,
            };
        Ok(Layout {
            sql_name: sql_name.to_string(),
            key_cols: key.columns("key"),
            value_cols: value.columns("value"),
            key: key.clone(),
            value: value.clone(),
            multimap: table.multimap,
            rowid_key,
        })
    }

    /// All column names, key columns first.
    pub fn names(&self) -> Vec<String> {
        self.key_cols
            .iter()
            .chain(&self.value_cols)
            .map(|c| quote(&c.name))
            .collect()
    }

    /// `CREATE TABLE …`.
    pub fn create_sql(&self) -> String {
        // SQLite makes a lone `INTEGER` primary key column the rowid (no
        // BLOB, no NULL there): such a key that must not be is typed `INT`
        // (the same integer affinity).
        let lone_key = !self.multimap && self.key_cols.len() == 1 && !self.rowid_key;
        let col = |c: &Column, pk: bool| {
            let ty = if lone_key && c.sql_type == "INTEGER" && self.key_cols.first() == Some(c) {
                "INT"
            } else {
                c.sql_type
            };
            let mut s = format!("{} {ty}", quote(&c.name));
            if pk {
                s.push_str(" PRIMARY KEY");
            }
            if !c.nullable {
                s.push_str(" NOT NULL");
            }
            s
        };
        let mut defs: Vec<String> = Vec::new();
        if self.rowid_key {
            defs.extend(self.key_cols.iter().map(|c| col(c, true)));
            defs.extend(self.value_cols.iter().map(|c| col(c, false)));
        } else {
            defs.extend(
                self.key_cols
                    .iter()
                    .chain(&self.value_cols)
                    .map(|c| col(c, false)),
            );
            let pk: Vec<String> = if self.multimap {
                self.names()
            } else {
                self.key_cols.iter().map(|c| quote(&c.name)).collect()
            };
            defs.push(format!("PRIMARY KEY ({})", pk.join(", ")));
        }
        format!(
            "CREATE TABLE {} ({})",
            quote(&self.sql_name),
            defs.join(", ")
        )
    }

    /// `INSERT INTO … VALUES (?, …)`.
    pub fn insert_sql(&self) -> String {
        let names = self.names();
        let marks: Vec<&str> = names.iter().map(|_| "?").collect();
        format!(
            "INSERT INTO {} ({}) VALUES ({})",
            quote(&self.sql_name),
            names.join(", "),
            marks.join(", ")
        )
    }

    /// Every row, key columns first, in the table's own order.
    pub fn select_sql(&self) -> String {
        format!(
            "SELECT {} FROM {}",
            self.names().join(", "),
            quote(&self.sql_name)
        )
    }

    /// The row(s) of one key (and, for a multimap, one value).
    pub fn lookup_sql(&self) -> String {
        let cols = if self.multimap {
            self.names()
        } else {
            self.key_cols.iter().map(|c| quote(&c.name)).collect()
        };
        let cond: Vec<String> = cols.iter().map(|c| format!("{c} IS ?")).collect();
        format!(
            "SELECT {} FROM {} WHERE {}",
            self.names().join(", "),
            quote(&self.sql_name),
            cond.join(" AND ")
        )
    }

    fn columns_text(cols: &[Column]) -> String {
        cols.iter()
            .map(|c| format!("{} {}", c.name, c.sql_type))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// What writing one table produced.
#[derive(Debug, Clone)]
pub struct TableWritten {
    pub name: String,
    pub sql_name: String,
    pub entries: u64,
    pub bytes: u64,
    pub checksum: Checksum,
    pub inexact: u64,
    /// The seeded sample taken while reading (sample mode only).
    pub sample: Option<Vec<(Vec<u8>, Sampled)>>,
    pub elapsed_s: f64,
}

/// Options of one write.
pub struct WriteOpts<'a> {
    pub sample: Option<(u64, u64)>,
    pub progress: &'a Progress,
    pub cancel: &'a AtomicBool,
    /// Source file size, spread over the entries for byte progress.
    pub item_bytes: u64,
    pub item_entries: u64,
}

/// The temporary file a target is written to before it is renamed.
pub fn temp_path(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "target".into());
    target.with_file_name(format!(".{name}.cutover-tmp"))
}

/// Remove the temporary file of `target` and SQLite's side files.
pub fn remove_temp(target: &Path) {
    let tmp = temp_path(target);
    for suffix in ["", "-journal", "-wal", "-shm"] {
        let mut p = tmp.clone().into_os_string();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}

/// A failure while writing; the temporary file is already gone.
#[derive(Debug)]
pub enum WriteError {
    Cancelled,
    /// Reading the source failed (the source's own words, after its path).
    Source(String),
    /// Writing the target failed.
    Failed(String),
}

fn sql_err(e: rusqlite::Error) -> String {
    if let rusqlite::Error::SqliteFailure(f, _) = &e {
        if f.code == rusqlite::ErrorCode::DiskFull {
            return "no space left on the target's filesystem (SQLite: database or disk is full); free space and retry".into();
        }
    }
    e.to_string()
}

/// Write `source` into a new SQLite file at `target`. `check` runs on the
/// committed temporary file while another thread flushes it (`fsync`); the
/// file is renamed into place once both are done, so what `check` found
/// holds for a file that is on stable storage.
pub fn write<R>(
    source: &Source,
    target: &Path,
    opts: &WriteOpts,
    check: impl FnOnce(&Path, &[TableWritten]) -> R,
) -> Result<(Vec<TableWritten>, R), WriteError> {
    remove_temp(target);
    let tmp = temp_path(target);
    let result = write_temp(source, &tmp, opts).and_then(|tables| {
        let (flushed, checked) = std::thread::scope(|scope| {
            let flush = scope.spawn(|| std::fs::File::open(&tmp).and_then(|f| f.sync_all()));
            let checked = check(&tmp, &tables);
            let flushed = flush
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("the flushing thread failed")));
            (flushed, checked)
        });
        flushed.map_err(|e| WriteError::Failed(format!("cannot fsync the new file: {e}")))?;
        publish(&tmp, target).map_err(WriteError::Failed)?;
        Ok((tables, checked))
    });
    if result.is_err() {
        remove_temp(target);
    }
    result
}

fn write_temp(
    source: &Source,
    tmp: &Path,
    opts: &WriteOpts,
) -> Result<Vec<TableWritten>, WriteError> {
    let failed = |e: rusqlite::Error| WriteError::Failed(sql_err(e));
    let mut conn = Connection::open_with_flags(
        tmp,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(failed)?;
    // No fsync by SQLite: the committed file is flushed by `write`, beside
    // its verification, before it is renamed into place; a crash before
    // that leaves only the temporary file, which the next run removes.
    conn.execute_batch("PRAGMA cache_size = -16384; PRAGMA synchronous = OFF;")
        .map_err(failed)?;
    let tx = conn.transaction().map_err(failed)?;
    let names = sql_names(&source.tables);
    let mut written = Vec::with_capacity(source.tables.len());
    let mut done = (0u64, 0u64);
    for (table, sql_name) in source.tables.iter().zip(&names) {
        let max_key = match table.key.as_ref().ok().and_then(Mapping::single_integer) {
            Some(Int::U64) => source.last_key(table).map_err(WriteError::Source)?,
            _ => None,
        };
        let layout =
            Layout::new(table, sql_name, max_key.as_deref()).map_err(WriteError::Failed)?;
        tx.execute_batch(&layout.create_sql()).map_err(failed)?;
        let started = Instant::now();
        let mut stmt = tx.prepare(&layout.insert_sql()).map_err(failed)?;
        let mut inexact = Inexact::default();
        let mut entries = 0u64;
        let mut bytes = 0u64;
        let sample = opts.sample.map(|(seed, n)| SampleSet::new(seed, n, table));
        let mut spare: Vec<Cell<'static>> =
            Vec::with_capacity(layout.key_cols.len() + layout.value_cols.len());
        let streamed = pipe::stream(source, table, opts.cancel, sample, HashOn::Reader, |e| {
            let mut cells = recycle(std::mem::take(&mut spare));
            codec::decode(&layout.key, e.key, &mut cells, &mut inexact)
                .map_err(|why| format!("key {}: {why}", codec::hex(e.key)))?;
            codec::decode(&layout.value, e.value, &mut cells, &mut inexact).map_err(|why| {
                format!("value of key {}: {why}", codec::show(&layout.key, e.key))
            })?;
            for (i, cell) in cells.iter().enumerate() {
                stmt.raw_bind_parameter(i + 1, cell).map_err(sql_err)?;
            }
            stmt.raw_execute().map_err(sql_err)?;
            spare = recycle(cells);
            entries += 1;
            bytes += (e.key.len() + e.value.len()) as u64;
            if entries.is_multiple_of(PROGRESS_EVERY) {
                report(opts, &mut done, PROGRESS_EVERY);
            }
            Ok::<(), String>(())
        });
        let scanned = match streamed {
            Ok(s) => s,
            Err(Stopped::Cancelled) => return Err(WriteError::Cancelled),
            Err(Stopped::Source(e)) => return Err(WriteError::Source(e)),
            Err(Stopped::Consumer(e)) => {
                return Err(WriteError::Failed(format!("table '{}': {e}", table.name)))
            }
        };
        report(opts, &mut done, entries % PROGRESS_EVERY);
        written.push(TableWritten {
            name: table.name.clone(),
            sql_name: sql_name.clone(),
            entries,
            bytes,
            checksum: scanned.checksum,
            inexact: inexact.0,
            sample: scanned.sample.map(SampleSet::into_entries),
            elapsed_s: started.elapsed().as_secs_f64(),
        });
    }
    write_meta(&tx, source, &names, &written).map_err(failed)?;
    tx.commit().map_err(failed)?;
    conn.close().map_err(|(_, e)| failed(e))?;
    // Whatever is left of the file's share of progress.
    opts.progress.add(
        opts.item_entries.saturating_sub(done.0),
        opts.item_bytes.saturating_sub(done.1),
    );
    Ok(written)
}

/// An emptied vector of cells, for cells of another lifetime: the
/// allocation is kept (one per table rather than one per entry).
fn recycle<'b>(mut cells: Vec<Cell<'_>>) -> Vec<Cell<'b>> {
    cells.clear();
    cells.into_iter().map(|_| Cell::Null).collect()
}

/// Count `n` more entries, and the matching share of the file's bytes.
fn report(opts: &WriteOpts, done: &mut (u64, u64), n: u64) {
    let entries = (done.0 + n).min(opts.item_entries);
    let bytes = if opts.item_entries == 0 {
        0
    } else {
        ((opts.item_bytes as u128 * entries as u128) / opts.item_entries as u128) as u64
    };
    opts.progress
        .add(entries - done.0, bytes.saturating_sub(done.1));
    *done = (entries, bytes.max(done.1));
}

/// The current time as `YYYY-MM-DDTHH:MM:SSZ` (UTC).
fn now_text() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn write_meta(
    tx: &rusqlite::Transaction<'_>,
    source: &Source,
    names: &[String],
    written: &[TableWritten],
) -> rusqlite::Result<()> {
    tx.execute_batch(&format!(
        "CREATE TABLE {} (\
         \"redb_table\" TEXT PRIMARY KEY NOT NULL, \"sqlite_table\" TEXT NOT NULL, \
         \"multimap\" INTEGER NOT NULL, \"key_type\" TEXT NOT NULL, \"value_type\" TEXT NOT NULL, \
         \"key_columns\" TEXT NOT NULL, \"value_columns\" TEXT NOT NULL, \
         \"entries\" INTEGER NOT NULL, \"checksum\" TEXT NOT NULL, \"inexact_values\" INTEGER NOT NULL, \
         \"source_path\" TEXT NOT NULL, \"source_format\" INTEGER NOT NULL, \"source_bytes\" INTEGER NOT NULL, \
         \"migrated_at\" TEXT NOT NULL, \"cutover_version\" TEXT NOT NULL)",
        quote(META_TABLE)
    ))?;
    let mut stmt = tx.prepare(&format!(
        "INSERT INTO {} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        quote(META_TABLE)
    ))?;
    let path = source
        .path
        .canonicalize()
        .unwrap_or_else(|_| source.path.clone());
    let when = now_text();
    for ((table, name), w) in source.tables.iter().zip(names).zip(written) {
        let (k, v) = match table.mappings() {
            Ok((k, v)) => (
                Layout::columns_text(&k.columns("key")),
                Layout::columns_text(&v.columns("value")),
            ),
            Err(_) => (String::new(), String::new()),
        };
        stmt.execute(rusqlite::params![
            table.name,
            name,
            table.multimap,
            table.key_type,
            table.value_type,
            k,
            v,
            w.entries as i64,
            w.checksum.hex(),
            w.inexact as i64,
            crate::display_path(&path),
            source.format.number(),
            source.size as i64,
            when,
            env!("CARGO_PKG_VERSION"),
        ])?;
    }
    Ok(())
}

/// Rename the temporary file, already flushed by [`write`], to `target`
/// (never replacing a file that appeared meanwhile), fsync the directory.
fn publish(tmp: &Path, target: &Path) -> Result<(), String> {
    let io = |what: &str, e: std::io::Error| format!("{what}: {e}");
    rename_noreplace(tmp, target).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            "it appeared while cutover was writing; it was left as it is".to_string()
        } else {
            io("cannot rename the new file into place", e)
        }
    })?;
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io("cannot fsync the target's directory", e))
}

fn rename_noreplace(from: &Path, to: &Path) -> std::io::Result<()> {
    let c = |p: &Path| {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "path holds NUL"))
    };
    let (a, b) = (c(from)?, c(to)?);
    // SAFETY: two valid NUL-terminated paths; renameat2 has no other preconditions.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EINVAL) | Some(libc::ENOSYS) => {
            // The filesystem cannot rename without replacing: a hard link
            // fails when the target exists, which is the same promise.
            std::fs::hard_link(from, to)?;
            std::fs::remove_file(from)
        }
        _ => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_identifiers() {
        assert_eq!(quote("select"), "\"select\"");
        assert_eq!(quote("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn renames_only_what_sqlite_cannot_hold() {
        let names = [
            "kv",
            "KV",
            "sqlite_master",
            "_cutover_source",
            "a\0b",
            "select",
        ];
        let (_dir, src) = source_with_tables(&names);
        assert_eq!(
            sql_names(&src.tables),
            vec![
                "KV",
                "_cutover_source_2",
                "a_b",
                "kv_2",
                "select",
                "redb_sqlite_master"
            ]
        );
    }

    fn source_with_tables(names: &[&str]) -> (tempfile::TempDir, Source) {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("t.redb");
        let db = redb::Database::create(&path).expect("create");
        let w = db.begin_write().expect("w");
        for n in names {
            w.open_table(redb::TableDefinition::<u8, u8>::new(n))
                .expect("table");
        }
        w.commit().expect("commit");
        drop(db);
        let src = Source::open(&path).expect("open");
        (dir, src)
    }

    #[test]
    fn recycling_keeps_the_allocation() {
        let text = String::from("borrowed");
        let mut cells: Vec<Cell<'_>> = Vec::with_capacity(8);
        cells.push(Cell::Text(std::borrow::Cow::Borrowed(&text)));
        let ptr = cells.as_ptr() as usize;
        let again: Vec<Cell<'static>> = recycle(cells);
        assert!(again.is_empty() && again.capacity() >= 8);
        assert_eq!(again.as_ptr() as usize, ptr);
    }

    #[test]
    fn never_renames_over_an_existing_file() {
        let dir = tempfile::tempdir().expect("tmp");
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, b"new").expect("w");
        std::fs::write(&b, b"precious").expect("w");
        let err = rename_noreplace(&a, &b).expect_err("refused");
        assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&b).expect("r"), b"precious");
        std::fs::remove_file(&b).expect("rm");
        rename_noreplace(&a, &b).expect("renamed");
        assert!(!a.exists());
    }
}
