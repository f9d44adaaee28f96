//! TEMPORARY stand-in for `crate::nodes::tree` (being written on main),
//! with its signature: two trees compared, each on its node. Local trees
//! only, through tree-sync's comparison. Deleted when main's lands.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use crate::job::{ItemCtx, Progress};
use crate::nodes::runner::NodeRunner;
use crate::verify::VerifyMode;

/// What comparing two trees found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Compared {
    pub entries: u64,
    pub bytes: u64,
    pub hashed: u64,
    pub differences: Vec<String>,
    pub total_differences: u64,
}

/// Compare tree `a` with tree `b`.
pub fn compare(
    a: (&NodeRunner, &Path),
    b: (&NodeRunner, &Path),
    mode: &VerifyMode,
    seed: u64,
) -> Result<Compared, String> {
    if a.0.node().ssh.is_some() || b.0.node().ssh.is_some() {
        return Err("comparing trees over SSH needs nodes::tree (not merged yet)".into());
    }
    let progress = Progress::default();
    let cancel = AtomicBool::new(false);
    let ctx = ItemCtx {
        progress: &progress,
        cancel: &cancel,
    };
    match crate::migrate::tree_sync::nested::compare(a.1, b.1, &[], *mode, seed, &ctx) {
        Ok(r) => Ok(Compared {
            entries: r.files,
            bytes: r.bytes,
            hashed: r.hashed,
            ..Compared::default()
        }),
        Err(e) => Ok(Compared {
            differences: vec![e.0],
            total_differences: 1,
            ..Compared::default()
        }),
    }
}
