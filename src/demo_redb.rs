//! The demo's redb cluster: three nodes' state machines as a Raft-backed
//! key-value service keeps them (`cluster/node-N/state-machine.redb`), the
//! source of redb-to-sqlite. Each has a key-value table, a metadata table of
//! user-defined (serialized) values, a multimap table and a `u64`-keyed log;
//! node 3 is still on redb 2.x (file format v2).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::verify::sample::mix;

/// Name of the state machine file in each node's folder.
pub const STATE_FILE: &str = "state-machine.redb";

/// Nodes of the demo cluster, the last one written by redb 2.x.
pub const NODES: u64 = 3;

/// A value serialized by the application: redb stores it under the
/// user-defined type name `cutover_demo::StoredMembership`.
macro_rules! serialized_type {
    ($krate:ident, $name:ident) => {
        #[derive(Debug)]
        struct $name;

        impl $krate::Value for $name {
            type SelfType<'a> = &'a [u8];
            type AsBytes<'a> = &'a [u8];

            fn fixed_width() -> Option<usize> {
                None
            }

            fn from_bytes<'a>(data: &'a [u8]) -> &'a [u8]
            where
                Self: 'a,
            {
                data
            }

            fn as_bytes<'a, 'b: 'a>(value: &'a &'b [u8]) -> &'a [u8]
            where
                Self: 'b,
            {
                value
            }

            fn type_name() -> $krate::TypeName {
                $krate::TypeName::new("cutover_demo::StoredMembership")
            }
        }
    };
}

serialized_type!(redb, Membership);
serialized_type!(redb2, Membership2);

/// The content of one node, the same whichever redb writes it.
struct NodeData {
    kv: Vec<(String, String)>,
    meta: Vec<(String, Vec<u8>)>,
    watchers: Vec<(String, u64)>,
    log: Vec<(u64, Vec<u8>)>,
}

fn node_data(node: u64) -> NodeData {
    let kv = (0..240u64)
        .map(|i| {
            let r = mix(node * 1_000 + i);
            (
                format!("users/{:04}", i),
                format!(
                    "{{\"name\":\"user-{i}\",\"quota\":{},\"node\":{node}}}",
                    r % 10_000
                ),
            )
        })
        .collect();
    let last = 500 + node * 7;
    let meta = vec![
        (
            "last_applied_log".to_string(),
            format!("{{\"term\":3,\"index\":{last}}}").into_bytes(),
        ),
        (
            "last_membership".to_string(),
            format!(
                "{{\"log_id\":{{\"term\":2,\"index\":12}},\"voters\":[1,2,3],\"learners\":[],\"node\":{node}}}"
            )
            .into_bytes(),
        ),
        ("snapshot_meta".to_string(), vec![0x01, 0x00, 0xff, 0x7f, node as u8]),
    ];
    let watchers = (0..30u64)
        .flat_map(|i| {
            (0..(1 + i % 3)).map(move |w| (format!("users/{:04}", i * 8), 100 + i * 3 + w))
        })
        .collect();
    let log = (1..=last)
        .map(|i| {
            let body = format!(
                "{{\"term\":{},\"op\":\"set\",\"key\":\"users/{:04}\"}}",
                1 + i / 200,
                mix(i) % 240
            );
            (i, body.into_bytes())
        })
        .collect();
    NodeData {
        kv,
        meta,
        watchers,
        log,
    }
}

fn write_v3(path: &Path, d: &NodeData) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let db = redb::Database::create(path)?;
    let w = db.begin_write()?;
    {
        let mut kv = w.open_table(redb::TableDefinition::<&str, &str>::new("kv"))?;
        for (k, v) in &d.kv {
            kv.insert(k.as_str(), v.as_str())?;
        }
        let mut meta = w.open_table(redb::TableDefinition::<&str, Membership>::new("metadata"))?;
        for (k, v) in &d.meta {
            meta.insert(k.as_str(), v.as_slice())?;
        }
        let mut watch =
            w.open_multimap_table(redb::MultimapTableDefinition::<&str, u64>::new("watchers"))?;
        for (k, v) in &d.watchers {
            watch.insert(k.as_str(), v)?;
        }
        let mut log = w.open_table(redb::TableDefinition::<u64, &[u8]>::new("log"))?;
        for (i, e) in &d.log {
            log.insert(i, e.as_slice())?;
        }
    }
    w.commit()?;
    Ok(())
}

fn write_v2(path: &Path, d: &NodeData) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let db = redb2::Database::create(path)?;
    let w = db.begin_write()?;
    {
        let mut kv = w.open_table(redb2::TableDefinition::<&str, &str>::new("kv"))?;
        for (k, v) in &d.kv {
            kv.insert(k.as_str(), v.as_str())?;
        }
        let mut meta =
            w.open_table(redb2::TableDefinition::<&str, Membership2>::new("metadata"))?;
        for (k, v) in &d.meta {
            meta.insert(k.as_str(), v.as_slice())?;
        }
        let mut watch =
            w.open_multimap_table(redb2::MultimapTableDefinition::<&str, u64>::new("watchers"))?;
        for (k, v) in &d.watchers {
            watch.insert(k.as_str(), v)?;
        }
        let mut log = w.open_table(redb2::TableDefinition::<u64, &[u8]>::new("log"))?;
        for (i, e) in &d.log {
            log.insert(i, e.as_slice())?;
        }
    }
    w.commit()?;
    Ok(())
}

/// Build the cluster in `dir` (created; must not hold the files yet).
/// Returns the state machine files, node by node.
pub fn build(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for node in 1..=NODES {
        let node_dir = dir.join(format!("node-{node}"));
        std::fs::create_dir_all(&node_dir)
            .map_err(|e| Error::io("cannot create", &node_dir, &e))?;
        let path = node_dir.join(STATE_FILE);
        let data = node_data(node);
        let written = if node == NODES {
            write_v2(&path, &data).map_err(|e| e.to_string())
        } else {
            write_v3(&path, &data).map_err(|e| e.to_string())
        };
        written.map_err(|e| {
            Error::Io(format!(
                "cannot write the demo's redb file {}: {e}",
                crate::display_path(&path)
            ))
        })?;
        files.push(path);
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_three_nodes_one_on_redb_2() {
        let tmp = tempfile::tempdir().expect("tmp");
        let files = build(&tmp.path().join("cluster")).expect("build");
        assert_eq!(files.len(), 3);
        let nodes = crate::migrate::redb_to_sqlite::discover::discover(&tmp.path().join("cluster"));
        let formats: Vec<Option<u8>> = nodes.iter().map(|n| n.files[0].format).collect();
        assert_eq!(formats, vec![Some(3), Some(3), Some(2)]);
        for n in &nodes {
            let f = &n.files[0];
            assert!(f.problem.is_none(), "{f:?}");
            let names: Vec<&str> = f.tables.iter().map(|t| t.name.as_str()).collect();
            assert_eq!(names, vec!["kv", "log", "metadata", "watchers"]);
            let meta = &f.tables[2];
            assert_eq!(meta.value_type, "cutover_demo::StoredMembership");
        }
    }
}
