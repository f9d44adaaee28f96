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

/// A ZFS pool as the console lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    /// Its name.
    pub name: String,
    /// Free space, as `zpool list` prints it (`1.2G`).
    pub free: String,
    /// `ONLINE`, `DEGRADED`…
    pub health: String,
}

/// The pools `zpool list -H -o name,free,health` printed.
pub fn parse_pools(text: &str) -> Vec<Pool> {
    zfs::parse_rows(text)
        .into_iter()
        .filter_map(|r| {
            Some(Pool {
                name: r.first()?.clone(),
                free: r.get(1)?.clone(),
                health: r.get(2)?.clone(),
            })
        })
        .collect()
}

/// What ZFS says about a repository's target, read once per discovery.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// The target dataset's state.
    pub state: dataset::State,
    /// Its `used` and `available` bytes, when it exists.
    pub used: Option<u64>,
    /// Free bytes where it would be created or is.
    pub available: Option<u64>,
    /// The dialect, in words.
    pub dialect: String,
    /// The pools of this machine.
    pub pools: Vec<Pool>,
}

impl Facts {
    /// Ask ZFS (read-only commands).
    pub fn read(ds: &str) -> Facts {
        let state = dataset::state(ds).unwrap_or_default();
        let numbers = if state.exists {
            zfs::numbers(ds, &["used", "available"]).ok()
        } else {
            None
        };
        let pools = crate::sys::cmd::run("zpool", &["list", "-H", "-o", "name,free,health"])
            .map(|out| parse_pools(&out))
            .unwrap_or_default();
        Facts {
            used: numbers.as_ref().and_then(|n| n.get("used").copied()),
            available: numbers.as_ref().and_then(|n| n.get("available").copied()),
            state,
            dialect: zfs::Dialect::probe().describe(),
            pools,
        }
    }
}

/// A repository's snapshots as the details count them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapFacts {
    /// The snapshot's name.
    pub name: String,
    /// Whether it is a read-only BTRFS snapshot.
    pub readonly: bool,
    /// Bytes of its files.
    pub bytes: u64,
    /// Its files.
    pub files: u64,
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
    let snaps: Vec<SnapFacts> = snaps
        .iter()
        .map(|s| {
            let c = crate::files::count::count(&s.path);
            SnapFacts {
                name: s.name.clone(),
                readonly: btrfs::is_readonly(&s.path),
                bytes: c.bytes,
                files: c.files,
            }
        })
        .collect();
    fill(&mut out, &ds, &snaps, &Facts::read(&ds));
    out
}

/// The counts and details of a repository `out` from what was read: no
/// command runs here, so the panes' snapshots are the same on any machine.
pub fn fill(out: &mut Source, ds: &str, snaps: &[SnapFacts], facts: &Facts) {
    let bytes: u64 = snaps.iter().map(|s| s.bytes).sum();
    let files: u64 = snaps.iter().map(|s| s.files).sum();
    let readonly = snaps.iter().filter(|s| s.readonly).count();
    out.entries = files;
    out.bytes = bytes;
    out.count = format!("{} snapshots", fmt::count(snaps.len() as u64));
    let state = &facts.state;
    let done = snaps
        .iter()
        .take_while(|s| state.snapshots.contains(&s.name))
        .count();
    let health = if done == snaps.len() {
        Health::Good
    } else {
        Health::Plain
    };
    let repo = vec![
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
        Field::with(
            "migrated",
            format!("{done} of {} · {} pending", snaps.len(), snaps.len() - done),
            health,
        ),
    ];
    let mut target_fields = vec![Field::new("dataset", ds.to_string())];
    if let (true, Some(used)) = (state.exists, facts.used) {
        let logical: u64 = snaps.iter().take(done).map(|s| s.bytes).sum();
        target_fields.push(Field::new(
            "used",
            format!("{} with its snapshots", fmt::bytes(used)),
        ));
        target_fields.push(Field::new(
            "available",
            fmt::bytes(facts.available.unwrap_or(0)),
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
    } else if !state.exists {
        target_fields.push(Field::new("state", "not created yet"));
    }
    if state.exists && state.created_by.is_none() {
        target_fields.push(Field::with(
            "owner",
            "not created by cutover: recreate (R) never destroys it",
            Health::Warn,
        ));
    }
    target_fields.push(Field::new("ZFS", facts.dialect.clone()));
    let pools = if facts.pools.is_empty() {
        Field::with("pools", "none found (is ZFS running?)", Health::Warn)
    } else {
        let pool_of = ds.split('/').next().unwrap_or(ds);
        let listed: Vec<String> = facts
            .pools
            .iter()
            .map(|p| {
                let here = if p.name == pool_of { " ← target" } else { "" };
                format!("{} {} free {}{here}", p.name, p.free, p.health)
            })
            .collect();
        let health = if facts.pools.iter().any(|p| p.name == pool_of) {
            Health::Plain
        } else {
            Health::Bad
        };
        Field::with("pools", listed.join(" · "), health)
    };
    target_fields.push(pools);
    out.details = Details {
        sections: vec![
            Section::new("repository", repo),
            Section::new("target", target_fields),
        ],
        tables: Vec::new(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_are_read_from_zpool_list() {
        let pools = parse_pools("tank\t1.21G\tONLINE\nbackup\t870M\tDEGRADED\n\n");
        assert_eq!(pools.len(), 2);
        assert_eq!(
            pools[1],
            Pool {
                name: "backup".into(),
                free: "870M".into(),
                health: "DEGRADED".into()
            }
        );
    }
}
