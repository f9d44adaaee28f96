//! The console's sources as the operator keeps them: inventory entries
//! (`sources.toml`, or the ones given on the command line for this session),
//! turned into sources through their kinds; edited by `n`, `t`, `d`. Runs on
//! blocking threads (it reads the file system); the runner calls it.

use std::path::{Path, PathBuf};

use crate::discover::Source;
use crate::inventory::{self, Entry, Inventory};
use crate::names;

use super::app::Probe;

/// The session's entries and where edits go.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// The entries the console shows, in order.
    pub entries: Vec<Entry>,
    /// Edits are saved to the inventory of this state directory (plain
    /// `cutover`); `None`: this session only (`--source`, the demo).
    pub persist: Option<PathBuf>,
    /// New sources go to `ROOT/NAME` (`--target-root`).
    pub target_root: Option<PathBuf>,
}

/// An edit of the sources.
#[derive(Debug, Clone)]
pub enum Edit {
    /// Add a source (or update one of the same path).
    Add {
        path: PathBuf,
        kind: String,
        target: Option<PathBuf>,
    },
    /// Set the target of the entry a source belongs to.
    Target { source: String, target: PathBuf },
    /// Forget the entry a source belongs to.
    Forget { source: String },
}

/// The entry a console source comes from: the same name, or the cluster of
/// a redb node (`raft` for `raft/node-1`).
fn entry_index(entries: &[Entry], source: &str) -> Option<usize> {
    entries.iter().position(|e| e.name == source).or_else(|| {
        entries
            .iter()
            .position(|e| source.starts_with(&format!("{}/", e.name)))
    })
}

impl Sources {
    /// Every console source of every entry (reads the file system).
    pub fn discover(&self) -> Vec<Source> {
        self.entries
            .iter()
            .flat_map(inventory::sources_of)
            .collect()
    }

    /// What a typed path is, as `n` shows it before adding.
    pub fn probe(&self, typed: &str) -> Result<Probe, String> {
        let path = crate::inventory::cmd::absolute(&expand(typed));
        let kind = crate::kinds::detect(&path).map_err(|e| e.to_string())?;
        let existing = self.entries.iter().find(|e| e.source == path);
        let name = existing.map(|e| e.name.clone()).unwrap_or_else(|| {
            Inventory {
                sources: self.entries.clone(),
            }
            .free_name(&path)
        });
        let target = existing
            .and_then(|e| e.target.clone())
            .or_else(|| self.target_root.as_ref().map(|r| r.join(&name)));
        Ok(Probe {
            path: typed.to_string(),
            kind: kind.name().to_string(),
            name,
            target: target.map(|t| names::display(&t)),
        })
    }

    /// Apply an edit to the session (and to the inventory file when it is
    /// kept there); returns what happened, in words.
    pub fn apply(&mut self, edit: Edit) -> Result<String, String> {
        if let Some(state) = self.persist.clone() {
            // Re-read the file: another process may have changed it.
            let mut inv = Inventory::load(&state).map_err(|e| e.to_string())?;
            let note = edit_inventory(&mut inv, &self.entries, edit.clone())?;
            inv.save(&state).map_err(|e| e.to_string())?;
            self.entries = inv.sources;
            return Ok(note);
        }
        let mut inv = Inventory {
            sources: std::mem::take(&mut self.entries),
        };
        let snapshot = inv.sources.clone();
        let note = edit_inventory(&mut inv, &snapshot, edit);
        self.entries = inv.sources;
        note
    }
}

fn edit_inventory(inv: &mut Inventory, shown: &[Entry], edit: Edit) -> Result<String, String> {
    let entry_name = |source: &str| {
        entry_index(shown, source)
            .map(|i| shown[i].name.clone())
            .ok_or_else(|| format!("{source} is not one of the console's sources"))
    };
    match edit {
        Edit::Add { path, kind, target } => {
            let path = crate::inventory::cmd::absolute(&path);
            let target = target.map(|t| match crate::kinds::find(&kind) {
                Ok(k) => k.target_of(&t),
                Err(_) => crate::inventory::cmd::absolute(&t),
            });
            let (name, new) = inv.upsert(&kind, &path, target.as_deref());
            Ok(format!(
                "{} {name} ({kind}): {}",
                if new { "added" } else { "updated" },
                names::display(&path)
            ))
        }
        Edit::Target { source, target } => {
            let name = entry_name(&source)?;
            let target = crate::inventory::cmd::absolute(&expand_path(&target));
            let e = inv
                .sources
                .iter_mut()
                .find(|e| e.name == name)
                .ok_or_else(|| format!("{name} is no longer in the inventory"))?;
            e.target = Some(target.clone());
            Ok(format!("{name} goes to {}", names::display(&target)))
        }
        Edit::Forget { source } => {
            let name = entry_name(&source)?;
            let gone = inv.remove(&name).map_err(|e| e.to_string())?;
            Ok(format!(
                "forgot {} ({}); nothing was deleted",
                gone.name,
                names::display(&gone.source)
            ))
        }
    }
}

/// `~` at the start means the home directory.
fn expand(typed: &str) -> PathBuf {
    expand_path(Path::new(typed.trim()))
}

fn expand_path(p: &Path) -> PathBuf {
    match (p.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => p.to_path_buf(),
    }
}

/// Tab completion of a typed path: the longest common continuation of the
/// names in its directory that start with what was typed (a directory gets
/// its `/`). Unchanged when nothing or nothing more matches.
pub fn complete(typed: &str) -> String {
    let (dir_part, stem) = match typed.rfind('/') {
        Some(i) => (&typed[..=i], &typed[i + 1..]),
        None => ("", typed),
    };
    let dir = if dir_part.is_empty() {
        PathBuf::from(".")
    } else {
        expand(dir_part)
    };
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return typed.to_string();
    };
    let mut matches: Vec<(String, bool)> = rd
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let hidden_unasked = name.starts_with('.') && !stem.starts_with('.');
            (name.starts_with(stem) && !hidden_unasked)
                .then(|| (name, e.file_type().is_ok_and(|t| t.is_dir())))
        })
        .collect();
    matches.sort();
    let Some((first, _)) = matches.first() else {
        return typed.to_string();
    };
    let mut common = first.clone();
    for (m, _) in &matches[1..] {
        while !m.starts_with(common.as_str()) {
            common.pop();
        }
    }
    let mut out = format!("{dir_part}{common}");
    if matches.len() == 1 && matches[0].1 {
        out.push('/');
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn completes_the_common_part_and_marks_directories() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        std::fs::create_dir(dir.path().join("uploads")).unwrap();
        std::fs::create_dir(dir.path().join("upstream")).unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"").unwrap();
        assert_eq!(complete(&format!("{d}/up")), format!("{d}/up"));
        assert_eq!(complete(&format!("{d}/upl")), format!("{d}/uploads/"));
        assert_eq!(complete(&format!("{d}/no")), format!("{d}/notes.txt"));
        assert_eq!(complete(&format!("{d}/zz")), format!("{d}/zz"));
    }

    #[test]
    fn edits_a_session_and_the_inventory() {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("tree");
        std::fs::create_dir_all(tree.join("a")).unwrap();
        let state = dir.path().join("state");
        let mut s = Sources {
            persist: Some(state.clone()),
            target_root: Some(dir.path().join("new")),
            ..Sources::default()
        };
        let p = s.probe(tree.to_str().unwrap()).unwrap();
        assert_eq!((p.kind.as_str(), p.name.as_str()), ("tree-sync", "tree"));
        assert!(p.target.unwrap().ends_with("new/tree"));
        let note = s
            .apply(Edit::Add {
                path: tree.clone(),
                kind: "tree-sync".into(),
                target: None,
            })
            .unwrap();
        assert!(note.starts_with("added tree"), "{note}");
        let note = s
            .apply(Edit::Target {
                source: "tree".into(),
                target: dir.path().join("t"),
            })
            .unwrap();
        assert!(note.contains("goes to"), "{note}");
        assert_eq!(Inventory::load(&state).unwrap().sources.len(), 1);
        assert_eq!(s.discover().len(), 1);
        s.apply(Edit::Forget {
            source: "tree".into(),
        })
        .unwrap();
        assert!(Inventory::load(&state).unwrap().sources.is_empty());
        assert!(tree.is_dir(), "forgetting never deletes");
        assert!(s
            .probe("/no/such/path")
            .unwrap_err()
            .contains("does not exist"));
    }
}
