//! What the details pane knows of a source beyond its counts, by kind: the
//! numbers of a content-addressed store (read from its `store.db`), and the
//! tables of a redb node with the per-table results of its last job.

use std::time::Instant;

/// Details of a source, by kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Detail {
    /// A tree: its counts say it all.
    Tree,
    /// A package store going into a content-addressed store.
    Store(StoreDetail),
    /// A node of a redb cluster.
    Redb(RedbDetail),
}

/// A package store and what its content-addressed store holds so far.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreDetail {
    /// Package directories in the old store.
    pub packages: u64,
    /// The last reading of the new store's numbers.
    pub reading: StoreReading,
    /// When the console last asked for a reading.
    pub asked_at: Option<Instant>,
    /// A reading was asked for and has not arrived yet.
    pub in_flight: bool,
}

impl StoreDetail {
    /// A store with `packages` packages, not read yet.
    pub fn new(packages: u64) -> Self {
        StoreDetail {
            packages,
            reading: StoreReading::Unread,
            asked_at: None,
            in_flight: false,
        }
    }
}

/// What reading the content-addressed store's `store.db` gave.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreReading {
    /// Not read yet.
    Unread,
    /// The store does not exist yet: nothing was migrated.
    Missing,
    /// The numbers.
    Read(StoreNumbers),
    /// It could not be read; why.
    Failed(String),
}

/// The numbers of a content-addressed store (`cutover store status`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoreNumbers {
    /// Packages recorded in `store_migration`.
    pub packages: u64,
    /// Packages completed (migrated and verified).
    pub completed: u64,
    /// Packages that failed.
    pub failed: u64,
    /// Packages waiting.
    pub pending: u64,
    /// Packages being migrated.
    pub in_progress: u64,
    /// Packages rolled back.
    pub rolled_back: u64,
    /// Files of the completed packages.
    pub files: u64,
    /// Distinct objects stored.
    pub objects: u64,
    /// Bytes of all package files (what a plain copy stores).
    pub logical_bytes: u64,
    /// Bytes of the distinct objects (what the store holds).
    pub stored_bytes: u64,
    /// Bytes deduplication saved.
    pub space_saved: u64,
    /// Logical bytes over stored bytes.
    pub dedup_ratio: f64,
    /// Seconds to finish at the rate of the last minute, while packages remain.
    pub eta_s: Option<f64>,
    /// Where the store stands: `dual mode (old store in use)`, `cut over`…
    pub phase: String,
    /// Health warnings (error rate, free space, slow).
    pub warnings: Vec<String>,
    /// Failed packages and why (the first few).
    pub failures: Vec<(String, String)>,
}

/// The tables of a redb node and the results of its last job.
#[derive(Debug, Clone, PartialEq)]
pub struct RedbDetail {
    /// The cluster directory: nodes of one cluster can run together.
    pub cluster: String,
    /// The node (`node-1`).
    pub node: String,
    /// The node's files with their tables, as discovered.
    pub files: Vec<RedbFileView>,
    /// Per-table results of the last job on the node (pgloader's summary).
    pub results: Vec<TableRow>,
}

/// One redb file of a node.
#[derive(Debug, Clone, PartialEq)]
pub struct RedbFileView {
    /// File name relative to the node (`state-machine.redb`).
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// redb file format (2 or 3), if readable.
    pub format: Option<u8>,
    /// Its tables.
    pub tables: Vec<RedbTableView>,
}

/// One table of a redb file, as discovered.
#[derive(Debug, Clone, PartialEq)]
pub struct RedbTableView {
    /// Table name.
    pub name: String,
    /// `table` or `multimap`.
    pub kind: String,
    /// Stored key type name.
    pub key_type: String,
    /// Stored value type name.
    pub value_type: String,
    /// Entries.
    pub entries: u64,
    /// Why it cannot be migrated, if it cannot.
    pub problem: Option<String>,
}

/// The result of one table of a migrated (or verified) file, as pgloader's
/// summary shows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TableRow {
    /// The item (file) the table belongs to.
    pub item: String,
    /// Table name.
    pub table: String,
    /// Entries read from redb.
    pub read: u64,
    /// Rows in the SQLite table.
    pub written: u64,
    /// Entries compared on both sides.
    pub verified: u64,
    /// Differences found.
    pub errors: u64,
    /// Whether the checksums of both sides are equal, when computed.
    pub checksum_equal: Option<bool>,
    /// Seconds spent on the table.
    pub elapsed_s: f64,
}

impl TableRow {
    /// Whether the table came through without a difference.
    pub fn ok(&self) -> bool {
        self.errors == 0 && self.checksum_equal != Some(false)
    }
}
