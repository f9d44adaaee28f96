//! The console end to end on nodes: the built binary in tmux. Node
//! `local` is a zfs-fuse pool; node `beta` another pool, reached only
//! through a throwaway sshd on 127.0.0.1. A stack of plain service
//! directories becomes datasets on its node, one job. A stack of datasets
//! goes to the node typed with `t`: a target dataset cutover made that
//! shares no snapshot with the source is destroyed only after the
//! operator types the node's name, `[` lowers the transfer's rate limit
//! while it runs, and the final transfer follows.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::time::Duration;

use support::cli::Sandbox;
use support::{require, Sshd, ZfsPool};

/// The two tests' pools one after the other: zfs-fuse was seen to hang
/// with many pools made and used at once.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

const TRUSTING: &[&str] = &[
    "IdentitiesOnly=yes",
    "StrictHostKeyChecking=no",
    "UserKnownHostsFile=/dev/null",
    "GlobalKnownHostsFile=/dev/null",
    "LogLevel=ERROR",
];

/// Incompressible bytes, the same for the same seed.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn nodes_file(src: &ZfsPool, dst: &ZfsPool, sshd: &Sshd) -> String {
    let options: Vec<String> = TRUSTING.iter().map(|o| format!("\"{o}\"")).collect();
    format!(
        "[[node]]\nname = \"local\"\nappdata = \"{}\"\ndataset = \"{}\"\n\n\
         [[node]]\nname = \"beta\"\nssh = \"{}\"\nport = {}\nidentity = \"{}\"\noptions = [{}]\nappdata = \"{}\"\ndataset = \"{}\"\n",
        src.path("appdata").display(),
        src.dataset("appdata"),
        sshd.user_host(),
        sshd.port(),
        sshd.key_path().display(),
        options.join(", "),
        dst.path("appdata").display(),
        dst.dataset("appdata"),
    )
}

fn same_file(a: &Path, b: &Path) -> bool {
    std::fs::read(a).unwrap() == std::fs::read(b).unwrap()
}

#[test]
fn the_console_turns_a_stack_of_plain_directories_into_datasets() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    if !require(
        "the console converting service directories",
        support::skip::all([
            ZfsPool::prerequisites(),
            support::skip::tools(&["tmux", "rsync"]),
        ]),
    ) || !support::tmux::tmux_installed()
    {
        return;
    }
    let pool = ZfsPool::new(128);
    let sb = Sandbox::new();
    pool.create_dataset("appdata");
    for s in ["legacy", "legacy-cache"] {
        let dir = pool.path("appdata").join(s);
        std::fs::create_dir_all(dir.join("conf")).unwrap();
        std::fs::write(dir.join("conf/app.ini"), format!("[app]\nname = {s}\n")).unwrap();
    }
    let file = sb.root.join("nodes.toml");
    std::fs::write(
        &file,
        format!(
            "[[node]]\nname = \"local\"\nappdata = \"{}\"\ndataset = \"{}\"\n",
            pool.path("appdata").display(),
            pool.dataset("appdata")
        ),
    )
    .unwrap();
    let tmux = support::tmux::Tmux::new(sb.root.join("d.sock"), "d2d");
    let launch = format!(
        "{} --state-dir {} --nodes {}",
        support::cli::bin(),
        sb.state.display(),
        file.display()
    );
    tmux.start(150, 50, &launch);
    let wait = |text: &str, secs: u64| {
        tmux.wait_for(text, Duration::from_secs(secs), |t| {
            t.screen().contains(text)
        })
    };
    wait("local/legacy-cache", 60);
    let offered = tmux.screen();
    assert!(offered.contains("a plain directory"), "{offered}");
    tmux.keys(&["/"]);
    tmux.keys(&["-l", "legacy"]);
    tmux.keys(&["Enter", "g", "Space", "j", "Space", "Escape"]);
    wait("2 selected", 5);
    let picked = tmux.screen();
    assert!(picked.contains("stack: one job"), "{picked}");
    let becomes = format!("becomes   dataset {}", pool.dataset("appdata/legacy-cache"));
    assert!(picked.contains(&becomes), "{picked}");
    tmux.keys(&["Enter"]);
    wait("migrate: all verified (2 items)", 120);
    let list = pool.zfs(["list", "-H", "-o", "name"]);
    for s in ["legacy", "legacy-cache"] {
        assert!(
            list.lines()
                .any(|l| l == pool.dataset(&format!("appdata/{s}"))),
            "{list}"
        );
        assert_eq!(
            std::fs::read_to_string(pool.path("appdata").join(s).join("conf/app.ini")).unwrap(),
            format!("[app]\nname = {s}\n")
        );
    }
    // Probed again, the services are datasets: the Nodes pane says so.
    tmux.keys(&["Tab"]);
    wait("probe again", 5);
    tmux.keys(&["Enter"]);
    wait(
        &format!("dataset {}", pool.dataset("appdata/legacy-cache")),
        60,
    );
    tmux.keys(&["q"]);
    let _ = tmux.cmd(&["kill-session", "-t", "d2d"]);
}

#[test]
fn the_console_moves_a_stack_to_the_node_picked() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    if !require(
        "the console moving a stack between nodes",
        support::skip::all([
            ZfsPool::prerequisites(),
            Sshd::prerequisites(),
            support::skip::tools(&["tmux", "rsync"]),
        ]),
    ) || !support::tmux::tmux_installed()
    {
        return;
    }
    let src = ZfsPool::new(256);
    let dst = ZfsPool::new(256);
    let sshd = Sshd::start();
    let sb = Sandbox::new();
    src.create_dataset("appdata");
    dst.create_dataset("appdata");
    for (i, s) in ["authelia", "authelia-redis"].iter().enumerate() {
        src.create_dataset(&format!("appdata/{s}"));
        let dir = src.path("appdata").join(s);
        std::fs::write(dir.join("settings.yml"), format!("service: {s}\n")).unwrap();
        std::fs::write(dir.join("data.bin"), noise(i as u64 + 1, 24 << 20)).unwrap();
    }
    // An earlier attempt cutover made on beta, sharing no snapshot with
    // the source: only the typed node name lets the console replace it.
    let stale = dst.create_dataset("appdata/authelia-redis");
    dst.zfs(["set", "cutover:created=an-earlier-job", stale.as_str()]);
    std::fs::write(dst.path("appdata/authelia-redis/stale.txt"), b"old").unwrap();
    let file = sb.root.join("nodes.toml");
    std::fs::write(&file, nodes_file(&src, &dst, &sshd)).unwrap();

    let tmux = support::tmux::Tmux::new(sb.root.join("c.sock"), "nodes");
    let launch = format!(
        "{} --state-dir {} --nodes {}",
        support::cli::bin(),
        sb.state.display(),
        file.display()
    );
    tmux.start(150, 50, &launch);
    let wait = |text: &str, secs: u64| {
        tmux.wait_for(text, Duration::from_secs(secs), |t| {
            t.screen().contains(text)
        })
    };
    wait("local/authelia-redis", 60);

    // The stack: both services (a filter keeps the list's order out of it).
    tmux.keys(&["/"]);
    tmux.keys(&["-l", "authelia"]);
    tmux.keys(&["Enter", "g", "Space", "j", "Space", "Escape"]);
    wait("2 selected", 5);
    tmux.keys(&["t"]);
    wait("Pick the target node", 5);
    tmux.keys(&["-l", "zeta"]);
    tmux.keys(&["Enter"]);
    wait("node 'zeta' is not in the nodes inventory", 5);
    tmux.keys(&["BSpace", "BSpace", "BSpace", "BSpace", "b", "Tab", "Enter"]);
    wait("go to node beta", 10);

    // enter: what it sends and destroys, then the node's name typed.
    tmux.keys(&["Enter"]);
    wait("destroy 1 entry", 60);
    let asked = tmux.screen();
    assert!(asked.contains("shares no snapshot"), "{asked}");
    tmux.keys(&["y"]);
    wait("Type beta and press enter", 5);
    tmux.keys(&["-l", "beta"]);
    tmux.keys(&["Enter"]);
    // While it runs, [ four times: 100, 50, 25, 12.5 MiB/s.
    wait("no limit", 30);
    tmux.keys(&["[", "[", "[", "["]);
    wait("limit 12.5 MiB/s", 10);
    wait("all verified", 120);
    let done = tmux.screen();
    assert!(done.contains("bulk copy: all verified"), "{done}");
    // Each item names both nodes, how it went and the limit it ran under.
    assert!(done.contains("local → beta · zfs full"), "{done}");
    assert!(done.contains("(limit 12.5 MiB/s)"), "{done}");
    for s in ["authelia", "authelia-redis"] {
        let a = src.path("appdata").join(s).join("data.bin");
        let b = dst.path("appdata").join(s).join("data.bin");
        assert!(same_file(&a, &b), "{s} differs on beta");
    }
    assert!(
        !dst.path("appdata/authelia-redis/stale.txt").exists(),
        "the stale dataset was replaced"
    );
    let log = std::fs::read_to_string(sb.state.join("console.log")).unwrap_or_default();
    assert!(log.contains("rate limit now 12.5 MiB/s"), "{log}");

    // f: the final transfer of the same stack, incremental now.
    tmux.keys(&["f"]);
    wait("send incremental 2 entries", 60);
    tmux.keys(&["y"]);
    wait("final sync: all verified", 120);

    tmux.keys(&["q"]);
    let _ = tmux.cmd(&["kill-session", "-t", "nodes"]);
}
