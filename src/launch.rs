//! Opening the console: resolve the state directory, take the journal, find
//! the sources (or build the demo sandbox), then hand over to `ui`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::cli::ConsoleArgs;
use crate::discover::Source;
use crate::inventory::Entry;
use crate::journal::Journal;
use crate::ui::sources::Sources;
use crate::ui::{run_console, ConsoleConfig};
use crate::verify::VerifyMode;
use crate::{demo, engine, state_dir};

/// How long the demo's writer keeps changing the live tree at most; it
/// stops as soon as the operator starts the final sync.
const DEMO_WRITER_FOR: Duration = Duration::from_secs(600);

fn fail(e: impl std::fmt::Display) -> i32 {
    eprintln!("error: {e}");
    2
}

async fn open(cfg: ConsoleConfig) -> i32 {
    match run_console(cfg).await {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

/// A path made absolute, so journalled jobs resume from any directory and
/// match their sources by path.
fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// The demo's sources as entries: the live tree, the package store and,
/// once the sandbox has one, the redb cluster (one source per node).
pub fn demo_entries(sandbox: &demo::Sandbox) -> Vec<Entry> {
    let entry = |name: &str, kind: &str, source: &Path, target: &Path| Entry {
        name: name.to_string(),
        kind: kind.to_string(),
        source: absolute(source),
        target: Some(absolute(target)),
    };
    let mut entries = vec![
        entry(
            "live tree",
            "tree-sync",
            &sandbox.live,
            &sandbox.new_storage,
        ),
        entry(
            "package store",
            "store-to-cas",
            &sandbox.package_store,
            &sandbox.cas,
        ),
    ];
    if sandbox.cluster.is_dir() {
        entries.push(entry(
            "cluster",
            "redb-to-sqlite",
            &sandbox.cluster,
            &sandbox.cluster_sqlite,
        ));
    }
    entries
}

/// The demo's sources.
pub fn demo_sources(sandbox: &demo::Sandbox) -> Vec<Source> {
    demo_entries(sandbox)
        .iter()
        .flat_map(crate::inventory::sources_of)
        .collect()
}

/// The console's sources: each `--source` classified by the kinds'
/// detectors (target: the `--target` at the same position, else
/// `--target-root/NAME`, else none and the source says so); without
/// `--source`, the operator's inventory (`cutover sources`).
pub fn sources_for(state: &Path, args: &ConsoleArgs) -> crate::error::Result<Sources> {
    let target_root = args.target_root.as_deref().map(absolute);
    if args.source.is_empty() {
        if let Some(t) = args.target.first() {
            return Err(crate::error::Error::bad(format!(
                "--target {} has no --source before it; give --source PATH --target PATH in pairs",
                crate::display_path(t)
            )));
        }
        let inv = crate::inventory::Inventory::load(state)?;
        return Ok(Sources {
            entries: inv.sources,
            persist: Some(state.to_path_buf()),
            target_root,
        });
    }
    if args.target.len() > args.source.len() {
        return Err(crate::error::Error::bad(
            "more --target than --source: each --target pairs with the --source at the same position",
        ));
    }
    let mut taken = crate::inventory::Inventory::default();
    for (i, path) in args.source.iter().enumerate() {
        let source = absolute(path);
        let kind = crate::kinds::detect(&source)?;
        // Names unique among these sources, as the inventory makes them.
        let name = taken.free_name(&source);
        let target = match (args.target.get(i), &target_root) {
            (Some(t), _) => Some(kind.target_of(t)),
            (None, Some(root)) => Some(root.join(&name)),
            (None, None) => None,
        };
        taken.sources.push(Entry {
            name,
            kind: kind.name().to_string(),
            source,
            target,
        });
    }
    Ok(Sources {
        entries: taken.sources,
        persist: None,
        target_root,
    })
}

/// `cutover` / `cutover console`: the console on the given sources, or on
/// the operator's inventory.
pub async fn console(state: Option<PathBuf>, args: ConsoleArgs) -> i32 {
    let state = match state_dir::resolve(state) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let journal = match Journal::open(&state) {
        Ok(j) => Arc::new(j),
        Err(e) => return fail(e),
    };
    // The console's log (written by `ui`) is private like the journal.
    let _ = crate::state_dir::private_file(&state.join("console.log"));
    let own = match sources_for(&state, &args) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    // The runbook `cutover runbook open` left open, at its current step.
    let runbook = match crate::runbook::active::Active::read(&state).map(|a| a.load()) {
        Some(Ok(loaded)) => Some(loaded),
        Some(Err(e)) => {
            return fail(format!(
                "the open runbook: {e} (cutover runbook close forgets it)"
            ))
        }
        None => None,
    };
    open(ConsoleConfig {
        state_dir: state,
        journal,
        sources: Vec::new(),
        own,
        parallel: engine::default_parallel(),
        verify: VerifyMode::Full,
        seed: crate::verify::fresh_seed(),
        title: "cutover".to_string(),
        runbook,
        discover_later: true,
        window_opens: None,
        notes: Vec::new(),
    })
    .await
}

/// `cutover demo`: build the sandbox, start its writer, open the console.
pub async fn demo(state: Option<PathBuf>, dir: Option<PathBuf>) -> i32 {
    let dir = dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("cutover-demo-{}", std::process::id()))
    });
    let sandbox = match demo::build(&dir) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    // --state-dir, else $CUTOVER_STATE_DIR, else the sandbox's own.
    let state = state
        .or_else(|| {
            std::env::var_os("CUTOVER_STATE_DIR")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
        .unwrap_or_else(|| sandbox.state.clone());
    if let Err(e) = crate::state_dir::create(&state) {
        return fail(e);
    }
    let journal = match Journal::open(&state) {
        Ok(j) => Arc::new(j),
        Err(e) => return fail(e),
    };
    // The console's log (written by `ui`) is private like the journal.
    let _ = crate::state_dir::private_file(&state.join("console.log"));
    let writer = Arc::new(std::sync::Mutex::new(Some(demo::Writer::start(
        &sandbox.live,
        DEMO_WRITER_FOR,
    ))));
    let stop_writer = {
        let writer = writer.clone();
        move || {
            if let Some(w) = writer.lock().ok().and_then(|mut w| w.take()) {
                w.stop();
            }
        }
    };
    // The repository goes into a pool of its own, when this machine can.
    let mut entries = demo_entries(&sandbox);
    let mut notes = Vec::new();
    let pool = match crate::demo_repo::pool(&sandbox.root) {
        Ok(pool) => {
            entries.push(Entry {
                name: "repository".to_string(),
                kind: "btrfs-to-zfs".to_string(),
                source: absolute(&sandbox.repository),
                target: Some(PathBuf::from(format!("{}/repository", pool.name))),
            });
            Some(pool)
        }
        Err(why) => {
            notes.push(format!(
                "demo: the repository of snapshots at {} is not offered: {why}",
                crate::display_path(&sandbox.repository)
            ));
            None
        }
    };
    let own = Sources {
        entries,
        persist: None,
        target_root: None,
    };
    let code = open(ConsoleConfig {
        state_dir: state,
        journal,
        sources: Vec::new(),
        own,
        parallel: engine::default_parallel(),
        verify: VerifyMode::Full,
        seed: crate::verify::fresh_seed(),
        title: format!("cutover demo — {}", crate::display_path(&sandbox.root)),
        runbook: None,
        discover_later: true,
        window_opens: Some(Arc::new(stop_writer.clone())),
        notes,
    })
    .await;
    stop_writer();
    drop(pool);
    code
}
