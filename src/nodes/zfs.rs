//! ZFS on any node: the commands of `sys::zfs`, run through the node's
//! runner (locally, or over its shared SSH connection) and parsed with the
//! same parsers. Errors are one line naming the node and the command.

use std::collections::HashMap;

use super::runner::{NodeRunner, Ran};
use crate::sys::zfs::{parse_get, parse_rows, send_has_resume, Dialect};

/// A dataset's snapshot with the guid that identifies it on every pool it
/// was sent to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapGuid {
    /// The name after `@`.
    pub name: String,
    /// Its `guid` property.
    pub guid: u64,
}

/// ZFS commands on one node.
pub struct NodeZfs<'a> {
    runner: &'a NodeRunner<'a>,
}

fn argv(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

impl<'a> NodeZfs<'a> {
    /// ZFS on the runner's node.
    pub fn new(runner: &'a NodeRunner<'a>) -> Self {
        NodeZfs { runner }
    }

    fn node(&self) -> &str {
        &self.runner.node().name
    }

    /// Run `zfs ARGS…`, any exit.
    fn zfs(&self, args: &[String]) -> Result<Ran, String> {
        let mut full = vec!["zfs".to_string()];
        full.extend(args.iter().cloned());
        self.runner.run(&full)
    }

    /// Run `zfs ARGS…`; a non-zero exit is an error with its stderr.
    fn zfs_ok(&self, args: &[String]) -> Result<String, String> {
        let ran = self.zfs(args)?;
        if ran.code == 0 {
            return Ok(ran.stdout);
        }
        Err(format!(
            "node {}: zfs {} failed: {}",
            self.node(),
            args.join(" "),
            ran.complaint()
        ))
    }

    /// What the node's ZFS can do (probed: two commands that change nothing).
    pub fn dialect(&self) -> Result<Dialect, String> {
        let list = self.zfs(&argv(&["list", "-H", "-p", "-o", "name", "-d", "0"]))?;
        let send = self.zfs(&argv(&["send"]))?;
        Ok(Dialect {
            list_exact: crate::sys::zfs::list_takes_p(&list.stderr) && list.code != 127,
            resume_tokens: send_has_resume(&send.stdout, &send.stderr),
        })
    }

    /// Whether the dataset or snapshot `name` exists.
    pub fn exists(&self, name: &str) -> Result<bool, String> {
        let ran = self.zfs(&argv(&["list", "-H", "-o", "name", name]))?;
        if ran.code == 0 {
            return Ok(true);
        }
        if ran.stderr.contains("does not exist") {
            return Ok(false);
        }
        Err(format!(
            "node {}: zfs list {name} failed: {}",
            self.node(),
            ran.complaint()
        ))
    }

    /// One property of `name`; `None` when unset (`-`).
    pub fn property(&self, name: &str, prop: &str) -> Result<Option<String>, String> {
        let out = self.zfs_ok(&argv(&["get", "-H", "-p", prop, name]))?;
        Ok(parse_get(&out).into_iter().next().and_then(|p| p.value))
    }

    /// Exact numeric properties of `name` (`zfs get -Hp`, which zfs-fuse has).
    pub fn numbers(&self, name: &str, props: &[&str]) -> Result<HashMap<String, u64>, String> {
        let out = self.zfs_ok(&argv(&["get", "-H", "-p", &props.join(","), name]))?;
        Ok(parse_get(&out)
            .into_iter()
            .filter_map(|p| Some((p.property, p.value?.parse().ok()?)))
            .collect())
    }

    /// Every filesystem under (and including) `dataset` with its mountpoint.
    pub fn filesystems(&self, dataset: &str) -> Result<Vec<(String, String)>, String> {
        let out = self.zfs_ok(&argv(&[
            "list",
            "-H",
            "-r",
            "-t",
            "filesystem",
            "-o",
            "name,mountpoint",
            dataset,
        ]))?;
        Ok(parse_rows(&out)
            .into_iter()
            .filter_map(|r| Some((r.first()?.clone(), r.get(1)?.clone())))
            .collect())
    }

    /// Every filesystem of every pool with its mountpoint.
    pub fn all_filesystems(&self) -> Result<Vec<(String, String)>, String> {
        let out = self.zfs_ok(&argv(&[
            "list",
            "-H",
            "-t",
            "filesystem",
            "-o",
            "name,mountpoint",
        ]))?;
        Ok(parse_rows(&out)
            .into_iter()
            .filter_map(|r| Some((r.first()?.clone(), r.get(1)?.clone())))
            .collect())
    }

    /// The snapshots of `dataset` itself, oldest first, with exact guids:
    /// `zfs list` orders them, `zfs get -Hp` gives the guids (zfs-fuse's
    /// `zfs list -o guid` prints them rounded, `9.17E`).
    pub fn snapshots(&self, dataset: &str) -> Result<Vec<SnapGuid>, String> {
        let out = self.zfs_ok(&argv(&[
            "list", "-H", "-t", "snapshot", "-o", "name", "-s", "creation", "-d", "1", dataset,
        ]))?;
        let prefix = format!("{dataset}@");
        let names: Vec<String> = out
            .lines()
            .filter(|l| l.starts_with(&prefix))
            .map(str::to_string)
            .collect();
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let mut args = argv(&["get", "-H", "-p", "-o", "name,value", "guid"]);
        args.extend(names.iter().cloned());
        let guids = parse_snap_guids(dataset, &self.zfs_ok(&args)?);
        Ok(names
            .iter()
            .filter_map(|n| {
                let name = n.strip_prefix(&prefix)?;
                guids.iter().find(|g| g.name == name).cloned()
            })
            .collect())
    }

    /// `zfs create -o k=v… dataset`.
    pub fn create(&self, dataset: &str, props: &[(&str, &str)]) -> Result<(), String> {
        let mut args = vec!["create".to_string()];
        for (k, v) in props {
            args.push("-o".into());
            args.push(format!("{k}={v}"));
        }
        args.push(dataset.into());
        self.zfs_ok(&args).map(|_| ())
    }

    /// `zfs set k=v name`.
    pub fn set(&self, name: &str, prop: &str, value: &str) -> Result<(), String> {
        self.zfs_ok(&argv(&["set", &format!("{prop}={value}"), name]))
            .map(|_| ())
    }

    /// `zfs snapshot -o k=v… dataset@snap`.
    pub fn snapshot(
        &self,
        dataset: &str,
        snap: &str,
        props: &[(&str, &str)],
    ) -> Result<(), String> {
        let mut args = vec!["snapshot".to_string()];
        for (k, v) in props {
            args.push("-o".into());
            args.push(format!("{k}={v}"));
        }
        args.push(format!("{dataset}@{snap}"));
        self.zfs_ok(&args).map(|_| ())
    }

    /// `zfs destroy [-r] name`, retried while it is busy (zfs-fuse releases
    /// files a moment after they are closed).
    pub fn destroy(&self, name: &str, recursive: bool) -> Result<(), String> {
        let args = if recursive {
            argv(&["destroy", "-r", name])
        } else {
            argv(&["destroy", name])
        };
        let mut last = String::new();
        for attempt in 0..30u64 {
            match self.zfs_ok(&args) {
                Ok(_) => return Ok(()),
                Err(e) if e.contains("busy") => {
                    last = e;
                    std::thread::sleep(std::time::Duration::from_millis(100 + 20 * attempt));
                }
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }
}

/// `dataset`'s snapshots and guids in a `zfs list -H -o name,guid` output.
pub fn parse_snap_guids(dataset: &str, text: &str) -> Vec<SnapGuid> {
    let prefix = format!("{dataset}@");
    parse_rows(text)
        .into_iter()
        .filter_map(|r| {
            let name = r.first()?.strip_prefix(&prefix)?.to_string();
            let guid = r.get(1)?.trim().parse().ok()?;
            Some(SnapGuid { name, guid })
        })
        .collect()
}

/// The newest snapshot of `source` (oldest first) whose guid `target` also
/// has: where an incremental send can start.
pub fn newest_common<'s>(source: &'s [SnapGuid], target: &[SnapGuid]) -> Option<&'s SnapGuid> {
    source
        .iter()
        .rev()
        .find(|s| target.iter().any(|t| t.guid == s.guid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_and_guids_are_read_and_matched_by_guid() {
        let text = "tank/app@a\t111\ntank/app@b\t222\ntank/app/child@x\t9\ntank/app@c\t333\n";
        let src = parse_snap_guids("tank/app", text);
        assert_eq!(
            src.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        // The target has b under another name: guids, not names, match.
        let dst = parse_snap_guids("backup/app", "backup/app@renamed\t222\n");
        assert_eq!(
            newest_common(&src, &dst).map(|s| s.name.as_str()),
            Some("b")
        );
        assert_eq!(newest_common(&src, &[]), None);
    }
}
