//! zfs-transfer: a node's services (a stack) moved to another node, one
//! item per service. With ZFS on both nodes: snapshot the source dataset
//! (`@cutover-<time>`, named once per job so a resume continues it), find
//! the newest snapshot both sides share (by guid), and pump `zfs send`
//! (full or incremental, compressed where both sides can) through cutover
//! into `zfs receive` under the target node's parent dataset, mounted at
//! its `APPDATA/S` (`send.rs`). Without ZFS on either side: rsync over SSH
//! of the service directory (`rsync.rs`). Verification (`check.rs`): the
//! target holds the source snapshot's guid, and the two snapshots' trees
//! are equal (full or a seeded sample); with `--final`, the live source
//! also still equals its snapshot — nothing changed after it.
//!
//! The stream's rate limit is a shared atomic ([`ZfsTransfer::rate_limit`])
//! read at every chunk, so it can change while the job runs.

pub mod check;
pub mod console;
pub mod fleet;
pub mod kind;
pub mod pump;
pub mod route;
pub mod rsync;
pub mod send;
pub mod state;

use std::path::PathBuf;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::job::event::ItemReport;
use crate::job::{Change, Item, ItemCtx, ItemError, Memo, Migration, Plan, Preview, Written};
use crate::nodes::runner::NodeRunner;
use crate::nodes::zfs::NodeZfs;
use crate::nodes::Node;
use crate::verify::VerifyMode;
use pump::RateLimit;
use route::{Planned, Route};

/// Kind name on the command line.
pub const KIND: &str = "zfs-transfer";

/// User property on what cutover creates (a received dataset): the job's token.
pub const CREATED: &str = "cutover:created";

/// User property on the source snapshots cutover takes: the job's token.
pub const JOB: &str = "cutover:job";

/// What the operator asked for; journalled so `cutover resume` rebuilds the job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// The node the services leave.
    pub from: String,
    /// The node they go to.
    pub to: String,
    /// The services, one item each.
    pub services: Vec<String>,
    /// The final pass: the services are stopped; the source must not change
    /// after its snapshot.
    #[serde(rename = "final")]
    pub final_pass: bool,
    /// How items are verified.
    pub verify: VerifyMode,
    /// Seed of a sampled verification.
    pub seed: u64,
    /// The snapshot this job takes on the source (`cutover-YYYYMMDD-HHMMSS`).
    pub snapshot: String,
    /// Marks what this job creates.
    pub token: String,
    /// Bytes per second at the start (0: none).
    pub bwlimit: u64,
    /// Replace a target dataset cutover created that shares no snapshot with the source.
    pub force_full: bool,
    /// The state directory (the SSH connections' sockets, `nodes.toml`).
    pub state_dir: PathBuf,
    /// `--nodes FILE` when it was given.
    pub nodes_file: Option<PathBuf>,
}

/// The snapshot name for a job started now: `cutover-20261202-145000`.
pub fn snapshot_name() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let digits: String = crate::report::utc(secs)
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let (day, time) = digits.split_at(digits.len().min(8));
    format!("cutover-{day}-{time}")
}

/// A zfs-transfer job.
pub struct ZfsTransfer {
    params: Params,
    from: Node,
    to: Node,
    verify_only: bool,
    limit: RateLimit,
    planned: OnceLock<Vec<Planned>>,
    /// Built by the console: a target cutover created that shares no
    /// snapshot with the source is planned (and shown) as replaced, and
    /// [`Migration::guard`] objects until the operator types the node's name.
    console: bool,
}

impl ZfsTransfer {
    /// A job on `params` (`verify_only`: `cutover verify`); the nodes are
    /// looked up in the inventory.
    pub fn new(params: Params, verify_only: bool) -> Result<Self> {
        let nodes = match &params.nodes_file {
            Some(f) => crate::nodes::file::load(Some(f), &params.state_dir)?,
            None => crate::nodes::load(&params.state_dir)?,
        };
        let from = crate::nodes::file::find(&nodes, &params.from)
            .map_err(|e| Error::bad(format!("--from: {e}")))?
            .clone();
        let to = crate::nodes::file::find(&nodes, &params.to)
            .map_err(|e| Error::bad(format!("--to: {e}")))?
            .clone();
        let limit = RateLimit::new(params.bwlimit);
        Ok(ZfsTransfer {
            params,
            from,
            to,
            verify_only,
            limit,
            planned: OnceLock::new(),
            console: false,
        })
    }

    /// Rebuild from journalled parameters (`resume`, `rollback`).
    pub fn from_params(value: &serde_json::Value) -> Result<Self> {
        let params: Params = crate::job::journalled_params(KIND, value)?;
        ZfsTransfer::new(params, false)
    }

    /// The same job as the console runs it: a target to replace is
    /// planned and previewed, and objected to until the operator confirms
    /// (then `force_full`).
    pub fn in_console(mut self) -> Self {
        self.console = true;
        self
    }

    /// Whether the job was built by the console.
    pub fn console(&self) -> bool {
        self.console
    }

    /// The target datasets the job would destroy and send in full (they
    /// exist, cutover created them, they share no snapshot with the
    /// source and hold no partial receive), once planned.
    pub fn replaced(&self) -> Vec<String> {
        let Some(planned) = self.planned.get() else {
            return Vec::new();
        };
        planned
            .iter()
            .filter_map(|p| {
                let (src, dst) = (p.src_state.as_ref()?, p.dst_state.as_ref()?);
                let replace = dst.exists
                    && dst.resume_token.is_none()
                    && crate::nodes::zfs::newest_common(&src.snapshots, &dst.snapshots).is_none();
                replace.then(|| dst.name.clone())
            })
            .collect()
    }

    /// The rsync target directories holding files cutover did not write,
    /// which a transfer would make exact copies of the source.
    pub fn overwritten(&self) -> Vec<String> {
        let Some(planned) = self.planned.get() else {
            return Vec::new();
        };
        planned
            .iter()
            .filter(|p| p.rsync_target == Some(rsync::TargetDir::Foreign))
            .filter_map(|p| match &p.route {
                Route::Rsync { dst, .. } => Some(crate::names::display(dst)),
                Route::Zfs { .. } => None,
            })
            .collect()
    }

    /// The parameters.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The stream's rate limit, changeable while the job runs (0: none).
    pub fn rate_limit(&self) -> &RateLimit {
        &self.limit
    }

    /// A runner on the source node.
    fn run_from(&self) -> NodeRunner<'_> {
        NodeRunner::new(&self.from, &self.params.state_dir)
    }

    /// A runner on the target node.
    fn run_to(&self) -> NodeRunner<'_> {
        NodeRunner::new(&self.to, &self.params.state_dir)
    }

    /// Refusals that need no node: names, repeats, the same node twice.
    fn validate(&self) -> Result<()> {
        if self.params.services.is_empty() {
            return Err(Error::bad("give at least one --service NAME"));
        }
        for (i, s) in self.params.services.iter().enumerate() {
            crate::sys::zfs::check_child(s)
                .map_err(|why| Error::bad(format!("--service '{s}': {why}")))?;
            if self.params.services[..i].contains(s) {
                return Err(Error::bad(format!("--service '{s}' is given twice")));
            }
        }
        if self.from.name == self.to.name {
            return Err(Error::bad(format!(
                "--from and --to are both node '{}': give two different nodes",
                self.from.name
            )));
        }
        for node in [&self.from, &self.to] {
            if let Some(ds) = &node.dataset {
                crate::sys::zfs::check_dataset(ds).map_err(|why| {
                    Error::bad(format!("node {}: dataset in nodes.toml: {why}", node.name))
                })?;
            }
        }
        Ok(())
    }

    fn planned(&self, item: &Item) -> Result<&Planned, ItemError> {
        self.planned
            .get()
            .ok_or_else(|| ItemError("the job was not planned".into()))?
            .iter()
            .find(|p| p.service == item.key)
            .ok_or_else(|| ItemError(format!("service {} is not in the plan", item.key)))
    }

    /// The source snapshot a verification compares: this job's, or (for
    /// `cutover verify`) the newest one both sides have.
    fn snapshot_to_check(&self, src: &str, dst: &str) -> Result<String, ItemError> {
        if !self.verify_only {
            return Ok(self.params.snapshot.clone());
        }
        let rf = self.run_from();
        let rt = self.run_to();
        let a = NodeZfs::new(&rf).snapshots(src).map_err(ItemError)?;
        let b = NodeZfs::new(&rt).snapshots(dst).map_err(ItemError)?;
        crate::nodes::zfs::newest_common(&a, &b)
            .map(|s| s.name.clone())
            .ok_or_else(|| {
                ItemError(format!(
                    "{dst} on node {} shares no snapshot with {src}: nothing to verify",
                    self.to.name
                ))
            })
    }
}

impl Migration for ZfsTransfer {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn units(&self) -> crate::job::Units {
        kind::UNITS
    }

    fn params(&self) -> serde_json::Value {
        serde_json::to_value(&self.params).unwrap_or(serde_json::Value::Null)
    }

    fn mode(&self) -> &'static str {
        if self.params.final_pass {
            "final"
        } else {
            "migrate"
        }
    }

    fn check(&self) -> Result<()> {
        self.validate()
    }

    fn plan(&self) -> Result<Plan> {
        self.validate()?;
        let planned = route::plan(self)?;
        let mut plan = Plan::default();
        for p in &planned {
            plan.bytes_total += p.estimate.unwrap_or(0);
            plan.items.push(Item {
                key: p.service.clone(),
                files: 0,
                bytes: p.estimate.unwrap_or(0),
            });
        }
        let _ = self.planned.set(planned);
        Ok(plan)
    }

    fn describe_item(&self, item: &Item) -> Vec<String> {
        match self.planned(item) {
            Ok(p) => route::describe(self, p),
            Err(e) => vec![e.0],
        }
    }

    fn run_item(&self, item: &Item, ctx: &ItemCtx) -> Result<Written, ItemError> {
        let p = self.planned(item)?;
        let started = std::time::Instant::now();
        let mut report = match &p.route {
            Route::Zfs { .. } => send::run(self, p, ctx)?,
            Route::Rsync { .. } => rsync::run(self, p, ctx)?,
        };
        report.elapsed_s = started.elapsed().as_secs_f64();
        Ok(Written { report, memo: None })
    }

    fn verify_item(
        &self,
        item: &Item,
        ctx: &ItemCtx,
        _memo: Option<&Memo>,
        report: &mut ItemReport,
    ) -> Result<(), ItemError> {
        let p = self.planned(item)?;
        let _ = ctx;
        let started = std::time::Instant::now();
        let result = match &p.route {
            Route::Zfs { src, dst, .. } => self
                .snapshot_to_check(src, dst)
                .and_then(|snap| check::zfs(self, p, &snap, report)),
            Route::Rsync { .. } => check::rsync(self, p, report),
        };
        report.rows.push(crate::job::event::Row::of(
            "check",
            &check::CheckRow {
                service: p.service.clone(),
                entries: report.files,
                hashed: report.files_hashed,
                equal: result.is_ok(),
                seconds: started.elapsed().as_secs_f64(),
            },
        ));
        result
    }

    fn verify_label(&self) -> String {
        self.params.verify.label(self.params.seed)
    }

    /// A target the job would replace needs the operator's typed
    /// confirmation (`--force-full`); only the console's jobs get here
    /// with one (the command line refuses it while planning).
    fn guard(&self, earlier: &[crate::job::Earlier]) -> Result<()> {
        let _ = earlier;
        if self.params.force_full || self.verify_only {
            return Ok(());
        }
        let overwritten = self.overwritten();
        if !overwritten.is_empty() {
            return Err(Error::bad(format!(
                "{} on node {} {} files cutover did not put there: rsync --delete would remove what the source lacks (--force-full)",
                overwritten.join(", "),
                self.params.to,
                if overwritten.len() == 1 { "holds" } else { "hold" }
            )));
        }
        let replaced = self.replaced();
        if replaced.is_empty() {
            return Ok(());
        }
        Err(Error::bad(format!(
            "{} on node {} {} no snapshot with the source: an incremental cannot start; it is destroyed and sent in full (--force-full)",
            replaced.join(", "),
            self.params.to,
            if replaced.len() == 1 { "shares" } else { "share" }
        )))
    }

    /// What the transfer would do, service by service: datasets destroyed
    /// and sent in full, full and incremental sends, resumed receives,
    /// rsync; the name to type over the objection is the target node's.
    fn preview(&self, plan: &Plan) -> Result<Option<Preview>> {
        let _ = plan;
        Ok(self
            .planned
            .get()
            .map(|planned| console::preview(self, planned)))
    }

    /// The stream's live limit: the console's `[` / `]` change it.
    fn rate_limit(&self) -> Option<std::sync::Arc<std::sync::atomic::AtomicU64>> {
        Some(self.limit.shared())
    }

    fn rollback_preview(&self) -> Result<Preview> {
        let mut destroy = Change::new("destroy");
        for (name, _) in route::created(self)? {
            destroy.add(|| name);
        }
        Ok(Preview {
            changes: vec![destroy],
            objection: None,
            name: Some(self.params.to.clone()),
        })
    }

    fn rollback(&self) -> Result<String> {
        let made = route::created(self)?;
        if made.is_empty() {
            return Ok(format!(
                "nothing to undo: no dataset or snapshot of this job on node {} or {} (a directory rsync wrote is left as it is)",
                self.from.name, self.to.name
            ));
        }
        let mut done = Vec::new();
        for (name, on_target) in &made {
            let (runner, node) = if *on_target {
                (self.run_to(), &self.to.name)
            } else {
                (self.run_from(), &self.from.name)
            };
            NodeZfs::new(&runner)
                .destroy(name, true)
                .map_err(Error::bad)?;
            done.push(format!("{name} on node {node}"));
        }
        Ok(format!(
            "destroyed {}; the source's data was not touched",
            done.join(", ")
        ))
    }
}
