//! Package stores to move into a content-addressed store: one directory per
//! package, counted (packages, files, bytes), or the reason the store
//! cannot be used. Never writes.

use std::path::{Path, PathBuf};

use super::KIND;
use crate::files::count::count;
use crate::job::console::Source;
use crate::names;

/// Describe a package store → content-addressed store pair (never following
/// links): its packages, files and bytes, or why it cannot be used. The
/// console reads its numbers again while it migrates (`live`).
pub fn describe(name: &str, source: &Path, target: &Path) -> Source {
    let counted = count(source);
    let mut out = Source::new(KIND, name, source.to_path_buf(), target.to_path_buf());
    out.entries = counted.files;
    out.bytes = counted.bytes;
    out.problem = counted.problem;
    out.live = true;
    let packages = if out.problem.is_some() {
        0
    } else {
        std::fs::read_dir(source)
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
                    .count() as u64
            })
            .unwrap_or(0)
    };
    out.count = format!("{} packages", crate::fmt::count(packages));
    out.params = serde_json::json!({ "packages": packages });
    if out.problem.is_some() {
        return out;
    }
    if packages == 0 {
        out.problem = Some(format!(
            "{} holds no package directories",
            names::display(source)
        ));
        return out;
    }
    let (abs_src, abs_dst) = (absolute(source), absolute(target));
    if abs_dst.starts_with(&abs_src) || abs_src.starts_with(&abs_dst) {
        out.problem = Some(format!(
            "target {} overlaps the store; it must live outside it",
            names::display(target)
        ));
    }
    out
}

/// Packages of a store source, as discovery counted them.
pub fn packages(source: &Source) -> u64 {
    source
        .params
        .get("packages")
        .and_then(|v| v.as_u64())
        .unwrap_or(0)
}

fn absolute(p: &Path) -> PathBuf {
    p.canonicalize()
        .or_else(|_| std::path::absolute(p))
        .unwrap_or_else(|_| p.to_path_buf())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn counts_packages_and_refuses_what_cannot_work() {
        let tmp = tempfile::tempdir().unwrap();
        let store = tmp.path().join("store");
        for p in ["aaa-zlib", "bbb-curl"] {
            std::fs::create_dir_all(store.join(p).join("lib")).unwrap();
            std::fs::write(store.join(p).join("lib/x.so"), b"12345").unwrap();
        }
        let s = describe("store", &store, &tmp.path().join("cas"));
        assert_eq!((packages(&s), s.entries, s.bytes), (2, 2, 10));
        assert_eq!(s.count, "2 packages");
        assert_eq!(s.problem, None);
        let inside = describe("store", &store, &store.join("cas"));
        assert!(inside.problem.unwrap().contains("overlaps"));
        let empty = tmp.path().join("empty");
        std::fs::create_dir_all(&empty).unwrap();
        let e = describe("empty", &empty, &tmp.path().join("cas2"));
        assert!(e.problem.unwrap().contains("no package"));
        let missing = describe("gone", &tmp.path().join("gone"), &tmp.path().join("c"));
        assert!(missing.problem.is_some());
    }
}
