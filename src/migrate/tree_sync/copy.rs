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

use super::meta::{self, lstat, Kind, Stat};
use super::walk::read_sorted;
use super::TreeSync;
use crate::engine::event::ItemReport;
use crate::migrate::{Item, ItemCtx, ItemError};
use crate::names;
use crate::verify::diff::DiffReport;
use crate::verify::hash::copy_hashing;

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
enum Action {
    UpToDate,
    Write,
    MkDir,
    Skip(&'static str),
}

fn decide(st: &Stat, dst: &Path) -> Action {
    let current = lstat(dst).ok();
    match st.kind {
        Kind::Dir => match current {
            Some(d) if d.kind == Kind::Dir => Action::UpToDate,
            _ => Action::MkDir,
        },
        Kind::File => match current {
            Some(d) if d.kind == Kind::File && d.same_content_stamp(st) => Action::UpToDate,
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

/// Dry run: the steps copying this item would take.
pub fn describe(ts: &TreeSync, item: &Item) -> Vec<String> {
    let Ok((src_dir, dst_dir, _)) = ts.dirs_of(item) else {
        return vec![format!("item {} is not a path", item.key)];
    };
    let mut steps = Vec::new();
    if lstat(&dst_dir).is_err() {
        steps.push(format!("mkdir {}", names::display(&dst_dir)));
    }
    let entries = match read_sorted(&src_dir) {
        Ok(e) => e,
        Err(e) => return vec![format!("! cannot read {}: {e}", names::display(&src_dir))],
    };
    let keep: HashSet<&OsString> = entries.iter().map(|(n, _)| n).collect();
    if ts.params.final_sync {
        if let Ok(existing) = read_sorted(&dst_dir) {
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
    let entries = read_sorted(&src_dir).map_err(|e| {
        ItemError(format!(
            "cannot read source directory {}: {e}",
            names::display(&src_dir)
        ))
    })?;
    ensure_dir(&dst_dir).map_err(|e| {
        ItemError(format!(
            "cannot create target directory {}: {e}",
            names::display(&dst_dir)
        ))
    })?;
    memo.listed = entries.iter().map(|(n, _)| n.clone()).collect();
    let mut errors = DiffReport::default();
    if ts.params.final_sync {
        prune(&dst_dir, &entries, &mut report, &mut errors, &rel);
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
        } else {
            decide(st, &d)
        };
        let result = match action {
            Action::UpToDate if st.kind == Kind::File => {
                ctx.progress.add(1, st.size);
                fix_metadata(&d, st)
            }
            Action::UpToDate => fix_metadata_if_not_dir(&d, st),
            Action::MkDir => meta::remove_any(&d).and_then(|_| mkdir_private(&d)),
            Action::Skip(why) => {
                report
                    .warnings
                    .push(format!("{}: {why}", names::display(&relp)));
                Ok(())
            }
            Action::Write => match st.kind {
                Kind::File => copy_file(ts, &s, &d, &relp, ctx, &mut report, &mut memo),
                Kind::Symlink => copy_symlink(&s, &d, st, &mut report),
                _ => meta::remove_any(&d)
                    .and_then(|_| meta::make_node(&d, st))
                    .and_then(|_| meta::apply(&d, st))
                    .map(|_| report.files_transferred += 1),
            },
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
    if let Err(e) = meta::apply(&dst_dir, &dir_st) {
        errors.error(&item.key, format!("setting directory metadata: {e}"));
    }
    if errors.is_empty() {
        Ok((report, memo))
    } else {
        Err(ItemError(errors.summary()))
    }
}

fn mkdir_private(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new().mode(0o700).create(path) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        other => other,
    }
}

fn ensure_dir(path: &Path) -> io::Result<()> {
    match lstat(path) {
        Ok(st) if st.kind == Kind::Dir => Ok(()),
        Ok(_) => {
            meta::remove_any(path)?;
            mkdir_private(path)
        }
        Err(_) => {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            mkdir_private(path)
        }
    }
}

/// Final sync: delete target entries the source no longer has.
fn prune(
    dst_dir: &Path,
    entries: &[(OsString, Stat)],
    report: &mut ItemReport,
    errors: &mut DiffReport,
    rel: &Path,
) {
    let keep: HashSet<&OsString> = entries.iter().map(|(n, _)| n).collect();
    let Ok(existing) = std::fs::read_dir(dst_dir) else {
        return;
    };
    for entry in existing.flatten() {
        let name = entry.file_name();
        if keep.contains(&name) {
            continue;
        }
        match meta::remove_any(&entry.path()) {
            Ok(()) => report.files_deleted += 1,
            Err(e) => errors.error(&names::display(&rel.join(&name)), format!("delete: {e}")),
        }
    }
}

fn fix_metadata(dst: &Path, st: &Stat) -> io::Result<()> {
    let cur = lstat(dst)?;
    let owner_differs = meta::is_root() && (cur.uid != st.uid || cur.gid != st.gid);
    if cur.mode != st.mode || owner_differs {
        meta::apply(dst, st)?;
    }
    Ok(())
}

fn fix_metadata_if_not_dir(dst: &Path, st: &Stat) -> io::Result<()> {
    if st.kind == Kind::Dir {
        return Ok(());
    }
    if st.kind == Kind::Symlink {
        let cur = lstat(dst)?;
        if meta::is_root() && (cur.uid != st.uid || cur.gid != st.gid) {
            meta::apply(dst, st)?;
        }
        return Ok(());
    }
    fix_metadata(dst, st)
}

fn copy_symlink(src: &Path, dst: &Path, st: &Stat, report: &mut ItemReport) -> io::Result<()> {
    let target = std::fs::read_link(src)?;
    if let Ok(cur) = std::fs::read_link(dst) {
        if cur == target {
            return Ok(());
        }
    }
    meta::remove_any(dst)?;
    std::os::unix::fs::symlink(&target, dst)?;
    meta::apply(dst, st)?;
    report.files_transferred += 1;
    Ok(())
}

fn create_new(dst: &Path) -> io::Result<File> {
    meta::remove_any(dst)?;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(dst)
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
    let mut output = if pre.nlink > 1 {
        match link_or_claim(ts, dst, &pre, rel)? {
            Claim::Linked => return Ok(()),
            Claim::Current => {
                ctx.progress.add(1, pre.size);
                return fix_metadata(dst, &pre);
            }
            Claim::Mine(file) => file,
        }
    } else {
        create_new(dst)?
    };
    let (hash, total) = copy_hashing(&mut input, &mut output, |n| ctx.progress.add(0, n as u64))?;
    ctx.progress.add(1, 0);
    drop(output);
    let post = Stat::from_md(&input.metadata()?);
    if !post.same_content_stamp(&pre) || total != pre.size {
        report.warnings.push(format!(
            "{} changed during the copy; the final sync will copy it again",
            names::display(rel)
        ));
    }
    meta::apply(dst, &pre)?;
    report.files_transferred += 1;
    report.bytes_transferred += total;
    if let Some(name) = rel.file_name() {
        memo.hashes.insert(name.to_os_string(), (pre, hash));
    }
    Ok(())
}

enum Claim {
    /// The target name now shares the inode of an earlier name of the same source file.
    Linked,
    /// The first name of the inode, and its target copy is current.
    Current,
    /// This name is the first of its inode: write the content into this file.
    Mine(File),
}

/// Hard links: the first name of a source inode is written; later names are
/// linked to it. The claim and the file's creation happen under one lock so
/// a later name never links to a file that does not exist yet.
fn link_or_claim(ts: &TreeSync, dst: &Path, st: &Stat, rel: &Path) -> io::Result<Claim> {
    let mut links = ts
        .links
        .lock()
        .map_err(|_| io::Error::other("hard-link table poisoned"))?;
    if let Some(first) = links.get(&(st.dev, st.ino)) {
        let first_abs: PathBuf = ts.params.target.join(first);
        if let (Ok(a), Ok(b)) = (lstat(dst), lstat(&first_abs)) {
            if a.dev == b.dev && a.ino == b.ino {
                return Ok(Claim::Linked);
            }
        }
        meta::remove_any(dst)?;
        std::fs::hard_link(&first_abs, dst)?;
        return Ok(Claim::Linked);
    }
    if lstat(dst).is_ok_and(|d| d.kind == Kind::File && d.same_content_stamp(st)) {
        links.insert((st.dev, st.ino), rel.to_path_buf());
        return Ok(Claim::Current);
    }
    let file = create_new(dst)?;
    links.insert((st.dev, st.ino), rel.to_path_buf());
    Ok(Claim::Mine(file))
}

/// Relative path bytes, for sampling keys.
pub fn rel_bytes(rel: &Path) -> &[u8] {
    rel.as_os_str().as_bytes()
}
