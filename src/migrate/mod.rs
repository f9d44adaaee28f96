//! Migration kinds, one folder each. A kind is known elsewhere only through
//! its [`crate::job::Kind`] description, listed in [`crate::kinds`].

pub mod btrfs_to_zfs;
pub mod dir_to_dataset;
pub mod redb_to_sqlite;
pub mod store_to_cas;
pub mod tree_sync;
pub mod zfs_transfer;
