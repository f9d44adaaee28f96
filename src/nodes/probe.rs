//! `cutover nodes [--json]`: every node probed in parallel (one connection
//! each): reachable or not and why, its host name, free space under its
//! appdata, whether it has ZFS and its parent dataset, and its services.

use std::path::Path;

use serde::Serialize;

use super::file::Node;
use super::runner::NodeRunner;
use super::services::{self, Service, Stack};
use crate::error::Result;
use crate::names::display_name;
use crate::outln;

/// What probing a node found.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Probed {
    /// The node.
    pub name: String,
    /// `user@host`, none for this machine.
    pub ssh: Option<String>,
    /// Whether a command ran there.
    pub reachable: bool,
    /// Why not, or what is missing.
    pub why: Option<String>,
    /// Its host name.
    pub hostname: Option<String>,
    /// Free bytes under its appdata.
    pub free_bytes: Option<u64>,
    /// Whether `zfs` runs there.
    pub zfs: bool,
    /// What its ZFS can do, in words (none without ZFS).
    pub dialect: Option<String>,
    /// Its services: the directories under its appdata.
    pub services: Vec<Service>,
    /// Services that move together (by shared prefix or a compose file).
    pub stacks: Vec<Stack>,
}

impl Probed {
    /// A node not (yet) reached: nothing known but its name and address.
    pub fn unreached(name: &str, ssh: Option<String>, why: Option<String>) -> Probed {
        Probed {
            name: name.to_string(),
            ssh,
            reachable: false,
            why,
            hostname: None,
            free_bytes: None,
            zfs: false,
            dialect: None,
            services: Vec::new(),
            stacks: Vec::new(),
        }
    }
}

fn words(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// Probe one node.
pub fn probe(node: &Node, state_dir: &Path) -> Probed {
    let runner = NodeRunner::new(node, state_dir);
    let mut out = Probed::unreached(
        &node.name,
        node.ssh.as_ref().map(|s| s.destination.clone()),
        None,
    );
    match runner.run(&words(&["uname", "-n"])) {
        Ok(r) if r.code == 0 => {
            out.reachable = true;
            out.hostname = Some(r.stdout.trim().to_string());
        }
        Ok(r) => {
            out.why = Some(format!("uname exited {}: {}", r.code, r.complaint()));
            return out;
        }
        Err(e) => {
            out.why = Some(e);
            return out;
        }
    }
    let datasets = runner
        .run(&words(&["zfs", "list", "-H", "-o", "name,mountpoint"]))
        .ok()
        .filter(|r| r.code == 0)
        .map(|r| r.stdout);
    out.zfs = datasets.is_some();
    if out.zfs {
        out.dialect = super::zfs::NodeZfs::new(&runner)
            .dialect()
            .ok()
            .map(|d| d.describe());
    }
    if let Some(appdata) = &node.appdata {
        let dir = appdata.display().to_string();
        match runner.run(&["df".into(), "-Pk".into(), dir.clone()]) {
            Ok(r) if r.code == 0 => {
                out.free_bytes = r
                    .stdout
                    .lines()
                    .nth(1)
                    .and_then(|l| l.split_whitespace().nth(3))
                    .and_then(|k| k.parse::<u64>().ok())
                    .map(|k| k * 1024);
            }
            _ => out.why = Some(format!("appdata {dir} is not there")),
        }
        // Every service with its sizes in one command (over SSH a command
        // costs a round trip).
        let sized = match runner.run(&words(&["sh", "-c", services::SERVICES_SCRIPT, "sh", &dir])) {
            Ok(r) if r.code == 0 => services::parse_services(&r.stdout),
            _ => Vec::new(),
        };
        let names: Vec<String> = sized.iter().map(|(n, _, _)| n.clone()).collect();
        for (name, bytes, files) in sized {
            let path = format!("{}/{name}", dir.trim_end_matches('/'));
            out.services.push(Service {
                name,
                dataset: datasets
                    .as_deref()
                    .and_then(|l| services::dataset_at(l, &path)),
                bytes,
                files,
            });
        }
        // Compose files in the services' directories, in one command.
        let compose = runner
            .run(&words(&["sh", "-c", services::COMPOSE_SCRIPT, "sh", &dir]))
            .ok()
            .filter(|r| r.code == 0)
            .map(|r| services::compose_links(&r.stdout, &names))
            .unwrap_or_default();
        out.stacks = services::stacks(&names, &compose);
    }
    out
}

/// Probe every node at once (one thread each) and print them.
/// Probe every node at once (one thread each; each node's commands share
/// one connection), in the inventory's order.
pub fn probe_all(nodes: &[Node], state_dir: &Path) -> Vec<Probed> {
    std::thread::scope(|s| {
        let handles: Vec<_> = nodes
            .iter()
            .map(|n| s.spawn(move || probe(n, state_dir)))
            .collect();
        handles
            .into_iter()
            .zip(nodes)
            .map(|(h, n)| {
                h.join().unwrap_or_else(|_| {
                    Probed::unreached(&n.name, None, Some("probing it failed".into()))
                })
            })
            .collect()
    })
}

/// `cutover nodes`: probe every node at once and print them.
pub fn list(nodes: &[Node], state_dir: &Path, json: bool) -> Result<i32> {
    let probed = probe_all(nodes, state_dir);
    for p in &probed {
        if json {
            outln!("{}", serde_json::to_value(p).unwrap_or_default())?;
            continue;
        }
        let state = if p.reachable {
            "reachable"
        } else {
            "unreachable"
        };
        let free = p
            .free_bytes
            .map(|b| format!(", {} free", humansize::format_size(b, humansize::BINARY)))
            .unwrap_or_default();
        outln!(
            "{:<12} {:<24} {state}{}{free}, zfs {}, {} services{}",
            p.name,
            p.ssh.as_deref().unwrap_or("(this machine)"),
            p.hostname
                .as_deref()
                .map(|h| format!(" ({h})"))
                .unwrap_or_default(),
            p.dialect
                .as_deref()
                .unwrap_or(if p.zfs { "yes" } else { "no" }),
            p.services.len(),
            p.why
                .as_deref()
                .map(|w| format!(" — {w}"))
                .unwrap_or_default()
        )?;
        // Services that move together (a name on one line whatever it holds).
        for st in p.stacks.iter().filter(|st| st.services.len() > 1) {
            let shown: Vec<String> = st.services.iter().map(|s| display_name(s)).collect();
            outln!("  stack {}: {}", display_name(&st.name), shown.join(", "))?;
        }
    }
    Ok(if probed.iter().all(|p| p.reachable) {
        0
    } else {
        1
    })
}
