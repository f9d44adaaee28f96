//! dir-to-dataset: a service's plain directory under a node's appdata
//! turned into a ZFS dataset `PARENT/SERVICE` mounted at the same path,
//! without losing a byte. One item per service: move the directory aside
//! (a sibling `.S.cutover-aside-TOKEN` on the same filesystem), create the
//! dataset (marked `cutover:created=TOKEN`), copy back with `rsync -aHAXS
//! --numeric-ids`, flush; verification compares the aside copy with the
//! dataset (every file hashed) and only then removes the aside copy
//! (renamed `.S.cutover-removing-TOKEN` first). Any failure before that
//! destroys this job's dataset and moves the directory back. Every command
//! runs through the node's runner, so a node over SSH works as the local
//! one. `place.rs` decides an item's next step from what the node holds,
//! so a killed job resumes from any point.

mod check;
pub mod console;
mod describe;
pub mod kind;
pub mod place;
pub mod steps;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::job::event::{ItemReport, Row};
use crate::job::{Change, Item, ItemCtx, ItemError, Memo, Migration, Plan, Preview, Written};
use crate::nodes::runner::NodeRunner;
use crate::nodes::zfs::NodeZfs;
use crate::nodes::Node;
use crate::verify::VerifyMode;
use place::{Entry, Next, Place};

/// Kind name on the command line.
pub const KIND: &str = "dir-to-dataset";

/// What the operator asked for, journalled for `resume` and `rollback`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// The node (from the nodes inventory).
    pub node: String,
    /// The services: directory names directly under `appdata`.
    pub services: Vec<String>,
    /// Convert even when processes hold files open under a service.
    pub force: bool,
    /// How the copy is verified (only `full`: the aside copy is removed after).
    pub verify: VerifyMode,
    /// Seed (unused by a full verification; shown for the record).
    pub seed: u64,
    /// Marks what this job creates: the dataset's `cutover:created`, the
    /// aside directory's name.
    pub token: String,
    /// The node's appdata when the job was made.
    pub appdata: String,
    /// The node's parent dataset when the job was made.
    pub dataset: String,
    /// The state directory the job was made in (its nodes inventory, its
    /// SSH connections).
    pub state_dir: PathBuf,
    /// The nodes file given with `--nodes`, if one was.
    #[serde(default)]
    pub nodes_file: Option<PathBuf>,
}

/// One service's line in the report (`{"event": "service", …}`).
#[derive(Debug, Clone, Serialize)]
struct ServiceRow<'a> {
    service: &'a str,
    dataset: &'a str,
    dir: &'a str,
    /// `converted`, `already a dataset`, `converted earlier`, `is a dataset`.
    action: &'a str,
    entries: u64,
    bytes: u64,
}

/// A dir-to-dataset job.
pub struct DirToDataset {
    params: Params,
    node: Node,
    state_dir: PathBuf,
    verify_only: bool,
    /// The dataset needs `mountpoint=DIR` (appdata is not where the parent
    /// dataset's children mount); found when planning.
    explicit_mountpoint: OnceLock<bool>,
}

/// The nodes: from `file` (the journalled `--nodes`), else as this
/// process finds them (its `--nodes`, else `nodes.toml` in `state_dir`).
pub fn load_nodes(file: Option<&Path>, state_dir: &Path) -> Result<Vec<Node>> {
    match file {
        Some(f) => crate::nodes::file::load(Some(f), state_dir),
        None => crate::nodes::load(state_dir),
    }
}

/// An operator-facing error from a node's command.
fn bad(e: String) -> Error {
    Error::bad(e)
}

fn same(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

impl DirToDataset {
    /// A job on `node` (`verify_only`: `cutover verify`); SSH connections
    /// are shared under `state_dir`.
    pub fn new(params: Params, node: Node, state_dir: PathBuf, verify_only: bool) -> Self {
        DirToDataset {
            params,
            node,
            state_dir,
            verify_only,
            explicit_mountpoint: OnceLock::new(),
        }
    }

    /// Rebuild from journalled parameters (`resume`, `rollback`): the node
    /// from today's inventory (the nodes file the job was made with, if
    /// one was given), its appdata and dataset as journalled.
    pub fn from_params(value: &serde_json::Value) -> Result<Self> {
        let params: Params = crate::job::journalled_params(KIND, value)?;
        let nodes = load_nodes(params.nodes_file.as_deref(), &params.state_dir)?;
        let node = crate::nodes::file::find(&nodes, &params.node)?.clone();
        let state_dir = params.state_dir.clone();
        Ok(DirToDataset::new(params, node, state_dir, false))
    }

    /// The parameters.
    pub fn params(&self) -> &Params {
        &self.params
    }

    fn runner(&self) -> NodeRunner<'_> {
        NodeRunner::new(&self.node, &self.state_dir)
    }

    fn place(&self, service: &str) -> Place {
        Place::new(
            &self.params.appdata,
            &self.params.dataset,
            service,
            &self.params.token,
        )
    }

    fn next(&self, runner: &NodeRunner, place: &Place) -> Result<(place::State, Next), String> {
        let state = place::probe(runner, place)?;
        let next = place::next(place, &state, &self.params.token, &self.node.name);
        Ok((state, next))
    }

    /// Refusals that need no look at the node's services: names, the
    /// verification mode, appdata's form.
    fn check_inputs(&self) -> Result<()> {
        let p = &self.params;
        if p.services.is_empty() {
            return Err(Error::bad("give at least one --service NAME"));
        }
        for (i, s) in p.services.iter().enumerate() {
            if let Some(why) = place::check_name(s) {
                return Err(Error::bad(why));
            }
            if p.services[..i].contains(s) {
                return Err(Error::bad(format!("--service {s} is given twice")));
            }
            crate::sys::zfs::check_dataset(&format!("{}/{s}", p.dataset))
                .map_err(|why| Error::bad(format!("service {s}: {why}")))?;
        }
        if p.verify != VerifyMode::Full {
            return Err(Error::bad(format!(
                "--verify {}: dir-to-dataset removes the aside copy only after every file was hashed on both sides; use --verify full (the default)",
                p.verify
            )));
        }
        if !p.appdata.starts_with('/') {
            return Err(Error::bad(format!(
                "node {}: appdata '{}' is not an absolute path; fix it in nodes.toml",
                p.node, p.appdata
            )));
        }
        crate::sys::zfs::check_dataset(&p.dataset).map_err(|why| {
            Error::bad(format!(
                "node {}: dataset '{}': {why}; fix it in nodes.toml",
                p.node, p.dataset
            ))
        })
    }

    /// The node's tools and parent dataset.
    fn check_node(&self) -> Result<()> {
        let runner = self.runner();
        let node = &self.node.name;
        let zfs = NodeZfs::new(&runner);
        if !steps::has(&runner, "rsync").map_err(bad)? && !self.verify_only {
            return Err(Error::bad(format!(
                "node {node}: rsync is not installed there; dir-to-dataset copies back with rsync -aHAXS (apt-get install rsync)"
            )));
        }
        let parent = &self.params.dataset;
        match zfs.exists(parent) {
            Ok(true) => Ok(()),
            Ok(false) => Err(Error::bad(format!(
                "node {node}: parent dataset {parent} does not exist; create it (zfs create {parent}) or fix `dataset` in nodes.toml"
            ))),
            Err(e) if e.contains("cannot run") || e.contains("not found") => Err(Error::bad(
                format!("node {node}: zfs does not run there ({e}); dir-to-dataset needs ZFS"),
            )),
            Err(e) => Err(Error::bad(e)),
        }
    }

    /// Whether datasets under the parent would mount somewhere else than
    /// `APPDATA/NAME` by inheritance.
    fn needs_explicit_mountpoint(&self) -> Result<bool> {
        let runner = self.runner();
        let zfs = NodeZfs::new(&runner);
        let mp = zfs
            .property(&self.params.dataset, "mountpoint")
            .map_err(bad)?;
        Ok(match mp {
            Some(mp) if mp.starts_with('/') => !same(&mp, &self.params.appdata),
            _ => true,
        })
    }

    /// Entries and bytes of content under `path` on the node (`du`), 0
    /// when unknown.
    fn count(&self, runner: &NodeRunner, path: &str) -> (u64, u64) {
        let du = |flags: &[&str]| {
            let mut argv: Vec<String> = ["du", "-s"].iter().map(|s| s.to_string()).collect();
            argv.extend(flags.iter().map(|s| s.to_string()));
            argv.push(path.to_string());
            runner
                .run(&argv)
                .ok()
                .filter(|r| r.code == 0)
                .and_then(|r| crate::nodes::services::du_number(&r.stdout))
                .unwrap_or(0)
        };
        (du(&["--inodes"]), du(&["--apparent-size", "-B1"]))
    }

    /// The processes holding files under the places of a service that exist.
    fn busy(&self, runner: &NodeRunner, place: &Place) -> Result<Vec<steps::Holder>, String> {
        steps::holders(runner, &[&place.dir, &place.aside])
    }

    /// Refuse (or, with `--force`, warn) when processes hold files open.
    fn check_open(
        &self,
        runner: &NodeRunner,
        place: &Place,
        report: &mut ItemReport,
    ) -> Result<(), ItemError> {
        let holders = self.busy(runner, place).map_err(ItemError)?;
        if holders.is_empty() {
            return Ok(());
        }
        let who = steps::show_holders(&holders);
        if !self.params.force {
            return Err(ItemError(format!(
                "service {}: files under {} are open by {who} on node {}; stop the service first, or give --force",
                place.name, place.dir, self.node.name
            )));
        }
        report.warnings.push(format!(
            "service {}: converted with --force while {who} held files open under {}",
            place.name, place.dir
        ));
        Ok(())
    }

    /// Create, copy back and flush; on failure, put the service back. The
    /// bytes counted into the job's progress while copying.
    fn write(
        &self,
        runner: &NodeRunner,
        place: &Place,
        redo: bool,
        ctx: &ItemCtx,
    ) -> Result<u64, ItemError> {
        let explicit = self.explicit_mountpoint.get().copied().unwrap_or(true);
        let token = &self.params.token;
        let mut shown = 0;
        let mut attempt = || -> Result<(), String> {
            if redo {
                steps::destroy_ours(runner, place, token)?;
            }
            steps::create(runner, place, token, explicit)?;
            steps::copy(runner, place, |bytes| {
                ctx.progress.add(0, bytes.saturating_sub(shown));
                shown = shown.max(bytes);
            })?;
            steps::flush(runner, place, token)
        };
        attempt().map_err(|e| self.put_back(runner, place, e))?;
        Ok(shown)
    }

    /// The item's error after putting the service back as it was.
    fn put_back(&self, runner: &NodeRunner, place: &Place, why: String) -> ItemError {
        match steps::restore(runner, place, &self.params.token) {
            Ok(done) => ItemError(format!(
                "service {}: {why}; put back: {done}; nothing lost",
                place.name
            )),
            Err(e) => ItemError(format!(
                "service {}: {why}; putting it back failed too: {e}; the original files are in {} — resume or roll back the job",
                place.name, place.aside
            )),
        }
    }

    fn row(&self, report: &mut ItemReport, place: &Place, dataset: &str, action: &str) {
        report.rows.push(Row::of(
            "service",
            &ServiceRow {
                service: &place.name,
                dataset,
                dir: &place.dir,
                action,
                entries: report.files,
                bytes: report.bytes,
            },
        ));
    }

    /// Undo one service; what was done, in words.
    fn rollback_one(&self, runner: &NodeRunner, place: &Place) -> Result<String> {
        let name = &place.name;
        let (state, next) = self.next(runner, place).map_err(bad)?;
        if state.aside != Entry::Absent {
            let done = steps::restore(runner, place, &self.params.token)
                .map_err(|e| Error::bad(format!("service {name}: {e}")))?;
            return Ok(format!("{name}: {done}"));
        }
        Ok(match next {
            Next::FinishRemoval => format!(
                "{name}: nothing to undo: converted and verified (dataset {} holds the files); its aside copy {} was being removed: resume the job to finish",
                place.dataset, place.removing
            ),
            Next::Done => format!(
                "{name}: nothing to undo: converted and verified, the aside copy removed; dataset {} holds the files",
                place.dataset
            ),
            Next::AlreadyDataset(ds) => {
                format!("{name}: was a dataset ({ds}) already: nothing was done")
            }
            Next::Refuse(why) => format!("{name}: left alone: {why}"),
            _ => format!("{name}: nothing this job made"),
        })
    }
}

impl Migration for DirToDataset {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn units(&self) -> crate::job::Units {
        kind::UNITS
    }

    fn params(&self) -> serde_json::Value {
        serde_json::to_value(&self.params).unwrap_or(serde_json::Value::Null)
    }

    fn check(&self) -> Result<()> {
        self.check_inputs()?;
        self.check_node()
    }

    fn plan(&self) -> Result<Plan> {
        self.check()?;
        let _ = self
            .explicit_mountpoint
            .set(self.needs_explicit_mountpoint()?);
        let runner = self.runner();
        let mut plan = Plan::default();
        for s in &self.params.services {
            let place = self.place(s);
            let (state, next) = self.next(&runner, &place).map_err(bad)?;
            if let Next::Refuse(why) = next {
                return Err(Error::bad(why));
            }
            let counted = if state.aside != Entry::Absent {
                &place.aside
            } else {
                &place.dir
            };
            let (files, bytes) = match next {
                Next::Start | Next::Create | Next::Redo => self.count(&runner, counted),
                _ => (0, 0),
            };
            plan.files_total += files;
            plan.bytes_total += bytes;
            plan.items.push(Item {
                key: s.clone(),
                files,
                bytes,
            });
        }
        Ok(plan)
    }

    fn describe_item(&self, item: &Item) -> Vec<String> {
        self.describe(item)
    }

    fn run_item(&self, item: &Item, ctx: &ItemCtx) -> Result<Written, ItemError> {
        let runner = self.runner();
        let place = self.place(&item.key);
        if ctx.cancelled() {
            return Err(ItemError("cancelled before it started".into()));
        }
        let (_, next) = self.next(&runner, &place).map_err(ItemError)?;
        let mut shown = 0;
        let mut report = ItemReport {
            files: item.files,
            bytes: item.bytes,
            ..ItemReport::default()
        };
        match next {
            Next::AlreadyDataset(_) | Next::Done | Next::FinishRemoval => {}
            Next::Refuse(why) => return Err(ItemError(why)),
            Next::Start => {
                self.check_open(&runner, &place, &mut report)?;
                steps::aside(&runner, &place).map_err(ItemError)?;
                shown = self.write(&runner, &place, false, ctx)?;
            }
            Next::Create | Next::Redo => {
                self.check_open(&runner, &place, &mut report)?;
                shown = self.write(&runner, &place, next == Next::Redo, ctx)?;
            }
        }
        if !matches!(
            next,
            Next::AlreadyDataset(_) | Next::Done | Next::FinishRemoval
        ) {
            report.files_transferred = item.files;
            report.bytes_transferred = item.bytes.max(shown);
            ctx.progress
                .add(item.files, item.bytes.saturating_sub(shown));
        }
        Ok(Written { report, memo: None })
    }

    fn verify_item(
        &self,
        item: &Item,
        _ctx: &ItemCtx,
        _memo: Option<&Memo>,
        report: &mut ItemReport,
    ) -> Result<(), ItemError> {
        let runner = self.runner();
        let place = self.place(&item.key);
        if self.verify_only {
            return self.verify_only_item(&runner, &place, report);
        }
        let (_, next) = self.next(&runner, &place).map_err(ItemError)?;
        let remove = |report: &mut ItemReport, action: &str| {
            steps::remove_aside(&runner, &place, &self.params.appdata).map_err(|e| {
                ItemError(format!(
                    "service {}: verified, but removing the aside copy failed: {e}; resume the job to finish",
                    place.name
                ))
            })?;
            self.row(report, &place, &place.dataset, action);
            Ok(())
        };
        match next {
            Next::AlreadyDataset(ds) => {
                self.row(report, &place, &ds, "already a dataset");
                Ok(())
            }
            Next::Done => {
                self.row(report, &place, &place.dataset, "converted earlier");
                Ok(())
            }
            Next::FinishRemoval => remove(report, "converted"),
            // The state run_item leaves: aside copy and this job's dataset.
            Next::Redo => {
                if let Err(why) = self.compare(&runner, &place, report) {
                    return Err(self.put_back(&runner, &place, why));
                }
                remove(report, "converted")
            }
            Next::Refuse(why) => Err(ItemError(why)),
            Next::Start | Next::Create => Err(ItemError(format!(
                "service {}: {} is not converted (no dataset {})",
                place.name, place.dir, place.dataset
            ))),
        }
    }

    fn verify_label(&self) -> String {
        self.params.verify.label(self.params.seed)
    }

    /// The appdata directory, for a local node; a remote node's is not
    /// reachable by a lock on this machine.
    fn lock_target(&self) -> Option<PathBuf> {
        self.node
            .ssh
            .is_none()
            .then(|| PathBuf::from(&self.params.appdata))
    }

    fn rollback_preview(&self) -> Result<Preview> {
        let runner = self.runner();
        let mut destroy = Change::new("destroy");
        let mut back = Change::new("move back");
        for s in &self.params.services {
            let place = self.place(s);
            let (state, _) = self.next(&runner, &place).map_err(bad)?;
            if state.aside == Entry::Absent {
                continue;
            }
            if state
                .dataset
                .as_ref()
                .is_some_and(|d| d.created.as_deref() == Some(self.params.token.as_str()))
            {
                destroy.add(|| place.dataset.clone());
            }
            back.add(|| format!("{} -> {}", place.aside, place.dir));
        }
        Ok(Preview {
            changes: vec![destroy, back],
            objection: None,
            name: Some(self.params.dataset.clone()),
        })
    }

    fn rollback(&self) -> Result<String> {
        let runner = self.runner();
        let mut lines = Vec::new();
        for s in &self.params.services {
            lines.push(self.rollback_one(&runner, &self.place(s))?);
        }
        Ok(lines.join("\n"))
    }
}
