//! `cutover store scan`: the read-and-hash phase alone, as a dry-run
//! estimate of what deduplication will save. A staged pipeline (like
//! fclones/rdfind): group files by size, then hash only files that share a
//! size with another, on all cores; hard links count once.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::files::meta::{lstat, Kind};
use crate::verify::hash::hash_file;

/// What the scan found, stage by stage.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ScanReport {
    pub files: u64,
    pub bytes: u64,
    /// Files sharing their size with another (the only possible duplicates).
    pub candidates: u64,
    pub candidate_bytes: u64,
    /// Files hashed (candidates, one per inode).
    pub hashed: u64,
    /// Files whose content another file already has.
    pub redundant_files: u64,
    /// Bytes deduplication saves (size × (copies − 1), hard links once).
    pub reducible_bytes: u64,
    pub elapsed_s: f64,
}

fn walk(root: &Path, mut visit: impl FnMut(PathBuf, u64, u64, u64)) -> Result<()> {
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let rd = std::fs::read_dir(&dir).map_err(|e| Error::io("cannot read", &dir, &e))?;
        for e in rd.flatten() {
            let p = e.path();
            let Ok(st) = lstat(&p) else { continue };
            match st.kind {
                Kind::Dir => stack.push(p),
                Kind::File => visit(p, st.size, st.dev, st.ino),
                _ => {}
            }
        }
    }
    Ok(())
}

/// Scan a store (or any tree) for duplicate content.
pub fn scan(root: &Path, threads: usize) -> Result<ScanReport> {
    let started = Instant::now();
    let mut report = ScanReport::default();
    // Stage 1: sizes (one inode counted once).
    let mut by_size: HashMap<u64, u32> = HashMap::new();
    let mut seen: HashSet<(u64, u64)> = HashSet::new();
    walk(root, |_, size, dev, ino| {
        report.files += 1;
        report.bytes += size;
        if seen.insert((dev, ino)) {
            *by_size.entry(size).or_default() += 1;
        }
    })?;
    // Stage 2: candidates, one path per inode.
    let mut candidates: Vec<(PathBuf, u64)> = Vec::new();
    let mut seen: HashSet<(u64, u64)> = HashSet::new();
    walk(root, |p, size, dev, ino| {
        if by_size.get(&size).copied().unwrap_or(0) > 1 {
            report.candidates += 1;
            report.candidate_bytes += size;
            if seen.insert((dev, ino)) {
                candidates.push((p, size));
            }
        }
    })?;
    drop(by_size);
    // Stage 3: hash candidates on `threads` threads.
    let next = Mutex::new(candidates.into_iter());
    let contents: Mutex<HashMap<blake3::Hash, (u64, u64)>> = Mutex::new(HashMap::new());
    let errors: Mutex<Vec<String>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| loop {
                let job = next.lock().ok().and_then(|mut it| it.next());
                let Some((path, size)) = job else { break };
                match hash_file(&path) {
                    Ok((h, _)) => {
                        if let Ok(mut c) = contents.lock() {
                            c.entry(h).or_insert((size, 0)).1 += 1;
                        }
                    }
                    Err(e) => {
                        if let Ok(mut errs) = errors.lock() {
                            errs.push(format!("{}: {e}", crate::display_path(&path)));
                        }
                    }
                }
            });
        }
    });
    if let Some(first) = errors.into_inner().ok().and_then(|e| e.into_iter().next()) {
        return Err(Error::Io(format!("cannot read {first}")));
    }
    let contents = contents.into_inner().unwrap_or_default();
    for (size, copies) in contents.values() {
        report.hashed += copies;
        report.redundant_files += copies - 1;
        report.reducible_bytes += size * (copies - 1);
    }
    report.elapsed_s = started.elapsed().as_secs_f64();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_duplicates_and_hard_links_once() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let r = tmp.path();
        std::fs::write(r.join("a"), b"same content").expect("write");
        std::fs::write(r.join("b"), b"same content").expect("write");
        std::fs::write(r.join("c"), b"same content").expect("write");
        std::fs::hard_link(r.join("a"), r.join("a-link")).expect("link");
        std::fs::write(r.join("d"), b"other stuff!").expect("write"); // same size, other content
        std::fs::write(r.join("e"), b"unique size").expect("write");
        let rep = scan(r, 2).expect("scan");
        assert_eq!(rep.files, 6);
        assert_eq!(rep.reducible_bytes, 2 * 12);
        assert_eq!(rep.redundant_files, 2);
        assert_eq!(rep.hashed, 4, "the unique size is never read");
    }
}
