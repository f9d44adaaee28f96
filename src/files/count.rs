//! What a tree holds, counted without following links: entries that are
//! not directories, bytes of regular files, or why it cannot be read.

use std::path::Path;

use super::meta::{lstat, Kind};
use crate::names;

/// What a walk of a tree found: entries that are not directories, bytes
/// of its regular files, and the first reason it could not be read fully.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counted {
    /// Non-directory entries.
    pub files: u64,
    /// Bytes of regular files.
    pub bytes: u64,
    /// Why the tree cannot be used, if it cannot.
    pub problem: Option<String>,
}

/// Count the tree at `source` (never following links).
pub fn count(source: &Path) -> Counted {
    let mut out = Counted::default();
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
