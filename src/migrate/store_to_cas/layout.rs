//! Where things live in a content-addressed store, and the per-package
//! metadata file format.

use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

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

    /// Temporary names for objects being written; discarded on resume.
    pub fn tmp(&self) -> PathBuf {
        self.objects().join(".tmp")
    }

    /// `packages/`: one metadata file per package.
    pub fn packages(&self) -> PathBuf {
        self.root.join("packages")
    }

    /// The metadata file of a package.
    pub fn package(&self, name: &OsStr) -> PathBuf {
        self.packages().join(name)
    }

    /// The tracking database.
    pub fn db(&self) -> PathBuf {
        self.root.join("store.db")
    }

    /// Create the directories of the layout.
    pub fn create(&self) -> io::Result<()> {
        std::fs::create_dir_all(self.tmp())?;
        std::fs::create_dir_all(self.packages())
    }

    /// Remove objects left under temporary names by a killed run.
    pub fn discard_tmp(&self) -> io::Result<u64> {
        let mut n = 0;
        if let Ok(rd) = std::fs::read_dir(self.tmp()) {
            for e in rd.flatten() {
                std::fs::remove_file(e.path())?;
                n += 1;
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

    /// Write it via a temporary file and a rename.
    pub fn write(&self, path: &Path) -> io::Result<()> {
        let bytes = serde_json::to_vec_pretty(self).map_err(io::Error::other)?;
        let tmp = path.with_extension("cutover-tmp");
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, path)
    }
}
