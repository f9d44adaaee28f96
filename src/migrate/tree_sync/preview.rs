//! Before a final sync: what it would delete, replace and copy (counted,
//! with the first names of each), and whether the journal shows that a
//! bulk copy of the same source wrote the target — a final sync onto any
//! other folder would delete files cutover never copied, so it is refused
//! unless the operator forces it.

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::copy::{decide, Action};
use super::meta::{lstat, Kind};
use super::walk::read_sorted;
use super::{TreeSync, KIND};
use crate::error::{Error, Result};
use crate::job::{Change, Earlier, Plan, Preview};
use crate::names;

/// Entries under `path` (itself included), never following links.
fn entries_under(path: &Path) -> u64 {
    let mut n = 0;
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        n += 1;
        if lstat(&p).is_ok_and(|st| st.kind == Kind::Dir) {
            if let Ok(rd) = std::fs::read_dir(&p) {
                stack.extend(rd.flatten().map(|e| e.path()));
            }
        }
    }
    n
}

/// What the final sync would change in the target, over every item.
pub fn preview(ts: &TreeSync, plan: &Plan) -> Result<Preview> {
    let mut delete = Change::new("delete");
    let mut replace = Change::new("replace");
    let mut copy = Change::new("copy");
    for item in &plan.items {
        let (src_dir, dst_dir, rel) = ts.dirs_of(item).map_err(|e| Error::bad(e.0))?;
        let shown = |name: &OsString| names::display(&rel.join(name));
        let entries = read_sorted(&src_dir)
            .map_err(|e| Error::io("cannot read source directory", &src_dir, &e))?;
        let keep: HashSet<&OsString> = entries.iter().map(|(n, _)| n).collect();
        if let Ok(existing) = read_sorted(&dst_dir) {
            for (name, _) in existing.iter().filter(|(n, _)| !keep.contains(n)) {
                let n = entries_under(&dst_dir.join(name));
                delete.merge(Change {
                    verb: "delete".into(),
                    count: n,
                    first: vec![shown(name)],
                });
            }
        }
        for (name, st) in &entries {
            let d = dst_dir.join(name);
            match decide(st, &d) {
                Action::UpToDate | Action::Skip(_) => {}
                // Something in the way (another content, another type) is
                // replaced; a missing entry is copied.
                Action::MkDir | Action::Write if lstat(&d).is_ok() => replace.add(|| shown(name)),
                Action::MkDir | Action::Write => copy.add(|| shown(name)),
            }
        }
    }
    Ok(Preview {
        changes: vec![delete, replace, copy],
        objection: None,
        name: None,
    })
}

/// What rolling back a bulk copy removes: the whole target.
pub fn rollback_preview(ts: &TreeSync) -> Result<Preview> {
    let p = &ts.params;
    if p.final_sync {
        return Err(Error::bad(format!(
            "a final sync updated {} in place; it cannot be undone by cutover — the source is intact, sync from it again",
            names::display(&p.target)
        )));
    }
    let mut delete = Change::new("delete");
    if lstat(&p.target).is_ok() {
        delete.count = entries_under(&p.target);
        delete.first = vec![names::display(&p.target)];
    }
    Ok(Preview {
        changes: vec![delete],
        objection: Some(format!(
            "rolling back removes the bulk copy at {} and everything in it",
            names::display(&p.target)
        )),
        name: None,
    })
}

fn same_path(a: &Path, b: &Path) -> bool {
    let canon = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    a == b || canon(a) == canon(b)
}

/// Refuse a final sync onto a non-empty target that no journalled tree-sync
/// of the same source wrote, unless forced.
pub fn guard(ts: &TreeSync, earlier: &[Earlier]) -> Result<()> {
    let p = &ts.params;
    if !p.final_sync || p.force {
        return Ok(());
    }
    let holds_something = std::fs::read_dir(&p.target).is_ok_and(|mut d| d.next().is_some());
    if !holds_something {
        return Ok(());
    }
    let path_of = |e: &Earlier, key: &str| -> Option<PathBuf> {
        e.params
            .get(key)
            .and_then(|v| v.as_str())
            .map(PathBuf::from)
    };
    let copied_here = earlier.iter().any(|e| {
        e.kind == KIND
            && path_of(e, "source").is_some_and(|s| same_path(&s, &p.source))
            && path_of(e, "target").is_some_and(|t| same_path(&t, &p.target))
    });
    if copied_here {
        return Ok(());
    }
    Err(Error::bad(format!(
        "final sync refused: no bulk copy of {} into {} is in this journal, so the target may hold files cutover never copied and the final sync would delete them; run the bulk copy first (or use the state directory that ran it), or add --force if {} really is a copy of {}",
        names::display(&p.source),
        names::display(&p.target),
        names::display(&p.target),
        names::display(&p.source)
    )))
}
