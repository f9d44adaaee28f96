//! redb-to-sqlite: migrate redb databases of any schema — one file per
//! node of a cluster — into new SQLite files, and prove it.
//!
//! - `source`: opens a redb file read-only whichever version wrote it
//!   (format v2 with redb 2.6, v3 with redb 4), lists its tables with their
//!   stored type names, and scans any table as exact bytes;
//! - `types` / `codec`: stored type names → SQLite columns, bytes ⇄ values;
//! - `pipe`: streams a table on a reader thread, hashing every entry;
//! - `writer`: the new SQLite file (temp file, one transaction, fsync, rename);
//! - `check`: verification by re-reading the target;
//! - `params` / `cmd`: what the operator asks, and the headless commands.
//!
//! Items are files: one per node (`data/node-1/state.redb`).

pub mod check;
pub mod cmd;
pub mod codec;
pub mod console;
pub mod discover;
pub mod kind;
pub mod pipe;
pub mod source;
pub mod types;
pub mod writer;

mod params;
pub use params::{target_name, RedbToSqliteParams, Verify, MAX_SAMPLE};

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::{Error, Result};
use crate::files::meta::lstat;
use crate::job::event::ItemReport;
use crate::job::{Item, ItemCtx, ItemError, Memo, Migration, Plan, Written};
use crate::names;
use crate::verify::diff::DiffReport;
use source::Source;
use writer::{TableWritten, WriteError, WriteOpts};

/// Kind name on the command line.
pub const KIND: &str = "redb-to-sqlite";

/// One planned file.
#[derive(Debug, Clone)]
struct FilePlan {
    source: PathBuf,
    target: PathBuf,
    steps: Vec<String>,
}

/// A redb-to-sqlite job.
pub struct RedbToSqlite {
    params: RedbToSqliteParams,
    resuming: bool,
    verify_only: bool,
    files: Mutex<HashMap<String, FilePlan>>,
}

/// What writing a file hands to its verification.
struct WriteMemo {
    /// The verification of the file as written (before its rename), taken
    /// by `verify_item`.
    checked: Mutex<Option<Checked>>,
}

/// A file's verification: its tables, and its differences; or why it
/// could not be checked at all.
type Checked = std::result::Result<(Vec<check::TableResult>, DiffReport), String>;

impl RedbToSqlite {
    /// A new job from the operator's parameters.
    pub fn new(params: RedbToSqliteParams) -> Self {
        RedbToSqlite {
            params,
            resuming: false,
            verify_only: false,
            files: Mutex::new(HashMap::new()),
        }
    }

    /// A job that only verifies existing targets (`cutover verify redb-to-sqlite`).
    pub fn for_verification(params: RedbToSqliteParams) -> Self {
        let mut job = RedbToSqlite::new(params);
        job.verify_only = true;
        job
    }

    /// Rebuild from journalled parameters for `cutover resume`.
    pub fn from_params(value: &serde_json::Value) -> Result<Self> {
        let params: RedbToSqliteParams = crate::job::journalled_params(KIND, value)?;
        let mut job = RedbToSqlite::new(params);
        job.resuming = true;
        Ok(job)
    }

    /// The parameters.
    pub fn params(&self) -> &RedbToSqliteParams {
        &self.params
    }

    /// Verify `file` (the target, or its temporary file while it is
    /// flushed) against `source`; `written` is what this run's write of it
    /// saw, `source_unchanged` whether the source is still what it read.
    fn check_file(
        &self,
        key: &str,
        source: &Source,
        file: &Path,
        written: Option<&[TableWritten]>,
        source_unchanged: bool,
        ctx: &ItemCtx,
    ) -> Checked {
        let mut diff = DiffReport::default();
        let opts = check::CheckOpts {
            verify: self.params.verify,
            seed: self.params.seed,
            memo: written,
            source_unchanged,
            cancel: ctx.cancel,
        };
        check::check(source, key, file, &opts, &mut diff).map(|results| (results, diff))
    }

    /// Verify the file this run just wrote from `source`: the write's
    /// checksums stand for the source while it is what it was when the
    /// write began (`before`).
    #[allow(clippy::too_many_arguments)]
    fn check_written(
        &self,
        key: &str,
        source_path: &Path,
        source: &Source,
        before: Option<crate::files::meta::Stat>,
        file: &Path,
        tables: &[TableWritten],
        ctx: &ItemCtx,
    ) -> Checked {
        let unchanged = before
            .zip(lstat(source_path).ok())
            .is_some_and(|(then, now)| now.unchanged_since(&then));
        self.check_file(key, source, file, Some(tables), unchanged, ctx)
    }

    fn source_is_dir(&self) -> bool {
        self.params.source.is_dir()
    }

    /// (item key, source file, target file) of every file the job covers.
    fn files(&self) -> Result<Vec<(String, PathBuf, PathBuf)>> {
        let src = &self.params.source;
        if !self.source_is_dir() {
            let key = src
                .file_name()
                .map(|n| names::display(Path::new(n)))
                .unwrap_or_else(|| names::display(src));
            return Ok(vec![(key, src.clone(), self.params.target.clone())]);
        }
        let mut out = Vec::new();
        let mut nodes_seen = Vec::new();
        for file in discover::find_files(src) {
            let node = discover::node_of(src, &file);
            if !self.params.nodes.is_empty() && !self.params.nodes.contains(&node) {
                continue;
            }
            nodes_seen.push(node);
            let rel = file.strip_prefix(src).unwrap_or(&file).to_path_buf();
            let target = self.params.target.join(target_name(&rel));
            out.push((names::display(&rel), file, target));
        }
        for want in &self.params.nodes {
            if !nodes_seen.contains(want) {
                return Err(Error::bad(format!(
                    "node '{want}' has no redb file under {}; `cutover inspect redb {}` lists the nodes",
                    names::display(src),
                    names::display(src)
                )));
            }
        }
        if out.is_empty() {
            return Err(Error::bad(format!(
                "no redb files under {}; point --source at a redb file or a directory of node folders",
                names::display(src)
            )));
        }
        Ok(out)
    }

    fn validate(&self) -> Result<()> {
        let src = &self.params.source;
        let dst = &self.params.target;
        let md = std::fs::metadata(src).map_err(|e| {
            Error::bad(format!(
                "source {} cannot be read ({e}); check the path",
                names::display(src)
            ))
        })?;
        let (csrc, cdst) = (resolved(src), resolved(dst));
        if cdst == csrc || cdst.starts_with(&csrc) {
            let how = if cdst == csrc { "is" } else { "is inside" };
            return Err(Error::bad(format!(
                "target {} {how} the source {}; write the SQLite files outside the redb source (choose another --target)",
                names::display(dst),
                names::display(src)
            )));
        }
        if md.is_dir() {
            if dst.exists() && !dst.is_dir() {
                return Err(Error::bad(format!(
                    "target {} exists and is not a directory; a directory source needs a target directory",
                    names::display(dst)
                )));
            }
            if !dst.exists() {
                if self.verify_only {
                    return Err(Error::bad(format!(
                        "target directory {} does not exist; nothing to verify",
                        names::display(dst)
                    )));
                }
                parent_exists(dst)?;
            }
            return Ok(());
        }
        if self.verify_only {
            if !dst.is_file() {
                return Err(Error::bad(format!(
                    "target {} does not exist; nothing to verify",
                    names::display(dst)
                )));
            }
            return Ok(());
        }
        if dst.is_dir() {
            return Err(Error::bad(format!(
                "target {} is a directory; give the path of the new SQLite file (e.g. {})",
                names::display(dst),
                names::display(
                    &dst.join(target_name(Path::new(src.file_name().unwrap_or_default())))
                )
            )));
        }
        if dst.exists() && !self.resuming {
            return Err(Error::bad(format!(
                "target {} already exists; cutover writes a new SQLite file and never replaces one — remove it or choose another target",
                names::display(dst)
            )));
        }
        if let (Ok(a), Ok(b)) = (src.canonicalize(), dst.canonicalize()) {
            if a == b {
                return Err(Error::bad("source and target are the same file"));
            }
        }
        parent_exists(dst)
    }

    fn describe(&self, source: &Source, target: &Path) -> Vec<String> {
        let mut steps = vec![format!(
            "open {} read-only (redb format {}, {} tables)",
            names::display(&source.path),
            source.format,
            source.tables.len()
        )];
        let tmp = writer::temp_path(target);
        steps.push(format!(
            "create {} (SQLite), one transaction:",
            names::display(&tmp)
        ));
        for (t, sql) in source.tables.iter().zip(writer::sql_names(&source.tables)) {
            let max_key = match t.key.as_ref().ok().and_then(types::Mapping::single_integer) {
                Some(types::Int::U64) => source.last_key(t).ok().flatten(),
                _ => None,
            };
            let ddl = writer::Layout::new(t, &sql, max_key.as_deref())
                .map(|l| l.create_sql())
                .unwrap_or_else(|e| e);
            steps.push(format!(
                "  {ddl}; -- {} '{}' {} → {}, {} entries",
                t.kind(),
                t.name,
                t.key_type,
                t.value_type,
                t.entries
            ));
        }
        steps.push(format!(
            "  CREATE TABLE {} (…); one row per table: types, counts, checksum",
            writer::quote(writer::META_TABLE)
        ));
        steps.push(format!(
            "commit, fsync, rename {} → {} (never replacing a file), fsync the directory",
            names::display(&tmp),
            names::display(target)
        ));
        steps.push(format!("verify {}", self.verify_label()));
        steps
    }

    fn plan_of(&self, key: &str) -> Result<FilePlan, ItemError> {
        self.files
            .lock()
            .ok()
            .and_then(|f| f.get(key).cloned())
            .ok_or_else(|| ItemError(format!("item '{key}' is not in the plan")))
    }

    fn sample(&self) -> Option<(u64, u64)> {
        match self.params.verify {
            Verify::Sample(n) => Some((self.params.seed, n)),
            _ => None,
        }
    }
}

fn parent_exists(dst: &Path) -> Result<()> {
    let parent = match dst.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if parent.is_dir() {
        Ok(())
    } else {
        Err(Error::bad(format!(
            "target's directory {} does not exist; create it first",
            names::display(&parent)
        )))
    }
}

/// Create the missing directories above `target` (a node's folder under a
/// target directory). Directories are shared by the nodes under them (two
/// files of one node, nodes of one rack): another item may create one at
/// the same time, and none is removed when an item fails — an empty
/// directory is not a target, and removing it could pull it from under a
/// node being written in parallel.
fn create_parents(target: &Path) -> Result<(), ItemError> {
    let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) else {
        return Ok(());
    };
    // create_dir_all tolerates a directory made by someone else meanwhile.
    std::fs::create_dir_all(parent).map_err(|e| {
        ItemError(format!(
            "cannot create directory {}: {e}",
            names::display(parent)
        ))
    })
}

/// fsync the directories above a published target up to (and including)
/// the directory holding `root`, so that folders created for it are on
/// stable storage too (publishing fsyncs the target's own directory).
fn fsync_ancestors(target: &Path, root: &Path) -> Result<(), ItemError> {
    let stop = root.parent().unwrap_or(root);
    let mut dir = target.parent().and_then(Path::parent);
    while let Some(d) = dir {
        if d.as_os_str().is_empty() || !d.starts_with(stop) {
            break;
        }
        crate::target::flush::fsync_path(d)
            .map_err(|e| ItemError(format!("cannot fsync directory {}: {e}", names::display(d))))?;
        if d == stop {
            break;
        }
        dir = d.parent();
    }
    Ok(())
}

/// `path` made absolute with symlinks resolved as far as it exists (the
/// rest, not yet created, appended as given).
fn resolved(path: &Path) -> PathBuf {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut existing = abs.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(c) = existing.canonicalize() {
            let mut out = c;
            out.extend(rest.iter().rev());
            return out;
        }
        match (existing.parent(), existing.file_name()) {
            (Some(p), Some(n)) => {
                rest.push(n.to_os_string());
                existing = p;
            }
            _ => return abs,
        }
    }
}

/// Open a source for an item, as an item error.
fn open_source(path: &Path) -> Result<Source, ItemError> {
    Source::open(path).map_err(|e| ItemError(format!("{} {e}", names::display(path))))
}

impl Migration for RedbToSqlite {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn units(&self) -> crate::job::Units {
        kind::UNITS
    }

    fn params(&self) -> serde_json::Value {
        serde_json::to_value(&self.params).unwrap_or(serde_json::Value::Null)
    }

    fn check(&self) -> Result<()> {
        self.validate()
    }

    fn plan(&self) -> Result<Plan> {
        self.validate()?;
        let mut plan = Plan::default();
        let mut files = HashMap::new();
        let mut seen_targets = std::collections::HashSet::new();
        for (key, src, dst) in self.files()? {
            let source = Source::open(&src)
                .map_err(|e| Error::bad(format!("{} {e}", names::display(&src))))?;
            if source.tables.is_empty() {
                return Err(Error::bad(format!(
                    "{} is a redb database with no tables: nothing to migrate",
                    names::display(&src)
                )));
            }
            for t in &source.tables {
                t.mappings().map_err(|e| {
                    Error::bad(format!(
                        "{}: {e}; nothing was written",
                        names::display(&src)
                    ))
                })?;
            }
            if !seen_targets.insert(dst.clone()) {
                return Err(Error::bad(format!(
                    "two sources would be written to {}; rename one",
                    names::display(&dst)
                )));
            }
            if self.verify_only {
                // A node whose target is missing is verified too: it is
                // reported as a difference, the other nodes still checked.
            } else if dst.exists() && !self.resuming {
                return Err(Error::bad(format!(
                    "target {} already exists; cutover writes a new SQLite file and never replaces one — remove it or choose another target",
                    names::display(&dst)
                )));
            }
            let entries: u64 = source.tables.iter().map(|t| t.entries).sum();
            plan.items.push(Item {
                key: key.clone(),
                files: entries,
                bytes: source.size,
            });
            plan.files_total += entries;
            plan.bytes_total += source.size;
            let steps = self.describe(&source, &dst);
            files.insert(
                key,
                FilePlan {
                    source: src,
                    target: dst,
                    steps,
                },
            );
        }
        if let Ok(mut f) = self.files.lock() {
            *f = files;
        }
        Ok(plan)
    }

    fn describe_item(&self, item: &Item) -> Vec<String> {
        match self.plan_of(&item.key) {
            Ok(p) => p.steps,
            Err(e) => vec![e.0],
        }
    }

    fn run_item(&self, item: &Item, ctx: &ItemCtx) -> Result<Written, ItemError> {
        let plan = self.plan_of(&item.key)?;
        let mut report = ItemReport {
            files: item.files,
            bytes: item.bytes,
            ..ItemReport::default()
        };
        if plan.target.exists() {
            if self.resuming {
                // Only a committed, fsynced file is ever renamed into place:
                // it is verified, not rewritten (its folders flushed again:
                // the interrupted run may have stopped before).
                if self.source_is_dir() {
                    fsync_ancestors(&plan.target, &self.params.target)?;
                }
                ctx.progress.add(item.files, item.bytes);
                report.warnings.push(format!(
                    "{} was written before the job was interrupted; verifying it",
                    names::display(&plan.target)
                ));
                return Ok(Written { report, memo: None });
            }
            return Err(ItemError(format!(
                "target {} appeared before cutover wrote it; it was left as it is",
                names::display(&plan.target)
            )));
        }
        // What the source is as the write reads it: verification trusts the
        // write's checksums only while it stays so.
        let source_stat = lstat(&plan.source).ok();
        let source = open_source(&plan.source)?;
        create_parents(&plan.target)?;
        let opts = WriteOpts {
            sample: self.sample(),
            progress: ctx.progress,
            cancel: ctx.cancel,
            item_bytes: item.bytes,
            item_entries: item.files,
        };
        // Verified while it is flushed (see `writer::write`); reported by
        // `verify_item`.
        let verify_temp = |tmp: &Path, tables: &[TableWritten]| {
            self.check_written(
                &item.key,
                &plan.source,
                &source,
                source_stat,
                tmp,
                tables,
                ctx,
            )
        };
        let (tables, checked) =
            writer::write(&source, &plan.target, &opts, verify_temp).map_err(|e| match e {
                WriteError::Cancelled => ItemError("cancelled; no target was written".into()),
                WriteError::Source(why) => ItemError(format!(
                    "{} {why}; no target was written",
                    names::display(&plan.source)
                )),
                WriteError::Failed(why) => ItemError(format!(
                    "cannot write {}: {why}; no target was left behind",
                    names::display(&plan.target)
                )),
            })?;
        // Publishing fsynced the file and its directory; the folders made
        // for it must reach stable storage too before it is called verified.
        if self.source_is_dir() {
            fsync_ancestors(&plan.target, &self.params.target)?;
        }
        report.files_transferred = tables.iter().map(|t| t.entries).sum();
        report.bytes_transferred = std::fs::metadata(&plan.target)
            .map(|m| m.len())
            .unwrap_or(0);
        for t in &tables {
            if t.inexact > 0 {
                report.warnings.push(format!(
                    "table '{}': {} values have no exact SQLite form (NaN, -0.0, a u64 above 2^63-1, text that is not UTF-8…) and are stored as BLOBs of their exact redb bytes",
                    t.name, t.inexact
                ));
            }
        }
        Ok(Written {
            report,
            memo: Some(Box::new(WriteMemo {
                checked: Mutex::new(Some(checked)),
            })),
        })
    }

    fn verify_item(
        &self,
        item: &Item,
        ctx: &ItemCtx,
        memo: Option<&Memo>,
        report: &mut ItemReport,
    ) -> Result<(), ItemError> {
        let plan = self.plan_of(&item.key)?;
        report.files = item.files;
        report.bytes = item.bytes;
        let written = memo
            .and_then(|m| m.downcast_ref::<WriteMemo>())
            .and_then(|m| m.checked.lock().ok().and_then(|mut c| c.take()));
        let checked = match written {
            Some(checked) => checked,
            None => {
                if !plan.target.is_file() {
                    let mut diff = DiffReport::default();
                    diff.missing_in_target(&names::display(&plan.target));
                    return Err(ItemError(diff.summary()));
                }
                let source = open_source(&plan.source)?;
                self.check_file(&item.key, &source, &plan.target, None, false, ctx)
            }
        };
        let (results, diff) = checked.map_err(|e| {
            if ctx.cancelled() {
                ItemError("cancelled during verification".into())
            } else {
                ItemError(format!("target {} {e}", names::display(&plan.target)))
            }
        })?;
        report.files_hashed = results.iter().map(|r| r.verified).sum();
        for r in &results {
            tracing::info!(
                "{}  {:<24} read {:>9}  written {:>9}  verified {:>9}  errors {:>3}  {:.2}s{}",
                item.key,
                r.table,
                r.read,
                r.written,
                r.verified,
                r.errors,
                r.elapsed_s,
                match r.checksum_equal {
                    Some(true) => "  checksum =",
                    Some(false) => "  checksum *",
                    None => "",
                }
            );
        }
        report.rows = results
            .iter()
            .map(|r| crate::job::event::Row::of(kind::TABLE_ROW, r))
            .collect();
        if diff.is_empty() {
            Ok(())
        } else {
            Err(ItemError(diff.summary()))
        }
    }

    fn verify_label(&self) -> String {
        match self.params.verify {
            Verify::Sample(n) => format!("sample={n} seed={}", self.params.seed),
            other => other.to_string(),
        }
    }

    fn lock_target(&self) -> Option<PathBuf> {
        Some(self.params.target.clone())
    }

    fn rollback_preview(&self) -> Result<crate::job::Preview> {
        let files = if self.source_is_dir() || self.params.source.is_file() {
            self.files()?
        } else {
            Vec::new()
        };
        let mut delete = crate::job::Change::new("delete");
        for (_, _, target) in files.iter().filter(|(_, _, t)| t.is_file()) {
            delete.add(|| names::display(target));
        }
        Ok(crate::job::Preview {
            changes: vec![delete],
            objection: None,
            name: None,
        })
    }

    fn rollback(&self) -> Result<String> {
        let files = if self.source_is_dir() || self.params.source.is_file() {
            self.files()?
        } else {
            Vec::new()
        };
        let mut removed = Vec::new();
        for (_, _, target) in files {
            writer::remove_temp(&target);
            if target.is_file() {
                std::fs::remove_file(&target)
                    .map_err(|e| Error::io("cannot remove target", &target, &e))?;
                removed.push(names::display(&target));
            }
        }
        if removed.is_empty() {
            Ok("nothing to undo: no target file exists".to_string())
        } else {
            Ok(format!(
                "removed {} SQLite file(s): {}; the redb sources were not touched",
                removed.len(),
                removed.join(", ")
            ))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::job::Progress;
    use std::sync::atomic::AtomicBool;

    const KV: redb::TableDefinition<'static, &[u8], &[u8]> = redb::TableDefinition::new("kv");

    fn put(path: &Path, from: u64, to: u64) {
        let db = redb::Database::create(path).unwrap();
        let w = db.begin_write().unwrap();
        {
            let mut t = w.open_table(KV).unwrap();
            for i in from..to {
                t.insert(&i.to_be_bytes()[..], &b"value"[..]).unwrap();
            }
        }
        w.commit().unwrap();
    }

    fn job(dir: &Path, entries: u64) -> (RedbToSqlite, Plan) {
        let source = dir.join("state.redb");
        put(&source, 0, entries);
        let job = RedbToSqlite::new(RedbToSqliteParams {
            source,
            target: dir.join("state.sqlite"),
            verify: Verify::Full,
            seed: 1,
            nodes: Vec::new(),
        });
        let plan = job.plan().unwrap();
        job.prepare(&plan).unwrap();
        (job, plan)
    }

    /// Migrate the one file of a job as the engine does: write (verified
    /// as it is flushed), then report the verification.
    fn migrate(dir: &Path, entries: u64) -> (Result<(), ItemError>, ItemReport) {
        let (job, plan) = job(dir, entries);
        let (progress, cancel) = (Progress::default(), AtomicBool::new(false));
        let ctx = ItemCtx {
            progress: &progress,
            cancel: &cancel,
        };
        let item = &plan.items[0];
        let written = job.run_item(item, &ctx).unwrap();
        let mut report = ItemReport::default();
        let verified = job.verify_item(item, &ctx, written.memo.as_ref(), &mut report);
        (verified, report)
    }

    /// Write the one file of a job; `between` runs on the written (not yet
    /// renamed) file before it is verified as the run verifies it.
    fn write_then_verify(
        dir: &Path,
        entries: u64,
        between: impl FnOnce(&Path, &Path),
    ) -> (Checked, ItemReport) {
        let (job, plan) = job(dir, entries);
        let (progress, cancel) = (Progress::default(), AtomicBool::new(false));
        let ctx = ItemCtx {
            progress: &progress,
            cancel: &cancel,
        };
        let path = dir.join("state.redb");
        let before = lstat(&path).ok();
        let source = open_source(&path).unwrap();
        let opts = WriteOpts {
            sample: None,
            progress: &progress,
            cancel: &cancel,
            item_bytes: 0,
            item_entries: entries,
        };
        let key = &plan.items[0].key;
        let (_, checked) = writer::write(&source, &dir.join("state.sqlite"), &opts, |tmp, t| {
            between(&path, tmp);
            job.check_written(key, &path, &source, before, tmp, t, &ctx)
        })
        .unwrap();
        let mut report = ItemReport::default();
        if let Ok((results, _)) = &checked {
            report.rows = results
                .iter()
                .map(|r| crate::job::event::Row::of(kind::TABLE_ROW, r))
                .collect();
        }
        (checked, report)
    }

    fn read_again(report: &ItemReport) -> Vec<bool> {
        report
            .rows
            .iter()
            .filter_map(kind::table_of)
            .map(|t| t.source_read_again)
            .collect()
    }

    #[test]
    fn full_verification_of_an_unchanged_source_rests_on_the_writes_checksum() {
        let tmp = tempfile::tempdir().unwrap();
        // Small, and large enough to be checksummed on several threads.
        for n in [500, 100_000] {
            let (verified, report) = migrate(tmp.path(), n);
            assert!(verified.is_ok(), "{n}: {verified:?}");
            assert_eq!(read_again(&report), [false]);
            assert_eq!(report.files_hashed, n);
            std::fs::remove_file(tmp.path().join("state.sqlite")).unwrap();
            std::fs::remove_file(tmp.path().join("state.redb")).unwrap();
        }
    }

    #[test]
    fn rowid_ranges_cover_every_rowid_once() {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        c.execute_batch("CREATE TABLE \"t\" (\"k\" INTEGER PRIMARY KEY, \"v\" BLOB)")
            .unwrap();
        let layout = |c: &rusqlite::Connection, parts| check::rowid_ranges(c, "t", parts).unwrap();
        assert_eq!(layout(&c, 2), []);
        c.execute("INSERT INTO t VALUES (?1, NULL)", [i64::MIN])
            .unwrap();
        assert_eq!(layout(&c, 4), [(i64::MIN, i64::MIN)]);
        c.execute("INSERT INTO t VALUES (?1, NULL)", [i64::MAX])
            .unwrap();
        let r = layout(&c, 3);
        assert_eq!(r.len(), 3);
        assert_eq!((r[0].0, r[2].1), (i64::MIN, i64::MAX));
        assert!(r.windows(2).all(|w| w[0].1.checked_add(1) == Some(w[1].0)));
        c.execute("INSERT INTO t VALUES (?1, NULL)", [5]).unwrap();
        c.execute_batch("DELETE FROM t WHERE k <> 5").unwrap();
        assert_eq!(layout(&c, 2), [(5, 5)]);
    }

    #[test]
    fn a_damaged_row_is_named_although_the_source_was_not_read_again_first() {
        let tmp = tempfile::tempdir().unwrap();
        let (verified, report) = write_then_verify(tmp.path(), 100_000, |_, target| {
            let c = rusqlite::Connection::open(target).unwrap();
            let n = c
                .execute(
                    "UPDATE kv SET value = X'00' WHERE key = ?",
                    [&7u64.to_be_bytes()[..]],
                )
                .unwrap();
            assert_eq!(n, 1);
        });
        let (_, diff) = verified.unwrap();
        let why = diff.summary();
        // The sums differ, so every entry is compared and the row named.
        assert!(why.contains("0000000000000007"), "{why}");
        assert_eq!(read_again(&report), [true]);
    }

    #[test]
    fn a_source_touched_after_the_write_began_is_read_again() {
        let tmp = tempfile::tempdir().unwrap();
        let (verified, report) = write_then_verify(tmp.path(), 500, |source, _| {
            // Its mode changed and back: the ctime moved, the bytes did not.
            let mode = std::fs::metadata(source).unwrap().permissions();
            let mut other = mode.clone();
            other.set_readonly(true);
            std::fs::set_permissions(source, other).unwrap();
            std::fs::set_permissions(source, mode).unwrap();
        });
        let (_, diff) = verified.unwrap();
        assert!(diff.is_empty(), "{}", diff.summary());
        assert_eq!(read_again(&report), [true]);
    }
}
