//! Sources among the nodes, through a kind defined here: the console asks
//! every kind for its sources among the probed nodes (`Kind::node_sources`),
//! groups a node's services by stack, lets the operator pick the node they
//! go to (`t`, validated against the inventory, then `Kind::pick_node`),
//! builds the job from the picked sources (`Kind::console_job`), and
//! raises and lowers a running job's live rate limit (`Migration::rate_limit`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crossterm::event::KeyCode;
use cutover::error::{Error, Result};
use cutover::job::console::{NodesSeen, RunMode, Settings, Source};
use cutover::job::event::ItemReport;
use cutover::job::kind::{Built, CommonArgs};
use cutover::job::{
    Item, ItemCtx, ItemError, Kind, Memo, Migration, Plan, RunDefaults, Units, Written,
};
use cutover::nodes::probe::Probed;
use cutover::nodes::services::{stacks, Service};
use cutover::nodes::Node;
use cutover::ui::app::PromptFor;
use cutover::ui::kinds::{self, NodePicks};
use cutover::ui::{render, update, Command, Msg, State, StateConfig};

const NAME: &str = "fake-moves";
const UNITS: Units = Units {
    item: "service",
    entries: "files",
    written: "files",
};

/// A job moving services from one node to another (it moves nothing: the
/// test only builds it and turns its rate limit).
struct Moves {
    params: serde_json::Value,
    limit: Arc<AtomicU64>,
}

impl Migration for Moves {
    fn kind(&self) -> &'static str {
        NAME
    }
    fn units(&self) -> Units {
        UNITS
    }
    fn params(&self) -> serde_json::Value {
        self.params.clone()
    }
    fn check(&self) -> Result<()> {
        Ok(())
    }
    fn plan(&self) -> Result<Plan> {
        Ok(Plan::default())
    }
    fn describe_item(&self, item: &Item) -> Vec<String> {
        vec![item.key.clone()]
    }
    fn run_item(&self, _item: &Item, _ctx: &ItemCtx) -> std::result::Result<Written, ItemError> {
        Ok(Written {
            report: ItemReport::default(),
            memo: None,
        })
    }
    fn verify_item(
        &self,
        _item: &Item,
        _ctx: &ItemCtx,
        _memo: Option<&Memo>,
        _report: &mut ItemReport,
    ) -> std::result::Result<(), ItemError> {
        Ok(())
    }
    fn verify_label(&self) -> String {
        "full".into()
    }
    fn rollback(&self) -> Result<String> {
        Ok("nothing".into())
    }
    fn rate_limit(&self) -> Option<Arc<AtomicU64>> {
        Some(self.limit.clone())
    }
}

struct MovesKind;

impl Kind for MovesKind {
    fn name(&self) -> &'static str {
        NAME
    }
    fn about(&self) -> &'static str {
        "Move a node's services to another node (a test kind)"
    }
    fn units(&self) -> Units {
        UNITS
    }
    fn run_defaults(&self) -> RunDefaults {
        RunDefaults {
            parallel: Some(1),
            batch: None,
        }
    }
    fn args(&self, cmd: clap::Command) -> clap::Command {
        cmd
    }
    fn build(&self, _args: &clap::ArgMatches, _c: &CommonArgs, _v: bool) -> Result<Built> {
        Err(Error::bad("the console builds this kind's jobs"))
    }
    fn rebuild(&self, params: &serde_json::Value) -> Result<Box<dyn Migration>> {
        Ok(Box::new(Moves {
            params: params.clone(),
            limit: Arc::new(AtomicU64::new(0)),
        }))
    }
    fn modes(&self) -> &'static [RunMode] {
        &[RunMode::Bulk, RunMode::Final, RunMode::Verify]
    }
    /// Every service of every reachable node, going to a node picked later.
    fn node_sources(&self, seen: &NodesSeen) -> Vec<Source> {
        let mut out = Vec::new();
        for p in seen.probed.iter().filter(|p| p.reachable) {
            let Some(node) = seen.node(&p.name) else {
                continue;
            };
            for service in &p.services {
                let mut s = Source::of_service(NAME, node, p, service);
                s.picks_node = true;
                s.joint = true;
                out.push(s);
            }
        }
        out
    }
    fn pick_node(&self, source: &Source, to: &str, seen: &NodesSeen) -> Result<Source> {
        let from = source.node.clone().unwrap_or_default();
        if from == to {
            return Err(Error::bad(format!(
                "{} is on node {to} already: pick another node",
                source.name
            )));
        }
        let node = seen
            .node(to)
            .ok_or_else(|| Error::bad(format!("no node {to}")))?;
        let appdata = node
            .appdata
            .as_deref()
            .ok_or_else(|| Error::bad(format!("node {to} has no appdata: add it to nodes.toml")))?;
        let service = source.name.rsplit('/').next().unwrap_or_default();
        let mut s = source.clone();
        s.target = PathBuf::from(format!("{to}:{}/{service}", appdata.display()));
        s.to_node = Some(to.to_string());
        s.params = serde_json::json!({ "from": from, "to": to, "service": service });
        Ok(s)
    }
    fn console_job(&self, picked: &[&Source], mode: RunMode, _set: &Settings) -> Result<Built> {
        let first = picked.first().ok_or_else(|| Error::bad("nothing picked"))?;
        let to = first.to_node.clone().ok_or_else(|| {
            Error::bad(format!("{} goes to no node yet: t picks one", first.name))
        })?;
        if picked
            .iter()
            .any(|s| s.to_node.as_deref() != Some(to.as_str()))
        {
            return Err(Error::bad("pick one node for the whole stack"));
        }
        let services: Vec<&serde_json::Value> =
            picked.iter().map(|s| &s.params["service"]).collect();
        Ok(Built {
            migration: Box::new(Moves {
                params: serde_json::json!({
                    "from": first.params["from"], "to": to, "services": services,
                    "final": mode == RunMode::Final,
                }),
                limit: Arc::new(AtomicU64::new(0)),
            }),
            defaults: self.run_defaults(),
        })
    }
}

static KIND: MovesKind = MovesKind;

fn register() {
    let _ = cutover::kinds::register(&KIND);
}

fn node(name: &str) -> Node {
    Node {
        name: name.into(),
        ssh: None,
        appdata: Some(format!("/srv/{name}/appdata").into()),
        dataset: Some(format!("{name}/appdata")),
    }
}

fn probed(name: &str, services: &[&str]) -> Probed {
    let mut p = Probed::unreached(name, None, None);
    p.reachable = true;
    p.zfs = true;
    p.services = services
        .iter()
        .enumerate()
        .map(|(i, s)| Service {
            name: s.to_string(),
            dataset: Some(format!("{name}/appdata/{s}")),
            bytes: Some(1 << (20 + i)),
            files: Some(10 * (i as u64 + 1)),
        })
        .collect();
    let names: Vec<String> = services.iter().map(|s| s.to_string()).collect();
    p.stacks = stacks(&names, &[]);
    p
}

struct Inventory {
    nodes: Vec<Node>,
    probed: Vec<Probed>,
}

impl Inventory {
    fn new() -> Self {
        let mut gamma = Probed::unreached("gamma", Some("root@gamma".into()), None);
        gamma.why = Some("node gamma: connection refused".into());
        Inventory {
            nodes: vec![node("alpha"), node("beta"), node("gamma")],
            probed: vec![
                probed("alpha", &["authelia", "authelia-redis", "traefik"]),
                probed("beta", &["web"]),
                gamma,
            ],
        }
    }

    fn seen(&self) -> NodesSeen<'_> {
        NodesSeen::of(&self.nodes, &self.probed, Path::new("/nonexistent/state"))
    }

    /// This kind's sources among the nodes, as the runner builds them.
    fn sources(&self, picks: &NodePicks) -> Vec<Source> {
        kinds::node_sources(&self.seen(), picks)
            .into_iter()
            .filter(|s| s.kind == NAME)
            .collect()
    }
}

fn settings() -> Settings {
    Settings {
        parallel: 4,
        verify: cutover::verify::VerifyMode::Full,
        seed: 1,
        force: false,
    }
}

#[test]
fn services_are_sources_grouped_by_node_and_stack_and_go_to_the_node_picked() {
    register();
    let inv = Inventory::new();
    let mut picks = NodePicks::new();
    let all = inv.sources(&picks);
    let shown: Vec<(&str, String, Option<&str>)> = all
        .iter()
        .map(|s| {
            (
                s.name.as_str(),
                s.source.display().to_string(),
                s.group.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        shown,
        vec![
            (
                "alpha/authelia",
                "alpha:/srv/alpha/appdata/authelia".to_string(),
                Some("alpha/authelia")
            ),
            (
                "alpha/authelia-redis",
                "alpha:/srv/alpha/appdata/authelia-redis".to_string(),
                Some("alpha/authelia")
            ),
            (
                "alpha/traefik",
                "alpha:/srv/alpha/appdata/traefik".to_string(),
                Some("alpha/traefik")
            ),
            (
                "beta/web",
                "beta:/srv/beta/appdata/web".to_string(),
                Some("beta/web")
            ),
        ],
        "an unreachable node offers nothing"
    );
    assert_eq!(all[1].count, "20 files");
    assert!(all.iter().all(|s| s.picks_node && s.to_node.is_none()));

    // Not picked yet: the kind says what to do.
    let err = kinds::build(&all, &[0], RunMode::Bulk, &settings())
        .err()
        .unwrap();
    assert_eq!(err, "alpha/authelia goes to no node yet: t picks one");

    // A node outside the inventory, and the node the services are on, are refused.
    let err = kinds::pick_node(&all, &[0, 1], "delta", &inv.seen(), &mut picks).unwrap_err();
    assert_eq!(
        err,
        "node 'delta' is not in the nodes inventory; pick one of: alpha, beta, gamma"
    );
    let err = kinds::pick_node(&all, &[0, 1], "alpha", &inv.seen(), &mut picks).unwrap_err();
    assert!(err.contains("on node alpha already"), "{err}");
    assert!(picks.is_empty(), "a refused pick records nothing");

    let note = kinds::pick_node(&all, &[0, 1], "beta", &inv.seen(), &mut picks).unwrap();
    assert_eq!(note, "alpha/authelia, authelia-redis go to node beta");
    // The picks survive a new probe: the sources are rebuilt with them.
    let all = inv.sources(&picks);
    assert_eq!(all[0].target, Path::new("beta:/srv/beta/appdata/authelia"));
    assert_eq!(all[1].to_node.as_deref(), Some("beta"));
    assert_eq!(all[2].to_node, None);

    // The stack runs as one job of the picked services, with a live limit.
    let job = kinds::build(&all, &[0, 1], RunMode::Final, &settings()).unwrap();
    let params = job.migration.params();
    assert_eq!(params["to"], "beta");
    assert_eq!(
        params["services"],
        serde_json::json!(["authelia", "authelia-redis"])
    );
    assert_eq!(params["final"], true);
    assert_eq!(job.opts.parallel, 1);
    assert!(job.migration.rate_limit().is_some());
    // Services of two stacks are two jobs.
    assert!(kinds::build(&all, &[1, 2], RunMode::Bulk, &settings()).is_err());
}

fn console(inv: &Inventory, picks: &NodePicks) -> State {
    let sources = inv.sources(picks).iter().map(kinds::view).collect();
    let mut s = State::new(
        StateConfig {
            title: "nodes".into(),
            sources,
            verify: "full".into(),
            parallel: 4,
        },
        Instant::now(),
    );
    update(&mut s, Msg::Jobs(Vec::new()));
    update(&mut s, Msg::Nodes(inv.probed.clone()));
    s
}

fn screen(s: &State, w: u16, h: u16) -> String {
    let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(w, h)).unwrap();
    terminal.draw(|f| render(f, s)).unwrap();
    terminal.backend().to_string()
}

fn typed(s: &mut State, text: &str) {
    for c in text.chars() {
        update(s, Msg::ch(c));
    }
}

#[test]
fn the_console_picks_a_node_for_a_stack_then_runs_it_as_one_job() {
    register();
    let inv = Inventory::new();
    let mut picks = NodePicks::new();
    let mut s = console(&inv, &picks);
    let before = screen(&s, 120, 44);
    assert!(
        before.contains("from alpha:/srv/alpha/appdata/authelia"),
        "{before}"
    );
    assert!(
        before.contains("no node picked yet: t picks one"),
        "{before}"
    );
    assert!(
        before.contains("t target node"),
        "the footer hints t: {before}"
    );
    // Forgetting a node's service is not the sources' business.
    update(&mut s, Msg::ch('d'));
    assert!(s.dialog.is_none());
    assert!(s
        .status
        .as_deref()
        .unwrap_or("")
        .contains("nodes inventory"));

    // w: the whole stack at the cursor (again: none of it).
    update(&mut s, Msg::ch('w'));
    assert_eq!(s.selected(), vec![0, 1]);
    assert_eq!(
        s.status.as_deref(),
        Some("selected all 2 sources of alpha/authelia")
    );
    update(&mut s, Msg::ch('w'));
    assert!(s.selected().is_empty());

    // Pick the stack (two services), then its node.
    update(&mut s, Msg::ch(' '));
    update(&mut s, Msg::ch('j'));
    update(&mut s, Msg::ch(' '));
    update(&mut s, Msg::ch('t'));
    let prompt = s.prompt.clone().expect("the node line");
    assert_eq!(prompt.purpose, PromptFor::TargetNode(vec![0, 1]));
    typed(&mut s, "zeta");
    assert!(update(&mut s, Msg::key(KeyCode::Enter)).is_empty());
    let refused = screen(&s, 120, 44);
    assert!(
        refused.contains("node 'zeta' is not in the nodes inventory"),
        "{refused}"
    );
    for _ in 0..4 {
        update(&mut s, Msg::key(KeyCode::Backspace));
    }
    typed(&mut s, "alp");
    update(&mut s, Msg::key(KeyCode::Tab));
    assert!(update(&mut s, Msg::key(KeyCode::Enter)).is_empty());
    let same = screen(&s, 120, 44);
    assert!(same.contains("on node alpha already"), "{same}");
    for _ in 0..5 {
        update(&mut s, Msg::key(KeyCode::Backspace));
    }
    typed(&mut s, "b");
    update(&mut s, Msg::key(KeyCode::Tab));
    insta::assert_snapshot!("pick_node_prompt", screen(&s, 80, 24));
    assert_eq!(
        update(&mut s, Msg::key(KeyCode::Enter)),
        vec![Command::PickNode {
            sources: vec![0, 1],
            node: "beta".into()
        }]
    );

    // The runner records the pick and sends the rebuilt list: the
    // selection stays.
    let all = inv.sources(&picks);
    let note = kinds::pick_node(&all, &[0, 1], "beta", &inv.seen(), &mut picks).unwrap();
    let sources = inv.sources(&picks).iter().map(kinds::view).collect();
    update(&mut s, Msg::Sources { sources, note });
    assert_eq!(s.selected(), vec![0, 1]);
    insta::assert_snapshot!("stack_picked", screen(&s, 120, 44));
    // The Nodes pane shows where each service of the node goes.
    while s.focus != cutover::ui::model::Pane::Nodes {
        update(&mut s, Msg::key(KeyCode::Tab));
    }
    let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(90, 9)).unwrap();
    terminal
        .draw(|f| cutover::ui::panes::nodes::render(f, f.area(), &s))
        .unwrap();
    insta::assert_snapshot!("nodes_pane_picked", terminal.backend().to_string());
    while s.focus != cutover::ui::model::Pane::Sources {
        update(&mut s, Msg::key(KeyCode::Tab));
    }

    // enter: the stack's services go as one job (the kind's group, joint).
    let cmds = update(&mut s, Msg::key(KeyCode::Enter));
    assert_eq!(
        cmds,
        vec![Command::StartJob {
            sources: vec![0, 1],
            mode: RunMode::Bulk,
            force: false
        }]
    );
    update(&mut s, Msg::JobSpawned { job: 3 });

    // The job's live limit: none, then [ starts at 100 MiB/s, halves, ] doubles.
    assert!(
        update(&mut s, Msg::ch('[')).is_empty(),
        "no limit known yet"
    );
    update(&mut s, Msg::RateLimit(Some(0)));
    assert_eq!(
        update(&mut s, Msg::ch('[')),
        vec![Command::SetRateLimit(100 << 20)]
    );
    assert_eq!(
        update(&mut s, Msg::ch('[')),
        vec![Command::SetRateLimit(50 << 20)]
    );
    let limited = screen(&s, 120, 44);
    assert!(limited.contains("limit 50 MiB/s"), "{limited}");
    // At 80x24 the one line of metrics says it too.
    let compact = screen(&s, 80, 24);
    assert!(compact.contains("limit 50 MiB/s"), "{compact}");
    assert_eq!(
        update(&mut s, Msg::ch(']')),
        vec![Command::SetRateLimit(100 << 20)]
    );
    update(&mut s, Msg::key(KeyCode::Tab));
    while s.focus != cutover::ui::model::Pane::Metrics {
        update(&mut s, Msg::key(KeyCode::Tab));
    }
    insta::assert_snapshot!("rate_limited", screen(&s, 120, 44));

    // The runner hands the key's value to the job's own atomic.
    let job = kinds::build(&inv.sources(&picks), &[0, 1], RunMode::Bulk, &settings()).unwrap();
    let limit = job.migration.rate_limit().unwrap();
    limit.store(100 << 20, Ordering::Relaxed);
    assert_eq!(limit.load(Ordering::Relaxed), 100 << 20);
}

fn dispatch(state: &Path, args: &[&str]) -> Result<i32> {
    use clap::Parser;
    let mut argv = vec!["cutover", "--state-dir", state.to_str().unwrap()];
    argv.extend_from_slice(args);
    let cli = cutover::cli::Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{e}"));
    let command = cli.command.expect("a command");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(cutover::cli::dispatch(Some(state.to_path_buf()), command))
}

#[test]
fn sources_add_takes_a_nodes_file_node_by_node() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let file = dir.path().join("cluster.toml");
    std::fs::write(
        &file,
        "[[node]]\nname = \"alpha\"\nappdata = \"/srv/alpha/appdata\"\ndataset = \"alpha/appdata\"\n",
    )
    .unwrap();
    let f = file.to_str().unwrap();
    assert_eq!(dispatch(&state, &["sources", "add", f]).unwrap(), 0);
    let inventory = std::fs::read_to_string(state.join("nodes.toml")).unwrap();
    assert!(inventory.contains("name = \"alpha\""), "{inventory}");
    assert!(cutover::nodes::inventory_present(&state));
    // Again: nothing changes. A node of the same name with other settings is refused.
    assert_eq!(dispatch(&state, &["sources", "add", f]).unwrap(), 0);
    std::fs::write(
        &file,
        "[[node]]\nname = \"alpha\"\nappdata = \"/elsewhere\"\n",
    )
    .unwrap();
    let err = dispatch(&state, &["sources", "add", f])
        .unwrap_err()
        .to_string();
    assert!(err.contains("other settings"), "{err}");
    assert_eq!(
        std::fs::read_to_string(state.join("nodes.toml")).unwrap(),
        inventory
    );
    // `cutover sources` says where the nodes' services are.
    assert_eq!(dispatch(&state, &["sources"]).unwrap(), 0);
    // Nodes files are no path sources: the sources list stays empty.
    let inv = cutover::inventory::Inventory::load(&state).unwrap();
    assert!(inv.sources.is_empty());
}

#[test]
fn services_of_two_nodes_going_to_one_node_start_as_one_job() {
    register();
    let inv = Inventory::new();
    let picks = NodePicks::new();
    let mut s = console(&inv, &picks);
    // alpha/traefik and beta/web, both sent to gamma (as `t` would record).
    let mut views: Vec<_> = inv.sources(&picks).iter().map(kinds::view).collect();
    let at = |name: &str| views.iter().position(|v| v.name == name).unwrap();
    let (traefik, web) = (at("alpha/traefik"), at("beta/web"));
    for i in [traefik, web] {
        views[i].to_node = Some("gamma".into());
    }
    update(
        &mut s,
        Msg::Sources {
            sources: views,
            note: String::new(),
        },
    );
    for i in [traefik, web] {
        for _ in 0..20 {
            if s.cursor.sources == i {
                break;
            }
            update(&mut s, Msg::ch('j'));
        }
        assert_eq!(s.cursor.sources, i, "the cursor reaches source {i}");
        update(&mut s, Msg::ch(' '));
    }
    let cmds = update(&mut s, Msg::key(KeyCode::Enter));
    let mut both = vec![traefik, web];
    both.sort_unstable();
    assert_eq!(
        cmds,
        vec![Command::StartJob {
            sources: both,
            mode: RunMode::Bulk,
            force: false
        }],
        "one job for the services of both nodes"
    );
}
