//! Trees to sync: a source directory and the target it goes to, with the
//! size of the source, or the reason it cannot be used.

use std::path::{Path, PathBuf};

use crate::migrate::tree_sync::meta::{lstat, Kind};
use crate::names;

/// A source tree the operator can pick.
#[derive(Debug, Clone, PartialEq)]
pub struct TreeSource {
    /// Short name shown in the sources pane.
    pub name: String,
    /// The tree to copy.
    pub source: PathBuf,
    /// Where it goes.
    pub target: PathBuf,
    /// Non-directory entries under the source.
    pub files: u64,
    /// Bytes of regular files under the source.
    pub bytes: u64,
    /// Why the source cannot be used, if it cannot.
    pub problem: Option<String>,
}

/// Describe a source → target pair, counting the source (never following links).
pub fn describe(name: &str, source: &Path, target: &Path) -> TreeSource {
    let mut out = TreeSource {
        name: name.to_string(),
        source: source.to_path_buf(),
        target: target.to_path_buf(),
        files: 0,
        bytes: 0,
        problem: None,
    };
    match lstat(source) {
        Ok(st) if st.kind == Kind::Dir => {}
        Ok(_) => {
            out.problem = Some(format!("{} is not a directory", names::display(source)));
            return out;
        }
        Err(e) => {
            out.problem = Some(format!("{}: {e}", names::display(source)));
            return out;
        }
    }
    let mut stack = vec![source.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            out.problem = Some(format!("{} is not readable", names::display(&dir)));
            continue;
        };
        for entry in rd.flatten() {
            let path = entry.path();
            match lstat(&path) {
                Ok(st) if st.kind == Kind::Dir => stack.push(path),
                Ok(st) => {
                    out.files += 1;
                    if st.kind == Kind::File {
                        out.bytes += st.size;
                    }
                }
                Err(_) => {}
            }
        }
    }
    out
}
