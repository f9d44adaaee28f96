//! The figures a migration shows: per snapshot (entries, bytes, entries
//! changed and deleted against the snapshot before, time) and, with the
//! newest snapshot, the space the dataset uses with its snapshots against
//! the sum of their logical sizes — what snapshot sharing saved. Carried as
//! the item's rows (`{"event":"snapshot",…}`, `{"event":"space",…}`).

use serde::{Deserialize, Serialize};

use super::manifest::{Index, IndexEntry};
use crate::fmt;
use crate::job::details::{Column, Health, TableRow};
use crate::job::event::Row;

/// One migrated snapshot's figures, from the index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotRow {
    /// Its name.
    pub snapshot: String,
    /// Entries of its tree.
    pub entries: u64,
    /// Bytes of its files.
    pub bytes: u64,
    /// Entries written over the snapshot before.
    pub changed: u64,
    /// Entries deleted from the snapshot before.
    pub deleted: u64,
    /// When it was migrated.
    pub migrated_at: String,
}

/// The dataset's space against its snapshots' logical sizes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpaceRow {
    /// The dataset.
    pub dataset: String,
    /// Snapshots in the index.
    pub snapshots: u64,
    /// Sum of their logical sizes.
    pub logical: u64,
    /// What the dataset uses with its snapshots (`used`).
    pub used: u64,
    /// `logical - used` when positive.
    pub saved: u64,
}

/// The row of one snapshot.
pub fn snapshot_row(e: &IndexEntry) -> Row {
    Row::of(
        "snapshot",
        &SnapshotRow {
            snapshot: e.name.clone(),
            entries: e.entries,
            bytes: e.bytes,
            changed: e.changed,
            deleted: e.deleted,
            migrated_at: e.migrated_at.clone(),
        },
    )
}

/// The space figures of `index` given the dataset's `used`.
pub fn space(index: &Index, used: u64) -> SpaceRow {
    let logical = index.snapshots.iter().map(|e| e.bytes).sum();
    SpaceRow {
        dataset: index.dataset.clone(),
        snapshots: index.snapshots.len() as u64,
        logical,
        used,
        saved: logical.saturating_sub(used),
    }
}

/// Readable lines for the plain output.
pub fn lines(rows: &[Row]) -> Vec<String> {
    rows.iter()
        .map(|row| {
            let v = serde_json::Value::Object(row.fields.clone());
            match row.name.as_str() {
                "snapshot" => match serde_json::from_value::<SnapshotRow>(v) {
                    Ok(r) => format!(
                        "  {}: {} entries · {} · {} changed · {} deleted",
                        r.snapshot,
                        fmt::count(r.entries),
                        fmt::bytes(r.bytes),
                        fmt::count(r.changed),
                        fmt::count(r.deleted)
                    ),
                    Err(_) => row.plain_line(),
                },
                "space" => match serde_json::from_value::<SpaceRow>(v) {
                    Ok(r) => format!(
                        "  space: {} snapshots hold {} logically; {} uses {} with them; saved {} by sharing",
                        r.snapshots,
                        fmt::bytes(r.logical),
                        r.dataset,
                        fmt::bytes(r.used),
                        fmt::bytes(r.saved)
                    ),
                    Err(_) => row.plain_line(),
                },
                _ => row.plain_line(),
            }
        })
        .collect()
}

/// The console's table of snapshots.
pub fn columns() -> Vec<Column> {
    vec![
        Column::text("snapshot"),
        Column::number("entries"),
        Column::number("bytes"),
        Column::number("changed"),
        Column::number("deleted"),
    ]
}

/// One snapshot's line of that table (the space row makes none).
pub fn cells(row: &Row) -> Option<TableRow> {
    if row.name != "snapshot" {
        return None;
    }
    let r: SnapshotRow =
        serde_json::from_value(serde_json::Value::Object(row.fields.clone())).ok()?;
    Some(TableRow {
        cells: vec![
            r.snapshot,
            fmt::count(r.entries),
            fmt::bytes(r.bytes),
            fmt::count(r.changed),
            fmt::count(r.deleted),
        ],
        health: Health::Plain,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_read_as_lines_and_cells() {
        let e = IndexEntry {
            name: "s2".into(),
            source: "/r/s2".into(),
            migrated_at: "2026-12-02 12:00:00 UTC".into(),
            entries: 1200,
            bytes: 4096,
            changed: 3,
            deleted: 1,
            metadata: Default::default(),
        };
        let index = Index {
            dataset: "tank/r".into(),
            source: "/r".into(),
            snapshots: vec![e.clone(), e.clone()],
        };
        let rows = vec![snapshot_row(&e), Row::of("space", &space(&index, 5000))];
        let l = lines(&rows);
        assert_eq!(l[0], "  s2: 1,200 entries · 4 KiB · 3 changed · 1 deleted");
        assert!(l[1].contains("2 snapshots hold 8 KiB"), "{}", l[1]);
        assert!(l[1].contains("saved 3.1 KiB"), "{}", l[1]);
        assert_eq!(
            cells(&rows[0]).map(|c| c.cells[3].clone()),
            Some("3".into())
        );
        assert!(cells(&rows[1]).is_none());
    }
}
