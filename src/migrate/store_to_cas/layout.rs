//! Where things live in a content-addressed store, and the per-package
//! metadata file format.

use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Prefix of temporary object names (never a valid hash).
pub const TMP_PREFIX: &str = ".tmp.";
/// Space kept free for store.db (see [`Layout::make_reserve`]).
pub const RESERVE: &str = "store.db-reserve";
/// The largest reserve.
const RESERVE_BYTES: u64 = 256 << 10;
/// Prefix of temporary metadata names in `packages/`.
pub const META_TMP_PREFIX: &str = ".cutover-tmp.";

/// This process's id, asked of the kernel once: every temporary name in
/// the store carries it.
fn process_id() -> u32 {
    static PID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *PID.get_or_init(std::process::id)
}

/// Paths inside a content-addressed store (the target).
#[derive(Debug, Clone)]
pub struct Layout {
    pub root: PathBuf,
}

impl Layout {
    /// The layout of a store rooted at `root`.
    pub fn new(root: &Path) -> Self {
        Layout {
            root: root.to_path_buf(),
        }
    }

    /// `objects/`: each distinct content once, named by its BLAKE3.
    pub fn objects(&self) -> PathBuf {
        self.root.join("objects")
    }

    /// Where an object with this hex hash lives: `objects/xx/<hash>`.
    pub fn object(&self, hex: &str) -> PathBuf {
        let fan = hex.get(..2).unwrap_or("00");
        self.objects().join(fan).join(hex)
    }

    /// A temporary name for an object being written, in its fan directory.
    pub fn tmp_object(&self, hex: &str, n: u64) -> PathBuf {
        let mut p = self.object(hex);
        p.set_file_name(format!("{TMP_PREFIX}{hex}.{}.{n}", process_id()));
        p
    }

    /// `packages/`: one metadata file per package.
    pub fn packages(&self) -> PathBuf {
        self.root.join("packages")
    }

    /// The metadata file of a package.
    pub fn package(&self, name: &OsStr) -> PathBuf {
        self.packages().join(name)
    }

    /// A temporary name for a package's metadata while it is written: in
    /// `packages/`, named after a hash of the package name (so it neither
    /// grows past the 255-byte name limit with a long package name nor
    /// collides between packages that run in parallel), the process and a
    /// counter. Never a package name a store holds (`.cutover-tmp.` prefix).
    pub fn package_tmp(&self, name: &OsStr, n: u64) -> PathBuf {
        let digest = blake3::hash(name.as_encoded_bytes());
        self.packages().join(format!(
            "{META_TMP_PREFIX}{}.{}.{n}",
            &digest.to_hex()[..32],
            process_id()
        ))
    }

    /// The tracking database.
    pub fn db(&self) -> PathBuf {
        self.root.join("store.db")
    }

    /// Keep some space for store.db: a file of up to 256 KiB (an eighth of
    /// the free space at most) that is removed when the filesystem fills, so
    /// the packages that failed for want of space can still be recorded.
    /// Best effort: without it a full disk leaves them pending.
    pub fn make_reserve(&self) {
        let path = self.root.join(RESERVE);
        if path.exists() {
            return;
        }
        let free = super::phases::free_bytes(&self.root).unwrap_or(0);
        let size = RESERVE_BYTES.min(free / 8) as usize;
        if size == 0 {
            return;
        }
        // Bytes that do not compress: a compressing filesystem (ZFS, BTRFS)
        // must really set the space aside.
        let mut bytes = vec![0u8; size];
        blake3::Hasher::new()
            .update(b"cutover store.db reserve")
            .finalize_xof()
            .fill(&mut bytes);
        if std::fs::write(&path, &bytes).is_err() {
            let _ = std::fs::remove_file(&path);
        }
    }

    /// Free the reserve (its space goes to store.db).
    pub fn release_reserve(&self) {
        let _ = std::fs::remove_file(self.root.join(RESERVE));
    }

    /// Create the directories of the layout (all 256 fan directories).
    pub fn create(&self) -> io::Result<()> {
        for fan in 0..=255u8 {
            std::fs::create_dir_all(self.objects().join(format!("{fan:02x}")))?;
        }
        std::fs::create_dir_all(self.packages())
    }

    /// Remove objects and metadata left under temporary names by a killed run.
    pub fn discard_tmp(&self) -> io::Result<u64> {
        let mut n = 0;
        if let Ok(rd) = std::fs::read_dir(self.packages()) {
            for e in rd.flatten() {
                let tmp = e
                    .file_name()
                    .as_encoded_bytes()
                    .starts_with(META_TMP_PREFIX.as_bytes());
                if tmp && e.file_type().map(|t| t.is_file()).unwrap_or(false) {
                    std::fs::remove_file(e.path())?;
                    n += 1;
                }
            }
        }
        let Ok(fans) = std::fs::read_dir(self.objects()) else {
            return Ok(0);
        };
        for fan in fans.flatten() {
            if !fan.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                continue;
            }
            for e in std::fs::read_dir(fan.path())?.flatten() {
                if e.file_name()
                    .as_encoded_bytes()
                    .starts_with(TMP_PREFIX.as_bytes())
                {
                    std::fs::remove_file(e.path())?;
                    n += 1;
                }
            }
        }
        Ok(n)
    }
}

/// One entry of a package, as recorded in `packages/<hash>` and `store.db`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Path inside the package, encoded (see `names`).
    pub path: String,
    /// `file`, `symlink` or `dir`.
    #[serde(rename = "type")]
    pub kind: String,
    pub size: u64,
    pub mode: u32,
    /// BLAKE3 hex of a file's content (its object name).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub hash: Option<String>,
    /// A symlink's target, encoded.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub target: Option<String>,
    /// Extended attributes (POSIX ACLs and capabilities included), as
    /// `[name, hex value]` pairs sorted by name; absent when none.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub xattrs: Vec<[String; 2]>,
}

/// The metadata of one package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageMeta {
    pub package: String,
    pub entries: Vec<Entry>,
}

impl PackageMeta {
    /// Read a package's metadata file.
    pub fn read(path: &Path) -> Result<PackageMeta, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("cannot read metadata: {e}"))?;
        serde_json::from_slice(&bytes).map_err(|e| format!("metadata does not parse: {e}"))
    }

    /// Write it to `tmp` (see [`Layout::package_tmp`]), then rename it to `path`.
    pub fn write(&self, path: &Path, tmp: &Path) -> io::Result<()> {
        let bytes = serde_json::to_vec_pretty(self).map_err(io::Error::other)?;
        let result = std::fs::write(tmp, bytes).and_then(|()| std::fs::rename(tmp, path));
        if result.is_err() {
            let _ = std::fs::remove_file(tmp);
        }
        result
    }
}
