//! What the console needs from a kind, as plain data: the runs a source
//! offers ([`RunMode`]), the settings a run takes ([`Settings`]), and the
//! sources themselves ([`Source`]), built by the kind's own discovery and
//! handed back to it to build jobs. The console matches on none of it.

use std::path::{Path, PathBuf};

use super::details::{Details, Field, Section};
use crate::nodes::probe::Probed;
use crate::nodes::services::Service;
use crate::nodes::Node;
use crate::verify::VerifyMode;

/// What a job started from the console does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunMode {
    /// Bulk copy while the source stays live.
    Bulk,
    /// Final delta sync with deletions, inside the cutover window.
    Final,
    /// Verification only; writes nothing.
    Verify,
    /// Migration of a store or of redb nodes: written and verified item by item.
    Migrate,
    /// Resume of a journalled job.
    Resume,
}

impl RunMode {
    /// Words for the operator: `bulk copy`, `final sync`, `verify`, `migrate`, `resume`.
    pub fn label(self) -> &'static str {
        match self {
            RunMode::Bulk => "bulk copy",
            RunMode::Final => "final sync",
            RunMode::Verify => "verify",
            RunMode::Migrate => "migrate",
            RunMode::Resume => "resume",
        }
    }

    /// One word for the selection pane's run marks: `bulk`, `final`, `verify`, `migrate`.
    pub fn short(self) -> &'static str {
        match self {
            RunMode::Bulk => "bulk",
            RunMode::Final => "final",
            RunMode::Verify => "verify",
            RunMode::Migrate => "migrate",
            RunMode::Resume => "resume",
        }
    }
}

/// How the console's jobs verify and how many items they run at once.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Items processed at once, unless the kind says otherwise.
    pub parallel: usize,
    /// How items are verified.
    pub verify: VerifyMode,
    /// Seed of sampled verification.
    pub seed: u64,
    /// The operator confirmed, typing the name, a run the kind's guard
    /// would refuse (e.g. a final sync onto a folder no bulk copy wrote).
    pub force: bool,
}

/// A source the console offers, of any kind: made by the kind's
/// [`super::Kind::sources`], given back to its [`super::Kind::console_job`].
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    /// The kind that made it (`tree-sync`).
    pub kind: &'static str,
    /// Short name shown in the sources pane (`photos`, `cluster/node-1`).
    pub name: String,
    /// Where the data comes from.
    pub source: PathBuf,
    /// Where it goes.
    pub target: PathBuf,
    /// Entries of the source (files, key/value pairs).
    pub entries: u64,
    /// Bytes of the source.
    pub bytes: u64,
    /// Its size as the sources pane says it (`3,057 files`, `18 packages`).
    pub count: String,
    /// Why it cannot be used, if it cannot.
    pub problem: Option<String>,
    /// Sources of one group (a redb cluster) may run together as one job.
    pub group: Option<String>,
    /// What the kind needs, besides the paths, to build its jobs.
    pub params: serde_json::Value,
    /// What discovery found, for the details pane.
    pub details: Details,
    /// Whether the kind reads fresh details ([`super::Kind::read_details`]),
    /// e.g. a store's numbers while it migrates.
    pub live: bool,
    /// The node it is on, for a node's service ([`super::Kind::node_sources`]);
    /// none for a source found at a path.
    pub node: Option<String>,
    /// It goes to a node the operator picks (`t` in the console, then
    /// [`super::Kind::pick_node`]).
    pub picks_node: bool,
    /// The node picked for it, if one was.
    pub to_node: Option<String>,
    /// Selected sources of its group always run as one job (a stack's
    /// services), whatever the console's rolling/together switch says.
    pub joint: bool,
}

impl Source {
    /// A usable source of `kind` with no details yet.
    pub fn new(kind: &'static str, name: &str, source: PathBuf, target: PathBuf) -> Source {
        Source {
            kind,
            name: name.to_string(),
            source,
            target,
            entries: 0,
            bytes: 0,
            count: String::new(),
            problem: None,
            group: None,
            params: serde_json::Value::Null,
            details: Details::default(),
            live: false,
            node: None,
            picks_node: false,
            to_node: None,
            joint: false,
        }
    }
}

impl Source {
    /// The service a node-service source stands for (`params.service`).
    pub fn service(&self) -> &str {
        self.params
            .get("service")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
    }

    /// Which of `all` a journalled job of `kind` on node services ran on:
    /// the sources of that kind on the node `params[node_key]` whose
    /// service `params.services` names.
    pub fn services_of_job(
        kind: &str,
        node_key: &str,
        params: &serde_json::Value,
        all: &[Source],
    ) -> Vec<usize> {
        let node = params.get(node_key).and_then(|v| v.as_str());
        let services: Vec<&str> = params
            .get("services")
            .and_then(|v| v.as_array())
            .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        (0..all.len())
            .filter(|&i| {
                let s = &all[i];
                s.kind == kind && s.node.as_deref() == node && services.contains(&s.service())
            })
            .collect()
    }

    /// A node's service as a source of `kind`: named `NODE/S`, coming from
    /// `NODE:APPDATA/S`, grouped by node and stack (`NODE/STACK`: a
    /// stack's services may run as one job), with its size and files and
    /// details (node, path, dataset or plain directory, stack). Its target
    /// is the kind's to set.
    pub fn of_service(
        kind: &'static str,
        node: &Node,
        probed: &Probed,
        service: &Service,
    ) -> Source {
        let appdata = node
            .appdata
            .as_deref()
            .map(crate::names::display)
            .unwrap_or_default();
        let dir = format!("{}/{}", appdata.trim_end_matches('/'), service.name);
        let stack = probed
            .stacks
            .iter()
            .find(|s| s.services.contains(&service.name))
            .map(|s| s.name.clone())
            .unwrap_or_else(|| service.name.clone());
        let mut s = Source::new(
            kind,
            &format!("{}/{}", node.name, service.name),
            PathBuf::from(format!("{}:{dir}", node.name)),
            PathBuf::new(),
        );
        s.entries = service.files.unwrap_or(0);
        s.bytes = service.bytes.unwrap_or(0);
        s.count = match service.files {
            Some(n) => format!("{} files", crate::fmt::count(n)),
            None => "files unknown".to_string(),
        };
        s.group = Some(format!("{}/{stack}", node.name));
        s.node = Some(node.name.clone());
        s.details = Details {
            sections: vec![Section::new(
                "service",
                vec![
                    Field::new("node", node.name.clone()),
                    Field::new("path", dir),
                    Field::new(
                        "is",
                        match &service.dataset {
                            Some(ds) => format!("dataset {ds}"),
                            None => "a plain directory".to_string(),
                        },
                    ),
                    Field::new("stack", stack),
                ],
            )],
            tables: Vec::new(),
        };
        s
    }
}

/// The nodes inventory as the console last probed it, handed to
/// [`super::Kind::node_sources`] and [`super::Kind::pick_node`].
#[derive(Debug, Clone, Copy)]
pub struct NodesSeen<'a> {
    /// The nodes of the inventory, in its order.
    pub nodes: &'a [Node],
    /// What probing each found (same order; a node not probed is absent).
    pub probed: &'a [Probed],
    /// The state directory (SSH sockets, `nodes.toml`).
    pub state_dir: &'a Path,
    /// The nodes file given with `--nodes`, if one was.
    pub nodes_file: Option<&'a Path>,
}

impl<'a> NodesSeen<'a> {
    /// The nodes of the inventory in `state_dir` (no `--nodes` file) as probed.
    pub fn of(nodes: &'a [Node], probed: &'a [Probed], state_dir: &'a Path) -> Self {
        NodesSeen {
            nodes,
            probed,
            state_dir,
            nodes_file: None,
        }
    }

    /// The inventory's node of this name.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// What probing found on the node of this name.
    pub fn probed(&self, name: &str) -> Option<&Probed> {
        self.probed.iter().find(|p| p.name == name)
    }
}

/// A step a kind offers on one of its sources besides its runs (a store's
/// cut over, clean up, roll back), chosen with `s` then its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// Its key in the steps menu.
    pub key: char,
    /// What it is called (`clean up`).
    pub name: &'static str,
    /// One line on what it does.
    pub about: &'static str,
}
