//! redb nodes as the console offers them: one source per node of a cluster
//! directory (or the one file given), grouped by cluster so that nodes of
//! one cluster can run as one job; the tables discovery found in each of
//! the node's files; jobs built from picked nodes; and the per-table rows
//! of an item's result as a table (pgloader's summary).

use std::path::{Path, PathBuf};

use super::discover::{self, RedbFile};
use super::kind::table_of;
use super::{RedbToSqlite, RedbToSqliteParams, Verify, KIND};
use crate::error::{Error, Result};
use crate::fmt;
use crate::job::console::{RunMode, Settings, Source};
use crate::job::details::{Column, Details, Health, Table, TableRow};
use crate::job::event::Row;
use crate::job::kind::Built;
use crate::job::RunDefaults;
use crate::names;
use crate::verify::VerifyMode;

/// The node of a source (`node-1`; `.` for a cluster that is one node or one file).
fn node_of(s: &Source) -> &str {
    s.params.get("node").and_then(|v| v.as_str()).unwrap_or(".")
}

/// The cluster directory (or file) of a source: the job's source.
fn cluster_of(s: &Source) -> PathBuf {
    s.params
        .get("cluster")
        .and_then(|v| v.as_str())
        .map(PathBuf::from)
        .unwrap_or_else(|| s.source.clone())
}

/// The cluster's target directory (or file): the job's target.
fn cluster_target(s: &Source) -> PathBuf {
    s.params
        .get("target")
        .and_then(|v| v.as_str())
        .map(PathBuf::from)
        .unwrap_or_else(|| s.target.clone())
}

/// The source of one node (`node`: its folder under `cluster`; `.` for
/// the cluster itself) with the files discovery found in it.
pub fn node_source(
    name: String,
    cluster: &Path,
    node: &str,
    target: &Path,
    files: &[RedbFile],
    problem: Option<String>,
) -> Source {
    let (dir, to) = if node == "." {
        (cluster.to_path_buf(), target.to_path_buf())
    } else {
        (cluster.join(node), target.join(node))
    };
    let mut out = Source::new(KIND, &name, dir.clone(), to);
    out.entries = files.iter().map(|f| f.entries).sum();
    out.bytes = files.iter().map(|f| f.size).sum();
    let tables: usize = files.iter().map(|f| f.tables.len()).sum();
    out.count = format!("{tables} tables");
    out.problem = problem;
    out.group = Some(names::display(cluster));
    out.params = serde_json::json!({
        "cluster": names::display(cluster),
        "node": node,
        "target": names::display(target),
    });
    out.details = Details {
        sections: Vec::new(),
        tables: files.iter().map(|f| file_table(f, &dir)).collect(),
    };
    out
}

/// The tables discovery found in one file.
fn file_table(f: &RedbFile, dir: &Path) -> Table {
    let name = names::display(f.path.strip_prefix(dir).unwrap_or(&f.path));
    let format = match f.format {
        Some(v) => format!("format v{v}"),
        None => "format unknown".to_string(),
    };
    Table {
        title: format!("{name} · {format} · {}", fmt::bytes(f.size)),
        columns: vec![
            Column::text("table"),
            Column::text("kind"),
            Column::number("entries"),
            Column::text("key → value"),
        ],
        rows: f
            .tables
            .iter()
            .map(|t| TableRow {
                cells: vec![
                    t.name.clone(),
                    t.kind.clone(),
                    fmt::count(t.entries),
                    t.problem
                        .clone()
                        .unwrap_or_else(|| format!("{} → {}", t.key_type, t.value_type)),
                ],
                health: if t.problem.is_some() {
                    Health::Bad
                } else {
                    Health::Plain
                },
            })
            .collect(),
    }
}

/// The redb sources of `path` named after `base`: one per node of a
/// cluster directory (`base/node-1`), or the one file `path` is. A
/// directory without redb files gives one unusable source that says so.
pub fn sources(base: &str, path: &Path, target: &Path) -> Vec<Source> {
    if path.is_file() {
        let file = discover::inspect(path);
        let problem = file.problem.clone();
        return vec![node_source(
            base.to_string(),
            path,
            ".",
            target,
            std::slice::from_ref(&file),
            problem,
        )];
    }
    let nodes = discover::discover(path);
    if nodes.is_empty() {
        return vec![node_source(
            base.to_string(),
            path,
            ".",
            target,
            &[],
            Some(format!("no redb files under {}", names::display(path))),
        )];
    }
    nodes
        .into_iter()
        .map(|n| {
            let problems: Vec<String> = n
                .files
                .iter()
                .filter_map(|f| {
                    f.problem.as_ref().map(|p| {
                        let file = f.path.file_name().map(Path::new).unwrap_or(&f.path);
                        format!("{}: {p}", names::display(file))
                    })
                })
                .collect();
            let name = if n.name == "." {
                base.to_string()
            } else {
                format!("{base}/{}", n.name)
            };
            let problem = (!problems.is_empty()).then(|| problems.join("; "));
            node_source(name, path, &n.name, target, &n.files, problem)
        })
        .collect()
}

/// One job over picked nodes of one cluster: one node (rolling) or several
/// (together, at the console's parallelism).
pub fn job(picked: &[&Source], mode: RunMode, set: &Settings) -> Result<Built> {
    let Some(first) = picked.first() else {
        return Err(Error::bad("no redb node to run"));
    };
    let cluster = cluster_of(first);
    if picked.iter().any(|s| cluster_of(s) != cluster) {
        return Err(Error::bad(
            "redb nodes of different clusters cannot run as one job",
        ));
    }
    let params = RedbToSqliteParams {
        source: cluster,
        target: cluster_target(first),
        verify: match set.verify {
            VerifyMode::Full => Verify::Full,
            VerifyMode::Sample(n) => Verify::Sample(n),
        },
        seed: set.seed,
        nodes: picked.iter().map(|s| node_of(s).to_string()).collect(),
    };
    let migration = match mode {
        RunMode::Migrate => RedbToSqlite::new(params),
        RunMode::Verify => RedbToSqlite::for_verification(params),
        other => {
            return Err(Error::bad(format!(
                "{} is a redb node: it offers no {}",
                first.name,
                other.label()
            )))
        }
    };
    Ok(Built {
        migration: Box::new(migration),
        defaults: defaults_for(picked.len()),
    })
}

/// One node runs rolling (its files one by one); several run together.
fn defaults_for(nodes: usize) -> RunDefaults {
    RunDefaults {
        parallel: (nodes == 1).then_some(1),
        batch: None,
    }
}

/// How a journalled job resumes: together when it named several nodes (the
/// console's "together"), else rolling, as `cutover run` runs a cluster.
pub fn resume_defaults(params: &serde_json::Value) -> RunDefaults {
    let nodes = params
        .get("nodes")
        .and_then(|n| n.as_array())
        .map_or(0, Vec::len);
    defaults_for(if nodes > 1 { nodes } else { 1 })
}

/// The nodes a journalled job covers (all nodes of its cluster when none are named).
pub fn job_sources(params: &serde_json::Value, all: &[Source]) -> Vec<usize> {
    let Some(cluster) = params.get("source").and_then(|v| v.as_str()) else {
        return Vec::new();
    };
    let wanted: Vec<&str> = params
        .get("nodes")
        .and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    all.iter()
        .enumerate()
        .filter(|(_, s)| {
            s.kind == KIND
                && cluster_of(s) == Path::new(cluster)
                && (wanted.is_empty() || wanted.contains(&node_of(s)))
        })
        .map(|(i, _)| i)
        .collect()
}

/// The columns of the per-table summary.
pub fn row_columns() -> Vec<Column> {
    vec![
        Column::text("table"),
        Column::number("read"),
        Column::number("written"),
        Column::number("verified"),
        Column::number("errors"),
        Column::number("time"),
        Column::text("sum"),
    ]
}

/// One table's line of the summary.
pub fn row_cells(row: &Row) -> Option<TableRow> {
    let r = table_of(row)?;
    let sum = match r.checksum_equal {
        Some(true) => "=",
        Some(false) => "*",
        None => "-",
    };
    let ok = r.errors == 0 && r.checksum_equal != Some(false);
    Some(TableRow {
        cells: vec![
            r.table,
            fmt::count(r.read),
            fmt::count(r.written),
            fmt::count(r.verified),
            fmt::count(r.errors),
            format!("{:.3}s", r.elapsed_s),
            sum.to_string(),
        ],
        health: if ok { Health::Plain } else { Health::Bad },
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn nodes_of_a_cluster_build_rolling_or_together_jobs() {
        let tmp = tempfile::tempdir().unwrap();
        let cluster = tmp.path().join("cluster");
        crate::demo_redb::build(&cluster).unwrap();
        let all = sources("cluster", &cluster, &tmp.path().join("sqlite"));
        let names: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            vec!["cluster/node-1", "cluster/node-2", "cluster/node-3"]
        );
        assert!(all.iter().all(|s| s.group == all[0].group));
        assert_eq!(all[0].target, tmp.path().join("sqlite/node-1"));
        assert!(!all[0].details.tables.is_empty());
        let set = Settings {
            parallel: 4,
            verify: VerifyMode::Sample(10),
            seed: 7,
            force: false,
        };
        let one = job(&[&all[0]], RunMode::Migrate, &set).unwrap();
        assert_eq!(one.defaults.parallel, Some(1));
        assert_eq!(
            one.migration.params()["nodes"],
            serde_json::json!(["node-1"])
        );
        let together = job(&[&all[0], &all[2]], RunMode::Migrate, &set).unwrap();
        assert_eq!(together.defaults.parallel, None);
        let params = together.migration.params();
        assert_eq!(params["nodes"], serde_json::json!(["node-1", "node-3"]));
        assert_eq!(job_sources(&params, &all), vec![0, 2]);
        assert_eq!(resume_defaults(&params).parallel, None);
        assert_eq!(resume_defaults(&one.migration.params()).parallel, Some(1));
        let all_nodes = serde_json::json!({"source": "/c", "nodes": []});
        assert_eq!(resume_defaults(&all_nodes).parallel, Some(1));
        assert!(job(&[&all[1]], RunMode::Final, &set).is_err());
        let verify = job(&[&all[1]], RunMode::Verify, &set).unwrap();
        assert_eq!(
            verify.migration.params()["nodes"],
            serde_json::json!(["node-2"])
        );
    }
}
