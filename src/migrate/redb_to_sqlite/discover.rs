//! redb databases under a directory, grouped by node: every regular file
//! that starts with redb's magic number (or is named `*.redb`), the node
//! being the directory that holds it (`data/node-1/state.redb` → `node-1`).
//! For each file: size, file format, and every table with its stored types
//! and entry count — or why it cannot be used. Never writes.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::migrate::redb_to_sqlite::source::{self, Source};
use crate::names;

/// How deep under the given directory files are looked for.
const MAX_DEPTH: usize = 6;

/// One table of a redb file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RedbTable {
    pub name: String,
    /// `table` or `multimap`.
    pub kind: String,
    pub key_type: String,
    pub value_type: String,
    pub entries: u64,
    /// How key and value become SQLite columns (`key INTEGER, value TEXT`).
    pub columns: Option<String>,
    /// Why the table cannot be migrated.
    pub problem: Option<String>,
}

/// One redb file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RedbFile {
    #[serde(serialize_with = "ser_path")]
    pub path: PathBuf,
    pub size: u64,
    /// File format number: 2 (redb 2.x) or 3 (redb 3.x/4.x); `None` if unreadable.
    pub format: Option<u8>,
    /// Which redb versions write that format.
    pub written_by: Option<String>,
    pub tables: Vec<RedbTable>,
    pub entries: u64,
    /// Why the file cannot be migrated (not redb, damaged, in use, no tables, a table unreadable).
    pub problem: Option<String>,
}

/// A node: a directory holding redb files.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RedbNode {
    /// The directory's path relative to the searched directory (`node-1`; `.` for itself).
    pub name: String,
    #[serde(serialize_with = "ser_path")]
    pub dir: PathBuf,
    pub files: Vec<RedbFile>,
}

fn ser_path<S: serde::Serializer>(p: &Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&names::display(p))
}

/// Describe one file: open it read-only and list its tables.
pub fn inspect(path: &Path) -> RedbFile {
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let mut out = RedbFile {
        path: path.to_path_buf(),
        size,
        format: None,
        written_by: None,
        tables: Vec::new(),
        entries: 0,
        problem: None,
    };
    let src = match Source::open(path) {
        Ok(s) => s,
        Err(e) => {
            if let Ok((format, _)) = source::sniff(path) {
                out.format = Some(format.number());
                out.written_by = Some(format.writers().to_string());
            }
            out.problem = Some(e);
            return out;
        }
    };
    out.format = Some(src.format.number());
    out.written_by = Some(src.format.writers().to_string());
    let mut problems = Vec::new();
    for t in &src.tables {
        let (columns, problem) = match t.mappings() {
            Ok((k, v)) => {
                let cols: Vec<String> = k
                    .columns("key")
                    .into_iter()
                    .chain(v.columns("value"))
                    .map(|c| format!("{} {}", c.name, c.sql_type))
                    .collect();
                (Some(cols.join(", ")), None)
            }
            Err(e) => {
                problems.push(e.clone());
                (None, Some(e))
            }
        };
        out.entries += t.entries;
        out.tables.push(RedbTable {
            name: t.name.clone(),
            kind: t.kind().to_string(),
            key_type: t.key_type.clone(),
            value_type: t.value_type.clone(),
            entries: t.entries,
            columns,
            problem,
        });
    }
    if src.tables.is_empty() {
        problems.push("has no tables: nothing to migrate".to_string());
    }
    if !problems.is_empty() {
        out.problem = Some(problems.join("; "));
    }
    out
}

/// Whether `path` looks like a redb file (magic number, or a `.redb` name).
fn is_candidate(path: &Path) -> bool {
    if path.extension().is_some_and(|e| e == "redb") {
        return true;
    }
    let mut head = [0u8; 9];
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
        .map(|()| head == [b'r', b'e', b'd', b'b', 0x1A, 0x0A, 0xA9, 0x0D, 0x0A])
        .unwrap_or(false)
}

/// The redb files under `dir` (sorted), without opening them.
pub fn find_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), 0usize)];
    while let Some((d, depth)) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in rd.flatten() {
            let path = entry.path();
            let Ok(ft) = entry.file_type() else { continue };
            if ft.is_dir() && depth < MAX_DEPTH {
                stack.push((path, depth + 1));
            } else if ft.is_file() && is_candidate(&path) {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// The node name of a file found under `root`: its directory relative to `root`.
pub fn node_of(root: &Path, file: &Path) -> String {
    let dir = file.parent().unwrap_or(root);
    match dir.strip_prefix(root) {
        Ok(rel) if !rel.as_os_str().is_empty() => names::display(rel),
        _ => ".".to_string(),
    }
}

/// Every node under `dir` with its redb files, each inspected.
pub fn discover(dir: &Path) -> Vec<RedbNode> {
    let mut nodes: Vec<RedbNode> = Vec::new();
    for file in find_files(dir) {
        let name = node_of(dir, &file);
        let described = inspect(&file);
        match nodes.iter_mut().find(|n| n.name == name) {
            Some(node) => node.files.push(described),
            None => nodes.push(RedbNode {
                name,
                dir: file.parent().unwrap_or(dir).to_path_buf(),
                files: vec![described],
            }),
        }
    }
    nodes
}

/// A readable report of one file (what `cutover inspect redb FILE` prints).
pub fn report(file: &RedbFile) -> String {
    let mut out = format!(
        "{}  {}  {}\n",
        names::display(&file.path),
        humansize::format_size(file.size, humansize::BINARY),
        match (file.format, &file.written_by) {
            (Some(f), Some(w)) => format!("format v{f} ({w})"),
            _ => "format unknown".to_string(),
        }
    );
    if !file.tables.is_empty() {
        let width = file
            .tables
            .iter()
            .map(|t| t.name.len())
            .max()
            .unwrap_or(5)
            .max(5);
        out.push_str(&format!(
            "  {:<width$}  {:<8}  {:>10}  key → value\n",
            "table", "kind", "entries"
        ));
        for t in &file.tables {
            out.push_str(&format!(
                "  {:<width$}  {:<8}  {:>10}  {} → {}",
                t.name, t.kind, t.entries, t.key_type, t.value_type
            ));
            match (&t.columns, &t.problem) {
                (_, Some(p)) => out.push_str(&format!("  ! {p}")),
                (Some(c), None) => out.push_str(&format!("  ({c})")),
                _ => {}
            }
            out.push('\n');
        }
        out.push_str(&format!(
            "  {} tables, {} entries\n",
            file.tables.len(),
            file.entries
        ));
    }
    if let Some(p) = &file.problem {
        out.push_str(&format!(
            "  cannot be migrated: {} {p}\n",
            names::display(&file.path)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_files_by_node_and_reports_problems() {
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path().join("data");
        for node in ["node-1", "node-2"] {
            let p = root.join(node).join("state.redb");
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            let db = redb::Database::create(&p).expect("create");
            let w = db.begin_write().expect("w");
            {
                let mut t = w
                    .open_table(redb::TableDefinition::<u64, u64>::new("log"))
                    .expect("t");
                t.insert(1, 2).expect("i");
            }
            w.commit().expect("c");
        }
        std::fs::write(root.join("node-2/broken.redb"), b"not redb").expect("w");
        std::fs::write(root.join("node-2/notes.txt"), b"ignored").expect("w");
        let nodes = discover(&root);
        assert_eq!(nodes.len(), 2);
        assert_eq!(nodes[0].name, "node-1");
        assert_eq!(nodes[0].files[0].tables[0].entries, 1);
        assert_eq!(nodes[0].files[0].format, Some(3));
        assert_eq!(nodes[1].files.len(), 2);
        let broken = &nodes[1].files[0];
        assert!(
            broken
                .problem
                .as_deref()
                .unwrap_or("")
                .contains("not a redb"),
            "{broken:?}"
        );
        let text = report(&nodes[0].files[0]);
        assert!(text.contains("log") && text.contains("u64 → u64"), "{text}");
    }
}
