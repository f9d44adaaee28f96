//! Walking a package directory: every entry (directories included, so empty
//! ones are kept), in a stable order, without following symlinks.

use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::files::meta::{lstat, Kind, Stat};
use crate::names;

/// An entry of a package: its path inside the package and its lstat.
pub struct PkgEntry {
    pub rel: PathBuf,
    pub stat: Stat,
}

impl PkgEntry {
    /// The encoded relative path, as recorded in metadata.
    pub fn key(&self) -> String {
        names::encode(self.rel.as_os_str().as_bytes())
    }
}

/// Every entry under `dir` (not `dir` itself), depth first, names sorted.
pub fn walk_package(dir: &Path) -> io::Result<Vec<PkgEntry>> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let mut names: Vec<_> = std::fs::read_dir(dir.join(&rel))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<_>>()?;
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        let mut subdirs = Vec::new();
        for name in names {
            let child = rel.join(&name);
            let stat = lstat(&dir.join(&child))?;
            if stat.kind == Kind::Dir {
                subdirs.push(child.clone());
            }
            out.push(PkgEntry { rel: child, stat });
        }
        stack.extend(subdirs.into_iter().rev());
    }
    Ok(out)
}
