//! Verification of one target by re-reading it (opened read-only) and
//! encoding every row back into redb bytes: per table, the metadata, the
//! counts, the values of sampled keys (or of every key), and the
//! order-independent checksum over every (table, key, value) on both sides.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags, Row};

use super::codec::{self, Inexact};
use super::pipe::{self, Checksum, EntryHasher, HashOn, SampleSet, Sampled, Stopped};
use super::source::{Source, TableInfo};
use super::writer::{self, quote, Layout, TableWritten, META_TABLE};
use super::Verify;
use crate::verify::diff::DiffReport;

/// Differences spelled out per table before the rest are only counted.
const SPELLED_PER_TABLE: u64 = 50;

/// The result of one table, as pgloader's summary shows it.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TableResult {
    /// Source file (item key) the table belongs to.
    pub item: String,
    pub table: String,
    pub sqlite_table: String,
    /// Entries in the redb table.
    pub read: u64,
    /// Rows in the SQLite table.
    pub written: u64,
    /// Entries whose key and value were compared on both sides.
    pub verified: u64,
    /// Values stored as exact bytes (no exact SQLite form).
    pub inexact: u64,
    pub errors: u64,
    /// Checksum of the source side (hex), when computed.
    pub checksum: Option<String>,
    /// Whether the target side's checksum equals it.
    pub checksum_equal: Option<bool>,
    /// Whether verification read the source again; false when the write of
    /// this run read it, it is unchanged since, and the write's checksum
    /// stood for it.
    #[serde(default)]
    pub source_read_again: bool,
    /// Seconds spent writing (when it ran in this process) and verifying.
    pub elapsed_s: f64,
}

struct Meta {
    sqlite_table: String,
    multimap: bool,
    key_type: String,
    value_type: String,
    entries: u64,
    checksum: String,
}

/// Differences of one table, capped.
struct TableDiff<'a> {
    table: &'a str,
    diff: &'a mut DiffReport,
    count: u64,
}

impl TableDiff<'_> {
    fn add(&mut self, line: impl FnOnce(&mut DiffReport, &str)) {
        self.count += 1;
        if self.count <= SPELLED_PER_TABLE {
            line(self.diff, self.table);
        }
    }

    fn finish(self) -> u64 {
        if self.count > SPELLED_PER_TABLE {
            self.diff.differs(
                self.table,
                format!("and {} more differences", self.count - SPELLED_PER_TABLE),
            );
        }
        self.count
    }
}

fn open_target(target: &Path) -> Result<Connection, String> {
    if !target.exists() {
        return Err("does not exist".into());
    }
    Connection::open_with_flags(
        target,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| format!("cannot be opened ({e})"))
}

/// Read `conn`'s pages through a mapping, not one `pread` (and copy) each.
/// Only for the file this run just wrote, which nothing else holds: a
/// mapped file that another process truncates (an application's VACUUM
/// under `cutover verify`) would kill the process with SIGBUS. Advisory: a
/// build or filesystem without mmap reads as before.
fn map_own_file(conn: &Connection) {
    let _ = conn.execute_batch(&format!("PRAGMA mmap_size = {MMAP_BYTES};"));
}

/// How much of a target verification maps (SQLite caps it at its own limit).
const MMAP_BYTES: u64 = 1 << 40;

fn read_meta(conn: &Connection) -> Result<HashMap<String, Meta>, String> {
    let mut stmt = conn
        .prepare(&format!(
            "SELECT redb_table, sqlite_table, multimap, key_type, value_type, entries, checksum FROM {}",
            quote(META_TABLE)
        ))
        .map_err(|e| format!("has no readable {META_TABLE} table ({e})"))?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                Meta {
                    sqlite_table: r.get(1)?,
                    multimap: r.get(2)?,
                    key_type: r.get(3)?,
                    value_type: r.get(4)?,
                    entries: r.get::<_, i64>(5)? as u64,
                    checksum: r.get(6)?,
                },
            ))
        })
        .map_err(|e| format!("{META_TABLE} cannot be read ({e})"))?;
    rows.collect::<Result<HashMap<_, _>, _>>()
        .map_err(|e| format!("{META_TABLE} cannot be read ({e})"))
}

/// Column values of a row as borrowed SQLite values, in `spare`'s allocation.
fn row_values<'r>(
    row: &'r Row<'_>,
    n: usize,
    spare: &mut Vec<ValueRef<'static>>,
) -> rusqlite::Result<Vec<ValueRef<'r>>> {
    let mut vals = recycle(std::mem::take(spare));
    for i in 0..n {
        vals.push(row.get_ref(i)?);
    }
    Ok(vals)
}

/// An emptied vector of values, for values of another lifetime (the
/// allocation is kept: one per table, not one per row).
fn recycle<'b>(mut vals: Vec<ValueRef<'_>>) -> Vec<ValueRef<'b>> {
    vals.clear();
    vals.into_iter().map(|_| ValueRef::Null).collect()
}

/// The redb bytes of a target row.
fn encode_row(
    layout: &Layout,
    vals: &[ValueRef<'_>],
    key: &mut Vec<u8>,
    value: &mut Vec<u8>,
) -> Result<(), String> {
    let nk = layout.key_cols.len();
    codec::encode(&layout.key, &vals[..nk], key).map_err(|e| format!("key: {e}"))?;
    codec::encode(&layout.value, &vals[nk..], value).map_err(|e| format!("value: {e}"))
}

/// How one target is checked.
pub struct CheckOpts<'a> {
    pub verify: Verify,
    pub seed: u64,
    /// What the write of this run saw (checksums, the sample), if it ran here.
    pub memo: Option<&'a [TableWritten]>,
    /// The source file is what the write read (same inode, size, mtime and
    /// ctime since): its checksums in `memo` stand for the source, which
    /// then need not be read again.
    pub source_unchanged: bool,
    pub cancel: &'a AtomicBool,
}

/// Verify `target` against `source`. Differences go to `diff`; an error is
/// returned only when the target cannot be checked at all.
pub fn check(
    source: &Source,
    item: &str,
    target: &Path,
    opts: &CheckOpts<'_>,
    diff: &mut DiffReport,
) -> Result<Vec<TableResult>, String> {
    let (verify, seed, memo, cancel) = (opts.verify, opts.seed, opts.memo, opts.cancel);
    let conn = open_target(target)?;
    let meta = read_meta(&conn)?;
    let names = writer::sql_names(&source.tables);
    for name in meta.keys() {
        if !source.tables.iter().any(|t| &t.name == name) {
            diff.only_in_target(&format!("table '{name}'"));
        }
    }
    let mut results = Vec::with_capacity(source.tables.len());
    for (table, sql_name) in source.tables.iter().zip(&names) {
        let started = Instant::now();
        let mut d = TableDiff {
            table: &table.name,
            diff,
            count: 0,
        };
        let mut result = TableResult {
            item: item.to_string(),
            table: table.name.clone(),
            sqlite_table: sql_name.clone(),
            read: table.entries,
            ..TableResult::default()
        };
        let Some(m) = meta.get(&table.name) else {
            d.add(|diff, t| diff.missing_in_target(&format!("{t} (not in {META_TABLE})")));
            result.errors = d.finish();
            results.push(result);
            continue;
        };
        check_meta(table, sql_name, m, &mut d);
        let layout = match Layout::new(table, sql_name, None) {
            Ok(l) => l,
            Err(e) => {
                d.add(|diff, t| diff.error(t, e));
                result.errors = d.finish();
                results.push(result);
                continue;
            }
        };
        match conn.query_row(
            &format!("SELECT COUNT(*) FROM {}", quote(sql_name)),
            [],
            |r| r.get::<_, i64>(0),
        ) {
            Ok(n) => result.written = n as u64,
            Err(e) => {
                d.add(|diff, t| {
                    diff.error(t, format!("table {} cannot be read ({e})", quote(sql_name)))
                });
                result.errors = d.finish();
                results.push(result);
                continue;
            }
        }
        if result.written != table.entries {
            let (read, written) = (table.entries, result.written);
            d.add(|diff, t| {
                diff.differs(
                    t,
                    format!("count: {read} entries in source, {written} rows in target"),
                )
            });
        }
        let written = memo.and_then(|w| w.iter().find(|w| w.name == table.name));
        if let Some(w) = written {
            result.inexact = w.inexact;
        }
        let sides = match verify {
            Verify::Count => None,
            Verify::Sample(n) => Some(sampled(
                source,
                table,
                &layout,
                &conn,
                seed,
                n,
                written,
                opts.source_unchanged,
                cancel,
                &mut d,
                &mut result,
            )),
            Verify::Full => {
                let trusted = written.filter(|_| opts.source_unchanged);
                let by_sum = match trusted {
                    Some(w) => by_checksum(table, &layout, target, &conn, w)
                        .map(|sum| sum.map(|tgt| (w.checksum, tgt))),
                    None => Ok(None),
                };
                Some(match by_sum {
                    Ok(Some((src, tgt))) => {
                        result.verified = tgt.entries;
                        Ok((src, tgt))
                    }
                    Ok(None) => full(source, table, &layout, &conn, cancel, &mut d, &mut result),
                    Err(e) => Err(e),
                })
            }
        };
        if let Some(sides) = sides {
            let (src, tgt) = sides?;
            result.checksum = Some(src.hex());
            result.checksum_equal = Some(src == tgt);
            if src != tgt {
                d.add(|diff, t| {
                    diff.differs(
                        t,
                        format!(
                            "checksum: source {} ({} entries), target {} ({} rows)",
                            src.hex(),
                            src.entries,
                            tgt.hex(),
                            tgt.entries
                        ),
                    )
                });
            }
            if m.checksum != src.hex() {
                let recorded = m.checksum.clone();
                d.add(|diff, t| {
                    diff.differs(
                        t,
                        format!(
                            "checksum recorded in {META_TABLE} {recorded}, source now {}",
                            src.hex()
                        ),
                    )
                });
            }
            if let Some(w) = written {
                if w.checksum != src {
                    d.add(|diff, t| {
                        diff.differs(
                            t,
                            "source changed since it was written: its checksum differs",
                        )
                    });
                }
            }
        }
        result.errors = d.finish();
        // Write (when it ran here) and verification.
        result.elapsed_s =
            started.elapsed().as_secs_f64() + written.map(|w| w.elapsed_s).unwrap_or(0.0);
        results.push(result);
    }
    Ok(results)
}

fn check_meta(table: &TableInfo, sql_name: &str, m: &Meta, d: &mut TableDiff<'_>) {
    let mut field = |what: &str, source: String, target: String| {
        if source != target {
            d.add(|diff, t| {
                diff.differs(
                    t,
                    format!("{what} in {META_TABLE}: source {source}, target {target}"),
                )
            });
        }
    };
    field("sqlite_table", sql_name.to_string(), m.sqlite_table.clone());
    field(
        "multimap",
        table.multimap.to_string(),
        m.multimap.to_string(),
    );
    field("key_type", table.key_type.clone(), m.key_type.clone());
    field("value_type", table.value_type.clone(), m.value_type.clone());
    field("entries", table.entries.to_string(), m.entries.to_string());
}

fn stopped<E: std::fmt::Display>(s: Stopped<E>) -> String {
    match s {
        Stopped::Cancelled => "cancelled".into(),
        Stopped::Source(e) => format!("cannot be checked: its source's {e}"),
        Stopped::Consumer(e) => e.to_string(),
    }
}

/// Checksum of every target row (scanned in its own order), or of the rows
/// whose rowid lies in `rowids` (inclusive).
fn target_checksum(
    table: &TableInfo,
    layout: &Layout,
    conn: &Connection,
    rowids: Option<(i64, i64)>,
    d: &mut TableDiff<'_>,
) -> Result<Checksum, String> {
    let hasher = EntryHasher::new(&table.name);
    let mut sum = Checksum::default();
    let sql = match rowids {
        Some(_) => format!("{} WHERE rowid BETWEEN ?1 AND ?2", layout.select_sql()),
        None => layout.select_sql(),
    };
    let mut stmt = conn.prepare(&sql).map_err(|e| e.to_string())?;
    let mut rows = match rowids {
        Some((lo, hi)) => stmt.query([lo, hi]),
        None => stmt.query([]),
    }
    .map_err(|e| e.to_string())?;
    let n = layout.key_cols.len() + layout.value_cols.len();
    let (mut k, mut v) = (Vec::new(), Vec::new());
    let mut index = 0u64;
    let mut spare = Vec::with_capacity(n);
    while let Some(row) = rows.next().map_err(|e| e.to_string())? {
        index += 1;
        let vals = row_values(row, n, &mut spare).map_err(|e| e.to_string())?;
        match encode_row(layout, &vals, &mut k, &mut v) {
            Ok(()) => {
                // Laid out as the hasher takes it in one call: key ‖ value ‖ len(key).
                let key_len = k.len() as u64;
                k.extend_from_slice(&v);
                k.extend_from_slice(&key_len.to_le_bytes());
                sum.add(hasher.hash_laid_out(&k));
            }
            Err(e) => {
                sum.entries += 1;
                d.add(|diff, t| diff.error(t, format!("row {index} has no redb form: {e}")));
            }
        }
        spare = recycle(vals);
    }
    Ok(sum)
}

/// Full verification against what the write of this run read, the source
/// unchanged since: every target row re-read, encoded back into redb bytes
/// and hashed, and the sum compared with the write's checksum of every
/// source entry — the source is not read a second time. `None` when the
/// sums differ: then [`full`] compares entry by entry to name each
/// difference.
///
/// A large table is read in rowid ranges on several threads, each with its
/// own read-only connection (the sum does not depend on the order).
fn by_checksum(
    table: &TableInfo,
    layout: &Layout,
    target: &Path,
    conn: &Connection,
    written: &TableWritten,
) -> Result<Option<Checksum>, String> {
    let parts = if written.entries >= SPLIT_ABOVE {
        std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
    } else {
        1
    };
    map_own_file(conn);
    // One part, or a table without rowids (not one cutover writes): read
    // in one go.
    let ranges = match parts {
        1 => Vec::new(),
        _ => rowid_ranges(conn, &layout.sql_name, parts).unwrap_or_default(),
    };
    let part = |rowids: Option<(i64, i64)>, conn: &Connection| {
        // Errors found here are spelled out by `full` when the sums differ.
        let mut scratch = DiffReport::default();
        let mut d = TableDiff {
            table: &table.name,
            diff: &mut scratch,
            count: 0,
        };
        let sum = target_checksum(table, layout, conn, rowids, &mut d)?;
        Ok::<_, String>((sum, scratch.is_empty()))
    };
    let results: Vec<Result<(Checksum, bool), String>> = match ranges.as_slice() {
        [] => vec![part(None, conn)],
        [one] => vec![part(Some(*one), conn)],
        many => std::thread::scope(|scope| {
            let handles: Vec<_> = many
                .iter()
                .map(|&r| {
                    scope.spawn(move || {
                        let own = open_target(target)?;
                        map_own_file(&own);
                        part(Some(r), &own)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err("a verification thread failed".into()))
                })
                .collect()
        }),
    };
    let mut tgt = Checksum::default();
    let mut clean = true;
    for r in results {
        let (sum, ok) = r?;
        tgt.combine(&sum);
        clean &= ok;
    }
    Ok((tgt == written.checksum && clean).then_some(tgt))
}

/// Tables with at least this many entries are checksummed on several threads.
const SPLIT_ABOVE: u64 = 100_000;

/// `parts` inclusive rowid ranges that cover a table's rows (none when it is
/// empty; fewer when it spans fewer rowids).
pub(super) fn rowid_ranges(
    conn: &Connection,
    sql_name: &str,
    parts: usize,
) -> Result<Vec<(i64, i64)>, String> {
    let (lo, hi): (Option<i64>, Option<i64>) = conn
        .query_row(
            &format!("SELECT min(rowid), max(rowid) FROM {}", quote(sql_name)),
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(|e| e.to_string())?;
    let (Some(lo), Some(hi)) = (lo, hi) else {
        return Ok(Vec::new());
    };
    // Widths as i128: rowids span all of i64.
    let span = hi as i128 - lo as i128 + 1;
    let parts = (parts.max(1) as i128).min(span);
    Ok((0..parts)
        .map(|i| {
            let from = lo as i128 + span * i / parts;
            let to = lo as i128 + span * (i + 1) / parts - 1;
            (from as i64, to as i64)
        })
        .collect())
}

/// Look up one source entry in the target and compare.
fn compare_by_lookup(
    layout: &Layout,
    lookup: &mut rusqlite::Statement<'_>,
    key: &[u8],
    value: &Sampled,
    d: &mut TableDiff<'_>,
) -> Result<bool, String> {
    let shown_value = |v: &Sampled| match v {
        Sampled::Bytes(b) => codec::show(&layout.value, b),
        Sampled::Digest { len, hash } => {
            format!("{len} bytes, BLAKE3 {}", codec::hex(&hash[..8]))
        }
    };
    let mut cells = Vec::new();
    let mut inexact = Inexact::default();
    let shown = codec::show(&layout.key, key);
    codec::decode(&layout.key, key, &mut cells, &mut inexact)
        .map_err(|e| format!("key {shown}: {e}"))?;
    if layout.multimap {
        let Sampled::Bytes(value) = value else {
            return Err(format!("value of key {shown} was not kept"));
        };
        codec::decode(&layout.value, value, &mut cells, &mut inexact)
            .map_err(|e| format!("value of key {shown}: {e}"))?;
    }
    for (i, cell) in cells.iter().enumerate() {
        lookup
            .raw_bind_parameter(i + 1, cell)
            .map_err(|e| e.to_string())?;
    }
    let n = layout.key_cols.len() + layout.value_cols.len();
    let mut rows = lookup.raw_query();
    let Some(row) = rows.next().map_err(|e| e.to_string())? else {
        let what = if layout.multimap {
            format!("key {shown} value {}", shown_value(value))
        } else {
            format!("key {shown}")
        };
        d.add(|diff, t| diff.missing_in_target(&format!("{t} {what}")));
        return Ok(false);
    };
    let vals = row_values(row, n, &mut Vec::new()).map_err(|e| e.to_string())?;
    let (mut k, mut v) = (Vec::new(), Vec::new());
    if let Err(e) = encode_row(layout, &vals, &mut k, &mut v) {
        d.add(|diff, t| {
            diff.error(
                &format!("{t} key {shown}"),
                format!("has no redb form: {e}"),
            )
        });
        return Ok(false);
    }
    if k != key {
        d.add(|diff, t| {
            diff.differs(
                &format!("{t} key {shown}"),
                format!("key reads back as {}", codec::show(&layout.key, &k)),
            )
        });
        return Ok(false);
    }
    if !value.matches(&v) {
        d.add(|diff, t| {
            diff.differs(
                &format!("{t} key {shown}"),
                format!(
                    "value: source {}, target {}",
                    shown_value(value),
                    codec::show(&layout.value, &v)
                ),
            )
        });
        return Ok(false);
    }
    Ok(true)
}

#[allow(clippy::too_many_arguments)]
fn sampled(
    source: &Source,
    table: &TableInfo,
    layout: &Layout,
    conn: &Connection,
    seed: u64,
    n: u64,
    written: Option<&TableWritten>,
    source_unchanged: bool,
    cancel: &AtomicBool,
    d: &mut TableDiff<'_>,
    result: &mut TableResult,
) -> Result<(Checksum, Checksum), String> {
    // The source side: what the write saw (the source unchanged since),
    // or a fresh scan.
    let known = written
        .filter(|_| source_unchanged)
        .and_then(|w| w.sample.clone().map(|s| (w.checksum, s)));
    let (src, sample) = match known {
        Some(known) => known,
        None => {
            result.source_read_again = true;
            let set = SampleSet::new(seed, n, table);
            let scanned = pipe::stream(source, table, cancel, Some(set), HashOn::Reader, |_| {
                Ok::<(), String>(())
            })
            .map_err(stopped)?;
            let entries = scanned
                .sample
                .map(SampleSet::into_entries)
                .unwrap_or_default();
            (scanned.checksum, entries)
        }
    };
    let tgt = target_checksum(table, layout, conn, None, d)?;
    let mut lookup = conn
        .prepare(&layout.lookup_sql())
        .map_err(|e| e.to_string())?;
    for (k, v) in &sample {
        compare_by_lookup(layout, &mut lookup, k, v, d)?;
        result.verified += 1;
    }
    Ok((src, tgt))
}

/// Hash the target rows left once the source is exhausted: rows the
/// source does not have (counted even when they have no redb form).
fn hash_remaining_rows(
    rows: &mut rusqlite::Rows<'_>,
    layout: &Layout,
    hasher: &EntryHasher,
    n: usize,
    mut spare: Vec<rusqlite::types::ValueRef<'static>>,
    tgt: &mut Checksum,
) -> Result<(), String> {
    let (mut k, mut v) = (Vec::new(), Vec::new());
    while let Some(row) = rows.next().map_err(|e| e.to_string())? {
        let vals = row_values(row, n, &mut spare).map_err(|e| e.to_string())?;
        match encode_row(layout, &vals, &mut k, &mut v) {
            Ok(()) => tgt.add(hasher.hash(&k, &v)),
            Err(_) => tgt.entries += 1,
        }
        spare = recycle(vals);
    }
    Ok(())
}

fn full(
    source: &Source,
    table: &TableInfo,
    layout: &Layout,
    conn: &Connection,
    cancel: &AtomicBool,
    d: &mut TableDiff<'_>,
    result: &mut TableResult,
) -> Result<(Checksum, Checksum), String> {
    result.source_read_again = true;
    let hasher = EntryHasher::new(&table.name);
    let mut tgt = Checksum::default();
    let mut stmt = conn
        .prepare(&layout.select_sql())
        .map_err(|e| e.to_string())?;
    let mut lookup = conn
        .prepare(&layout.lookup_sql())
        .map_err(|e| e.to_string())?;
    let mut rows = stmt.query([]).map_err(|e| e.to_string())?;
    let n = layout.key_cols.len() + layout.value_cols.len();
    let (mut k, mut v) = (Vec::new(), Vec::new());
    let mut index = 0u64;
    let mut verified = 0u64;
    let mut target_done = false;
    let mut spare = Vec::with_capacity(n);
    let mut src = Checksum::default();
    let streamed = pipe::stream(source, table, cancel, None, HashOn::Shared, |e| {
        // The target row in the same position: in step when both sides are
        // in key order (as cutover writes them); otherwise a lookup decides.
        let mut in_step = false;
        if !target_done {
            match rows.next().map_err(|e| e.to_string())? {
                Some(row) => {
                    index += 1;
                    let vals = row_values(row, n, &mut spare).map_err(|e| e.to_string())?;
                    let encoded = encode_row(layout, &vals, &mut k, &mut v);
                    spare = recycle(vals);
                    match encoded {
                        Ok(()) if k == e.key && v == e.value => {
                            // Equal bytes: one hash counts for both sides.
                            let h = e.hash_with(&hasher);
                            src.add(h);
                            tgt.add(h);
                            in_step = true;
                        }
                        Ok(()) => tgt.add(hasher.hash(&k, &v)),
                        Err(why) => {
                            tgt.entries += 1;
                            d.add(|diff, t| {
                                diff.error(t, format!("row {index} has no redb form: {why}"))
                            });
                        }
                    }
                }
                None => target_done = true,
            }
        }
        if !in_step {
            src.add(e.hash_with(&hasher));
        }
        if in_step
            || compare_by_lookup(
                layout,
                &mut lookup,
                e.key,
                &Sampled::Bytes(e.value.to_vec()),
                d,
            )?
        {
            verified += 1;
        }
        Ok::<(), String>(())
    });
    streamed.map_err(stopped)?;
    hash_remaining_rows(&mut rows, layout, &hasher, n, spare, &mut tgt)?;
    if tgt.entries > src.entries {
        let extra = tgt.entries - src.entries;
        d.add(|diff, t| diff.only_in_target(&format!("{t}: {extra} rows")));
    }
    result.verified = verified;
    Ok((src, tgt))
}
