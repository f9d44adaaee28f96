//! A redb source file, opened read-only whichever redb version wrote it:
//! its format (from the header), its tables with their stored key/value type
//! names, widths and entry counts, and a streaming scan of any table as
//! exact bytes.

mod raw;
mod v2;
mod v3;

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use super::types::{self, Class, Mapping};

/// redb's magic number, the first 9 bytes of every database file.
const MAGIC: [u8; 9] = [b'r', b'e', b'd', b'b', 0x1A, 0x0A, 0xA9, 0x0D, 0x0A];
/// Header (64 bytes) + two commit slots (128 bytes each).
const HEADER_LEN: usize = 320;
/// redb's read cache while cutover reads a source (bounded memory).
const CACHE_BYTES: usize = 64 << 20;

/// The redb file format of a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Written by redb 2.x.
    V2,
    /// Written by redb 3.x or 4.x (or 2.6 with the v3 opt-in).
    V3,
}

impl Format {
    /// The format number (2 or 3).
    pub fn number(self) -> u8 {
        match self {
            Format::V2 => 2,
            Format::V3 => 3,
        }
    }

    /// Which redb versions write it.
    pub fn writers(self) -> &'static str {
        match self {
            Format::V2 => "redb 2.x",
            Format::V3 => "redb 3.x/4.x",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{} ({})", self.number(), self.writers())
    }
}

/// God-byte flag: the file was not closed cleanly.
const RECOVERY_REQUIRED: u8 = 2;

const NEEDS_REPAIR: &str = "needs a repair (it was not closed cleanly, or it is damaged); cutover never writes to a source: let its node open and close it cleanly, or repair a copy with redb, then retry";

/// The format from a file's first bytes, or why it is not a redb file.
pub fn sniff(path: &Path) -> Result<(Format, u64), String> {
    let md = std::fs::metadata(path).map_err(|e| format!("cannot be read ({e})"))?;
    if !md.is_file() {
        return Err("is not a regular file".into());
    }
    let size = md.len();
    if size == 0 {
        return Err("is empty (0 bytes), not a redb database".into());
    }
    let mut head = Vec::with_capacity(HEADER_LEN);
    File::open(path)
        .and_then(|f| f.take(HEADER_LEN as u64).read_to_end(&mut head))
        .map_err(|e| format!("cannot be read ({e})"))?;
    if head.len() < MAGIC.len() || head[..MAGIC.len()] != MAGIC {
        return Err("is not a redb database (no redb header)".into());
    }
    if head.len() < HEADER_LEN {
        return Err(format!(
            "is truncated: {size} bytes, shorter than a redb header"
        ));
    }
    let primary = usize::from(head[MAGIC.len()] & 1);
    let versions = [head[64 + 128 * primary], head[64 + 128 * (1 - primary)]];
    match versions {
        [2, _] => Ok((Format::V2, size)),
        [3, _] => Ok((Format::V3, size)),
        [1, _] => Err("was written by redb 1.x (file format v1); open it once with redb 2.x to upgrade it, then retry".into()),
        [v, _] => Err(format!("has an unknown redb file format (v{v}); cutover reads v2 and v3")),
    }
}

/// Why a source cannot be opened because its owner has it open.
pub const IN_USE: &str = "is in use by another process (is its node still running?); stop the node, then retry — cutover reads a source only while nothing writes to it";

/// A table of a source, with its stored types and how they map to SQLite.
#[derive(Debug, Clone)]
pub struct TableInfo {
    pub name: String,
    pub multimap: bool,
    /// Stored key type name (`u64`, `&str`, `myapp::Key`).
    pub key_type: String,
    /// Stored value type name.
    pub value_type: String,
    pub entries: u64,
    /// How the key is carried, or why it cannot be.
    pub key: Result<Mapping, String>,
    /// How the value is carried, or why it cannot be.
    pub value: Result<Mapping, String>,
    stored: Stored,
}

#[derive(Debug, Clone)]
enum Stored {
    V2(v2::Stored),
    V3(v3::Stored),
    /// The table could not be opened at all.
    Unopened,
}

impl TableInfo {
    /// "table" or "multimap".
    pub fn kind(&self) -> &'static str {
        if self.multimap {
            "multimap"
        } else {
            "table"
        }
    }

    /// Both mappings, or why this table cannot be migrated (names the table and its types).
    pub fn mappings(&self) -> Result<(&Mapping, &Mapping), String> {
        match (&self.key, &self.value) {
            (Ok(k), Ok(v)) => Ok((k, v)),
            (Err(why), _) | (_, Err(why)) => Err(format!(
                "{} '{}' (key {}, value {}) cannot be read: {why}",
                self.kind(),
                self.name,
                self.key_type,
                self.value_type
            )),
        }
    }
}

enum Txn {
    V2(redb2::ReadTransaction),
    V3(redb::ReadTransaction),
}

/// The database stays open as long as its read transaction is used.
#[allow(dead_code)]
enum Db {
    V2(redb2::Database),
    V3(redb::ReadOnlyDatabase),
}

/// An open source: one read snapshot for the whole migration of the file.
pub struct Source {
    pub path: PathBuf,
    pub format: Format,
    pub size: u64,
    /// Tables and multimap tables, sorted by name.
    pub tables: Vec<TableInfo>,
    txn: Txn,
    _db: Db,
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Source")
            .field("path", &self.path)
            .field("format", &self.format)
            .field("tables", &self.tables)
            .finish()
    }
}

fn lock_shared(file: &File) -> Result<(), String> {
    // SAFETY: flock on a valid descriptor owned by `file`.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(());
    }
    let e = std::io::Error::last_os_error();
    if e.kind() == std::io::ErrorKind::WouldBlock {
        Err(IN_USE.into())
    } else {
        Err(format!("cannot be locked for reading ({e})"))
    }
}

fn open_error(e: impl fmt::Display) -> String {
    let text = e.to_string();
    if text.contains("already open") {
        IN_USE.to_string()
    } else if text.contains("repair") || text.contains("recovery") {
        NEEDS_REPAIR.to_string()
    } else {
        format!("cannot be read by redb ({text}); it may be damaged or truncated")
    }
}

impl Source {
    /// Open a redb file read-only and list its tables. Errors are phrased to
    /// follow the file's path ("… is not a redb database").
    pub fn open(path: &Path) -> Result<Source, String> {
        let (format, size) = sniff(path)?;
        guarded("opening it", || Source::open_format(path, format, size))
    }

    fn open_format(path: &Path, format: Format, size: u64) -> Result<Source, String> {
        let (db, txn) = match format {
            Format::V3 => {
                let db = redb::Builder::new()
                    .set_cache_size(CACHE_BYTES)
                    .open_read_only(path)
                    .map_err(open_error)?;
                let txn = redb::ReadableDatabase::begin_read(&db).map_err(open_error)?;
                (Db::V3(db), Txn::V3(txn))
            }
            Format::V2 => {
                let mut file = File::open(path).map_err(|e| format!("cannot be opened ({e})"))?;
                lock_shared(&file)?;
                // Checked under the lock: a running owner also sets the flag.
                let mut god = [0u8; 10];
                file.read_exact(&mut god)
                    .map_err(|e| format!("cannot be read ({e})"))?;
                if god[MAGIC.len()] & RECOVERY_REQUIRED != 0 {
                    return Err(NEEDS_REPAIR.into());
                }
                let backend =
                    v2::ReadOnlyFile::new(file).map_err(|e| format!("cannot be read ({e})"))?;
                let db = redb2::Builder::new()
                    .set_cache_size(CACHE_BYTES)
                    .create_with_backend(backend)
                    .map_err(open_error)?;
                let txn = db.begin_read().map_err(open_error)?;
                (Db::V2(db), Txn::V2(txn))
            }
        };
        let mut source = Source {
            path: path.to_path_buf(),
            format,
            size,
            tables: Vec::new(),
            txn,
            _db: db,
        };
        source.tables = source.list()?;
        Ok(source)
    }

    fn list(&self) -> Result<Vec<TableInfo>, String> {
        let mut names: Vec<(String, bool)> = Vec::new();
        let list_err = |e: &dyn fmt::Display| format!("cannot list its tables ({e})");
        match &self.txn {
            Txn::V3(txn) => {
                use redb::MultimapTableHandle;
                use redb::TableHandle;
                for t in txn.list_tables().map_err(|e| list_err(&e))? {
                    names.push((t.name().to_string(), false));
                }
                for t in txn.list_multimap_tables().map_err(|e| list_err(&e))? {
                    names.push((t.name().to_string(), true));
                }
            }
            Txn::V2(txn) => {
                use redb2::MultimapTableHandle;
                use redb2::TableHandle;
                for t in txn.list_tables().map_err(|e| list_err(&e))? {
                    names.push((t.name().to_string(), false));
                }
                for t in txn.list_multimap_tables().map_err(|e| list_err(&e))? {
                    names.push((t.name().to_string(), true));
                }
            }
        }
        names.sort();
        let v2 = self.format == Format::V2;
        let mut out = Vec::with_capacity(names.len());
        for (name, multimap) in names {
            let probed = match &self.txn {
                Txn::V3(txn) => v3::stored_types(txn, &name, multimap).map(|(s, n)| {
                    let (k, kc) = v3::describe(&s.key);
                    let (v, vc) = v3::describe(&s.value);
                    (
                        (k, kc, s.key_width),
                        (v, vc, s.value_width),
                        n,
                        Stored::V3(s),
                    )
                }),
                Txn::V2(txn) => v2::stored_types(txn, &name, multimap).map(|(s, n)| {
                    let (k, kc) = v2::describe(&s.key);
                    let (v, vc) = v2::describe(&s.value);
                    (
                        (k, kc, s.key_width),
                        (v, vc, s.value_width),
                        n,
                        Stored::V2(s),
                    )
                }),
            };
            let info = match probed {
                Ok(((kn, kc, kw), (vn, vc, vw), entries, stored)) => {
                    let map = |n: &str, c: Option<Class>, w| match c {
                        Some(c) => types::mapping(n, c, w, v2).map_err(|u| u.0),
                        None => Err("redb did not say how it classifies the type".to_string()),
                    };
                    TableInfo {
                        key: map(&kn, kc, kw),
                        value: map(&vn, vc, vw),
                        name,
                        multimap,
                        key_type: kn,
                        value_type: vn,
                        entries,
                        stored,
                    }
                }
                Err(e) => TableInfo {
                    key: Err(format!("the table cannot be opened ({e})")),
                    value: Err(format!("the table cannot be opened ({e})")),
                    name,
                    multimap,
                    key_type: "?".into(),
                    value_type: "?".into(),
                    entries: 0,
                    stored: Stored::Unopened,
                },
            };
            out.push(info);
        }
        Ok(out)
    }

    /// Call `f` with the exact bytes of every (key, value) of `table`, in
    /// redb's order (each value of a multimap key in turn). The outer error
    /// is the source's; the inner is what `f` stopped with.
    pub fn scan<E>(
        &self,
        table: &TableInfo,
        f: impl FnMut(&[u8], &[u8]) -> Result<(), E>,
    ) -> Result<Result<(), E>, String> {
        guarded("reading it", || match (&self.txn, &table.stored) {
            (Txn::V3(txn), Stored::V3(s)) => v3::scan(txn, &table.name, table.multimap, s, f),
            (Txn::V2(txn), Stored::V2(s)) => v2::scan(txn, &table.name, table.multimap, s, f),
            _ => Err("cannot be opened".into()),
        })
        .map_err(|e| table_error(table, e))
    }

    /// The greatest key of `table` in redb's order.
    pub fn last_key(&self, table: &TableInfo) -> Result<Option<Vec<u8>>, String> {
        guarded("reading it", || match (&self.txn, &table.stored) {
            (Txn::V3(txn), Stored::V3(s)) => v3::last_key(txn, &table.name, table.multimap, s),
            (Txn::V2(txn), Stored::V2(s)) => v2::last_key(txn, &table.name, table.multimap, s),
            _ => Err("cannot be opened".into()),
        })
        .map_err(|e| table_error(table, e))
    }
}

/// "table 'kv' is damaged: …" or "table 'kv' cannot be read (…)".
fn table_error(table: &TableInfo, e: String) -> String {
    if e.starts_with("is damaged") || e.starts_with("cannot") {
        format!("table '{}' {e}", table.name)
    } else {
        format!("table '{}' cannot be read ({e})", table.name)
    }
}

#[cfg(test)]
mod tests;

thread_local! {
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

static HOOK: std::sync::Once = std::sync::Once::new();

/// Run `f`, turning a panic inside redb (a damaged file can trip its
/// assertions) into an error, without printing the panic.
pub fn guarded<T>(what: &str, f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(std::cell::Cell::get) {
                previous(info);
            }
        }));
    });
    let was = QUIET.with(|q| q.replace(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    QUIET.with(|q| q.set(was));
    match result {
        Ok(r) => r,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".into());
            let first = msg.lines().next().unwrap_or_default().to_string();
            Err(format!("is damaged: redb failed while {what} ({first})"))
        }
    }
}
