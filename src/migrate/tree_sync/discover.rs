//! Trees to sync as the console offers them: a source directory and the
//! target it goes to, with the size of the source, or the reason it cannot
//! be used. Never writes.

use std::path::Path;

use super::KIND;
use crate::files::count::count;
use crate::job::console::Source;

/// Describe a source → target pair as the console shows it.
pub fn describe(name: &str, source: &Path, target: &Path) -> Source {
    let counted = count(source);
    let mut out = Source::new(KIND, name, source.to_path_buf(), target.to_path_buf());
    out.entries = counted.files;
    out.bytes = counted.bytes;
    out.count = format!("{} files", crate::fmt::count(counted.files));
    out.problem = counted.problem;
    out
}
