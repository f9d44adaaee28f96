//! dir-to-dataset in the console: a node's plain service directories (on
//! a node with ZFS and a parent dataset) as sources, grouped by node and
//! stack, each becoming dataset PARENT/S at the same path; the job of the
//! picked services; a journalled job's sources again.

use std::path::PathBuf;

use super::{DirToDataset, Params, KIND};
use crate::error::{Error, Result};
use crate::job::console::{NodesSeen, RunMode, Settings, Source};
use crate::job::kind::Built;
use crate::job::RunDefaults;

/// Every plain-directory service of every reachable node with ZFS and a
/// parent dataset in the inventory; it goes to PARENT/S on its node.
pub fn sources(seen: &NodesSeen) -> Vec<Source> {
    let mut out = Vec::new();
    for p in seen.probed.iter().filter(|p| p.reachable && p.zfs) {
        let Some(node) = seen.node(&p.name) else {
            continue;
        };
        let (Some(parent), Some(_)) = (&node.dataset, &node.appdata) else {
            continue;
        };
        for service in p.services.iter().filter(|s| s.dataset.is_none()) {
            let mut s = Source::of_service(KIND, node, p, service);
            s.target = PathBuf::from(format!("{}:{parent}/{}", node.name, service.name));
            s.to_node = Some(node.name.clone());
            if let Some(section) = s.details.sections.first_mut() {
                section.fields.push(crate::job::details::Field::new(
                    "becomes",
                    format!("dataset {parent}/{}", service.name),
                ));
            }
            s.joint = true;
            s.params = serde_json::json!({
                "node": node.name,
                "service": service.name,
                "state_dir": seen.state_dir,
                "nodes_file": seen.nodes_file,
            });
            out.push(s);
        }
    }
    out
}

/// The job converting `picked` (one service, or a stack's plain ones).
pub fn job(
    picked: &[&Source],
    mode: RunMode,
    set: &Settings,
    defaults: RunDefaults,
) -> Result<Built> {
    let first = picked
        .first()
        .ok_or_else(|| Error::bad("no service picked: select one (space)"))?;
    let text = |k: &str| {
        first
            .params
            .get(k)
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    let name = text("node").ok_or_else(|| Error::bad(format!("{}: no node", first.name)))?;
    if let Some(other) = picked
        .iter()
        .find(|s| s.node.as_deref() != Some(name.as_str()))
    {
        return Err(Error::bad(format!(
            "{} and {} are on different nodes: convert one node's services at a time",
            first.name, other.name
        )));
    }
    let state_dir = text("state_dir")
        .map(PathBuf::from)
        .ok_or_else(|| Error::bad(format!("{}: no state directory", first.name)))?;
    let nodes_file = text("nodes_file").map(PathBuf::from);
    let nodes = super::load_nodes(nodes_file.as_deref(), &state_dir)?;
    let node = crate::nodes::file::find(&nodes, &name)?.clone();
    let missing = |key: &str| {
        Error::bad(format!(
            "node {name}: no `{key}` in the nodes inventory; add `{key} = …` to its [[node]] in nodes.toml"
        ))
    };
    let appdata = node
        .appdata
        .as_deref()
        .map(crate::names::display)
        .ok_or_else(|| missing("appdata"))?;
    let dataset = node.dataset.clone().ok_or_else(|| missing("dataset"))?;
    let params = Params {
        node: name,
        services: picked.iter().map(|s| s.service().to_string()).collect(),
        force: false,
        // The aside copy goes only after every file was hashed on both sides.
        verify: crate::verify::VerifyMode::Full,
        seed: set.seed,
        token: crate::job::token::new_token(),
        appdata,
        dataset,
        state_dir: state_dir.clone(),
        nodes_file,
    };
    // Its checks run commands on the node: planning does them, off the
    // console's thread.
    let job = DirToDataset::new(params, node, state_dir, mode == RunMode::Verify);
    Ok(Built {
        migration: Box::new(job),
        defaults,
    })
}

/// The sources a journalled job converted: its node's services it names.
pub fn job_sources(params: &serde_json::Value, all: &[Source]) -> Vec<usize> {
    Source::services_of_job(KIND, "node", params, all)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::nodes::probe::Probed;
    use crate::nodes::services::{stacks, Service};
    use crate::verify::VerifyMode;

    const NODES: &str = "[[node]]\nname = \"alpha\"\nappdata = \"/srv/a\"\ndataset = \"tank/a\"\n\n[[node]]\nname = \"gamma\"\nappdata = \"/srv/c\"\n";

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

    #[test]
    fn plain_directories_of_a_node_with_zfs_become_its_datasets() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("nodes.toml"), NODES).unwrap();
        let nodes = crate::nodes::file::parse("nodes.toml", NODES).unwrap();
        let probed = vec![
            probed(
                "alpha",
                true,
                &[("app", false), ("app-cache", false), ("db", true)],
            ),
            probed("gamma", false, &[("files", false)]),
        ];
        let seen = NodesSeen::of(&nodes, &probed, dir.path());
        let all = sources(&seen);
        let shown: Vec<(&str, String, Option<&str>)> = all
            .iter()
            .map(|s| {
                (
                    s.name.as_str(),
                    s.target.display().to_string(),
                    s.group.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            shown,
            vec![
                (
                    "alpha/app",
                    "alpha:tank/a/app".to_string(),
                    Some("alpha/app")
                ),
                (
                    "alpha/app-cache",
                    "alpha:tank/a/app-cache".to_string(),
                    Some("alpha/app")
                ),
            ],
            "a dataset already, or a node without ZFS, offers no conversion"
        );
        assert!(all.iter().all(|s| !s.picks_node && s.joint));
        let set = Settings {
            parallel: 4,
            verify: VerifyMode::Sample(10),
            seed: 9,
            force: false,
        };
        let defaults = RunDefaults {
            parallel: Some(1),
            batch: None,
        };
        let built = job(&[&all[0], &all[1]], RunMode::Migrate, &set, defaults).unwrap();
        let params = built.migration.params();
        assert_eq!(params["node"], "alpha");
        assert_eq!(params["services"], serde_json::json!(["app", "app-cache"]));
        assert_eq!(
            (params["appdata"].as_str(), params["dataset"].as_str()),
            (Some("/srv/a"), Some("tank/a"))
        );
        assert_eq!(
            params["verify"], "full",
            "dir-to-dataset verifies every file"
        );
        assert_eq!(job_sources(&params, &all), vec![0, 1]);
    }
}
