//! One job moving the services of several source nodes (`--from` given
//! more than once, each `--service NODE/S`): a [`ZfsTransfer`] per source
//! node, its items keyed `NODE/S`. Nodes are planned at once; a node that
//! cannot be reached fails only its own items (with why), promptly, and the
//! others go on. A node's services run one at a time, so each node keeps to
//! its one shared connection whatever the job's parallelism.

use std::sync::{Mutex, OnceLock};

use serde::{Deserialize, Serialize};

use super::{Params, ZfsTransfer, KIND};
use crate::error::{Error, Result};
use crate::job::event::ItemReport;
use crate::job::{Change, Item, ItemCtx, ItemError, Memo, Migration, Plan, Preview, Written};

/// The journalled parameters: one [`Params`] per source node.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FleetParams {
    /// Each source node's part of the job.
    pub fleet: Vec<Params>,
}

/// One source node's part.
struct Part {
    node: String,
    job: ZfsTransfer,
    /// Why planning it failed (its items fail with this).
    unplanned: OnceLock<Option<String>>,
    /// One service of this node at a time.
    turn: Mutex<()>,
}

/// A zfs-transfer job over several source nodes.
pub struct Fleet {
    parts: Vec<Part>,
    /// The one live limit every node's stream follows (the console's `[`/`]`).
    limit: super::pump::RateLimit,
}

/// `NODE/S` split.
fn split(key: &str) -> Option<(&str, &str)> {
    key.split_once('/')
}

impl Fleet {
    /// A job of `params`, one part per source node.
    pub fn new(params: FleetParams, verify_only: bool) -> Result<Fleet> {
        let parts = params
            .fleet
            .into_iter()
            .map(|p| {
                Ok(Part {
                    node: p.from.clone(),
                    job: ZfsTransfer::new(p, verify_only)?,
                    unplanned: OnceLock::new(),
                    turn: Mutex::new(()),
                })
            })
            .collect::<Result<Vec<Part>>>()?;
        let limit = super::pump::RateLimit::new(parts.first().map_or(0, |p| p.job.params.bwlimit));
        let mut parts = parts;
        for p in &mut parts {
            p.job.limit = limit.clone();
        }
        Ok(Fleet { parts, limit })
    }

    /// The same job as the console runs it (see [`ZfsTransfer::in_console`]).
    pub fn in_console(mut self) -> Self {
        for p in &mut self.parts {
            p.job.console = true;
        }
        self
    }

    /// Rebuild from journalled parameters (`resume`, `rollback`).
    pub fn from_params(value: &serde_json::Value) -> Result<Fleet> {
        let params: FleetParams = crate::job::journalled_params(KIND, value)?;
        Fleet::new(params, false)
    }

    /// Split `--service NODE/S…` over the `--from` nodes: one [`Params`]
    /// per node, from `base` (whose `from` and `services` are replaced).
    pub fn split_services(
        base: &Params,
        from: &[String],
        services: &[String],
    ) -> Result<FleetParams> {
        let mut fleet: Vec<Params> = from
            .iter()
            .map(|node| Params {
                from: node.clone(),
                services: Vec::new(),
                ..base.clone()
            })
            .collect();
        for s in services {
            let Some((node, service)) = split(s) else {
                return Err(Error::bad(format!(
                    "--service '{s}': with several --from, name each service NODE/SERVICE"
                )));
            };
            let part = fleet.iter_mut().find(|p| p.from == node).ok_or_else(|| {
                Error::bad(format!(
                    "--service '{s}': node '{node}' is not one of the --from nodes"
                ))
            })?;
            part.services.push(service.to_string());
        }
        if let Some(empty) = fleet.iter().find(|p| p.services.is_empty()) {
            return Err(Error::bad(format!(
                "--from {}: no --service {}/NAME names one of its services",
                empty.from, empty.from
            )));
        }
        Ok(FleetParams { fleet })
    }

    fn part(&self, item: &Item) -> Result<(&Part, Item), ItemError> {
        let (node, service) = split(&item.key)
            .ok_or_else(|| ItemError(format!("item {} is not NODE/S", item.key)))?;
        let part = self
            .parts
            .iter()
            .find(|p| p.node == node)
            .ok_or_else(|| ItemError(format!("node {node} is not in this job")))?;
        if let Some(Some(why)) = part.unplanned.get() {
            return Err(ItemError(why.clone()));
        }
        Ok((
            part,
            Item {
                key: service.to_string(),
                ..item.clone()
            },
        ))
    }
}

impl Migration for Fleet {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn units(&self) -> crate::job::Units {
        super::kind::UNITS
    }

    fn params(&self) -> serde_json::Value {
        let fleet: Vec<serde_json::Value> = self
            .parts
            .iter()
            .map(|p| Migration::params(&p.job))
            .collect();
        serde_json::json!({ "fleet": fleet })
    }

    fn mode(&self) -> &'static str {
        self.parts.first().map_or("migrate", |p| p.job.mode())
    }

    fn check(&self) -> Result<()> {
        self.parts.iter().try_for_each(|p| p.job.check())
    }

    /// Every node planned at once; one that cannot be planned (unreachable,
    /// no such service) keeps its items, which fail with why.
    fn plan(&self) -> Result<Plan> {
        let planned: Vec<Result<Plan>> = std::thread::scope(|s| {
            let handles: Vec<_> = self
                .parts
                .iter()
                .map(|p| s.spawn(|| p.job.plan()))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(Error::bad("planning a node failed")))
                })
                .collect()
        });
        let mut plan = Plan::default();
        for (part, got) in self.parts.iter().zip(planned) {
            match got {
                Ok(p) => {
                    let _ = part.unplanned.set(None);
                    plan.files_total += p.files_total;
                    plan.bytes_total += p.bytes_total;
                    plan.items.extend(p.items.into_iter().map(|i| Item {
                        key: format!("{}/{}", part.node, i.key),
                        ..i
                    }));
                }
                Err(e) => {
                    let _ = part.unplanned.set(Some(e.to_string()));
                    plan.items
                        .extend(part.job.params.services.iter().map(|s| Item {
                            key: format!("{}/{s}", part.node),
                            files: 0,
                            bytes: 0,
                        }));
                }
            }
        }
        Ok(plan)
    }

    fn describe_item(&self, item: &Item) -> Vec<String> {
        match self.part(item) {
            Ok((part, inner)) => part.job.describe_item(&inner),
            Err(e) => vec![e.0],
        }
    }

    fn run_item(&self, item: &Item, ctx: &ItemCtx) -> Result<Written, ItemError> {
        let (part, inner) = self.part(item)?;
        let _turn = part
            .turn
            .lock()
            .map_err(|_| ItemError("a node's turn was poisoned".into()))?;
        part.job.run_item(&inner, ctx)
    }

    fn verify_item(
        &self,
        item: &Item,
        ctx: &ItemCtx,
        memo: Option<&Memo>,
        report: &mut ItemReport,
    ) -> Result<(), ItemError> {
        let (part, inner) = self.part(item)?;
        let _turn = part
            .turn
            .lock()
            .map_err(|_| ItemError("a node's turn was poisoned".into()))?;
        part.job.verify_item(&inner, ctx, memo, report)
    }

    fn verify_label(&self) -> String {
        self.parts
            .first()
            .map(|p| p.job.verify_label())
            .unwrap_or_default()
    }

    fn guard(&self, earlier: &[crate::job::Earlier]) -> Result<()> {
        self.parts.iter().try_for_each(|p| p.job.guard(earlier))
    }

    /// One limit for every node's stream, changed live by the console.
    fn rate_limit(&self) -> Option<std::sync::Arc<std::sync::atomic::AtomicU64>> {
        Some(self.limit.shared())
    }

    /// Every node's preview, change by change (destroy, full, incremental…),
    /// each name as `NODE/S`; the first objection stands for the job.
    fn preview(&self, plan: &Plan) -> Result<Option<Preview>> {
        let mut merged: Vec<Change> = Vec::new();
        let mut objection = None;
        let mut name = None;
        for p in &self.parts {
            if let Some(Some(why)) = p.unplanned.get() {
                // Said before the operator confirms: these items will fail.
                let mut fail = Change::new(&format!("fail ({why})"));
                for service in &p.job.params.services {
                    fail.add(|| format!("{}/{service}", p.node));
                }
                merged.push(fail);
                continue;
            }
            let Some(preview) = p.job.preview(plan)? else {
                continue;
            };
            for mut c in preview.changes {
                c.first = c.first.iter().map(|n| format!("{}/{n}", p.node)).collect();
                match merged.iter_mut().find(|m| m.verb == c.verb) {
                    Some(m) => m.merge(c),
                    None => merged.push(c),
                }
            }
            if objection.is_none() && preview.objection.is_some() {
                objection = preview.objection;
                name = preview.name;
            }
        }
        Ok(Some(Preview {
            changes: merged,
            objection,
            name,
        }))
    }

    fn rollback_preview(&self) -> Result<Preview> {
        let mut destroy = Change::new("destroy");
        for p in &self.parts {
            for c in p.job.rollback_preview()?.changes {
                destroy.merge(c);
            }
        }
        Ok(Preview {
            changes: vec![destroy],
            objection: None,
            name: self.parts.first().map(|p| p.job.params.to.clone()),
        })
    }

    fn rollback(&self) -> Result<String> {
        let said: Vec<String> = self
            .parts
            .iter()
            .map(|p| p.job.rollback().map(|s| format!("{}: {s}", p.node)))
            .collect::<Result<_>>()?;
        Ok(said.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Params {
        Params {
            from: String::new(),
            to: "local".into(),
            services: Vec::new(),
            final_pass: false,
            verify: crate::verify::VerifyMode::Full,
            seed: 1,
            snapshot: "cutover-x".into(),
            token: "t".into(),
            bwlimit: 0,
            force_full: false,
            state_dir: "/s".into(),
            nodes_file: None,
        }
    }

    /// [`base`] in state directory `dir`, with nodes `a` and `b` there.
    fn two_nodes(dir: &std::path::Path) -> Params {
        let nodes = dir.join("nodes.toml");
        std::fs::write(&nodes, "[[node]]\nname = \"a\"\n\n[[node]]\nname = \"b\"\n")
            .expect("write");
        Params {
            state_dir: dir.to_path_buf(),
            nodes_file: Some(nodes),
            ..base()
        }
    }

    #[test]
    fn every_node_follows_one_live_limit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut p = two_nodes(dir.path());
        p.bwlimit = 1 << 20;
        let from = vec!["a".to_string(), "b".to_string()];
        let services: Vec<String> = ["a/web", "b/db"].map(String::from).to_vec();
        let fleet = Fleet::new(
            Fleet::split_services(&p, &from, &services).expect("split"),
            false,
        )
        .expect("fleet");
        let limit = fleet.rate_limit().expect("a limit");
        assert_eq!(limit.load(std::sync::atomic::Ordering::Relaxed), 1 << 20);
        limit.store(4096, std::sync::atomic::Ordering::Relaxed);
        for part in &fleet.parts {
            assert_eq!(part.job.rate_limit().get(), 4096, "{}", part.node);
        }
    }

    #[test]
    fn a_node_that_cannot_be_planned_is_named_in_the_preview() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = two_nodes(dir.path());
        let from = vec!["a".to_string(), "b".to_string()];
        let services: Vec<String> = ["a/web", "b/db", "b/cache"].map(String::from).to_vec();
        let fleet = Fleet::new(
            Fleet::split_services(&p, &from, &services).expect("split"),
            false,
        )
        .expect("fleet");
        let _ = fleet.parts[1]
            .unplanned
            .set(Some("node b: connection refused".into()));
        let preview = fleet
            .preview(&Plan::default())
            .expect("preview")
            .expect("some preview");
        let fail = preview
            .changes
            .iter()
            .find(|c| c.verb.starts_with("fail"))
            .expect("the failing node is said");
        assert_eq!(fail.verb, "fail (node b: connection refused)");
        assert_eq!(fail.first, vec!["b/db", "b/cache"]);
        assert_eq!(fail.count, 2);
    }

    #[test]
    fn services_are_split_over_their_nodes() {
        let from = vec!["a".to_string(), "b".to_string()];
        let services: Vec<String> = ["a/web", "b/db", "a/redis"].map(String::from).to_vec();
        let p = Fleet::split_services(&base(), &from, &services).expect("split");
        assert_eq!(p.fleet[0].services, ["web", "redis"]);
        assert_eq!(p.fleet[1].services, ["db"]);
        let bare = Fleet::split_services(&base(), &from, &["web".to_string()]);
        assert!(bare.is_err_and(|e| e.to_string().contains("NODE/SERVICE")));
        let other = Fleet::split_services(&base(), &from, &["c/web".to_string()]);
        assert!(other.is_err_and(|e| e.to_string().contains("not one of the --from")));
        let idle = Fleet::split_services(&base(), &from, &["a/web".to_string()]);
        assert!(idle.is_err_and(|e| e.to_string().contains("--from b")));
    }
}
