//! Nodes: the machines cutover works on ([`file`]: the inventory), one way
//! to run commands on any of them ([`runner`]: local or over SSH), and
//! `cutover nodes` ([`probe`]: each node reachable or not and why, free
//! space, ZFS, services), probed in parallel so one unreachable node never
//! stalls the others.

pub mod file;
pub mod probe;
pub mod runner;
pub mod services;
pub mod tree;
pub mod zfs;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub use file::{Node, LOCAL};

static NODES_FLAG: OnceLock<Option<PathBuf>> = OnceLock::new();

/// Remember the global `--nodes FILE` for this process (set once, by the
/// command line).
pub fn set_flag(flag: Option<PathBuf>) {
    let _ = NODES_FLAG.set(flag);
}

/// The `--nodes FILE` this process was given, if any.
pub fn flag() -> Option<PathBuf> {
    NODES_FLAG.get().cloned().flatten()
}

/// The nodes of this process: `--nodes FILE`, else `nodes.toml` in `state_dir`.
pub fn load(state_dir: &Path) -> crate::error::Result<Vec<Node>> {
    let flag = NODES_FLAG.get().cloned().flatten();
    file::load(flag.as_deref(), state_dir)
}

/// Whether this process has a nodes inventory of its own (`--nodes`, or
/// `nodes.toml` in `state_dir`): the console shows its Nodes pane then.
pub fn inventory_present(state_dir: &Path) -> bool {
    let flag = NODES_FLAG.get().cloned().flatten();
    file::path(flag.as_deref(), state_dir).exists()
}
