//! Package stores to move into a content-addressed store: one directory per
//! package, counted (packages, files, bytes), or the reason the store
//! cannot be used. Never writes.

use std::path::{Path, PathBuf};

use super::tree;
use crate::names;

/// A package store the operator can pick, and the content-addressed store it goes to.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreSource {
    /// Short name shown in the sources pane.
    pub name: String,
    /// The package store: one directory per package.
    pub source: PathBuf,
    /// The content-addressed store (created by the first migration).
    pub target: PathBuf,
    /// Package directories in the store.
    pub packages: u64,
    /// Non-directory entries in all packages.
    pub files: u64,
    /// Bytes of regular files in all packages.
    pub bytes: u64,
    /// Why the store cannot be used, if it cannot.
    pub problem: Option<String>,
}

/// Describe a package store → content-addressed store pair (never following links).
pub fn describe(name: &str, source: &Path, target: &Path) -> StoreSource {
    let counted = tree::describe(name, source, target);
    let mut out = StoreSource {
        name: name.to_string(),
        source: source.to_path_buf(),
        target: target.to_path_buf(),
        packages: 0,
        files: counted.files,
        bytes: counted.bytes,
        problem: counted.problem,
    };
    if out.problem.is_some() {
        return out;
    }
    if let Ok(rd) = std::fs::read_dir(source) {
        out.packages = rd
            .flatten()
            .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
            .count() as u64;
    }
    if out.packages == 0 {
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
        assert_eq!((s.packages, s.files, s.bytes), (2, 2, 10));
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
