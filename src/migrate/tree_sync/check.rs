//! Verifying one directory item by re-reading the target: every entry's
//! presence, type, size, mode, owner (when root), symlink target and hard-link
//! sharing; content by BLAKE3 for every file or a seeded sample.

use std::collections::HashSet;
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

use super::copy::{rel_bytes, warned_refused, CopyMemo};
use super::meta::{self, lstat, Kind, Stat};
use super::TreeSync;
use crate::files::xattr;
use crate::job::event::ItemReport;
use crate::job::{Item, ItemCtx, ItemError};
use crate::names;
use crate::verify::diff::DiffReport;
use crate::verify::hash::hash_file;

/// Verify one directory item.
pub fn check_dir(
    ts: &TreeSync,
    item: &Item,
    ctx: &ItemCtx,
    memo: Option<&CopyMemo>,
    report: &mut ItemReport,
) -> Result<(), ItemError> {
    let (src_dir, dst_dir, rel) = ts.dirs_of(item)?;
    let sample = ts.sample();
    let mut diff = DiffReport::default();
    let src_entries = match ts.entries(&src_dir, &rel) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound && memo.is_some() => {
            // Vanished during a bulk copy; the final sync settles it.
            return Ok(());
        }
        Err(e) => {
            return Err(ItemError(format!(
                "cannot read source directory {}: {e}",
                names::display(&src_dir)
            )))
        }
    };
    let dst_entries = match ts.entries(&dst_dir, &rel) {
        Ok(e) => e,
        Err(e) => {
            return Err(ItemError(format!(
                "cannot read target directory {}: {e}",
                names::display(&dst_dir)
            )))
        }
    };
    if let (Ok(s), Ok(d)) = (lstat(&src_dir), lstat(&dst_dir)) {
        compare_meta(&item.key, &s, &d, &mut diff);
        compare_xattrs(&src_dir, &dst_dir, &rel, &item.key, report, &mut diff);
    }
    let src_names: HashSet<&OsString> = src_entries.iter().map(|(n, _)| n).collect();
    for (name, _) in dst_entries.iter().filter(|(n, _)| !src_names.contains(n)) {
        let shown = names::display(&rel.join(name));
        let copied_then_vanished =
            memo.is_some_and(|m| m.vanished.contains(name) || m.hashes.contains_key(name));
        if copied_then_vanished {
            report.warnings.push(format!(
                "{shown} was removed from the source after the copy; the final sync deletes it"
            ));
        } else {
            diff.only_in_target(&shown);
        }
    }
    let mut d_iter = dst_entries.iter().peekable();
    for (name, s) in &src_entries {
        if ctx.cancelled() {
            return Err(ItemError("cancelled".to_string()));
        }
        let relp = rel.join(name);
        let shown = names::display(&relp);
        // Both lists are sorted by name: advance the target list in step.
        while d_iter
            .peek()
            .is_some_and(|(dn, _)| dn.as_encoded_bytes() < name.as_encoded_bytes())
        {
            d_iter.next();
        }
        let d = match d_iter.peek() {
            Some((dn, d)) if dn == name => *d,
            _ => {
                if memo.is_some_and(|m| m.vanished.contains(name)) {
                    continue;
                }
                if memo.is_some_and(|m| !m.listed.contains(name)) {
                    // A writer created it after this directory was copied.
                    report.warnings.push(format!(
                        "{shown} appeared in the source after the copy; the final sync will copy it"
                    ));
                    continue;
                }
                diff.missing_in_target(&shown);
                continue;
            }
        };
        let pair = Pair {
            src: src_dir.join(name),
            dst: dst_dir.join(name),
            rel: &relp,
            shown: &shown,
        };
        check_entry(
            ts,
            &pair,
            s,
            &d,
            sample.contains(rel_bytes(&relp)),
            memo.and_then(|m| m.hashes.get(name)),
            report,
            &mut diff,
        );
    }
    if diff.is_empty() {
        Ok(())
    } else {
        Err(ItemError(diff.summary()))
    }
}

/// A source entry and its target counterpart.
struct Pair<'a> {
    src: PathBuf,
    dst: PathBuf,
    rel: &'a Path,
    shown: &'a str,
}

/// Compare one entry present on both sides: type, metadata, attributes,
/// then what its type holds (content, link target, device number).
#[allow(clippy::too_many_arguments)]
fn check_entry(
    ts: &TreeSync,
    p: &Pair,
    s: &Stat,
    d: &Stat,
    hash_it: bool,
    copied: Option<&(Stat, blake3::Hash)>,
    report: &mut ItemReport,
    diff: &mut DiffReport,
) {
    if s.kind != d.kind {
        diff.differs(
            p.shown,
            format!(
                "type {} in source, {} in target",
                s.kind.name(),
                d.kind.name()
            ),
        );
        return;
    }
    // A subdirectory's own metadata is checked by its own item.
    if s.kind != Kind::Dir {
        compare_meta(p.shown, s, d, diff);
        compare_xattrs(&p.src, &p.dst, p.rel, p.shown, report, diff);
    }
    match s.kind {
        Kind::File => check_file(ts, p, s, d, hash_it, copied, report, diff),
        Kind::Symlink => {
            let a = std::fs::read_link(&p.src);
            let b = std::fs::read_link(&p.dst);
            match (a, b) {
                (Ok(a), Ok(b)) if a == b => {}
                (Ok(a), Ok(b)) => diff.differs(
                    p.shown,
                    format!(
                        "symlink target {} in source, {} in target",
                        names::display(&a),
                        names::display(&b)
                    ),
                ),
                (Err(e), _) | (_, Err(e)) => diff.error(p.shown, e),
            }
        }
        Kind::CharDev | Kind::BlockDev if s.rdev != d.rdev => {
            diff.differs(p.shown, "device number");
        }
        _ => {}
    }
}

fn compare_meta(shown: &str, s: &Stat, d: &Stat, diff: &mut DiffReport) {
    if s.kind != Kind::Symlink && s.mode != d.mode {
        diff.differs(
            shown,
            format!("mode {:o} in source, {:o} in target", s.mode, d.mode),
        );
    }
    if meta::is_root() && (s.uid != d.uid || s.gid != d.gid) {
        diff.differs(
            shown,
            format!(
                "owner {}:{} in source, {}:{} in target",
                s.uid, s.gid, d.uid, d.gid
            ),
        );
    }
}

/// Extended attributes (ACLs and capabilities included) must be equal. One
/// the copy already reported the target cannot hold stays that warning
/// (`copy::warned_refused`).
fn compare_xattrs(
    src: &Path,
    dst: &Path,
    rel: &Path,
    shown: &str,
    report: &ItemReport,
    diff: &mut DiffReport,
) {
    let (a, b) = match (xattr::read_all(src), xattr::read_all(dst)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) if e.kind() == io::ErrorKind::NotFound => return,
        (Err(e), _) => return diff.error(shown, format!("reading source attributes: {e}")),
        (_, Err(e)) => return diff.error(shown, format!("reading target attributes: {e}")),
    };
    if a == b {
        return;
    }
    for (name, value) in &a {
        let kept = b.iter().any(|(n, v)| n == name && v == value);
        if !kept && !warned_refused(report, rel, name) {
            diff.differs(shown, xattr::differences(&a, &b).join(", "));
            return;
        }
    }
    if b.iter().any(|(n, _)| !a.iter().any(|(m, _)| m == n)) {
        diff.differs(shown, xattr::differences(&a, &b).join(", "));
    }
}

#[allow(clippy::too_many_arguments)]
fn check_file(
    ts: &TreeSync,
    p: &Pair,
    s: &Stat,
    d: &Stat,
    hash_it: bool,
    copied: Option<&(Stat, blake3::Hash)>,
    report: &mut ItemReport,
    diff: &mut DiffReport,
) {
    // A file a writer changed after (or while) it was copied is the final
    // sync's business during a bulk copy: warn, don't fail.
    if let Some((pre, _)) = copied {
        if !pre.same_content_stamp(s) {
            report.warnings.push(format!(
                "{} changed in the source after the copy; the final sync will copy it again",
                p.shown
            ));
            return;
        }
    }
    if s.size != d.size {
        diff.differs(
            p.shown,
            format!("size {} in source, {} in target", s.size, d.size),
        );
        return;
    }
    if s.nlink > 1 {
        check_link(ts, s, d, p.shown, diff);
    }
    if !hash_it {
        return;
    }
    let keep_stat = || {
        if let Some(stats) = &ts.verified_stats {
            if let Ok(mut stats) = stats.lock() {
                stats.insert(p.rel.to_path_buf(), *d);
            }
        }
    };
    if let Some(known) = ts.inherited.as_ref().and_then(|f| f(p.rel, s, d)) {
        if let Some(kept) = &ts.target_hashes {
            if let Ok(mut kept) = kept.lock() {
                kept.insert(p.rel.to_path_buf(), known);
            }
        }
        keep_stat();
        report.files_inherited += 1;
        return;
    }
    let target_hash = match hash_file(&p.dst) {
        Ok((h, _)) => h,
        Err(e) => return diff.error(p.shown, format!("reading target: {e}")),
    };
    if let Some(kept) = &ts.target_hashes {
        if let Ok(mut kept) = kept.lock() {
            kept.insert(p.rel.to_path_buf(), target_hash);
        }
    }
    let source_hash = match copied {
        Some((_, h)) => *h,
        None => match hash_file(&p.src) {
            Ok((h, _)) => h,
            Err(e) => return diff.error(p.shown, format!("reading source: {e}")),
        },
    };
    report.files_hashed += 1;
    if source_hash == target_hash {
        keep_stat();
    } else {
        diff.differs(
            p.shown,
            format!(
                "content (blake3 {} in source, {} in target)",
                &source_hash.to_hex()[..16],
                &target_hash.to_hex()[..16]
            ),
        );
    }
}

/// Names of one source inode must share one target inode.
fn check_link(ts: &TreeSync, s: &Stat, d: &Stat, shown: &str, diff: &mut DiffReport) {
    let Ok(mut seen) = ts.verified_links.lock() else {
        return;
    };
    match seen.get(&(s.dev, s.ino)) {
        Some(&(dev, ino)) if (dev, ino) != (d.dev, d.ino) => {
            diff.differs(shown, "hard link not preserved (separate file in target)");
        }
        Some(_) => {}
        None => {
            seen.insert((s.dev, s.ino), (d.dev, d.ino));
        }
    }
}
