//! zfs-transfer in the console: a node's services as sources (a dataset
//! each, or any directory of a node without ZFS, which goes by rsync),
//! grouped by node and stack; the node they go to, picked by the operator;
//! the job of a stack's picked services; a journalled job's sources again.

use std::path::PathBuf;

use super::{Params, ZfsTransfer, KIND};
use crate::error::{Error, Result};
use crate::job::console::{NodesSeen, RunMode, Settings, Source};
use crate::job::kind::Built;
use crate::job::{Migration, RunDefaults};

/// The runs offered: the first transfer (services running), the final one
/// (services stopped: `--final`), and a verification.
pub const MODES: &[RunMode] = &[RunMode::Bulk, RunMode::Final, RunMode::Verify];

/// Every service of every reachable node that zfs-transfer can move: a
/// dataset, or a directory on a node without ZFS (rsync). A plain
/// directory on a node with ZFS is dir-to-dataset's first.
pub fn sources(seen: &NodesSeen) -> Vec<Source> {
    let mut out = Vec::new();
    for p in seen.probed.iter().filter(|p| p.reachable) {
        let Some(node) = seen.node(&p.name) else {
            continue;
        };
        let zfs_node = p.zfs && node.dataset.is_some();
        for service in &p.services {
            if service.dataset.is_none() && zfs_node {
                continue;
            }
            let mut s = Source::of_service(KIND, node, p, service);
            s.picks_node = true;
            s.joint = true;
            s.params = serde_json::json!({
                "from": node.name,
                "service": service.name,
                "state_dir": seen.state_dir,
                "nodes_file": seen.nodes_file,
            });
            out.push(s);
        }
    }
    out
}

/// `source` going to node `to`: not the node it is on, a node that
/// answers and has an appdata.
pub fn pick(source: &Source, to: &str, seen: &NodesSeen) -> Result<Source> {
    if source.node.as_deref() == Some(to) {
        return Err(Error::bad(format!(
            "{} is on node {to} already: pick another node",
            source.name
        )));
    }
    let node = seen.node(to).ok_or_else(|| {
        Error::bad(format!(
            "node '{to}' is not in the nodes inventory: add it to nodes.toml"
        ))
    })?;
    if let Some(p) = seen.probed(to).filter(|p| !p.reachable) {
        return Err(Error::bad(format!(
            "node {to} does not answer ({}): probe again (enter in Nodes) once it does",
            p.why.as_deref().unwrap_or("no answer")
        )));
    }
    let appdata = node.appdata.as_deref().ok_or_else(|| {
        Error::bad(format!(
            "node {to} has no appdata in nodes.toml: add `appdata = \"DIR\"` to its [[node]]"
        ))
    })?;
    let service = source.service().to_string();
    let mut s = source.clone();
    s.target = PathBuf::from(format!(
        "{to}:{}/{service}",
        crate::names::display(appdata).trim_end_matches('/')
    ));
    s.to_node = Some(to.to_string());
    if let Some(params) = s.params.as_object_mut() {
        params.insert("to".into(), to.into());
    }
    Ok(s)
}

/// The job of `picked` (one service, or a stack's): `Bulk` is a transfer
/// while the services run, `Final` the last one (`--final`), `Verify`
/// compares. `set.force` (the operator typed the target node's name over
/// the objection) is `--force-full`.
pub fn job(
    picked: &[&Source],
    mode: RunMode,
    set: &Settings,
    defaults: RunDefaults,
) -> Result<Built> {
    let first = picked
        .first()
        .ok_or_else(|| Error::bad("no service picked: select one (space)"))?;
    let to = first
        .to_node
        .clone()
        .ok_or_else(|| Error::bad(format!("{} goes to no node yet: t picks one", first.name)))?;
    if let Some(other) = picked
        .iter()
        .find(|s| s.to_node.as_deref() != Some(to.as_str()))
    {
        return Err(Error::bad(format!(
            "{} and {} go to different nodes: pick one node for the stack (t)",
            first.name, other.name
        )));
    }
    let text_of =
        |s: &Source, k: &str| s.params.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let text = |k: &str| text_of(first, k);
    let node_of =
        |s: &Source| text_of(s, "from").ok_or_else(|| Error::bad(format!("{}: no node", s.name)));
    // The source nodes in the order first picked, each with its services.
    let mut by_node: Vec<(String, Vec<String>)> = Vec::new();
    for s in picked {
        let node = node_of(s)?;
        let service = s.service().to_string();
        match by_node.iter_mut().find(|(n, _)| *n == node) {
            Some((_, services)) => services.push(service),
            None => by_node.push((node, vec![service])),
        }
    }
    if by_node.iter().any(|(node, _)| *node == to) {
        return Err(Error::bad(format!(
            "node {to} is both a source and the target: pick another target node (t)"
        )));
    }
    let state_dir = text("state_dir")
        .map(PathBuf::from)
        .ok_or_else(|| Error::bad(format!("{}: no state directory", first.name)))?;
    let verify_only = mode == RunMode::Verify;
    let (from, services) = by_node[0].clone();
    let params = Params {
        from,
        to,
        services,
        final_pass: mode == RunMode::Final,
        verify: set.verify,
        seed: set.seed,
        snapshot: super::snapshot_name(),
        token: crate::job::token::new_token(),
        bwlimit: 0,
        force_full: set.force && !verify_only,
        state_dir,
        nodes_file: text("nodes_file").map(PathBuf::from),
    };
    if by_node.len() > 1 {
        // Services of several nodes: one job, a part per source node.
        let fleet = super::fleet::FleetParams {
            fleet: by_node
                .into_iter()
                .map(|(from, services)| Params {
                    from,
                    services,
                    ..params.clone()
                })
                .collect(),
        };
        let nodes = fleet.fleet.len();
        let job = super::fleet::Fleet::new(fleet, verify_only)?.in_console();
        job.check()?;
        return Ok(Built {
            migration: Box::new(job),
            defaults: super::kind::fleet_defaults(nodes),
        });
    }
    let job = ZfsTransfer::new(params, verify_only)?.in_console();
    job.check()?;
    Ok(Built {
        migration: Box::new(job),
        defaults,
    })
}

/// The sources a journalled job moved: its node's services it names.
pub fn job_sources(params: &serde_json::Value, all: &[Source]) -> Vec<usize> {
    match params.get("fleet").and_then(|f| f.as_array()) {
        Some(parts) => {
            let mut found: Vec<usize> = parts
                .iter()
                .flat_map(|p| Source::services_of_job(KIND, "from", p, all))
                .collect();
            found.sort_unstable();
            found.dedup();
            found
        }
        None => Source::services_of_job(KIND, "from", params, all),
    }
}

/// What a transfer would do, for the console's question.
pub fn preview(job: &ZfsTransfer, planned: &[super::route::Planned]) -> crate::job::Preview {
    use super::route::Route;
    use super::rsync::TargetDir;
    use crate::job::Change;
    let replaced = job.replaced();
    let to = &job.params().to;
    let mut destroy = Change::new("destroy");
    let mut full = Change::new("send in full");
    let mut incremental = Change::new("send incremental");
    let mut resume = Change::new("resume the partial receive of");
    let mut rsync = Change::new("rsync");
    let mut overwrite = Change::new("replace the files of (rsync --delete)");
    for p in planned {
        if let (Route::Rsync { dst, .. }, Some(TargetDir::Foreign)) = (&p.route, p.rsync_target) {
            overwrite.add(|| format!("{} on node {to}", dst.display()));
        }
        match (&p.route, &p.src_state, &p.dst_state) {
            (Route::Zfs { dst, .. }, _, _) if replaced.contains(dst) => {
                destroy.add(|| format!("{dst} on node {to}"));
                full.add(|| p.service.clone());
            }
            (Route::Zfs { .. }, _, Some(d)) if d.resume_token.is_some() => {
                resume.add(|| p.service.clone())
            }
            (Route::Zfs { .. }, Some(s), Some(d)) => {
                match crate::nodes::zfs::newest_common(&s.snapshots, &d.snapshots) {
                    Some(base) => incremental.add(|| format!("{} from @{}", p.service, base.name)),
                    None => full.add(|| p.service.clone()),
                }
            }
            (Route::Zfs { .. }, _, _) => full.add(|| p.service.clone()),
            (Route::Rsync { .. }, _, _) => rsync.add(|| p.service.clone()),
        }
    }
    crate::job::Preview {
        changes: vec![destroy, overwrite, full, incremental, resume, rsync],
        objection: None,
        name: Some(to.clone()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::nodes::probe::Probed;
    use crate::nodes::services::{stacks, Service};
    use crate::nodes::Node;
    use crate::verify::VerifyMode;

    pub(crate) const NODES: &str = "[[node]]\nname = \"local\"\nappdata = \"/srv/a\"\ndataset = \"tank/a\"\n\n[[node]]\nname = \"beta\"\nappdata = \"/srv/b\"\ndataset = \"tank/b\"\n\n[[node]]\nname = \"gamma\"\nappdata = \"/srv/c\"\n";

    fn probed(name: &str, zfs: bool, services: &[(&str, bool)]) -> Probed {
        let mut p = Probed::unreached(name, None, None);
        p.reachable = true;
        p.zfs = zfs;
        p.services = services
            .iter()
            .map(|(s, ds)| Service {
                name: s.to_string(),
                dataset: ds.then(|| format!("tank/{name}/{s}")),
                bytes: Some(4096),
                files: Some(3),
            })
            .collect();
        let names: Vec<String> = services.iter().map(|(s, _)| s.to_string()).collect();
        p.stacks = stacks(&names, &[]);
        p
    }

    fn world() -> (Vec<Node>, Vec<Probed>) {
        let nodes = crate::nodes::file::parse("nodes.toml", NODES).unwrap();
        let probed = vec![
            probed(
                "local",
                true,
                &[("web", true), ("web-db", true), ("legacy", false)],
            ),
            probed("beta", true, &[("db", true)]),
            probed("gamma", false, &[("files", false)]),
        ];
        (nodes, probed)
    }

    /// [`world`] with its nodes.toml in a state directory.
    fn world_on_disk() -> (tempfile::TempDir, Vec<Node>, Vec<Probed>) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("nodes.toml"), NODES).unwrap();
        let (nodes, probed) = world();
        (dir, nodes, probed)
    }

    #[test]
    fn datasets_and_directories_of_nodes_without_zfs_go_to_the_node_picked() {
        let (dir, nodes, probed) = world_on_disk();
        let seen = NodesSeen::of(&nodes, &probed, dir.path());
        let all = sources(&seen);
        let names: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
        // local/legacy is a plain directory on a node with ZFS: dir-to-dataset's.
        assert_eq!(
            names,
            vec!["local/web", "local/web-db", "beta/db", "gamma/files"]
        );
        assert_eq!(all[0].source, std::path::Path::new("local:/srv/a/web"));
        assert_eq!(all[1].group.as_deref(), Some("local/web"));
        assert!(all
            .iter()
            .all(|s| s.picks_node && s.joint && s.to_node.is_none()));

        let err = pick(&all[0], "local", &seen).unwrap_err().to_string();
        assert_eq!(err, "local/web is on node local already: pick another node");
        let web = pick(&all[0], "beta", &seen).unwrap();
        let web_db = pick(&all[1], "beta", &seen).unwrap();
        assert_eq!(web.target, std::path::Path::new("beta:/srv/b/web"));
        let set = Settings {
            parallel: 4,
            verify: VerifyMode::Full,
            seed: 9,
            force: false,
        };
        let err = job(
            &[&all[0]],
            RunMode::Bulk,
            &set,
            RunDefaults {
                parallel: Some(1),
                batch: None,
            },
        )
        .err()
        .unwrap()
        .to_string();
        assert_eq!(err, "local/web goes to no node yet: t picks one");
        let defaults = RunDefaults {
            parallel: Some(1),
            batch: None,
        };
        let built = job(&[&web, &web_db], RunMode::Final, &set, defaults).unwrap();
        let params = built.migration.params();
        assert_eq!(
            (
                params["from"].as_str(),
                params["to"].as_str(),
                params["final"].as_bool()
            ),
            (Some("local"), Some("beta"), Some(true))
        );
        assert_eq!(params["services"], serde_json::json!(["web", "web-db"]));
        assert_eq!(params["force_full"], false);
        assert!(built.migration.rate_limit().is_some());
        let forced = job(
            &[&web],
            RunMode::Bulk,
            &Settings { force: true, ..set },
            defaults,
        )
        .unwrap();
        assert_eq!(forced.migration.params()["force_full"], true);
        assert_eq!(forced.migration.mode(), "migrate");
        let verify = job(
            &[&web],
            RunMode::Verify,
            &Settings { force: true, ..set },
            defaults,
        )
        .unwrap();
        assert_eq!(verify.migration.params()["force_full"], false);
        // A journalled job maps back to the services it moved.
        assert_eq!(job_sources(&params, &all), vec![0, 1]);
    }

    #[test]
    fn services_of_several_nodes_make_one_job_with_a_part_per_node() {
        let (dir, nodes, probed) = world_on_disk();
        let seen = NodesSeen::of(&nodes, &probed, dir.path());
        let all = sources(&seen);
        // gamma does not answer in this world, so `pick` would refuse it;
        // the job itself only needs the target named.
        let to = |s: &Source, node: &str| {
            let mut s = s.clone();
            s.to_node = Some(node.to_string());
            s
        };
        let (web, web_db, db) = (
            to(&all[0], "gamma"),
            to(&all[1], "gamma"),
            to(&all[2], "gamma"),
        );
        let kind = crate::kinds::find(KIND).unwrap();
        assert!(
            kind.runs_with(&web, &db),
            "services of two nodes run together"
        );
        let set = Settings {
            parallel: 4,
            verify: VerifyMode::Full,
            seed: 9,
            force: false,
        };
        let defaults = RunDefaults {
            parallel: Some(1),
            batch: None,
        };
        let built = job(&[&web, &db, &web_db], RunMode::Bulk, &set, defaults).unwrap();
        let params = built.migration.params();
        let parts = params["fleet"].as_array().unwrap();
        assert_eq!(parts.len(), 2, "{params}");
        assert_eq!(parts[0]["from"], "local");
        assert_eq!(parts[0]["services"], serde_json::json!(["web", "web-db"]));
        assert_eq!(parts[1]["from"], "beta");
        assert_eq!(parts[1]["services"], serde_json::json!(["db"]));
        assert!(parts.iter().all(|p| p["to"] == "gamma"));
        assert_eq!(
            built.defaults.parallel,
            Some(2),
            "one service per node at a time"
        );
        assert!(built.migration.rate_limit().is_some());
        assert_eq!(job_sources(&params, &all), vec![0, 1, 2]);
        // A source node cannot be the target as well.
        let err = job(
            &[&to(&all[0], "beta"), &to(&all[2], "beta")],
            RunMode::Bulk,
            &set,
            defaults,
        )
        .err()
        .unwrap()
        .to_string();
        assert_eq!(
            err,
            "node beta is both a source and the target: pick another target node (t)"
        );
    }

    #[test]
    fn an_item_line_names_both_nodes_and_the_limit() {
        use crate::job::Kind;
        let report = crate::job::ItemReport {
            files: 12,
            files_hashed: 12,
            elapsed_s: 3.25,
            rows: vec![crate::job::event::Row::of(
                "transfer",
                &serde_json::json!({"service": "web", "from": "local", "to": "beta",
                    "method": "zfs incremental", "base": "cutover-1", "bytes_sent": 3 << 20,
                    "bwlimit": 50 << 20, "compressed": false, "seconds": 1.0}),
            )],
            ..Default::default()
        };
        assert_eq!(
            super::super::kind::ZfsTransferKind.item_detail(&report, false),
            "local → beta · zfs incremental from @cutover-1 · 3 MiB sent (limit 50 MiB/s) · 12 entries checked, 12 hashed · 3.2s"
        );
    }
}
