//! Planning walk: one item per directory of the source (its own entries,
//! not its subdirectories' contents). Only directories are kept in memory,
//! never the list of files; the sample of files to hash is chosen on the way.

use std::ffi::OsString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::meta::{lstat, Kind, Stat};
use crate::job::{Item, Plan};
use crate::names;
use crate::verify::sample::{Sample, SampleBuilder};

/// Item key of a directory relative to the tree root ("." for the root).
pub fn dir_key(rel: &Path) -> String {
    if rel.as_os_str().is_empty() {
        ".".to_string()
    } else {
        names::encode(rel.as_os_str().as_bytes())
    }
}

/// Relative directory of an item key.
pub fn key_dir(key: &str) -> Option<PathBuf> {
    if key == "." {
        Some(PathBuf::new())
    } else {
        names::decode_path(key)
    }
}

/// Entries of a directory, sorted by name bytes, with their lstat.
/// Entries that vanish between readdir and lstat are left out.
pub fn read_sorted(dir: &Path) -> io::Result<Vec<(OsString, Stat)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        match lstat(&entry.path()) {
            Ok(st) => out.push((name, st)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    out.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    Ok(out)
}

/// Walk `root` and build the plan; `sample` chooses files to hash
/// (`None`: every file); `on_file` sees every regular file (relative path,
/// stat). Entries of the root named in `skip_root` are left out.
pub fn plan_tree(
    root: &Path,
    skip_root: &[OsString],
    sample: Option<&mut SampleBuilder>,
    mut on_file: impl FnMut(&Path, &Stat),
) -> (Plan, Sample) {
    let mut plan = Plan::default();
    let mut sampler = sample;
    let mut stack: Vec<PathBuf> = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let mut item = Item {
            key: dir_key(&rel),
            files: 0,
            bytes: 0,
        };
        // An unreadable directory still becomes an item: copying it fails
        // with the reason, and the other items go on.
        if let Ok(mut entries) = read_sorted(&root.join(&rel)) {
            if rel.as_os_str().is_empty() {
                entries.retain(|(name, _)| !skip_root.contains(name));
            }
            let mut subdirs = Vec::new();
            for (name, st) in entries {
                let child = rel.join(&name);
                if st.kind == Kind::Dir {
                    subdirs.push(child);
                    continue;
                }
                item.files += 1;
                if st.kind == Kind::File {
                    on_file(&child, &st);
                    item.bytes += st.size;
                    if let Some(s) = sampler.as_deref_mut() {
                        s.offer(child.as_os_str().as_bytes());
                    }
                }
            }
            // Reverse so the stack pops them in name order.
            stack.extend(subdirs.into_iter().rev());
        }
        plan.files_total += item.files;
        plan.bytes_total += item.bytes;
        plan.items.push(item);
    }
    let sample = match sampler {
        Some(s) => s.finish(),
        None => Sample::all(),
    };
    (plan, sample)
}
