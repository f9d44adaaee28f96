//! The console end to end on nodes: the built binary in tmux, node
//! `local` on a zfs-fuse pool. A stack of plain service directories is
//! picked in the sources and turned into datasets on its node, one job.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use support::cli::Sandbox;
use support::{require, ZfsPool};

#[test]
fn the_console_turns_a_stack_of_plain_directories_into_datasets() {
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
