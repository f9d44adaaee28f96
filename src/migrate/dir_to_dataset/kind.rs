//! dir-to-dataset as the command line and the front ends see it.

use std::path::PathBuf;

use clap::{ArgMatches, Args};

use super::{DirToDataset, Params, KIND};
use crate::error::{Error, Result};
use crate::job::event::Row;
use crate::job::kind::{typed, Built, CommonArgs};
use crate::job::{Kind, Migration, RunDefaults, Units};
use crate::verify::VerifyMode;

/// Items are services; they hold files.
pub const UNITS: Units = Units {
    item: "service",
    entries: "files",
    written: "files",
};

/// The arguments of `cutover run|verify dir-to-dataset`.
#[derive(Debug, Args, Clone)]
pub struct DirToDatasetArgs {
    /// The node (nodes.toml; `local` is this machine) whose `appdata`
    /// holds the services and whose `dataset` is their parent dataset.
    #[arg(long, value_name = "NODE")]
    pub node: String,
    /// A service: a directory directly under the node's appdata, to become
    /// dataset PARENT/NAME mounted at the same path (repeat for several).
    #[arg(long = "service", value_name = "NAME", required = true)]
    pub services: Vec<String>,
    /// Convert even when processes hold files open under a service (they
    /// are named in a warning).
    #[arg(long)]
    pub force: bool,
}

/// The dir-to-dataset kind.
pub struct DirToDatasetKind;

impl Kind for DirToDatasetKind {
    fn name(&self) -> &'static str {
        KIND
    }

    fn about(&self) -> &'static str {
        "Service directories under a node's appdata into ZFS datasets mounted at the same path (moved aside, copied back, verified, aside copy removed)"
    }

    fn units(&self) -> Units {
        UNITS
    }

    /// One service at a time: each is a short stop of that service.
    fn run_defaults(&self) -> RunDefaults {
        RunDefaults {
            parallel: Some(1),
            batch: None,
        }
    }

    fn args(&self, cmd: clap::Command) -> clap::Command {
        DirToDatasetArgs::augment_args(cmd)
    }

    fn build(&self, args: &ArgMatches, common: &CommonArgs, verify_only: bool) -> Result<Built> {
        let a: DirToDatasetArgs = typed(args)?;
        // The global flags, as clap hands them to every subcommand.
        // Absolute, so a resume from another directory finds them.
        let global = |id: &str| {
            let given = args.try_get_one::<PathBuf>(id).ok().flatten()?;
            Some(std::path::absolute(given).unwrap_or_else(|_| given.clone()))
        };
        let state_dir = crate::state_dir::resolve(global("state_dir"))?;
        let nodes_file = global("nodes_file");
        let nodes = super::load_nodes(nodes_file.as_deref(), &state_dir)?;
        let node = crate::nodes::file::find(&nodes, &a.node)?.clone();
        let missing = |key: &str| {
            Error::bad(format!(
                "node {}: no `{key}` in the nodes inventory; add `{key} = …` to its [[node]] in nodes.toml",
                node.name
            ))
        };
        let appdata = node
            .appdata
            .as_ref()
            .ok_or_else(|| missing("appdata"))?
            .to_str()
            .ok_or_else(|| {
                Error::bad(format!(
                    "node {}: appdata is not UTF-8; give a path ZFS can mount",
                    node.name
                ))
            })?
            .to_string();
        let dataset = node.dataset.clone().ok_or_else(|| missing("dataset"))?;
        let params = Params {
            node: a.node,
            services: a.services,
            force: a.force,
            verify: common.verify_or("full").parse::<VerifyMode>()?,
            seed: common.seed(),
            token: crate::job::token::new_token(),
            appdata,
            dataset,
            state_dir: state_dir.clone(),
            nodes_file,
        };
        let job = DirToDataset::new(params, node, state_dir, verify_only);
        job.check()?;
        Ok(Built {
            migration: Box::new(job),
            defaults: self.run_defaults(),
        })
    }

    /// `  web: converted into tank/appdata/web at /srv/appdata/web (12 files, 46 KiB, every file hashed)`.
    fn row_lines(&self, rows: &[Row], _header: bool) -> Vec<String> {
        rows.iter().map(row_line).collect()
    }

    /// Each plain-directory service of a node with ZFS, converted on its node.
    fn node_sources(
        &self,
        seen: &crate::job::console::NodesSeen,
    ) -> Vec<crate::job::console::Source> {
        super::console::sources(seen)
    }

    fn console_job(
        &self,
        picked: &[&crate::job::console::Source],
        mode: crate::job::console::RunMode,
        set: &crate::job::console::Settings,
    ) -> Result<Built> {
        super::console::job(picked, mode, set, self.run_defaults())
    }

    fn job_sources(
        &self,
        params: &serde_json::Value,
        all: &[crate::job::console::Source],
    ) -> Vec<usize> {
        super::console::job_sources(params, all)
    }

    fn rebuild(&self, params: &serde_json::Value) -> Result<Box<dyn Migration>> {
        Ok(Box::new(DirToDataset::from_params(params)?))
    }
}

/// One service's result, on one line.
fn row_line(row: &Row) -> String {
    let text = |k: &str| row.fields.get(k).and_then(|v| v.as_str()).unwrap_or("");
    let number = |k: &str| row.fields.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
    let (service, action) = (text("service"), text("action"));
    let place = format!("{} at {}", text("dataset"), text("dir"));
    if action == "converted" {
        format!(
            "  {service}: converted into {place} ({} files, {}, every file hashed; aside copy removed)",
            crate::fmt::count(number("entries")),
            crate::fmt::bytes(number("bytes"))
        )
    } else {
        format!("  {service}: {action} ({place})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_row_reads_as_one_line() {
        let row = Row::of(
            "service",
            &serde_json::json!({"service": "web", "action": "converted", "dataset": "tank/a/web",
                "dir": "/srv/a/web", "entries": 12, "bytes": 2048}),
        );
        assert_eq!(
            row_line(&row),
            "  web: converted into tank/a/web at /srv/a/web (12 files, 2 KiB, every file hashed; aside copy removed)"
        );
    }
}
