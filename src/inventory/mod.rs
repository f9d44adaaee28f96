//! The operator's own sources, remembered in `sources.toml` in the state
//! directory: each a path, the kind it was detected (or declared) as, and
//! where it goes. `cutover sources add|remove` edit it; plain `cutover`
//! opens the console on it. Forgetting a source never touches its data.
//!
//! ```toml
//! [[source]]
//! name = "uploads"
//! kind = "tree-sync"
//! source = "/srv/uploads"
//! target = "/mnt/new/uploads"
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::discover::Source;
use crate::error::{Error, Result};
use crate::names;

pub mod cmd;

/// The file's name inside the state directory.
pub const FILE: &str = "sources.toml";

/// One remembered source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Unique name, shown in the console and used by `sources remove`.
    pub name: String,
    /// The migration kind it offers (`tree-sync`, `store-to-cas`, `redb-to-sqlite`).
    pub kind: String,
    pub source: PathBuf,
    /// Where it goes; absent until the operator sets one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<PathBuf>,
}

/// Every remembered source, in the order they were added.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inventory {
    #[serde(default, rename = "source")]
    pub sources: Vec<Entry>,
}

/// Why a source shows as unusable when it has no target.
pub fn no_target(name: &str) -> String {
    format!(
        "no target: set one with `cutover sources add PATH --target DIR` (or --target-root DIR) for {name}"
    )
}

impl Inventory {
    /// The inventory file of a state directory.
    pub fn file_in(state_dir: &Path) -> PathBuf {
        state_dir.join(FILE)
    }

    /// Read it; a missing file is an empty inventory. A file that does not
    /// parse is an error naming the file and the line.
    pub fn load(state_dir: &Path) -> Result<Inventory> {
        let path = Self::file_in(state_dir);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Inventory::default()),
            Err(e) => return Err(Error::io("cannot read", &path, &e)),
        };
        toml::from_str(&text).map_err(|e| {
            let line = e
                .span()
                .map(|s| {
                    text.as_bytes()[..s.start.min(text.len())]
                        .iter()
                        .filter(|&&b| b == b'\n')
                        .count()
                        + 1
                })
                .map(|l| format!(" line {l}:"))
                .unwrap_or_default();
            Error::bad(format!(
                "{}{line} {}; fix or remove the file",
                names::display(&path),
                e.message()
            ))
        })
    }

    /// Write it atomically (temporary file, fsync, rename).
    pub fn save(&self, state_dir: &Path) -> Result<()> {
        crate::state_dir::create(state_dir)?;
        let path = Self::file_in(state_dir);
        let tmp = state_dir.join(format!(".{FILE}.tmp"));
        let text = toml::to_string(self)
            .map_err(|e| Error::Io(format!("cannot write the inventory: {e}")))?;
        crate::state_dir::write_private(&tmp, text.as_bytes(), true)
            .and_then(|_| std::fs::rename(&tmp, &path))
            .map_err(|e| Error::io("cannot write", &path, &e))
    }

    /// The entry of this name.
    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.sources.iter().find(|e| e.name == name)
    }

    /// A name not yet taken, made from the source's last path component.
    pub fn free_name(&self, source: &Path) -> String {
        let base = source
            .file_name()
            .map(|n| names::display(Path::new(n)))
            .unwrap_or_else(|| "source".to_string());
        let mut name = base.clone();
        let mut n = 2;
        while self.get(&name).is_some() {
            name = format!("{base}-{n}");
            n += 1;
        }
        name
    }

    /// Add a source, or update the kind and target of one already there
    /// (same source path). Returns its name and whether it was new.
    pub fn upsert(&mut self, kind: &str, source: &Path, target: Option<&Path>) -> (String, bool) {
        if let Some(e) = self.sources.iter_mut().find(|e| e.source == source) {
            e.kind = kind.to_string();
            if let Some(t) = target {
                e.target = Some(t.to_path_buf());
            }
            return (e.name.clone(), false);
        }
        let name = self.free_name(source);
        self.sources.push(Entry {
            name: name.clone(),
            kind: kind.to_string(),
            source: source.to_path_buf(),
            target: target.map(Path::to_path_buf),
        });
        (name, true)
    }

    /// Forget a source by name (its data is not touched).
    pub fn remove(&mut self, name: &str) -> Result<Entry> {
        let Some(i) = self.sources.iter().position(|e| e.name == name) else {
            let known: Vec<&str> = self.sources.iter().map(|e| e.name.as_str()).collect();
            return Err(Error::bad(format!(
                "no source named '{name}' in the inventory; `cutover sources` lists them ({})",
                if known.is_empty() {
                    "none yet".to_string()
                } else {
                    known.join(", ")
                }
            )));
        };
        Ok(self.sources.remove(i))
    }
}

/// The console's sources of an entry, through its kind: one, or one per
/// node. An entry with no target, or whose kind is unknown, shows why.
pub fn sources_of(entry: &Entry) -> Vec<Source> {
    let kind = match crate::kinds::find(&entry.kind) {
        Ok(k) => k,
        Err(e) => {
            return vec![unusable(entry, e.to_string())];
        }
    };
    let target = entry.target.clone().unwrap_or_default();
    let mut out = kind.sources(&entry.name, &entry.source, &target);
    if entry.target.is_none() {
        for s in &mut out {
            set_problem(s, no_target(&entry.name));
        }
    }
    out
}

fn unusable(entry: &Entry, why: String) -> Source {
    let kind = crate::kinds::find(&entry.kind).map_or("unknown", |k| k.name());
    let mut out = Source::new(
        kind,
        &entry.name,
        entry.source.clone(),
        entry.target.clone().unwrap_or_default(),
    );
    out.problem = Some(why);
    out
}

fn set_problem(source: &mut Source, why: String) {
    if source.problem.is_none() {
        source.problem = Some(why);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_names_stay_unique() {
        let dir = tempfile::tempdir().unwrap();
        let mut inv = Inventory::load(dir.path()).unwrap();
        assert!(inv.sources.is_empty());
        let (a, new_a) = inv.upsert("tree-sync", Path::new("/srv/data"), None);
        let (b, _) = inv.upsert("tree-sync", Path::new("/other/data"), Some(Path::new("/t")));
        assert_eq!((a.as_str(), new_a, b.as_str()), ("data", true, "data-2"));
        let (again, new) = inv.upsert("tree-sync", Path::new("/srv/data"), Some(Path::new("/n")));
        assert_eq!((again.as_str(), new), ("data", false));
        inv.save(dir.path()).unwrap();
        let back = Inventory::load(dir.path()).unwrap();
        assert_eq!(back, inv);
        assert_eq!(
            back.get("data").unwrap().target.as_deref(),
            Some(Path::new("/n"))
        );
        let mut back = back;
        assert!(back
            .remove("nope")
            .unwrap_err()
            .to_string()
            .contains("data, data-2"));
        back.remove("data").unwrap();
        assert_eq!(back.sources.len(), 1);
    }

    #[test]
    fn a_bad_file_names_its_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(FILE),
            "[[source]]\nname = \"a\"\nkind = \"tree-sync\"\nsource = \"/a\"\ncolour = \"red\"\n",
        )
        .unwrap();
        let err = Inventory::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("sources.toml line 5"), "{err}");
        assert!(err.contains("colour"), "{err}");
    }
}
