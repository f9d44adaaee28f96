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
static STATE_FLAG: OnceLock<Option<PathBuf>> = OnceLock::new();

/// Remember the global `--nodes FILE` for this process (set once, by the
/// command line).
pub fn set_flag(flag: Option<PathBuf>) {
    let _ = NODES_FLAG.set(flag);
}

/// Remember the global `--state-dir` for this process (set once, by the
/// command line), for kinds whose jobs reach nodes ([`state_dir`]).
pub fn set_state_flag(flag: Option<PathBuf>) {
    let _ = STATE_FLAG.set(flag);
}

/// The state directory of this process: `--state-dir`, else as
/// [`crate::state_dir::resolve`] finds it (a kind's job loads the nodes
/// and keeps its SSH connections there).
pub fn state_dir() -> crate::error::Result<PathBuf> {
    crate::state_dir::resolve(STATE_FLAG.get().cloned().flatten())
}

/// The nodes of this process: `--nodes FILE`, else `nodes.toml` in `state_dir`.
pub fn load(state_dir: &Path) -> crate::error::Result<Vec<Node>> {
    let flag = NODES_FLAG.get().cloned().flatten();
    file::load(flag.as_deref(), state_dir)
}
