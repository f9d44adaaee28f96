//! Writing one directory item: its files (hashed while copied), symlinks,
//! special files and empty subdirectories; with `--final`, deleting what the
//! source no longer has. A file counts as transferred when its data is written.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::links::{ClaimGuard, LinkClaim};
use super::meta::{self, lstat, Kind, Stat};
use super::place;
use super::TreeSync;
use crate::files::{sparse, xattr};
use crate::job::event::ItemReport;
use crate::job::{Item, ItemCtx, ItemError};
use crate::names;
use crate::verify::diff::DiffReport;

/// What the copy learned, for verification in the same process: the source
/// stat and BLAKE3 of each file whose bytes it read.
#[derive(Debug, Default)]
pub struct CopyMemo {
    pub hashes: HashMap<OsString, (Stat, blake3::Hash)>,
    /// Names that vanished from the source during the copy.
    pub vanished: HashSet<OsString>,
    /// Every name the copy listed in the source directory.
    pub listed: HashSet<OsString>,
}

/// What to do with one source entry.
#[derive(Debug, PartialEq)]
pub(super) enum Action {
    UpToDate,
    Write,
    MkDir,
    Skip(&'static str),
}

pub(super) fn decide(st: &Stat, dst: &Path) -> Action {
    let current = lstat(dst).ok();
    match st.kind {
        Kind::Dir => match current {
            Some(d) if d.kind == Kind::Dir => Action::UpToDate,
            _ => Action::MkDir,
        },
        Kind::File => match current {
            Some(d) if d.kind == Kind::File && d.is_copy_of(st) => Action::UpToDate,
            _ => Action::Write,
        },
        Kind::Symlink | Kind::Fifo | Kind::CharDev | Kind::BlockDev => match current {
            Some(d) if d.kind == st.kind && d.rdev == st.rdev && d.size == st.size => {
                Action::UpToDate
            }
            _ => Action::Write,
        },
        Kind::Socket => Action::Skip("sockets are not copied (a program recreates them)"),
    }
}

/// Whether the caller knows the target file at `rel` is current: the source
/// is unchanged since it was copied ([`super::Known`]) and the target still
/// looks as written (a file of that size with the source's mtime seconds).
fn known_current(ts: &TreeSync, rel: &Path, st: &Stat, dst: &Path) -> bool {
    let Some(known) = &ts.known else {
        return false;
    };
    st.kind == Kind::File
        && known(rel, st)
        && lstat(dst)
            .is_ok_and(|d| d.kind == Kind::File && d.size == st.size && d.mtime == st.mtime)
}

/// Dry run: the steps copying this item would take.
pub fn describe(ts: &TreeSync, item: &Item) -> Vec<String> {
    let Ok((src_dir, dst_dir, rel)) = ts.dirs_of(item) else {
        return vec![format!("item {} is not a path", item.key)];
    };
    let mut steps = Vec::new();
    if lstat(&dst_dir).is_err() {
        steps.push(format!("mkdir {}", names::display(&dst_dir)));
    }
    let entries = match ts.entries(&src_dir, &rel) {
        Ok(e) => e,
        Err(e) => return vec![format!("! cannot read {}: {e}", names::display(&src_dir))],
    };
    let keep: HashSet<&OsString> = entries.iter().map(|(n, _)| n).collect();
    if ts.params.final_sync {
        if let Ok(existing) = ts.entries(&dst_dir, &rel) {
            for (name, _) in existing.iter().filter(|(n, _)| !keep.contains(n)) {
                steps.push(format!("delete {}", names::display(&dst_dir.join(name))));
            }
        }
    }
    for (name, st) in &entries {
        let s = src_dir.join(name);
        let d = dst_dir.join(name);
        let what = match decide(st, &d) {
            Action::UpToDate => continue,
            Action::MkDir => format!("mkdir {}", names::display(&d)),
            Action::Write if st.kind == Kind::File => format!(
                "copy {} -> {} ({} bytes)",
                names::display(&s),
                names::display(&d),
                st.size
            ),
            Action::Write => format!(
                "create {} {} like {}",
                st.kind.name(),
                names::display(&d),
                names::display(&s)
            ),
            Action::Skip(why) => format!("skip {}: {why}", names::display(&s)),
        };
        steps.push(what);
    }
    steps.push(format!(
        "set owner/mode/mtime of {}",
        names::display(&dst_dir)
    ));
    steps
}

/// Copy one directory item.
pub fn copy_dir(
    ts: &TreeSync,
    item: &Item,
    ctx: &ItemCtx,
) -> Result<(ItemReport, CopyMemo), ItemError> {
    let (src_dir, dst_dir, rel) = ts.dirs_of(item)?;
    let mut report = ItemReport {
        files: item.files,
        bytes: item.bytes,
        ..ItemReport::default()
    };
    let mut memo = CopyMemo::default();
    let dir_st = match lstat(&src_dir) {
        Ok(st) if st.kind == Kind::Dir => st,
        Ok(_) => {
            report.warnings.push(format!(
                "{} is no longer a directory in the source",
                item.key
            ));
            return Ok((report, memo));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            report.warnings.push(format!(
                "{} vanished from the source during the copy",
                item.key
            ));
            return Ok((report, memo));
        }
        Err(e) => {
            return Err(ItemError(format!(
                "cannot read source directory {}: {e}",
                names::display(&src_dir)
            )))
        }
    };
    let entries = ts.entries(&src_dir, &rel).map_err(|e| {
        ItemError(format!(
            "cannot read source directory {}: {e}",
            names::display(&src_dir)
        ))
    })?;
    place::ensure_dir_chain(&ts.params.target, &rel).map_err(|e| {
        ItemError(format!(
            "cannot create target directory {}: {e}",
            names::display(&dst_dir)
        ))
    })?;
    memo.listed = entries.iter().map(|(n, _)| n.clone()).collect();
    let mut errors = DiffReport::default();
    sweep_tmp_names(&dst_dir, &memo.listed);
    if ts.params.final_sync {
        let mut keep = memo.listed.clone();
        if rel.as_os_str().is_empty() {
            keep.extend(ts.skip_root.iter().cloned());
        }
        prune(ts, &dst_dir, &keep, &mut report, &mut errors, &rel);
    }
    for (name, st) in &entries {
        if ctx.cancelled() {
            return Err(ItemError("cancelled".to_string()));
        }
        let s = src_dir.join(name);
        let d = dst_dir.join(name);
        let relp = rel.join(name);
        // Multiply-linked files always go through the link table, so that a
        // name added later links to the copy an earlier name already has.
        let action = if st.kind == Kind::File && st.nlink > 1 {
            Action::Write
        } else if known_current(ts, &relp, st, &d) {
            Action::UpToDate
        } else {
            decide(st, &d)
        };
        let result = match action {
            Action::UpToDate if st.kind == Kind::File => {
                ctx.progress.add(1, st.size);
                fix_metadata(&s, &d, st, &relp, &mut report)
            }
            Action::UpToDate => fix_metadata_if_not_dir(&s, &d, st, &relp, &mut report),
            // The subdirectory's own item fills it and sets its metadata;
            // creating it here (never removing one) keeps this directory's
            // mtime, set last below, unchanged by the child.
            Action::MkDir => place::ensure_one_dir(&d),
            Action::Skip(why) => {
                report
                    .warnings
                    .push(format!("{}: {why}", names::display(&relp)));
                Ok(())
            }
            Action::Write => {
                let owned = ts.is_planned_dir(&relp);
                match st.kind {
                    Kind::File => copy_file(ts, &s, &d, &relp, ctx, &mut report, &mut memo),
                    Kind::Symlink => copy_symlink(&s, &d, st, owned, &relp, &mut report),
                    _ => place::clear_for_entry(&d, owned)
                        .and_then(|_| meta::make_node(&d, st))
                        .and_then(|_| apply_all(&s, &d, st, &relp, &mut report))
                        .map(|_| report.files_transferred += 1),
                }
            }
        };
        match result {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound && lstat(&s).is_err() => {
                memo.vanished.insert(name.clone());
                report.warnings.push(format!(
                    "{} vanished from the source during the copy",
                    names::display(&relp)
                ));
            }
            Err(e) => errors.error(&names::display(&relp), e),
        }
    }
    if let Err(e) = apply_all(&src_dir, &dst_dir, &dir_st, &rel, &mut report) {
        errors.error(&item.key, format!("setting directory metadata: {e}"));
    }
    if errors.is_empty() {
        Ok((report, memo))
    } else {
        Err(ItemError(errors.summary()))
    }
}

/// Owner, mode, extended attributes (ACLs, capabilities) and mtime of `dst`
/// like `src`. Attributes the target cannot hold are a warning naming each.
fn apply_all(
    src: &Path,
    dst: &Path,
    st: &Stat,
    rel: &Path,
    report: &mut ItemReport,
) -> io::Result<()> {
    if meta::is_root() {
        std::os::unix::fs::lchown(dst, Some(st.uid), Some(st.gid))?;
    }
    if st.kind != Kind::Symlink {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dst, std::fs::Permissions::from_mode(st.mode))?;
    }
    // After chown, which clears file capabilities.
    copy_xattrs(src, dst, rel, report)?;
    meta::set_mtime(dst, st.mtime, st.mtime_nsec)
}

/// Copy extended attributes; what the target refuses is a named warning.
fn copy_xattrs(src: &Path, dst: &Path, rel: &Path, report: &mut ItemReport) -> io::Result<()> {
    let failed = match xattr::copy(src, dst) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(e),
        Err(e) => {
            report.warnings.push(format!(
                "{}: extended attributes not read: {e}",
                names::display(rel)
            ));
            return Ok(());
        }
    };
    for (name, e) in failed {
        if !xattr::is_unsupported(&e) {
            return Err(io::Error::other(format!(
                "setting extended attribute {}: {e}",
                xattr::shown(&name)
            )));
        }
        report
            .warnings
            .push(format!("{}{e}); not kept", refused_prefix(rel, &name)));
    }
    Ok(())
}

/// How the warning for an attribute the target refused begins; one place,
/// so that [`warned_refused`] recognises exactly what the copy wrote.
fn refused_prefix(rel: &Path, name: &[u8]) -> String {
    format!(
        "{}: the target cannot hold extended attribute {} (",
        names::display(rel),
        xattr::shown(name)
    )
}

/// Whether the copy (in this process) warned that the target refused
/// attribute `name` of `rel`: verification then keeps it a warning.
pub fn warned_refused(report: &ItemReport, rel: &Path, name: &[u8]) -> bool {
    let prefix = refused_prefix(rel, name);
    report.warnings.iter().any(|w| w.starts_with(&prefix))
}

/// Remove temporary names a killed or failed run left in this item's own
/// directory (a source entry of that name is kept).
fn sweep_tmp_names(dst_dir: &Path, listed: &HashSet<OsString>) {
    let Ok(existing) = std::fs::read_dir(dst_dir) else {
        return;
    };
    for entry in existing.flatten() {
        let name = entry.file_name();
        if place::is_tmp_name(&name) && !listed.contains(&name) {
            let _ = place::clear_for_entry(&entry.path(), false);
        }
    }
}

/// Final sync: delete target entries the source no longer has. A directory
/// that is an item of this plan (its source vanished after planning) is
/// left to that item: it may be writing in it.
fn prune(
    ts: &TreeSync,
    dst_dir: &Path,
    keep: &HashSet<OsString>,
    report: &mut ItemReport,
    errors: &mut DiffReport,
    rel: &Path,
) {
    let Ok(existing) = std::fs::read_dir(dst_dir) else {
        return;
    };
    for entry in existing.flatten() {
        let name = entry.file_name();
        if keep.contains(&name) {
            continue;
        }
        let relp = rel.join(&name);
        let path = entry.path();
        let is_dir = lstat(&path).is_ok_and(|st| st.kind == Kind::Dir);
        if is_dir && ts.is_planned_dir(&relp) {
            report.warnings.push(format!(
                "{} left the source during the sync; kept until the next final sync",
                names::display(&relp)
            ));
            continue;
        }
        match meta::remove_any(&path) {
            Ok(()) => report.files_deleted += 1,
            Err(e) => errors.error(&names::display(&relp), format!("delete: {e}")),
        }
    }
}

fn fix_metadata(
    src: &Path,
    dst: &Path,
    st: &Stat,
    rel: &Path,
    report: &mut ItemReport,
) -> io::Result<()> {
    let cur = lstat(dst)?;
    let owner_differs = meta::is_root() && (cur.uid != st.uid || cur.gid != st.gid);
    let attrs_differ = xattr::read_all(src).ok() != xattr::read_all(dst).ok();
    if cur.mode != st.mode || owner_differs || attrs_differ {
        apply_all(src, dst, st, rel, report)?;
    }
    Ok(())
}

fn fix_metadata_if_not_dir(
    src: &Path,
    dst: &Path,
    st: &Stat,
    rel: &Path,
    report: &mut ItemReport,
) -> io::Result<()> {
    if st.kind == Kind::Dir {
        return Ok(());
    }
    if st.kind == Kind::Symlink {
        let cur = lstat(dst)?;
        if meta::is_root() && (cur.uid != st.uid || cur.gid != st.gid) {
            apply_all(src, dst, st, rel, report)?;
        }
        return Ok(());
    }
    fix_metadata(src, dst, st, rel, report)
}

fn copy_symlink(
    src: &Path,
    dst: &Path,
    st: &Stat,
    owned_elsewhere: bool,
    rel: &Path,
    report: &mut ItemReport,
) -> io::Result<()> {
    let target = std::fs::read_link(src)?;
    if let Ok(cur) = std::fs::read_link(dst) {
        if cur == target {
            return Ok(());
        }
    }
    place::clear_for_entry(dst, owned_elsewhere)?;
    std::os::unix::fs::symlink(&target, dst)?;
    apply_all(src, dst, st, rel, report)?;
    report.files_transferred += 1;
    Ok(())
}

/// Open the temporary name of `dst` for writing, empty (a leftover of an
/// earlier attempt of this same item is truncated).
fn create_tmp(dst: &Path) -> io::Result<(PathBuf, File)> {
    let name = dst
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    let tmp = dst.with_file_name(place::tmp_name(name));
    place::clear_for_entry(&tmp, false)?;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .mode(0o600)
        .open(&tmp)?;
    Ok((tmp, file))
}

/// Put a complete temporary file in place of `dst` (atomic for a file or
/// link in the way; a directory nobody owns is removed first).
fn rename_into_place(ts: &TreeSync, tmp: &Path, dst: &Path, rel: &Path) -> io::Result<()> {
    if lstat(dst).is_ok_and(|d| d.kind == Kind::Dir) {
        place::clear_for_entry(dst, ts.is_planned_dir(rel))?;
    }
    std::fs::rename(tmp, dst)
}

/// Copy one regular file, hashing the bytes as they pass.
#[allow(clippy::too_many_arguments)]
fn copy_file(
    ts: &TreeSync,
    src: &Path,
    dst: &Path,
    rel: &Path,
    ctx: &ItemCtx,
    report: &mut ItemReport,
    memo: &mut CopyMemo,
) -> io::Result<()> {
    let mut input = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(src)?;
    let pre = Stat::from_md(&input.metadata()?);
    let key = (pre.dev, pre.ino);
    let mut guard = None;
    if pre.nlink > 1 {
        match ts.links.claim(key)? {
            LinkClaim::LinkTo(first) => return link_to(ts, &first, dst, rel),
            LinkClaim::Mine => {
                let g = ClaimGuard::new(&ts.links, key);
                let current = known_current(ts, rel, &pre, dst)
                    || lstat(dst).is_ok_and(|d| d.kind == Kind::File && d.is_copy_of(&pre));
                if current {
                    ctx.progress.add(1, pre.size);
                    fix_metadata(src, dst, &pre, rel, report)?;
                    g.done(rel);
                    return Ok(());
                }
                guard = Some(g);
            }
        }
    }
    let (tmp, mut output) = create_tmp(dst)?;
    let written = (|| {
        let (hash, total) =
            sparse::copy_hashing(&mut input, &mut output, |n| ctx.progress.add(0, n as u64))?;
        drop(output);
        apply_all(src, &tmp, &pre, rel, report)?;
        rename_into_place(ts, &tmp, dst, rel)?;
        Ok::<_, io::Error>((hash, total))
    })();
    let (hash, total) = match written {
        Ok(v) => v,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    if let Some(g) = guard {
        g.done(rel);
    }
    ctx.progress.add(1, 0);
    let post = Stat::from_md(&input.metadata()?);
    if !post.same_content_stamp(&pre) || total != pre.size {
        report.warnings.push(format!(
            "{} changed during the copy; the final sync will copy it again",
            names::display(rel)
        ));
    }
    report.files_transferred += 1;
    report.bytes_transferred += total;
    if let Some(name) = rel.file_name() {
        memo.hashes.insert(name.to_os_string(), (pre, hash));
    }
    Ok(())
}

/// A later name of a multiply-linked file: link it to the complete first
/// copy, through a temporary name so the real name flips atomically.
fn link_to(ts: &TreeSync, first: &Path, dst: &Path, rel: &Path) -> io::Result<()> {
    let first_abs: PathBuf = ts.params.target.join(first);
    if let (Ok(a), Ok(b)) = (lstat(dst), lstat(&first_abs)) {
        if a.dev == b.dev && a.ino == b.ino {
            return Ok(());
        }
    }
    let name = dst
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    let tmp = dst.with_file_name(place::tmp_name(name));
    place::clear_for_entry(&tmp, false)?;
    std::fs::hard_link(&first_abs, &tmp)?;
    if let Err(e) = rename_into_place(ts, &tmp, dst, rel) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(())
}

/// Relative path bytes, for sampling keys.
pub fn rel_bytes(rel: &Path) -> &[u8] {
    rel.as_os_str().as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_attribute_is_recognised_exactly() {
        let mut report = ItemReport::default();
        let rel = Path::new("dir/file");
        let err = io::Error::from_raw_os_error(libc::ENOTSUP);
        report.warnings.push(format!(
            "{}{err}); not kept",
            refused_prefix(rel, b"user.ab")
        ));
        assert!(warned_refused(&report, rel, b"user.ab"));
        assert!(
            !warned_refused(&report, rel, b"user.a"),
            "a prefix of another name"
        );
        assert!(!warned_refused(&report, Path::new("dir/other"), b"user.ab"));
    }
}
