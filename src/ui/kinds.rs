//! The console's knowledge of the migration kinds, in one place: how a
//! discovered [`Source`] is shown, which job each run of it starts (its
//! [`Migration`] and run options), how journalled jobs map back to sources,
//! and how a store's numbers are read. The runner calls these; the state,
//! `update` and the panes only see the view data of `model`.

use std::path::Path;
use std::sync::Arc;

use crate::discover::{RedbSource, Source, StoreSource, TreeSource};
use crate::engine::RunOptions;
use crate::job::Migration;
use crate::journal::JobInfo;
use crate::migrate::redb_to_sqlite::check::TableResult;
use crate::migrate::redb_to_sqlite::{self, RedbToSqlite, RedbToSqliteParams, Verify};
use crate::migrate::store_to_cas::layout::Layout;
use crate::migrate::store_to_cas::phases::{self, StoreStatus};
use crate::migrate::store_to_cas::{self, StoreParams, StoreToCas};
use crate::migrate::tree_sync::{self, TreeSync, TreeSyncParams};
use crate::names;
use crate::verify::VerifyMode;

use super::model::{
    JobRow, RedbDetail, RedbFileView, RedbTableView, RunMode, SourceView, StoreNumbers,
    StoreReading, TableRow,
};

/// Packages per batch of a store migration started from the console: the
/// kind's own default, as `cutover run store-to-cas` and `resume` use it.
pub const STORE_BATCH: usize = store_to_cas::kind::DEFAULT_BATCH;

/// How the console's jobs verify and how many items they run at once.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Items processed at once (redb nodes run rolling use 1).
    pub parallel: usize,
    /// How items are verified.
    pub verify: VerifyMode,
    /// Seed of sampled verification.
    pub seed: u64,
}

/// A job ready to start: the migration, how to run it, and where its
/// per-table results come from (redb).
pub struct Job {
    /// The migration.
    pub migration: Arc<dyn Migration>,
    /// How to run it.
    pub opts: RunOptions,
    /// The per-table results of a redb job, by node.
    pub tables: Option<TableTap>,
}

/// Which source each node of a redb job is, so that the per-table rows of
/// an item's result (its report's rows) reach that source's table pane.
pub struct TableTap {
    nodes: Vec<(String, usize)>,
}

impl TableTap {
    /// The per-table results of an item's rows, with the source of its node.
    pub fn take(
        &self,
        item: &str,
        rows: &[crate::job::event::Row],
    ) -> Option<(usize, Vec<TableRow>)> {
        let rows: Vec<TableRow> = rows
            .iter()
            .filter_map(redb_to_sqlite::kind::table_of)
            .map(table_row)
            .collect();
        let node = node_of_item(item);
        let source = self
            .nodes
            .iter()
            .find(|(n, _)| *n == node)
            .map(|(_, i)| *i)?;
        (!rows.is_empty()).then_some((source, rows))
    }
}

/// The node of a redb item key (`node-1/state.redb` → `node-1`; `.` at the top).
fn node_of_item(item: &str) -> String {
    match Path::new(item).parent() {
        Some(p) if !p.as_os_str().is_empty() => names::display(p),
        _ => ".".to_string(),
    }
}

fn table_row(r: TableResult) -> TableRow {
    TableRow {
        item: r.item,
        table: r.table,
        read: r.read,
        written: r.written,
        verified: r.verified,
        errors: r.errors,
        checksum_equal: r.checksum_equal,
        elapsed_s: r.elapsed_s,
    }
}

/// A discovered source as the console shows it.
pub fn view(s: &Source) -> SourceView {
    let shown = match s {
        Source::Tree(t) => SourceView::tree(
            &t.name,
            &names::display(&t.source),
            &names::display(&t.target),
            t.files,
            t.bytes,
        ),
        Source::Store(st) => SourceView::store(
            &st.name,
            &names::display(&st.source),
            &names::display(&st.target),
            st.packages,
            st.files,
            st.bytes,
        ),
        Source::Redb(r) => SourceView::redb(
            &r.name,
            &names::display(&r.node_dir()),
            &names::display(&r.node_target()),
            redb_detail(r),
        ),
    };
    match s.problem() {
        Some(p) => shown.unusable(p),
        None => shown,
    }
}

fn redb_detail(r: &RedbSource) -> RedbDetail {
    let dir = r.node_dir();
    RedbDetail {
        cluster: names::display(&r.cluster),
        node: r.node.clone(),
        files: r
            .files
            .iter()
            .map(|f| RedbFileView {
                name: names::display(f.path.strip_prefix(&dir).unwrap_or(&f.path)),
                size: f.size,
                format: f.format,
                tables: f
                    .tables
                    .iter()
                    .map(|t| RedbTableView {
                        name: t.name.clone(),
                        kind: t.kind.clone(),
                        key_type: t.key_type.clone(),
                        value_type: t.value_type.clone(),
                        entries: t.entries,
                        problem: t.problem.clone(),
                    })
                    .collect(),
            })
            .collect(),
        results: Vec::new(),
    }
}

fn redb_verify(mode: VerifyMode) -> Verify {
    match mode {
        VerifyMode::Full => Verify::Full,
        VerifyMode::Sample(n) => Verify::Sample(n),
    }
}

fn options(parallel: usize, verify_only: bool, batch: Option<usize>) -> RunOptions {
    RunOptions {
        parallel: parallel.max(1),
        dry_run: false,
        verify_only,
        batch,
    }
}

fn tree_job(t: &TreeSource, mode: RunMode, set: &Settings) -> Result<Job, String> {
    let params = TreeSyncParams {
        source: t.source.clone(),
        target: t.target.clone(),
        final_sync: mode == RunMode::Final,
        verify: set.verify,
        seed: set.seed,
    };
    let migration: Arc<dyn Migration> = match mode {
        RunMode::Verify => Arc::new(TreeSync::for_verification(params)),
        RunMode::Bulk | RunMode::Final => Arc::new(TreeSync::new(params)),
        other => return Err(not_offered(&t.name, "tree", other)),
    };
    Ok(Job {
        migration,
        opts: options(set.parallel, mode == RunMode::Verify, None),
        tables: None,
    })
}

fn store_job(s: &StoreSource, mode: RunMode, set: &Settings) -> Result<Job, String> {
    if mode != RunMode::Migrate {
        return Err(not_offered(&s.name, "package store", mode));
    }
    let params = StoreParams {
        source: s.source.clone(),
        target: s.target.clone(),
        verify: set.verify,
        seed: set.seed,
    };
    Ok(Job {
        migration: Arc::new(StoreToCas::new(params)),
        opts: options(set.parallel, false, Some(STORE_BATCH)),
        tables: None,
    })
}

/// One job over redb nodes of one cluster: one node (rolling) or several (together).
fn redb_job(nodes: &[(usize, &RedbSource)], mode: RunMode, set: &Settings) -> Result<Job, String> {
    let Some((_, first)) = nodes.first() else {
        return Err("no redb node to run".to_string());
    };
    if nodes.iter().any(|(_, n)| n.cluster != first.cluster) {
        return Err("redb nodes of different clusters cannot run as one job".to_string());
    }
    let params = RedbToSqliteParams {
        source: first.cluster.clone(),
        target: first.target.clone(),
        verify: redb_verify(set.verify),
        seed: set.seed,
        nodes: nodes.iter().map(|(_, n)| n.node.clone()).collect(),
    };
    let job = Arc::new(match mode {
        RunMode::Migrate => RedbToSqlite::new(params),
        RunMode::Verify => RedbToSqlite::for_verification(params),
        other => return Err(not_offered(&first.name, "redb node", other)),
    });
    // Rolling (one node): its file is the only item. Together: the nodes at once.
    let parallel = if nodes.len() > 1 { set.parallel } else { 1 };
    Ok(Job {
        migration: job,
        opts: options(parallel, mode == RunMode::Verify, None),
        tables: Some(TableTap {
            nodes: nodes.iter().map(|(i, n)| (n.node.clone(), *i)).collect(),
        }),
    })
}

fn not_offered(name: &str, kind: &str, mode: RunMode) -> String {
    format!("{name} is a {kind}: it offers no {}", mode.label())
}

/// The job for a run of `mode` on the sources `picked` (indices into `all`):
/// one source, or several redb nodes of one cluster run together.
pub fn build(
    all: &[Source],
    picked: &[usize],
    mode: RunMode,
    set: &Settings,
) -> Result<Job, String> {
    let mut chosen = Vec::with_capacity(picked.len());
    for &i in picked {
        let src = all.get(i).ok_or_else(|| format!("no source #{i}"))?;
        if let Some(problem) = src.problem() {
            return Err(format!("{} cannot be used: {problem}", src.name()));
        }
        chosen.push((i, src));
    }
    match chosen.as_slice() {
        [] => Err("no source to run".to_string()),
        [(_, Source::Tree(t))] => tree_job(t, mode, set),
        [(_, Source::Store(s))] => store_job(s, mode, set),
        _ => {
            let mut nodes = Vec::with_capacity(chosen.len());
            for (i, src) in &chosen {
                match src {
                    Source::Redb(r) => nodes.push((*i, r)),
                    other => {
                        return Err(format!(
                            "{} cannot run together with other sources: only redb nodes can",
                            other.name()
                        ))
                    }
                }
            }
            redb_job(&nodes, mode, set)
        }
    }
}

/// The redb sources a job's parameters cover (all nodes of the cluster when none are named).
fn redb_nodes_of(all: &[Source], params: &serde_json::Value) -> Vec<usize> {
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
        .filter_map(|(i, s)| match s {
            Source::Redb(r)
                if r.cluster == Path::new(cluster)
                    && (wanted.is_empty() || wanted.contains(&r.node.as_str())) =>
            {
                Some(i)
            }
            _ => None,
        })
        .collect()
}

/// Rebuild a journalled job to resume it, with its kind's run defaults (as
/// `cutover resume` does). A redb job keeps its per-table results.
pub fn resume(
    all: &[Source],
    kind: &str,
    params: &serde_json::Value,
    set: &Settings,
) -> Result<Job, String> {
    let spec = crate::kinds::find(kind).map_err(|e| e.to_string())?;
    let migration: Arc<dyn Migration> = spec.rebuild(params).map_err(|e| e.to_string())?.into();
    let defaults = spec.run_defaults();
    let mut opts = options(
        defaults.parallel.unwrap_or(set.parallel),
        false,
        defaults.batch,
    );
    let tables = (kind == redb_to_sqlite::KIND).then(|| {
        let nodes: Vec<(String, usize)> = redb_nodes_of(all, params)
            .into_iter()
            .filter_map(|i| match all.get(i) {
                Some(Source::Redb(r)) => Some((r.node.clone(), i)),
                _ => None,
            })
            .collect();
        // Several nodes together run at the console's parallelism.
        let chosen = params
            .get("nodes")
            .and_then(|n| n.as_array())
            .map_or(0, Vec::len);
        if chosen != 1 {
            opts.parallel = set.parallel;
        }
        TableTap { nodes }
    });
    Ok(Job {
        migration,
        opts,
        tables,
    })
}

/// A journalled job as the jobs pane shows it: the label names the sources
/// by their configured names (and a tree's phase), and the row knows them.
pub fn job_row(info: &JobInfo, all: &[Source]) -> JobRow {
    let src = info.params.get("source").and_then(|v| v.as_str());
    let sources: Vec<usize> = if info.kind == redb_to_sqlite::KIND {
        redb_nodes_of(all, &info.params)
    } else {
        src.and_then(|p| {
            all.iter().position(|s| match s {
                Source::Tree(t) => info.kind == tree_sync::KIND && t.source == Path::new(p),
                Source::Store(st) => info.kind == store_to_cas::KIND && st.source == Path::new(p),
                Source::Redb(_) => false,
            })
        })
        .into_iter()
        .collect()
    };
    let names: Vec<&str> = sources
        .iter()
        .filter_map(|&i| all.get(i))
        .map(Source::name)
        .collect();
    let name = if names.is_empty() {
        src.and_then(|p| {
            Path::new(p)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| info.kind.clone())
    } else {
        let prefix = names[0].rfind('/').map(|p| &names[0][..=p]).unwrap_or("");
        let mut out = names[0].to_string();
        for n in &names[1..] {
            out.push_str(", ");
            out.push_str(n.strip_prefix(prefix).unwrap_or(n));
        }
        out
    };
    let phase = match info.params.get("final_sync").and_then(|v| v.as_bool()) {
        Some(true) => " (final)",
        Some(false) => " (bulk)",
        None => "",
    };
    JobRow {
        job: info.job,
        kind: info.kind.clone(),
        status: info.status.to_string(),
        items_total: info.items_total,
        items_verified: info.items_verified,
        items_failed: info.items_failed,
        label: format!("{name}{phase}"),
        params: info.params.clone(),
        sources,
    }
}

fn store_numbers(s: StoreStatus) -> StoreNumbers {
    let phase = if s.cleaned_up {
        "cut over and cleaned up"
    } else if s.cut_over {
        "cut over (old store kept until cleanup)"
    } else if s.rolled_back_store {
        "rolled back (old store in use)"
    } else {
        "dual mode (old store in use)"
    };
    let mut warnings = s.warnings;
    if !s.corrupt_objects.is_empty() && !warnings.iter().any(|w| w.contains("damaged")) {
        warnings.push(format!("{} damaged objects", s.corrupt_objects.len()));
    }
    StoreNumbers {
        packages: s.packages,
        completed: s.completed,
        failed: s.failed,
        pending: s.pending,
        in_progress: s.in_progress,
        rolled_back: s.rolled_back,
        files: s.files,
        objects: s.objects,
        logical_bytes: s.logical_bytes,
        stored_bytes: s.stored_bytes,
        space_saved: s.space_saved,
        dedup_ratio: s.dedup_ratio,
        eta_s: s.eta_s,
        phase: phase.to_string(),
        warnings,
        failures: s.failures,
    }
}

/// Read the numbers of the content-addressed store at `target` (blocking:
/// it queries SQLite; call it off the UI thread).
pub fn read_store(target: &Path) -> StoreReading {
    if !Layout::new(target).db().exists() {
        return StoreReading::Missing;
    }
    match phases::status(target, false) {
        Ok(s) => StoreReading::Read(store_numbers(s)),
        Err(e) => StoreReading::Failed(e.to_string()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::journal::JobStatus;
    use crate::ui::model::SourceKind;

    fn sources(dir: &Path) -> Vec<Source> {
        let mut all = vec![
            Source::Tree(TreeSource {
                name: "photos".into(),
                source: PathBuf::from("/srv/live/photos"),
                target: PathBuf::from("/mnt/new/photos"),
                files: 1,
                bytes: 2,
                problem: None,
            }),
            Source::Store(crate::discover::store::describe(
                "pkgs",
                &dir.join("store"),
                &dir.join("cas"),
            )),
        ];
        all.extend(crate::discover::redb_cluster(
            &dir.join("cluster"),
            &dir.join("sqlite"),
        ));
        all
    }

    fn info(job: u64, kind: &str, params: serde_json::Value) -> JobInfo {
        JobInfo {
            job,
            kind: kind.into(),
            status: JobStatus::Interrupted,
            items_total: 4,
            items_verified: 2,
            items_failed: 0,
            params,
            created_unix: 0,
            updated_unix: 0,
        }
    }

    #[test]
    fn every_kind_builds_its_jobs_and_maps_back_from_the_journal() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        std::fs::create_dir_all(dir.join("store/aaa-zlib")).unwrap();
        std::fs::write(dir.join("store/aaa-zlib/LICENSE"), b"MIT").unwrap();
        crate::demo_redb::build(&dir.join("cluster")).unwrap();
        let all = sources(dir);
        let kinds: Vec<SourceKind> = all.iter().map(|s| view(s).kind()).collect();
        assert_eq!(
            kinds,
            vec![
                SourceKind::Tree,
                SourceKind::Store,
                SourceKind::Redb,
                SourceKind::Redb,
                SourceKind::Redb
            ]
        );
        let set = Settings {
            parallel: 4,
            verify: VerifyMode::Sample(10),
            seed: 7,
        };
        let tree = build(&all, &[0], RunMode::Final, &set).unwrap();
        assert_eq!(tree.migration.kind(), tree_sync::KIND);
        assert_eq!(tree.migration.params()["final_sync"], true);
        assert!(build(&all, &[0], RunMode::Migrate, &set).is_err());

        let store = build(&all, &[1], RunMode::Migrate, &set).unwrap();
        assert_eq!(store.migration.kind(), store_to_cas::KIND);
        assert_eq!(store.opts.batch, Some(STORE_BATCH));
        let err = build(&all, &[1], RunMode::Final, &set).err().unwrap();
        assert_eq!(err, "pkgs is a package store: it offers no final sync");

        let one = build(&all, &[2], RunMode::Migrate, &set).unwrap();
        assert_eq!(one.opts.parallel, 1);
        assert_eq!(
            one.migration.params()["nodes"],
            serde_json::json!(["node-1"])
        );
        let together = build(&all, &[2, 4], RunMode::Migrate, &set).unwrap();
        assert_eq!(together.opts.parallel, 4);
        assert_eq!(
            together.migration.params()["nodes"],
            serde_json::json!(["node-1", "node-3"])
        );
        assert!(together.tables.is_some());
        let verify = build(&all, &[3], RunMode::Verify, &set).unwrap();
        assert!(verify.opts.verify_only);
        assert!(build(&all, &[0, 2], RunMode::Migrate, &set).is_err());

        let row = job_row(
            &info(
                3,
                tree_sync::KIND,
                serde_json::json!({"source": "/srv/live/photos", "final_sync": true}),
            ),
            &all,
        );
        assert_eq!(
            (row.label.as_str(), row.sources.clone()),
            ("photos (final)", vec![0])
        );
        assert!(row.resumable());
        let cluster = names::display(&dir.join("cluster"));
        let row = job_row(
            &info(
                4,
                redb_to_sqlite::KIND,
                serde_json::json!({"source": cluster, "nodes": ["node-1", "node-2"]}),
            ),
            &all,
        );
        assert_eq!(row.label, "cluster/node-1, node-2");
        assert_eq!(row.sources, vec![2, 3]);
        let row = job_row(
            &info(
                5,
                store_to_cas::KIND,
                serde_json::json!({"source": names::display(&dir.join("store"))}),
            ),
            &all,
        );
        assert_eq!((row.label.as_str(), row.sources.clone()), ("pkgs", vec![1]));
        assert_eq!(node_of_item("node-1/state.redb"), "node-1");
        assert_eq!(node_of_item("state.redb"), ".");
    }

    #[test]
    fn a_store_is_read_once_it_exists() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(read_store(&tmp.path().join("cas")), StoreReading::Missing);
        let store = tmp.path().join("store");
        for p in ["aaa-zlib-1", "bbb-zlib-2"] {
            std::fs::create_dir_all(store.join(p)).unwrap();
            std::fs::write(store.join(p).join("LICENSE"), vec![b'x'; 4096]).unwrap();
        }
        let job = StoreToCas::new(StoreParams {
            source: store,
            target: tmp.path().join("cas"),
            verify: VerifyMode::Full,
            seed: 1,
        });
        let plan = job.plan().unwrap();
        job.prepare(&plan).unwrap();
        match read_store(&tmp.path().join("cas")) {
            StoreReading::Read(n) => {
                assert_eq!((n.packages, n.pending), (2, 2));
                assert_eq!(n.phase, "dual mode (old store in use)");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn verify_modes_carry_over_to_redb() {
        assert_eq!(redb_verify(VerifyMode::Full), Verify::Full);
        assert_eq!(redb_verify(VerifyMode::Sample(5)), Verify::Sample(5));
    }
}
