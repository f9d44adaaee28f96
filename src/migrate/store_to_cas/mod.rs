//! store-to-cas: a package store (one directory per package hash) into a
//! content-addressed store that keeps each distinct file content once.
//! Items are packages; the old store is never modified (dual mode) until the
//! operator's explicit cleanup, see `phases`.

mod check;
mod claims;
pub mod cmd;
pub mod console;
pub mod db;
pub mod discover;
mod ingest;
pub mod kind;
pub mod layout;
pub mod phases;
mod readahead;
pub mod scan;
mod walk;

use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::files::meta::{lstat, Kind};
use crate::job::event::ItemReport;
use crate::job::{Item, ItemCtx, ItemError, Memo, Migration, Plan, Written};
use crate::names;
use crate::target::SyncGroup;
use crate::verify::sample::Sample;
use crate::verify::VerifyMode;

pub use check::{check_package, damaged_objects, object_problem, CheckedObjects, DamagedObject};
use layout::Layout;

/// Kind name on the command line.
pub const KIND: &str = "store-to-cas";

/// What the operator asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoreParams {
    pub source: PathBuf,
    pub target: PathBuf,
    pub verify: VerifyMode,
    pub seed: u64,
}

/// A store-to-cas job.
pub struct StoreToCas {
    params: StoreParams,
    layout: Layout,
    db: Mutex<Option<Connection>>,
    /// Hashes of objects stored (referenced in store.db, or claimed in this run).
    /// Objects stored or being written (raw hashes: small per object).
    claims: claims::ObjectClaims,
    /// Multiply-linked source inodes already stored → their object.
    inodes: Mutex<HashMap<(u64, u64), String>>,
    sample: OnceLock<Sample>,
    checked: CheckedObjects,
    /// Group commit of `syncfs` on the store's filesystem.
    sync: SyncGroup,
    /// Failures store.db could not record when they happened (a full
    /// disk): recorded at the end of the job, with the space reserve.
    unrecorded: Mutex<Vec<(String, String)>>,
}

impl StoreToCas {
    /// A new job.
    pub fn new(params: StoreParams) -> Self {
        let layout = Layout::new(&params.target);
        StoreToCas {
            layout,
            db: Mutex::new(None),
            claims: claims::ObjectClaims::default(),
            inodes: Mutex::new(HashMap::new()),
            sample: OnceLock::new(),
            checked: CheckedObjects::default(),
            sync: SyncGroup::new(&params.target),
            unrecorded: Mutex::new(Vec::new()),
            params,
        }
    }

    /// Rebuild from journalled parameters.
    pub fn from_params(value: &serde_json::Value) -> Result<Self> {
        let params: StoreParams = crate::job::journalled_params(KIND, value)?;
        Ok(StoreToCas::new(params))
    }

    fn package_paths(&self, item: &Item) -> Result<(OsString, PathBuf), ItemError> {
        let name = names::decode_path(&item.key)
            .ok_or_else(|| ItemError(format!("item key '{}' is not a name", item.key)))?
            .into_os_string();
        let src = self.params.source.join(&name);
        Ok((name, src))
    }

    fn with_db<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> std::result::Result<T, String>,
    ) -> std::result::Result<T, ItemError> {
        let mut guard = self
            .db
            .lock()
            .map_err(|_| ItemError("store.db lock poisoned".into()))?;
        let conn = guard
            .as_mut()
            .ok_or_else(|| ItemError("store.db is not open (the job was not prepared)".into()))?;
        f(conn).map_err(ItemError)
    }

    /// Claim an object hash; true if this call is the first to store it
    /// (then `object_stored` or `unclaim_object` must follow).
    fn claim_object(&self, hex: &str) -> bool {
        match raw_hash(hex) {
            Some(raw) => self.claims.claim(raw) == claims::Claim::Mine,
            None => true,
        }
    }

    fn object_stored(&self, hex: &str) {
        if let Some(raw) = raw_hash(hex) {
            self.claims.stored(raw);
        }
    }

    fn unclaim_object(&self, hex: &str) {
        if let Some(raw) = raw_hash(hex) {
            self.claims.abandon(raw);
        }
    }

    /// Record a package failed in store.db; when store.db cannot be written
    /// now (a full disk), keep it for [`Migration::finish`], so the job's
    /// count of failed packages and `store status` agree.
    fn record_failure(&self, key: &str, why: &str) {
        if let Err(e) = self.with_db(|c| db::finish_package(c, key, Some(why), false)) {
            tracing::warn!(
                "package {key}: cannot record the failure now ({}); retrying at the end of the job",
                e.0
            );
            if let Ok(mut u) = self.unrecorded.lock() {
                u.push((key.to_string(), why.to_string()));
            }
        }
    }

    /// Record the failures kept by [`Self::record_failure`]: free the space
    /// reserve first, so store.db can grow by the one transaction it takes.
    fn record_kept_failures(&self) -> Result<()> {
        let kept = self
            .unrecorded
            .lock()
            .map(|mut u| std::mem::take(&mut *u))
            .unwrap_or_default();
        if kept.is_empty() {
            return Ok(());
        }
        self.layout.release_reserve();
        self.with_db(|c| db::record_failures(c, &kept))
            .map_err(|e| {
                Error::Journal(format!(
                    "{} packages failed but store {} cannot record it ({}); free space there, then run the migration again",
                    kept.len(),
                    names::display(&self.params.target),
                    e.0
                ))
            })
    }

    fn inode_hash(&self, dev: u64, ino: u64) -> Option<String> {
        self.inodes
            .lock()
            .ok()
            .and_then(|m| m.get(&(dev, ino)).cloned())
    }

    fn remember_inode(&self, dev: u64, ino: u64, hex: &str) {
        if let Ok(mut m) = self.inodes.lock() {
            m.insert((dev, ino), hex.to_string());
        }
    }

    fn validate(&self) -> Result<()> {
        let src = &self.params.source;
        let dst = &self.params.target;
        match lstat(src) {
            Ok(st) if st.kind == Kind::Dir => {}
            Ok(_) => {
                return Err(Error::bad(format!(
                "store {} is not a directory; give the directory holding one directory per package",
                names::display(src)
            )))
            }
            Err(e) => {
                return Err(Error::bad(format!(
                    "store {} cannot be read ({e}); check the path",
                    names::display(src)
                )))
            }
        }
        let csrc = src
            .canonicalize()
            .map_err(|e| Error::io("cannot resolve store", src, &e))?;
        let cdst = match dst.canonicalize() {
            Ok(c) => c,
            Err(_) => {
                let parent = dst.parent().filter(|p| !p.as_os_str().is_empty());
                let parent = parent.unwrap_or(Path::new("."));
                parent
                    .canonicalize()
                    .map_err(|e| {
                        Error::bad(format!(
                            "target's parent {} cannot be used ({e}); create it first",
                            names::display(parent)
                        ))
                    })?
                    .join(dst.file_name().unwrap_or_default())
            }
        };
        if cdst == csrc || cdst.starts_with(&csrc) || csrc.starts_with(&cdst) {
            return Err(Error::bad(format!(
                "target {} overlaps store {}; the content-addressed store must live outside it",
                names::display(dst),
                names::display(src)
            )));
        }
        if let Ok(rd) = std::fs::read_dir(dst) {
            let foreign = rd.flatten().any(|e| {
                !matches!(
                    e.file_name().to_str(),
                    Some(
                        "objects"
                            | "packages"
                            | "store.db"
                            | "store.db-wal"
                            | "store.db-shm"
                            | layout::RESERVE
                    )
                )
            });
            if foreign {
                return Err(Error::bad(format!(
                    "target {} holds files that are not a cutover store; choose an empty or new directory",
                    names::display(dst)
                )));
            }
        }
        if self.layout.db().exists() {
            let conn = db::open_read_only(&self.layout.db()).map_err(Error::bad)?;
            if let Some(recorded) = db::state(&conn, "source").map_err(Error::bad)? {
                if Path::new(&recorded) != csrc {
                    return Err(Error::bad(format!(
                        "target {} was migrated from {recorded}, not {}; use another target",
                        names::display(dst),
                        names::display(&csrc)
                    )));
                }
            }
            if db::state(&conn, "cleanup_started_at")
                .map_err(Error::bad)?
                .is_some()
            {
                return Err(Error::bad(format!(
                    "store {} was cut over and cleaned up; there is nothing left to migrate",
                    names::display(dst)
                )));
            }
        }
        Ok(())
    }

    /// Package directories of the store, sorted by name.
    fn packages(&self) -> Result<Vec<OsString>> {
        let src = &self.params.source;
        let mut out = Vec::new();
        for e in std::fs::read_dir(src).map_err(|e| Error::io("cannot list store", src, &e))? {
            let e = e.map_err(|e| Error::io("cannot list store", src, &e))?;
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                out.push(e.file_name());
            }
        }
        out.sort_by(|a, b| a.as_encoded_bytes().cmp(b.as_encoded_bytes()));
        Ok(out)
    }

    fn completed(&self) -> HashSet<String> {
        if !self.layout.db().exists() {
            return HashSet::new();
        }
        db::open_read_only(&self.layout.db())
            .and_then(|c| db::packages_with(&c, "completed"))
            .map(|v| v.into_iter().collect())
            .unwrap_or_default()
    }
}

/// The 32 bytes of a BLAKE3 hex hash.
fn raw_hash(hex: &str) -> Option<[u8; 32]> {
    blake3::Hash::from_hex(hex).ok().map(|h| *h.as_bytes())
}

impl Migration for StoreToCas {
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
        let done = self.completed();
        let mut builder = self.params.verify.sampler(self.params.seed);
        let mut plan = Plan {
            done_before: done.iter().cloned().collect(),
            ..Plan::default()
        };
        let todo: Vec<(String, PathBuf)> = self
            .packages()?
            .into_iter()
            .map(|name| {
                let key = names::encode(name.as_encoded_bytes());
                (key, self.params.source.join(&name))
            })
            .filter(|(key, _)| !done.contains(key))
            .collect();
        let threads = crate::engine::default_parallel();
        walk::walk_packages(todo, threads, |key, walked| {
            let mut item = Item {
                key: key.clone(),
                files: 0,
                bytes: 0,
            };
            if let Ok(entries) = walked {
                for e in entries.iter().filter(|e| e.stat.kind != Kind::Dir) {
                    item.files += 1;
                    if e.stat.kind == Kind::File {
                        item.bytes += e.stat.size;
                        if let Some(b) = builder.as_mut() {
                            b.offer(format!("{key}/{}", e.key()).as_bytes());
                        }
                    }
                }
            }
            plan.files_total += item.files;
            plan.bytes_total += item.bytes;
            plan.items.push(item);
        });
        let _ = self
            .sample
            .set(builder.map(|b| b.finish()).unwrap_or_else(Sample::all));
        Ok(plan)
    }

    fn prepare(&self, plan: &Plan) -> Result<()> {
        let io = |e: std::io::Error| Error::io("cannot create store", &self.params.target, &e);
        self.layout.create().map_err(io)?;
        let discarded = self.layout.discard_tmp().map_err(io)?;
        self.layout.make_reserve();
        if discarded > 0 {
            tracing::info!("discarded {discarded} objects left under temporary names");
        }
        let mut conn = db::open(&self.layout.db(), true).map_err(Error::bad)?;
        // No fsync per commit: a package is recorded completed only after
        // the `syncfs` that makes its objects durable, and the next one
        // (or `finish`'s) makes the record durable too. A power loss
        // before then loses the latest records whole (WAL), and those
        // packages are migrated again.
        db::commit_without_fsync(&conn).map_err(Error::bad)?;
        let csrc = self
            .params
            .source
            .canonicalize()
            .map_err(|e| Error::io("cannot resolve store", &self.params.source, &e))?;
        db::set_state(&conn, "source", &csrc.to_string_lossy()).map_err(Error::bad)?;
        db::reset_in_progress(&conn).map_err(Error::bad)?;
        db::init_seq(&conn).map_err(Error::bad)?;
        let keys: Vec<String> = plan.items.iter().map(|i| i.key.clone()).collect();
        db::add_pending(&mut conn, &keys).map_err(Error::bad)?;
        let live = db::flushed_objects(&conn).map_err(Error::bad)?;
        self.claims
            .extend_stored(live.iter().filter_map(|h| raw_hash(h)));
        let inodes = db::known_inodes(&conn).map_err(Error::bad)?;
        if let Ok(mut m) = self.inodes.lock() {
            m.extend(inodes.into_iter().map(|(d, i, h)| ((d, i), h)));
        }
        if let Ok(mut g) = self.db.lock() {
            *g = Some(conn);
        }
        Ok(())
    }

    fn describe_item(&self, item: &Item) -> Vec<String> {
        vec![format!(
            "store package {} ({} files, {} bytes) into {}/objects and {}/packages",
            item.key,
            item.files,
            item.bytes,
            names::display(&self.params.target),
            names::display(&self.params.target)
        )]
    }

    fn run_item(&self, item: &Item, ctx: &ItemCtx) -> Result<Written, ItemError> {
        let (report, hashes) = ingest::ingest(self, item, ctx)?;
        Ok(Written {
            report,
            memo: Some(Box::new(hashes)),
        })
    }

    fn verify_item(
        &self,
        item: &Item,
        _ctx: &ItemCtx,
        memo: Option<&Memo>,
        report: &mut ItemReport,
    ) -> Result<(), ItemError> {
        let (name, _) = self.package_paths(item)?;
        let ingested = memo.and_then(|m| m.downcast_ref::<check::SourceHashes>());
        let sample = self.sample.get().copied().unwrap_or_else(Sample::all);
        let result = check_package(
            &self.layout,
            &self.params.source,
            OsStr::new(&name),
            &sample,
            &self.checked,
            ingested,
        );
        report.files_hashed += result.hashed;
        let error = (!result.diff.is_empty()).then(|| result.diff.summary());
        if self.db.lock().map(|g| g.is_none()).unwrap_or(true) {
            return error.map_or(Ok(()), |e| Err(ItemError(e)));
        }
        match error {
            // Completed in store.db once flushed (`flush`).
            None => Ok(()),
            Some(error) => {
                self.record_failure(&item.key, &error);
                Err(ItemError(error))
            }
        }
    }

    /// Durable, then completed: every object the package wrote or uses,
    /// its `objects/xx/` entries and its metadata reach stable storage (one
    /// `syncfs` shared by the packages finishing at about the same time)
    /// before store.db records the package `completed`.
    fn flush(&self, item: &Item) -> Result<(), ItemError> {
        let error = match self.sync.sync() {
            Err(e) => format!(
                "package {} verified, but {e}; it is not recorded as migrated",
                item.key
            ),
            Ok(()) => match self.with_db(|c| db::finish_package(c, &item.key, None, true)) {
                Ok(()) => return Ok(()),
                Err(e) => format!(
                    "package {} verified, but store.db cannot record it: {}",
                    item.key, e.0
                ),
            },
        };
        self.record_failure(&item.key, &error);
        Err(ItemError(error))
    }

    fn verify_label(&self) -> String {
        self.params.verify.label(self.params.seed)
    }

    fn rollback(&self) -> Result<String> {
        phases::rollback(&self.params.target, false).map(|r| r.message)
    }

    fn lock_target(&self) -> Option<PathBuf> {
        Some(self.params.target.clone())
    }

    fn finish(&self, _summary: &crate::engine::Summary) -> Result<()> {
        if self.db.lock().map(|g| g.is_none()).unwrap_or(true) {
            return Ok(());
        }
        self.record_kept_failures()?;
        // Everything completed is flushed already (a package is completed
        // only after its flush); one more syncfs lets the record say so
        // for packages an older cutover completed.
        self.sync.sync().map_err(|e| {
            Error::Io(format!(
                "store {}: {e}",
                names::display(&self.params.target)
            ))
        })?;
        if let Err(e) = self.with_db(|c| {
            db::commit_with_fsync(c)?;
            db::mark_flushed(c)
        }) {
            tracing::warn!("cannot record that the store was flushed: {}", e.0);
        }
        Ok(())
    }
}
