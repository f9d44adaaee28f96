//! `cutover sources [--json]`, `cutover sources add PATH… [--target PATH |
//! --target-root DIR] [--kind KIND]`, `cutover sources remove NAME`.

use std::path::{Path, PathBuf};

use clap::Subcommand;

use super::{sources_of, Inventory};
use crate::discover::Source;
use crate::error::{Error, Result};
use crate::names;

/// What `cutover sources` does besides listing.
#[derive(Debug, Subcommand)]
pub enum SourcesAction {
    /// Remember sources (their kind is detected unless --kind says it); a
    /// path already remembered gets the new kind and target. A nodes file
    /// (`[[node]]` tables) adds its nodes to the nodes inventory: their
    /// services are sources in the console.
    Add {
        /// Directories, redb files, or nodes files.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Where the (single) source goes.
        #[arg(long, value_name = "PATH", conflicts_with = "target_root")]
        target: Option<PathBuf>,
        /// Each source goes to DIR/NAME.
        #[arg(long, value_name = "DIR")]
        target_root: Option<PathBuf>,
        /// The migration kind, instead of detecting it.
        #[arg(long, value_name = "KIND")]
        kind: Option<String>,
    },
    /// Forget a source (its data is never touched).
    Remove {
        /// Its name, as `cutover sources` lists it.
        name: String,
    },
}

/// A path made absolute (not resolving links), so the console and resumed
/// jobs match it from any directory.
pub fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Run `cutover sources …`; the exit code.
pub fn dispatch(state: &Path, action: Option<SourcesAction>, json: bool) -> Result<i32> {
    match action {
        None => list(state, json),
        Some(SourcesAction::Add {
            paths,
            target,
            target_root,
            kind,
        }) => add(
            state,
            &paths,
            target.as_deref(),
            target_root.as_deref(),
            kind.as_deref(),
        ),
        Some(SourcesAction::Remove { name }) => {
            let mut inv = Inventory::load(state)?;
            let gone = inv.remove(&name)?;
            inv.save(state)?;
            crate::outln!(
                "forgot {} ({}); nothing was deleted",
                gone.name,
                names::display(&gone.source)
            )?;
            Ok(0)
        }
    }
}

fn add(
    state: &Path,
    paths: &[PathBuf],
    target: Option<&Path>,
    target_root: Option<&Path>,
    kind: Option<&str>,
) -> Result<i32> {
    if target.is_some() && paths.len() > 1 {
        return Err(Error::bad(
            "--target names one source's target; with several paths use --target-root DIR",
        ));
    }
    let (node_files, paths): (Vec<&PathBuf>, Vec<&PathBuf>) =
        paths.iter().partition(|p| is_nodes_file(p));
    if !node_files.is_empty() && (target.is_some() || target_root.is_some() || kind.is_some()) {
        return Err(Error::bad(
            "a nodes file takes no --target, --target-root or --kind: add it alone",
        ));
    }
    let mut inv = Inventory::load(state)?;
    // Check every path before remembering any.
    let mut planned = Vec::new();
    for path in &paths {
        let source = absolute(path);
        let k = match kind {
            Some(name) => crate::kinds::find(name)?,
            None => crate::kinds::detect(&source)?,
        };
        planned.push((source, k));
    }
    for file in node_files {
        add_nodes(state, file)?;
    }
    if paths.is_empty() {
        return Ok(0);
    }
    for (source, k) in planned {
        let name = inv
            .sources
            .iter()
            .find(|e| e.source == source)
            .map(|e| e.name.clone())
            .unwrap_or_else(|| inv.free_name(&source));
        let dst = match (target, target_root) {
            (Some(t), _) => Some(k.target_of(t)),
            (None, Some(root)) => Some(absolute(root).join(&name)),
            (None, None) => None,
        };
        let (name, new) = inv.upsert(k.name(), &source, dst.as_deref());
        let to = dst
            .as_deref()
            .map(|d| format!(" → {}", names::display(d)))
            .unwrap_or_else(|| " (no target yet)".to_string());
        crate::outln!(
            "{} {name} ({}): {}{to}",
            if new { "added" } else { "updated" },
            k.name(),
            names::display(&source)
        )?;
    }
    inv.save(state)?;
    Ok(0)
}

/// Whether `path` is a nodes file: a file with a `[[node]]` table.
fn is_nodes_file(path: &Path) -> bool {
    path.is_file()
        && std::fs::read_to_string(path).is_ok_and(|t| t.lines().any(|l| l.trim() == "[[node]]"))
}

/// Add the nodes of `file` to the nodes inventory (`--nodes FILE`, else
/// `nodes.toml` in the state directory), node by node: one it has already
/// with other settings is refused.
fn add_nodes(state: &Path, file: &Path) -> Result<()> {
    let given = names::display(file);
    let text = std::fs::read_to_string(file).map_err(|e| Error::io("cannot read", file, &e))?;
    let inventory = crate::nodes::file::path(crate::nodes::flag().as_deref(), state);
    let shown = names::display(&inventory);
    let old = match std::fs::read_to_string(&inventory) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io("cannot read", &inventory, &e)),
    };
    let merged = crate::nodes::file::merge(old.as_deref(), &shown, &text, &given)?;
    if !merged.added.is_empty() {
        crate::state_dir::create(state)?;
        let tmp = inventory.with_file_name(".nodes.cutover-tmp");
        crate::state_dir::write_private(&tmp, merged.text.as_bytes(), true)
            .and_then(|_| std::fs::rename(&tmp, &inventory))
            .map_err(|e| Error::io("cannot write", &inventory, &e))?;
    }
    let same = if merged.same.is_empty() {
        String::new()
    } else {
        format!(" (there already: {})", merged.same.join(", "))
    };
    crate::outln!(
        "nodes {}: added {} to {shown}{same}; `cutover nodes` probes them, and the console offers their services",
        given,
        if merged.added.is_empty() {
            "none".to_string()
        } else {
            merged.added.join(", ")
        }
    )?;
    Ok(())
}

/// Where a source goes, if its entry has a target.
fn target_of(entry: &super::Entry, s: &Source) -> Option<String> {
    entry.target.as_ref().map(|_| names::display(&s.target))
}

/// One source as `cutover sources --json` prints it.
pub fn json_of(entry: &super::Entry, s: &Source) -> serde_json::Value {
    serde_json::json!({
        "name": s.name,
        "kind": entry.kind,
        "source": names::display(&s.source),
        "target": target_of(entry, s),
        "usable": s.problem.is_none(),
        "why": s.problem,
        "bytes": s.bytes,
        "items": s.entries,
    })
}

fn list(state: &Path, json: bool) -> Result<i32> {
    let inv = Inventory::load(state)?;
    let nodes = crate::nodes::inventory_present(state);
    if inv.sources.is_empty() && !json && !nodes {
        crate::outln!(
            "no sources yet; add one with `cutover sources add PATH --target DIR` (state directory {})",
            names::display(state)
        )?;
    }
    for entry in &inv.sources {
        for s in sources_of(entry) {
            if json {
                crate::outln!("{}", json_of(entry, &s))?;
                continue;
            }
            let to = target_of(entry, &s).unwrap_or_else(|| "(no target)".to_string());
            let state = match s.problem {
                None => "ok".to_string(),
                Some(why) => format!("unusable: {why}"),
            };
            crate::outln!(
                "{:<20} {:<15} {} → {to}  {} {}, {}  {state}",
                s.name,
                entry.kind,
                names::display(&s.source),
                s.entries,
                crate::kinds::find(&entry.kind).map_or("entries", |k| k.units().entries),
                humansize::format_size(s.bytes, humansize::BINARY),
            )?;
        }
    }
    if nodes && !json {
        // Their services are sources too, once probed (over SSH): say where.
        let names: Vec<String> = crate::nodes::load(state)
            .map(|n| n.into_iter().map(|n| n.name).collect())
            .unwrap_or_default();
        crate::outln!(
            "services of the nodes {}: `cutover nodes` probes them; the console offers them as sources",
            names.join(", ")
        )?;
    }
    Ok(0)
}
