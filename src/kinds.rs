//! The registry: every migration kind, one line each. Outside its folder a
//! kind is named only here; the command line, headless output and `resume`
//! find kinds through [`find`] and [`all`].

use std::sync::RwLock;

use crate::error::{Error, Result};
use crate::job::Kind;
use crate::migrate::{
    btrfs_to_zfs, dir_to_dataset, redb_to_sqlite, store_to_cas, tree_sync, zfs_transfer,
};

/// The kinds this cutover is built with.
static BUILTIN: [&dyn Kind; 6] = [
    &tree_sync::kind::TreeSyncKind,
    &store_to_cas::kind::StoreToCasKind,
    &redb_to_sqlite::kind::RedbToSqliteKind,
    &btrfs_to_zfs::kind::BtrfsToZfsKind,
    &dir_to_dataset::kind::DirToDatasetKind,
    &zfs_transfer::kind::ZfsTransferKind,
];

/// Kinds added at run time (a test's own kind, a plugin); after the built-in ones.
static ADDED: RwLock<Vec<&'static dyn Kind>> = RwLock::new(Vec::new());

/// Add a kind. A kind whose name is already registered is refused.
pub fn register(kind: &'static dyn Kind) -> Result<()> {
    // Checked and added under one lock: two registrations at once cannot
    // both pass the check.
    let mut added = ADDED
        .write()
        .map_err(|_| Error::bad("the kind registry is poisoned"))?;
    let taken = BUILTIN
        .iter()
        .chain(added.iter())
        .any(|k| k.name() == kind.name());
    if taken {
        return Err(Error::bad(format!(
            "a migration kind named '{}' is already registered",
            kind.name()
        )));
    }
    added.push(kind);
    Ok(())
}

/// Every kind, built-in first.
pub fn all() -> Vec<&'static dyn Kind> {
    let mut out: Vec<&'static dyn Kind> = BUILTIN.to_vec();
    if let Ok(added) = ADDED.read() {
        out.extend(added.iter().copied());
    }
    out
}

/// The kind of this name; an unknown name is an error listing the known ones.
pub fn find(name: &str) -> Result<&'static dyn Kind> {
    let kinds = all();
    kinds
        .iter()
        .copied()
        .find(|k| k.name() == name)
        .ok_or_else(|| {
            let known: Vec<&str> = kinds.iter().map(|k| k.name()).collect();
            Error::bad(format!(
                "unknown migration kind '{name}'; this cutover knows: {}",
                known.join(", ")
            ))
        })
}

/// The kind whose source `path` is: a kind that refuses it wins (with its
/// reason), then one that claims it, then the fallback (a plain tree).
pub fn detect(path: &std::path::Path) -> Result<&'static dyn Kind> {
    use crate::job::kind::Detected;
    if std::fs::symlink_metadata(path).is_err() {
        return Err(Error::bad(format!(
            "source {} does not exist; check the path",
            crate::names::display(path)
        )));
    }
    let (mut claimed, mut fallback) = (None, None);
    for kind in all() {
        match kind.detect(path) {
            Detected::Refused(why) => return Err(Error::bad(why)),
            Detected::Yes => {
                claimed.get_or_insert(kind);
            }
            Detected::Fallback => {
                fallback.get_or_insert(kind);
            }
            Detected::No => {}
        }
    }
    claimed.or(fallback).ok_or_else(|| {
        Error::bad(format!(
            "{} is not a source cutover knows (a directory tree, a package store, a redb file or a directory of redb nodes); give --kind to say which",
            crate::names::display(path)
        ))
    })
}
