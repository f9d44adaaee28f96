//! Discovery: find the sources the console offers and say why one is not
//! usable. Discovery never writes.
//!
//! A [`Source`] is one thing an operator can select, of any kind: a tree to
//! sync, a package store to move into a content-addressed store, or one
//! node of a redb cluster to migrate into SQLite.

pub mod redb;
pub mod store;
pub mod tree;

use std::path::{Path, PathBuf};

use crate::names;

pub use store::StoreSource;
pub use tree::TreeSource;

/// A source the operator can pick, of any kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A directory tree, synced to a target directory (tree-sync).
    Tree(TreeSource),
    /// A package store, migrated into a content-addressed store (store-to-cas).
    Store(StoreSource),
    /// One node of a redb cluster, migrated into SQLite files (redb-to-sqlite).
    Redb(RedbSource),
}

impl Source {
    /// Short name shown in the sources pane.
    pub fn name(&self) -> &str {
        match self {
            Source::Tree(s) => &s.name,
            Source::Store(s) => &s.name,
            Source::Redb(s) => &s.name,
        }
    }

    /// Where the data comes from (for redb: the node's directory).
    pub fn source_path(&self) -> PathBuf {
        match self {
            Source::Tree(s) => s.source.clone(),
            Source::Store(s) => s.source.clone(),
            Source::Redb(s) => s.node_dir(),
        }
    }

    /// Where the data goes (for redb: the node's directory under the target).
    pub fn target_path(&self) -> PathBuf {
        match self {
            Source::Tree(s) => s.target.clone(),
            Source::Store(s) => s.target.clone(),
            Source::Redb(s) => s.node_target(),
        }
    }

    /// Entries of the source: files (tree, store) or key/value pairs (redb).
    pub fn files(&self) -> u64 {
        match self {
            Source::Tree(s) => s.files,
            Source::Store(s) => s.files,
            Source::Redb(s) => s.entries(),
        }
    }

    /// Bytes of the source: file contents (tree, store) or file sizes (redb).
    pub fn bytes(&self) -> u64 {
        match self {
            Source::Tree(s) => s.bytes,
            Source::Store(s) => s.bytes,
            Source::Redb(s) => s.bytes(),
        }
    }

    /// Why the source cannot be used, if it cannot.
    pub fn problem(&self) -> Option<&str> {
        match self {
            Source::Tree(s) => s.problem.as_deref(),
            Source::Store(s) => s.problem.as_deref(),
            Source::Redb(s) => s.problem.as_deref(),
        }
    }
}

/// One node of a redb cluster: the redb files in the node's folder, which
/// redb-to-sqlite writes as SQLite files into the same folder under the
/// cluster's target directory (`cluster/node-1/state.redb` →
/// `target/node-1/state.sqlite`).
#[derive(Debug, Clone, PartialEq)]
pub struct RedbSource {
    /// Shown in the sources pane: `cluster/node-1`.
    pub name: String,
    /// The cluster directory (the job's source).
    pub cluster: PathBuf,
    /// The node: its folder relative to the cluster directory (`node-1`; `.` for the cluster itself).
    pub node: String,
    /// The cluster's target directory (the job's target).
    pub target: PathBuf,
    /// The node's redb files, inspected.
    pub files: Vec<redb::RedbFile>,
    /// Why the node cannot be migrated, if it cannot.
    pub problem: Option<String>,
}

impl RedbSource {
    /// Key/value pairs in all the node's tables.
    pub fn entries(&self) -> u64 {
        self.files.iter().map(|f| f.entries).sum()
    }

    /// Bytes of the node's redb files.
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// The node's folder.
    pub fn node_dir(&self) -> PathBuf {
        if self.node == "." {
            self.cluster.clone()
        } else {
            self.cluster.join(&self.node)
        }
    }

    /// The node's folder under the target directory.
    pub fn node_target(&self) -> PathBuf {
        if self.node == "." {
            self.target.clone()
        } else {
            self.target.join(&self.node)
        }
    }
}

/// The nodes of the redb cluster under `cluster`, each a source going to the
/// same folder under `target`. A directory without redb files gives one
/// unusable source that says so.
pub fn redb_cluster(cluster: &Path, target: &Path) -> Vec<Source> {
    let base = cluster
        .file_name()
        .map(|n| names::display(Path::new(n)))
        .unwrap_or_else(|| names::display(cluster));
    redb_sources(&base, cluster, target)
}

/// The redb sources of `path` named after `base`: one per node of a
/// cluster directory (`base/node-1`), or the one file `path` is.
pub fn redb_sources(base: &str, path: &Path, target: &Path) -> Vec<Source> {
    let base = base.to_string();
    let cluster = path;
    if path.is_file() {
        let file = redb::inspect(path);
        let problem = file.problem.clone();
        return vec![Source::Redb(RedbSource {
            name: base,
            cluster: path.to_path_buf(),
            node: ".".to_string(),
            target: target.to_path_buf(),
            files: vec![file],
            problem,
        })];
    }
    let nodes = redb::discover(cluster);
    if nodes.is_empty() {
        return vec![Source::Redb(RedbSource {
            name: base,
            cluster: cluster.to_path_buf(),
            node: ".".to_string(),
            target: target.to_path_buf(),
            files: Vec::new(),
            problem: Some(format!("no redb files under {}", names::display(cluster))),
        })];
    }
    nodes
        .into_iter()
        .map(|n| {
            let problems: Vec<String> = n
                .files
                .iter()
                .filter_map(|f| {
                    f.problem.as_ref().map(|p| {
                        let file = f.path.file_name().map(Path::new).unwrap_or(&f.path);
                        format!("{}: {p}", names::display(file))
                    })
                })
                .collect();
            let name = if n.name == "." {
                base.clone()
            } else {
                format!("{base}/{}", n.name)
            };
            Source::Redb(RedbSource {
                name,
                cluster: cluster.to_path_buf(),
                node: n.name,
                target: target.to_path_buf(),
                files: n.files,
                problem: (!problems.is_empty()).then(|| problems.join("; ")),
            })
        })
        .collect()
}
