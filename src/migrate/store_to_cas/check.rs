//! Verifying a migrated package independently of how it was written: the
//! metadata read back from disk against the source package (count, paths,
//! types, permissions, symlink targets), the content hash recomputed from
//! the source against the object name, and the object re-read from disk.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Mutex;

use super::layout::{Entry, Layout, PackageMeta};
use super::walk::walk_package;
use crate::files::meta::Kind;
use crate::files::xattr;
use crate::names;
use crate::verify::diff::DiffReport;
use crate::verify::hash::hash_file;
use crate::verify::sample::Sample;

/// Objects already re-read in this process (each is checked once per run).
#[derive(Default)]
pub struct CheckedObjects(Mutex<HashSet<String>>);

/// Outcome of verifying one package.
#[derive(Debug, Default)]
pub struct PackageCheck {
    pub files: u64,
    pub hashed: u64,
    pub diff: DiffReport,
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Dir => "dir",
        Kind::File => "file",
        Kind::Symlink => "symlink",
        _ => "special",
    }
}

/// Verify package `name` of `source` against the store at `layout`.
/// What each file of a package hashed to as ingest read it, with the
/// source's stat then: verification in the same process compares the
/// objects with these (reading every object again) instead of reading and
/// hashing the source a second time, when the source's identity, size and
/// mtime are unchanged — as tree-sync verifies against the hashes of its
/// copy.
#[derive(Debug, Default)]
pub struct SourceHashes(pub HashMap<String, (String, crate::files::meta::Stat)>);

impl SourceHashes {
    /// The hash ingest saw for `rel`, if the file still is what it read.
    fn unchanged(&self, rel: &str, now: &crate::files::meta::Stat) -> Option<&str> {
        let (hash, then) = self.0.get(rel)?;
        let same = (then.dev, then.ino, then.size, then.mtime, then.mtime_nsec)
            == (now.dev, now.ino, now.size, now.mtime, now.mtime_nsec);
        same.then_some(hash.as_str())
    }
}

pub fn check_package(
    layout: &Layout,
    source: &Path,
    name: &OsStr,
    sample: &Sample,
    checked: &CheckedObjects,
    ingested: Option<&SourceHashes>,
) -> PackageCheck {
    let key = names::encode(name.as_encoded_bytes());
    let mut out = PackageCheck::default();
    let meta = match PackageMeta::read(&layout.package(name)) {
        Ok(m) => m,
        Err(e) => {
            out.diff.error(&key, e);
            return out;
        }
    };
    if meta.package != key {
        out.diff
            .differs(&key, format!("metadata names package {}", meta.package));
    }
    let src_dir = source.join(name);
    let walked = match walk_package(&src_dir) {
        Ok(w) => w,
        Err(e) => {
            out.diff
                .error(&key, format!("cannot read source package: {e}"));
            return out;
        }
    };
    let mut recorded: HashMap<&str, &Entry> =
        meta.entries.iter().map(|e| (e.path.as_str(), e)).collect();
    for e in &walked {
        let rel = e.key();
        let shown = format!("{key}/{rel}");
        let Some(m) = recorded.remove(rel.as_str()) else {
            out.diff.missing_in_target(&shown);
            continue;
        };
        let st = &e.stat;
        if m.kind != kind_name(st.kind) {
            out.diff.differs(
                &shown,
                format!("type {} in source, {} in store", kind_name(st.kind), m.kind),
            );
            continue;
        }
        if m.mode != st.mode {
            out.diff.differs(
                &shown,
                format!("mode {:o} in source, {:o} in store", st.mode, m.mode),
            );
        }
        match xattr::read_text(&src_dir.join(&e.rel)) {
            Ok(attrs) if attrs != m.xattrs => out.diff.differs(
                &shown,
                xattr::differences(&xattr::from_text(&attrs), &xattr::from_text(&m.xattrs))
                    .join(", ")
                    .replace("in target", "in store"),
            ),
            Ok(_) => {}
            Err(e) => out
                .diff
                .error(&shown, format!("reading source attributes: {e}")),
        }
        match st.kind {
            Kind::Symlink => {
                out.files += 1;
                let t = std::fs::read_link(src_dir.join(&e.rel))
                    .map(|t| names::display(&t))
                    .unwrap_or_default();
                if m.target.as_deref() != Some(t.as_str()) {
                    out.diff.differs(
                        &shown,
                        format!("symlink target {t} in source, {:?} in store", m.target),
                    );
                }
            }
            Kind::File => {
                out.files += 1;
                if m.size != st.size {
                    out.diff.differs(
                        &shown,
                        format!("size {} in source, {} in store", st.size, m.size),
                    );
                    continue;
                }
                let Some(hex) = m.hash.as_deref() else {
                    out.diff.differs(&shown, "no object recorded");
                    continue;
                };
                let in_sample = sample.contains(format!("{key}/{rel}").as_bytes());
                check_object(layout, hex, &shown, checked, &mut out.diff);
                if in_sample {
                    out.hashed += 1;
                    // Read as ingest saw it: the object (re-read above)
                    // answers for the content.
                    if let Some(seen) = ingested.and_then(|h| h.unchanged(&rel, st)) {
                        if seen != hex {
                            out.diff.differs(
                                &shown,
                                format!(
                                    "content: source hashed to {} when stored, store names object {}",
                                    &seen[..seen.len().min(16)],
                                    &hex[..hex.len().min(16)]
                                ),
                            );
                        }
                        continue;
                    }
                    match hash_file(&src_dir.join(&e.rel)) {
                        Ok((h, _)) if h.to_hex().as_str() == hex => {}
                        Ok((h, _)) => out.diff.differs(
                            &shown,
                            format!(
                                "content: source hashes to {}, store names object {}",
                                &h.to_hex()[..16],
                                &hex[..hex.len().min(16)]
                            ),
                        ),
                        Err(err) => out.diff.error(&shown, format!("reading source: {err}")),
                    }
                }
            }
            _ => {}
        }
    }
    for extra in recorded.keys() {
        out.diff.only_in_target(&format!("{key}/{extra}"));
    }
    out
}

/// An object exists, is read-only, and its bytes hash to its name.
fn check_object(
    layout: &Layout,
    hex: &str,
    shown: &str,
    checked: &CheckedObjects,
    diff: &mut DiffReport,
) {
    if checked.0.lock().map(|s| s.contains(hex)).unwrap_or(false) {
        return;
    }
    match object_problem(&layout.object(hex), hex) {
        None => {
            if let Ok(mut s) = checked.0.lock() {
                s.insert(hex.to_string());
            }
        }
        Some(p) => diff.differs(shown, format!("object {hex} {p}")),
    }
}

/// What is wrong with the object file at `path` that should hold the
/// content hashing to `hex`: `None` when it is a read-only regular file
/// whose bytes hash to its name. Symlinks are never followed.
pub fn object_problem(path: &Path, hex: &str) -> Option<String> {
    let md = match std::fs::symlink_metadata(path) {
        Ok(md) => md,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Some("is missing".to_string())
        }
        Err(e) => return Some(format!("cannot be read: {e}")),
    };
    let ft = md.file_type();
    if !ft.is_file() {
        let what = if ft.is_symlink() {
            "a symlink"
        } else if ft.is_dir() {
            "a directory"
        } else {
            "a special file"
        };
        return Some(format!("is not a regular file ({what})"));
    }
    let mut problems = Vec::new();
    if md.permissions().mode() & 0o222 != 0 {
        problems.push(format!(
            "is writable (mode {:o}; objects are read-only)",
            md.permissions().mode() & 0o7777
        ));
    }
    // `hash_file` never follows a symlink put in the object's place.
    match hash_file(path).map(|(h, _)| h) {
        Ok(h) if h.to_hex().as_str() == hex => {}
        Ok(h) => problems.push(format!(
            "is corrupt: its content does not match its name (bytes hash to {})",
            &h.to_hex()[..16]
        )),
        Err(e) => problems.push(format!("cannot be read: {e}")),
    }
    (!problems.is_empty()).then(|| problems.join(", and "))
}

/// A damaged object: its name, what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DamagedObject {
    pub object: String,
    pub problem: String,
    /// Packages whose files use it (filled from store.db by the caller).
    pub packages: Vec<String>,
}

/// Every damaged object of the store: each file under `objects/` that is
/// not a read-only regular file hashing to its name, and each object of
/// `expected` (those store.db says packages use) that is missing.
pub fn damaged_objects(layout: &Layout, expected: &[String]) -> Vec<DamagedObject> {
    let mut bad = Vec::new();
    let mut seen = HashSet::new();
    let Ok(fans) = std::fs::read_dir(layout.objects()) else {
        return expected
            .iter()
            .map(|h| DamagedObject {
                object: h.clone(),
                problem: "is missing (objects/ cannot be read)".into(),
                packages: Vec::new(),
            })
            .collect();
    };
    for fan in fans.flatten() {
        let Ok(objs) = std::fs::read_dir(fan.path()) else {
            continue;
        };
        for o in objs.flatten() {
            let name = o.file_name().to_string_lossy().to_string();
            if name.starts_with(super::layout::TMP_PREFIX) {
                continue;
            }
            seen.insert(name.clone());
            if let Some(problem) = object_problem(&o.path(), &name) {
                bad.push(DamagedObject {
                    object: name,
                    problem,
                    packages: Vec::new(),
                });
            }
        }
    }
    for h in expected {
        if !seen.contains(h) {
            bad.push(DamagedObject {
                object: h.clone(),
                problem: "is missing".into(),
                packages: Vec::new(),
            });
        }
    }
    bad.sort_by(|a, b| a.object.cmp(&b.object));
    bad
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::job::{Item, ItemCtx, Migration, Progress};
    use crate::migrate::store_to_cas::{StoreParams, StoreToCas};
    use crate::verify::VerifyMode;

    /// A one-package store migrated in this process: the ingest's hashes.
    fn migrated(dir: &Path) -> (StoreToCas, SourceHashes) {
        let store = dir.join("store");
        let pkg = store.join("0123456789abcdef0123-zlib");
        std::fs::create_dir_all(&pkg).unwrap();
        std::fs::write(pkg.join("lib.so"), vec![7u8; 10_000]).unwrap();
        let job = StoreToCas::new(StoreParams {
            source: store,
            target: dir.join("cas"),
            verify: VerifyMode::Full,
            seed: 1,
        });
        let plan = job.plan().unwrap();
        job.prepare(&plan).unwrap();
        let item: &Item = &plan.items[0];
        let progress = Progress::default();
        let cancel = std::sync::atomic::AtomicBool::new(false);
        let ctx = ItemCtx {
            progress: &progress,
            cancel: &cancel,
        };
        let written = job.run_item(item, &ctx).unwrap();
        let memo = written.memo.unwrap();
        let hashes = memo.downcast::<SourceHashes>().unwrap();
        (job, *hashes)
    }

    #[test]
    fn verification_trusts_what_ingest_read_only_while_the_source_is_unchanged() {
        let tmp = tempfile::tempdir().unwrap();
        let (_job, mut hashes) = migrated(tmp.path());
        let layout = Layout::new(&tmp.path().join("cas"));
        let name = OsStr::new("0123456789abcdef0123-zlib");
        let check = |h: Option<&SourceHashes>| {
            check_package(
                &layout,
                &tmp.path().join("store"),
                name,
                &Sample::all(),
                &CheckedObjects::default(),
                h,
            )
        };
        assert!(check(Some(&hashes)).diff.is_empty());
        // What ingest saw is compared with the object's name…
        let (h, _) = hashes.0.get_mut("lib.so").unwrap();
        *h = "ff".repeat(32);
        let wrong = check(Some(&hashes));
        assert!(
            wrong.diff.summary().contains("source hashed to"),
            "{}",
            wrong.diff.summary()
        );
        // …but a source changed since (its mtime) is read and hashed again.
        let file = tmp.path().join("store/0123456789abcdef0123-zlib/lib.so");
        std::fs::write(&file, vec![8u8; 10_000]).unwrap();
        let changed = check(Some(&hashes));
        assert!(
            changed.diff.summary().contains("content: source hashes to"),
            "{}",
            changed.diff.summary()
        );
    }
}
