//! The console's bridge to the kinds, through the registry only: how a
//! discovered [`Source`] is shown, which job a run of picked sources starts
//! (the kind builds it), how a journalled job is resumed and mapped back to
//! its sources, how a live source's details are read, and how an item's
//! rows become table lines. The state, `update` and the panes only see the
//! view data of `model`; no code here names a kind.

use std::path::Path;
use std::sync::Arc;

use crate::discover::Source;
use crate::engine::RunOptions;
use crate::job::console::NodesSeen;
use crate::job::event::Row;
use crate::job::kind::{Built, Kind};
use crate::job::Migration;
use crate::journal::JobInfo;
use crate::names;

use super::model::{JobRow, Live, Reading, RunMode, SourceView, TableRow};

pub use crate::job::console::Settings;

/// A job ready to start: the migration and how to run it.
pub struct Job {
    /// The migration.
    pub migration: Arc<dyn Migration>,
    /// How to run it.
    pub opts: RunOptions,
}

/// A discovered source as the console shows it.
pub fn view(s: &Source) -> SourceView {
    let kind = crate::kinds::find(s.kind).ok();
    let modes = kind.map(|k| k.modes()).unwrap_or(&[]);
    let mut v = SourceView::new(
        &s.name,
        s.kind,
        modes,
        &names::display(&s.source),
        &names::display(&s.target),
    );
    v.asks_first = kind
        .map(|k| modes.iter().copied().filter(|&m| k.asks_first(m)).collect())
        .unwrap_or_default();
    v.steps = kind.map(|k| k.steps().to_vec()).unwrap_or_default();
    v.group = s.group.clone();
    v.files = s.entries;
    v.bytes = s.bytes;
    v.count = s.count.clone();
    v.problem = s.problem.clone();
    v.details = s.details.clone();
    v.live = s.live.then(Live::default);
    v.columns = kind.map(|k| k.row_columns()).unwrap_or_default();
    v.node = s.node.clone();
    v.picks_node = s.picks_node;
    v.to_node = s.to_node.clone();
    v.joint = s.joint;
    v
}

/// Which node each source that picks one goes to, by kind and source name
/// (kept by the runner across probes).
pub type NodePicks = std::collections::BTreeMap<(String, String), String>;

/// Every kind's sources among the probed nodes, each going to the node
/// picked for it in `picks` when there is one (a pick its kind refuses
/// now — the node left the inventory — is dropped with a warning).
pub fn node_sources(seen: &NodesSeen, picks: &NodePicks) -> Vec<Source> {
    let mut out = Vec::new();
    for kind in crate::kinds::all() {
        for s in kind.node_sources(seen) {
            let key = (s.kind.to_string(), s.name.clone());
            match picks.get(&key).filter(|_| s.picks_node) {
                Some(to) => match kind.pick_node(&s, to, seen) {
                    Ok(picked) => out.push(picked),
                    Err(e) => {
                        tracing::warn!("{e}");
                        out.push(s);
                    }
                },
                None => out.push(s),
            }
        }
    }
    out
}

/// Send the node sources `picked` (indices into `all`) to node `to`: the
/// node must be one of the inventory's, and each source's kind must take
/// it. Records the picks; the sources are rebuilt with [`node_sources`].
pub fn pick_node(
    all: &[Source],
    picked: &[usize],
    to: &str,
    seen: &NodesSeen,
    picks: &mut NodePicks,
) -> Result<String, String> {
    if seen.node(to).is_none() {
        let known: Vec<&str> = seen.nodes.iter().map(|n| n.name.as_str()).collect();
        return Err(format!(
            "node '{to}' is not in the nodes inventory; pick one of: {}",
            known.join(", ")
        ));
    }
    let mut chosen = Vec::new();
    for &i in picked {
        let s = all.get(i).ok_or_else(|| format!("no source #{i}"))?;
        if !s.picks_node {
            return Err(format!(
                "{} takes a target path, not a node: t on it alone sets its target",
                s.name
            ));
        }
        let kind = crate::kinds::find(s.kind).map_err(|e| e.to_string())?;
        kind.pick_node(s, to, seen).map_err(|e| e.to_string())?;
        chosen.push(s);
    }
    for s in &chosen {
        picks.insert((s.kind.to_string(), s.name.clone()), to.to_string());
    }
    let names: Vec<&str> = chosen.iter().map(|s| s.name.as_str()).collect();
    let verb = if names.len() == 1 { "goes" } else { "go" };
    Ok(format!("{} {verb} to node {to}", joined_names(&names)))
}

fn options(parallel: usize, verify_only: bool, batch: Option<usize>) -> RunOptions {
    RunOptions {
        parallel: parallel.max(1),
        dry_run: false,
        verify_only,
        batch,
    }
}

fn job(built: Built, set: &Settings, verify_only: bool) -> Job {
    Job {
        migration: built.migration.into(),
        opts: options(
            built.defaults.parallel.unwrap_or(set.parallel),
            verify_only,
            built.defaults.batch,
        ),
    }
}

/// The job for a run of `mode` on the sources `picked` (indices into
/// `all`): one source, or several of one group when their kind runs them
/// together.
pub fn build(
    all: &[Source],
    picked: &[usize],
    mode: RunMode,
    set: &Settings,
) -> Result<Job, String> {
    let mut chosen = Vec::with_capacity(picked.len());
    for &i in picked {
        let src = all.get(i).ok_or_else(|| format!("no source #{i}"))?;
        if let Some(problem) = &src.problem {
            return Err(format!("{} cannot be used: {problem}", src.name));
        }
        chosen.push(src);
    }
    let Some(first) = chosen.first() else {
        return Err("no source to run".to_string());
    };
    let kind = crate::kinds::find(first.kind).map_err(|e| e.to_string())?;
    if chosen.len() > 1
        && chosen
            .iter()
            .any(|s| s.kind != first.kind || !kind.runs_with(first, s))
    {
        return Err(format!(
            "{} cannot run together with the others: only sources of one group (a cluster's nodes, a node's stack) can",
            chosen.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ")
        ));
    }
    if !kind.modes().contains(&mode) {
        return Err(format!(
            "{} is a {} source: it offers no {}",
            first.name,
            kind.name(),
            mode.label()
        ));
    }
    let built = kind
        .console_job(&chosen, mode, set)
        .map_err(|e| e.to_string())?;
    Ok(job(built, set, mode == RunMode::Verify))
}

/// Rebuild a journalled job to resume it, with its kind's defaults for it
/// (as `cutover resume` does).
pub fn resume(kind: &str, params: &serde_json::Value, set: &Settings) -> Result<Job, String> {
    let spec = crate::kinds::find(kind).map_err(|e| e.to_string())?;
    let migration = spec.rebuild(params).map_err(|e| e.to_string())?;
    let built = Built {
        migration,
        defaults: spec.resume_defaults(params),
    };
    Ok(job(built, set, false))
}

/// The name of a job on `names`: the first name followed by the others
/// without their shared prefix (`cluster/node-1, node-2`).
pub fn joined_names(names: &[&str]) -> String {
    let Some(first) = names.first() else {
        return String::new();
    };
    let prefix = first.rfind('/').map(|p| &first[..=p]).unwrap_or("");
    let mut out = first.to_string();
    for n in &names[1..] {
        out.push_str(", ");
        out.push_str(n.strip_prefix(prefix).unwrap_or(n));
    }
    out
}

/// A journalled job as the jobs pane shows it: the label names the sources
/// by their configured names and the job's mode (`bulk`, `verify`…; for
/// journals older than modes, the phase its kind reads from its
/// parameters), and the row knows them.
pub fn job_row(info: &JobInfo, mode: &str, all: &[Source]) -> JobRow {
    let kind = crate::kinds::find(&info.kind).ok();
    let sources = kind
        .map(|k| k.job_sources(&info.params, all))
        .unwrap_or_default();
    let names: Vec<&str> = sources
        .iter()
        .filter_map(|&i| all.get(i))
        .map(|s| s.name.as_str())
        .collect();
    let name = if names.is_empty() {
        info.params
            .get("source")
            .and_then(|v| v.as_str())
            .and_then(|p| {
                Path::new(p)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
            })
            .unwrap_or_else(|| info.kind.clone())
    } else {
        joined_names(&names)
    };
    let phase = Some(mode)
        .filter(|m| !m.is_empty())
        .or_else(|| kind.and_then(|k| k.job_phase(&info.params)))
        .map(|p| format!(" ({p})"))
        .unwrap_or_default();
    JobRow {
        job: info.job,
        kind: info.kind.clone(),
        status: info.status.to_string(),
        items_total: info.items_total,
        items_verified: info.items_verified,
        items_failed: info.items_failed,
        label: format!("{name}{phase}"),
        mode: mode.to_string(),
        params: info.params.clone(),
        sources,
    }
}

/// What a run would change, with its kind's objection from the journal's
/// jobs, if any (blocking: it plans the job and walks the target).
pub fn preview(
    journal: &crate::journal::Journal,
    migration: &dyn Migration,
) -> Result<crate::job::Preview, String> {
    let plan = migration.plan().map_err(|e| e.to_string())?;
    let mut preview = migration
        .preview(&plan)
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    let earlier: Vec<crate::job::Earlier> = journal
        .jobs()
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|j| crate::job::Earlier {
            kind: j.kind,
            params: j.params,
        })
        .collect();
    preview.objection = migration.guard(&earlier).err().map(|e| e.to_string());
    Ok(preview)
}

/// Read a live source's details (blocking: a kind may query a database;
/// call it off the UI thread).
pub fn read_details(source: &Source) -> Reading {
    let kind = match crate::kinds::find(source.kind) {
        Ok(k) => k,
        Err(e) => return Reading::Failed(e.to_string()),
    };
    match kind.read_details(source) {
        Ok(d) => Reading::Read(d),
        Err(e) => Reading::Failed(e),
    }
}

/// Where the rows of a job's items go: the kind that tabulates them and
/// the sources the job runs on (each item's rows reach its own source).
pub struct RowTap {
    kind: &'static dyn Kind,
    job_source: std::path::PathBuf,
    sources: Vec<(usize, std::path::PathBuf)>,
}

impl RowTap {
    /// A tap for a job of `migration` on `candidates` (indices into `all`);
    /// none when its kind makes no table of its rows.
    pub fn new(all: &[Source], candidates: &[usize], migration: &dyn Migration) -> Option<RowTap> {
        let kind = crate::kinds::find(migration.kind()).ok()?;
        if kind.row_columns().is_empty() {
            return None;
        }
        let params = migration.params();
        let job_source = params.get("source").and_then(|v| v.as_str())?;
        Some(RowTap {
            kind,
            job_source: job_source.into(),
            sources: candidates
                .iter()
                .filter_map(|&i| all.get(i).map(|s| (i, s.source.clone())))
                .collect(),
        })
    }

    /// The table rows of an item's `rows`, with the source the item belongs to.
    pub fn take(&self, item: &str, rows: &[Row]) -> Option<(usize, Vec<TableRow>)> {
        let cells: Vec<TableRow> = rows.iter().filter_map(|r| self.kind.row_cells(r)).collect();
        if cells.is_empty() {
            return None;
        }
        let path = self.job_source.join(item);
        let source = self
            .sources
            .iter()
            .filter(|(_, p)| path.starts_with(p))
            .max_by_key(|(_, p)| p.components().count())
            .map(|(i, _)| *i)?;
        Some((source, cells))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::journal::JobStatus;
    use crate::verify::VerifyMode;

    fn sources(dir: &Path) -> Vec<Source> {
        let mut all = Vec::new();
        for (name, path, target) in [
            ("photos", dir.join("photos"), dir.join("new/photos")),
            ("pkgs", dir.join("store"), dir.join("cas")),
            ("cluster", dir.join("cluster"), dir.join("sqlite")),
        ] {
            let kind = crate::kinds::detect(&path).unwrap();
            all.extend(kind.sources(name, &path, &target));
        }
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
        std::fs::create_dir_all(dir.join("photos/a")).unwrap();
        std::fs::write(dir.join("photos/a/x.jpg"), b"jpg").unwrap();
        let pkg = dir.join("store/0123456789abcdef0123-zlib");
        std::fs::create_dir_all(&pkg).unwrap();
        std::fs::write(pkg.join("LICENSE"), b"MIT").unwrap();
        crate::demo_redb::build(&dir.join("cluster")).unwrap();
        let all = sources(dir);
        let kinds: Vec<&str> = all.iter().map(|s| s.kind).collect();
        assert_eq!(
            kinds,
            vec![
                "tree-sync",
                "store-to-cas",
                "redb-to-sqlite",
                "redb-to-sqlite",
                "redb-to-sqlite"
            ]
        );
        let views: Vec<SourceView> = all.iter().map(view).collect();
        assert_eq!(views[0].count, "1 files");
        assert_eq!(views[1].count, "1 packages");
        assert!(views[1].live.is_some() && views[0].live.is_none());
        assert!(!views[2].columns.is_empty());
        let set = Settings {
            parallel: 4,
            verify: VerifyMode::Sample(10),
            seed: 7,
            force: false,
        };
        let tree = build(&all, &[0], RunMode::Final, &set).unwrap();
        assert_eq!(tree.migration.params()["final_sync"], true);
        assert_eq!(tree.opts.parallel, 4);
        let err = build(&all, &[0], RunMode::Migrate, &set).err().unwrap();
        assert_eq!(err, "photos is a tree-sync source: it offers no migrate");

        let store = build(&all, &[1], RunMode::Migrate, &set).unwrap();
        assert_eq!(store.opts.batch, Some(10));
        let err = build(&all, &[1], RunMode::Final, &set).err().unwrap();
        assert_eq!(
            err,
            "pkgs is a store-to-cas source: it offers no final sync"
        );

        let one = build(&all, &[2], RunMode::Migrate, &set).unwrap();
        assert_eq!(one.opts.parallel, 1);
        let together = build(&all, &[2, 4], RunMode::Migrate, &set).unwrap();
        assert_eq!(together.opts.parallel, 4);
        let verify = build(&all, &[3], RunMode::Verify, &set).unwrap();
        assert!(verify.opts.verify_only);
        assert!(build(&all, &[0, 2], RunMode::Migrate, &set).is_err());
        assert!(build(&all, &[0, 1], RunMode::Migrate, &set).is_err());

        let row = job_row(
            &info(
                3,
                "tree-sync",
                serde_json::json!({"source": names::display(&dir.join("photos")), "final_sync": true}),
            ),
            "",
            &all,
        );
        assert_eq!(
            (row.label.as_str(), row.sources.clone()),
            ("photos (final)", vec![0])
        );
        assert!(row.resumable());
        let cluster = names::display(&dir.join("cluster"));
        let params = serde_json::json!({"source": cluster, "nodes": ["node-1", "node-2"]});
        let row = job_row(&info(4, "redb-to-sqlite", params.clone()), "", &all);
        assert_eq!(row.label, "cluster/node-1, node-2");
        assert_eq!(row.sources, vec![2, 3]);
        let row = job_row(
            &info(
                5,
                "store-to-cas",
                serde_json::json!({"source": names::display(&dir.join("store"))}),
            ),
            "migrate",
            &all,
        );
        assert_eq!(
            (row.label.as_str(), row.sources.clone()),
            ("pkgs (migrate)", vec![1])
        );
        let tap = RowTap::new(&all, &[2, 3, 4], &*together.migration).unwrap();
        let row = Row {
            name: "table".into(),
            fields:
                serde_json::json!({"item": "node-2/state.redb", "table": "kv", "sqlite_table": "kv",
                "read": 3, "written": 3, "verified": 3, "inexact": 0, "errors": 0,
                "checksum": null, "checksum_equal": true, "elapsed_s": 0.5})
                .as_object()
                .cloned()
                .unwrap(),
        };
        let (source, cells) = tap
            .take("node-2/state.redb", std::slice::from_ref(&row))
            .unwrap();
        assert_eq!(source, 3);
        assert_eq!(cells[0].cells[0], "kv");
        assert!(tap.take("node-9/x.redb", &[row]).is_none());
        assert!(RowTap::new(&all, &[0], &*tree.migration).is_none());
    }
}
