//! A repository as the console offers it: its snapshots, how many are
//! already in the target dataset, the ZFS dialect, and space figures (the
//! snapshots' logical sizes against what the dataset uses with them).
//! Never writes.

use std::path::Path;

use super::{dataset, source, KIND};
use crate::fmt;
use crate::job::console::Source;
use crate::job::details::{Details, Field, Health, Section};
use crate::sys::{btrfs, zfs};

/// The dataset a console target names: a dataset name as given
/// (`tank/repo`), or the mountpoint of one (`/tank/repo`), or a path under
/// the mountpoint of its parent (`/tank` + `repo`).
pub fn dataset_of(target: &Path) -> Option<String> {
    let text = target.to_str()?;
    if !text.starts_with('/') {
        return Some(text.to_string());
    }
    let out = crate::sys::cmd::run(
        "zfs",
        &["list", "-H", "-o", "name,mountpoint", "-t", "filesystem"],
    )
    .ok()?;
    let rows = zfs::parse_rows(&out);
    let at = |p: &Path| {
        rows.iter()
            .find(|r| r.len() == 2 && Path::new(&r[1]) == p)
            .map(|r| r[0].clone())
    };
    at(target).or_else(|| {
        let parent = at(target.parent()?)?;
        Some(format!("{parent}/{}", target.file_name()?.to_str()?))
    })
}

/// Describe the repository at `path` going to `target` for the console.
pub fn describe(name: &str, path: &Path, target: &Path) -> Source {
    let ds = dataset_of(target).unwrap_or_else(|| target.display().to_string());
    let mut out = Source::new(KIND, name, path.to_path_buf(), target.to_path_buf());
    out.params = serde_json::json!({ "dataset": ds });
    let snaps = match source::snapshots(path) {
        Ok(s) => s,
        Err(e) => {
            out.problem = Some(e.to_string());
            return out;
        }
    };
    let readonly = snaps.iter().filter(|s| btrfs::is_readonly(&s.path)).count();
    let mut bytes = 0;
    let mut files = 0;
    for s in &snaps {
        let c = crate::files::count::count(&s.path);
        files += c.files;
        bytes += c.bytes;
    }
    out.entries = files;
    out.bytes = bytes;
    out.count = format!("{} snapshots", fmt::count(snaps.len() as u64));
    let state = dataset::state(&ds).unwrap_or_default();
    let done = snaps
        .iter()
        .take_while(|s| state.snapshots.contains(&s.name))
        .count();
    let health = if done == snaps.len() {
        Health::Good
    } else {
        Health::Plain
    };
    let mut repo = vec![
        Field::new(
            "snapshots",
            format!(
                "{} ({} … {})",
                snaps.len(),
                snaps.first().map(|s| s.name.as_str()).unwrap_or(""),
                snaps.last().map(|s| s.name.as_str()).unwrap_or("")
            ),
        ),
        Field::new(
            "kind",
            if readonly == snaps.len() {
                "BTRFS read-only snapshots".to_string()
            } else if readonly == 0 {
                "directories of snapshot copies".to_string()
            } else {
                format!("{readonly} read-only BTRFS snapshots, the rest directories")
            },
        ),
        Field::new(
            "logical size",
            format!(
                "{} in {} files (all snapshots)",
                fmt::bytes(bytes),
                fmt::count(files)
            ),
        ),
    ];
    repo.push(Field::with(
        "migrated",
        format!("{done} of {} · {} pending", snaps.len(), snaps.len() - done),
        health,
    ));
    let mut target_fields = vec![Field::new("dataset", ds.clone())];
    if state.exists {
        if let Ok(n) = zfs::numbers(&ds, &["used", "referenced", "available"]) {
            let used = n.get("used").copied().unwrap_or(0);
            let logical: u64 = snaps
                .iter()
                .take(done)
                .map(|s| crate::files::count::count(&s.path).bytes)
                .sum();
            target_fields.push(Field::new(
                "used",
                format!("{} with its snapshots", fmt::bytes(used)),
            ));
            target_fields.push(Field::new(
                "available",
                fmt::bytes(n.get("available").copied().unwrap_or(0)),
            ));
            if logical > used {
                target_fields.push(Field::with(
                    "saved",
                    format!(
                        "{} by snapshot sharing ({} of snapshots migrated)",
                        fmt::bytes(logical - used),
                        fmt::bytes(logical)
                    ),
                    Health::Good,
                ));
            }
        }
    } else {
        target_fields.push(Field::new("state", "not created yet"));
    }
    target_fields.push(Field::new("ZFS", zfs::Dialect::probe().describe()));
    out.details = Details {
        sections: vec![
            Section::new("repository", repo),
            Section::new("target", target_fields),
        ],
        tables: Vec::new(),
    };
    out
}
