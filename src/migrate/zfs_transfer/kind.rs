//! zfs-transfer as the command line and the front ends see it.

use std::path::PathBuf;

use clap::{ArgMatches, Args};

use super::{pump, Params, ZfsTransfer, KIND};
use crate::error::{Error, Result};
use crate::job::event::Row;
use crate::job::kind::{typed, Built, CommonArgs};
use crate::job::{Kind, Migration, RunDefaults, Units};
use crate::verify::VerifyMode;

/// Items are services; a stream is counted in bytes.
pub const UNITS: Units = Units {
    item: "service",
    entries: "entries",
    written: "streams",
};

/// The arguments of `cutover run|verify zfs-transfer`.
#[derive(Debug, Args, Clone)]
pub struct ZfsTransferArgs {
    /// The node the services leave (a name in nodes.toml; `local` is this
    /// machine). Repeat for a job over several nodes; each --service is then
    /// NODE/SERVICE.
    #[arg(long, value_name = "NODE", required = true)]
    pub from: Vec<String>,
    /// The node they go to.
    #[arg(long, value_name = "NODE")]
    pub to: String,
    /// A service (its dataset DATASET/S, its directory APPDATA/S); repeat for a stack.
    #[arg(long = "service", value_name = "S", required = true)]
    pub services: Vec<String>,
    /// The last increment, services stopped: also check that the source did not change after its snapshot.
    #[arg(long = "final")]
    pub final_pass: bool,
    /// Bandwidth limit, e.g. 50M (K, M, G; a bare number is KiB/s as rsync's).
    #[arg(long, value_name = "RATE")]
    pub bwlimit: Option<String>,
    /// Replace a target dataset cutover created that shares no snapshot with the source.
    #[arg(long)]
    pub force_full: bool,
}

/// The zfs-transfer kind.
pub struct ZfsTransferKind;

/// Most source nodes a job over several nodes moves from at once.
const NODES_AT_ONCE: usize = 8;

/// A job over `nodes` source nodes: one service per node at a time (the
/// job keeps each node to its turn), up to [`NODES_AT_ONCE`] nodes at once.
pub(super) fn fleet_defaults(nodes: usize) -> RunDefaults {
    RunDefaults {
        parallel: Some(nodes.clamp(1, NODES_AT_ONCE)),
        batch: None,
    }
}

impl Kind for ZfsTransferKind {
    fn name(&self) -> &'static str {
        KIND
    }

    fn about(&self) -> &'static str {
        "A stack's services from one node to another: ZFS send/receive over SSH (incremental from the newest common snapshot), rsync where a node has no ZFS"
    }

    fn units(&self) -> Units {
        UNITS
    }

    /// One service at a time: the link is the limit.
    fn run_defaults(&self) -> RunDefaults {
        RunDefaults {
            parallel: Some(1),
            batch: None,
        }
    }

    fn args(&self, cmd: clap::Command) -> clap::Command {
        ZfsTransferArgs::augment_args(cmd)
    }

    fn build(&self, args: &ArgMatches, common: &CommonArgs, verify_only: bool) -> Result<Built> {
        let a: ZfsTransferArgs = typed(args)?;
        let global = |id: &str| args.try_get_one::<PathBuf>(id).ok().flatten().cloned();
        let state_dir = crate::state_dir::resolve(global("state_dir"))?;
        let bwlimit = match &a.bwlimit {
            Some(r) => pump::parse_rate(r).map_err(Error::bad)?,
            None => 0,
        };
        let params = Params {
            from: a.from.first().cloned().unwrap_or_default(),
            to: a.to,
            services: a.services,
            final_pass: a.final_pass && !verify_only,
            verify: common.verify_or("full").parse::<VerifyMode>()?,
            seed: common.seed(),
            snapshot: super::snapshot_name(),
            token: crate::job::token::new_token(),
            bwlimit,
            force_full: a.force_full && !verify_only,
            state_dir,
            nodes_file: global("nodes_file"),
        };
        if a.from.len() > 1 {
            let fleet = super::fleet::Fleet::split_services(&params, &a.from, &params.services)?;
            let nodes = fleet.fleet.len();
            let job = super::fleet::Fleet::new(fleet, verify_only)?;
            job.check()?;
            return Ok(Built {
                migration: Box::new(job),
                defaults: fleet_defaults(nodes),
            });
        }
        let job = ZfsTransfer::new(params, verify_only)?;
        job.check()?;
        Ok(Built {
            migration: Box::new(job),
            defaults: self.run_defaults(),
        })
    }

    fn rebuild(&self, params: &serde_json::Value) -> Result<Box<dyn Migration>> {
        if params.get("fleet").is_some() {
            return Ok(Box::new(super::fleet::Fleet::from_params(params)?));
        }
        Ok(Box::new(ZfsTransfer::from_params(params)?))
    }

    /// A job over several nodes: a node at a time each, several at once.
    fn resume_defaults(&self, params: &serde_json::Value) -> RunDefaults {
        match params.get("fleet").and_then(|f| f.as_array()) {
            Some(parts) => fleet_defaults(parts.len()),
            None => self.run_defaults(),
        }
    }

    fn modes(&self) -> &'static [crate::job::console::RunMode] {
        super::console::MODES
    }

    /// A transfer shows what it sends and destroys first.
    fn asks_first(&self, mode: crate::job::console::RunMode) -> bool {
        mode != crate::job::console::RunMode::Verify
    }

    fn node_sources(
        &self,
        seen: &crate::job::console::NodesSeen,
    ) -> Vec<crate::job::console::Source> {
        super::console::sources(seen)
    }

    fn pick_node(
        &self,
        source: &crate::job::console::Source,
        to: &str,
        seen: &crate::job::console::NodesSeen,
    ) -> Result<crate::job::console::Source> {
        super::console::pick(source, to, seen)
    }

    /// Node services run together whatever their node or stack: one job
    /// moves services of several nodes (a part per source node).
    fn runs_with(
        &self,
        first: &crate::job::console::Source,
        other: &crate::job::console::Source,
    ) -> bool {
        first.node.is_some() && other.node.is_some()
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

    fn job_phase(&self, params: &serde_json::Value) -> Option<&'static str> {
        (params.get("final").and_then(|v| v.as_bool()) == Some(true)).then_some("final")
    }

    /// The item line in the console: the nodes, how the service went,
    /// what crossed the wire and under which limit, what was checked.
    fn item_detail(&self, r: &crate::job::ItemReport, verify_only: bool) -> String {
        let mut parts = Vec::new();
        if let Some(t) = r.rows.iter().find(|row| row.name == "transfer") {
            let f = |k: &str| t.fields.get(k).cloned().unwrap_or_default();
            let text = |k: &str| f(k).as_str().unwrap_or_default().to_string();
            parts.push(format!("{} → {}", text("from"), text("to")));
            let base = f("base")
                .as_str()
                .map(|b| format!(" from @{b}"))
                .unwrap_or_default();
            parts.push(format!("{}{base}", text("method")));
            let limit = match f("bwlimit").as_u64().unwrap_or(0) {
                0 => String::new(),
                b => format!(" (limit {}/s)", crate::fmt::bytes(b)),
            };
            parts.push(format!(
                "{} sent{limit}",
                crate::fmt::bytes(f("bytes_sent").as_u64().unwrap_or(0))
            ));
        } else if !verify_only {
            parts.push("nothing sent".to_string());
        }
        parts.push(format!(
            "{} entries checked, {} hashed",
            crate::fmt::count(r.files),
            crate::fmt::count(r.files_hashed)
        ));
        parts.push(format!("{:.1}s", r.elapsed_s));
        parts.join(" · ")
    }

    /// One line per service: how it went and what crossed the wire.
    fn row_lines(&self, rows: &[Row], _header: bool) -> Vec<String> {
        rows.iter()
            .map(|r| {
                let f = |k: &str| r.fields.get(k).cloned().unwrap_or_default();
                let n = |k: &str| f(k).as_u64().unwrap_or(0);
                let s = |k: &str| f(k).as_str().map(str::to_string);
                if r.name == "check" {
                    return format!(
                        "  {} checked: {} entries, {} hashed, {:.1}s",
                        s("service").unwrap_or_default(),
                        n("entries"),
                        n("hashed"),
                        f("seconds").as_f64().unwrap_or(0.0)
                    );
                }
                let limit = match n("bwlimit") {
                    0 => "no limit".to_string(),
                    b => format!("limit {}/s", crate::fmt::bytes(b)),
                };
                let base = s("base").map(|b| format!(" from @{b}")).unwrap_or_default();
                format!(
                    "  {} {}{base}: {} sent in {:.1}s ({limit}{})",
                    s("service").unwrap_or_default(),
                    s("method").unwrap_or_default(),
                    crate::fmt::bytes(n("bytes_sent")),
                    f("seconds").as_f64().unwrap_or(0.0),
                    if f("raw").as_bool() == Some(true) {
                        ", raw: still encrypted"
                    } else if f("compressed").as_bool() == Some(true) {
                        ", compressed"
                    } else {
                        ""
                    }
                )
            })
            .collect()
    }
}
