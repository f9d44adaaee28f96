//! The command-line arguments of redb-to-sqlite and its extra command,
//! `cutover inspect redb`.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::discover;
use super::{RedbToSqliteParams, Verify};
use crate::error::{Error, Result};

/// The arguments of `cutover run|verify redb-to-sqlite` (the common run
/// arguments are added by the command line).
#[derive(Debug, Args, Clone)]
pub struct RedbArgs {
    /// A redb file, or a directory of node folders (`data/node-1/state.redb`).
    #[arg(long, value_name = "SRC")]
    pub source: PathBuf,
    /// The new SQLite file, or a directory that mirrors the node folders.
    #[arg(long, value_name = "DST")]
    pub target: PathBuf,
    /// Only this node of a directory source (repeatable); default: every node.
    #[arg(long = "node", value_name = "NODE")]
    pub nodes: Vec<String>,
}

impl RedbArgs {
    /// The job's parameters.
    pub fn params(&self, verify: &str, seed: u64) -> Result<RedbToSqliteParams> {
        // Absolute, so `cutover resume` works from any directory.
        let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        Ok(RedbToSqliteParams {
            source: absolute(&self.source),
            target: absolute(&self.target),
            verify: verify.parse::<Verify>()?,
            seed,
            nodes: self.nodes.clone(),
        })
    }
}

/// What `cutover inspect` looks at.
#[derive(Debug, Subcommand)]
pub enum InspectKind {
    /// A redb file (its format, tables, stored types, counts), or every redb file under a directory, by node.
    Redb(InspectArgs),
}

/// Options of `cutover inspect redb`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// A redb file or a directory of node folders.
    pub path: PathBuf,
    /// One JSON object per file.
    #[arg(long)]
    pub json: bool,
}

/// `cutover inspect redb PATH`: print what a file (or every file under a
/// directory) holds. Exit 0 when everything can be migrated, 1 otherwise.
pub fn inspect(kind: InspectKind) -> Result<i32> {
    let InspectKind::Redb(args) = kind;
    let path = &args.path;
    let md = std::fs::metadata(path).map_err(|e| {
        Error::bad(format!(
            "{} cannot be read ({e}); check the path",
            crate::display_path(path)
        ))
    })?;
    let files: Vec<(String, discover::RedbFile)> = if md.is_dir() {
        let nodes = discover::discover(path);
        if nodes.is_empty() {
            return Err(Error::bad(format!(
                "no redb files under {}",
                crate::display_path(path)
            )));
        }
        nodes
            .into_iter()
            .flat_map(|n| {
                let name = n.name;
                n.files.into_iter().map(move |f| (name.clone(), f))
            })
            .collect()
    } else {
        vec![(".".to_string(), discover::inspect(path))]
    };
    let mut out = std::io::stdout().lock();
    let mut last_node = None;
    for (node, file) in &files {
        if args.json {
            let mut value = serde_json::to_value(file).unwrap_or_default();
            if let Some(obj) = value.as_object_mut() {
                obj.insert("node".into(), node.as_str().into());
            }
            let _ = writeln!(out, "{value}");
        } else {
            if md.is_dir() && last_node.as_ref() != Some(node) {
                let _ = writeln!(out, "node {node}");
                last_node = Some(node.clone());
            }
            let _ = write!(out, "{}", discover::report(file));
        }
    }
    let _ = out.flush();
    Ok(if files.iter().any(|(_, f)| f.problem.is_some()) {
        1
    } else {
        0
    })
}
