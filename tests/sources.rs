//! The operator's own sources: `cutover sources add|remove` and
//! `cutover sources --json` on a tree, a package store and a three-node redb
//! cluster (node 3 written by redb 2.x) that the test builds; then plain
//! `cutover` in tmux opens on them, and `cutover --source … --target-root`
//! classifies sources given on the command line.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

mod support;

use support::cli::{bin, show, write, Sandbox};
use support::tmux::{tmux_installed, Tmux};

/// A tree, a package store and a redb cluster under `root`.
fn own_sources(root: &Path) {
    write(&root.join("uploads/2024/a.jpg"), b"jpeg");
    write(&root.join("uploads/2024/b.jpg"), b"jpeg too");
    for p in [
        "0b3f6c1e9d2a4b7f8e5c3a1d9f0e2b4c-openssl-1.1",
        "1c4e7a2b9f3d5c8e0a6b4d2f1e3c5a7b-zlib-1.3",
    ] {
        write(&root.join("pkgs").join(p).join("lib/x.so"), p.as_bytes());
    }
    cutover::demo_redb::build(&root.join("raft")).unwrap();
}

fn json_lines(out: &std::process::Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

#[test]
fn sources_are_added_listed_refused_and_forgotten() {
    let sb = Sandbox::new();
    own_sources(&sb.root);
    let out = sb.cutover(&["sources"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("no sources yet"));

    let new = sb.root.join("new");
    let paths: Vec<String> = ["uploads", "pkgs", "raft"]
        .iter()
        .map(|p| sb.root.join(p).display().to_string())
        .collect();
    let mut add = vec!["sources", "add"];
    add.extend(paths.iter().map(String::as_str));
    let root = new.display().to_string();
    add.extend(["--target-root", root.as_str()]);
    let out = sb.cutover(&add);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));

    let listed = json_lines(&sb.cutover(&["sources", "--json"]));
    let by_name = |n: &str| {
        listed
            .iter()
            .find(|v| v["name"] == n)
            .unwrap_or_else(|| panic!("{n} not listed: {listed:?}"))
    };
    assert_eq!(listed.len(), 5, "{listed:?}");
    assert_eq!(by_name("uploads")["kind"], "tree-sync");
    assert_eq!(by_name("uploads")["items"], 2);
    assert_eq!(by_name("pkgs")["kind"], "store-to-cas");
    for node in ["raft/node-1", "raft/node-2", "raft/node-3"] {
        let v = by_name(node);
        assert_eq!(v["kind"], "redb-to-sqlite");
        assert_eq!(v["usable"], true, "{v}");
        assert!(v["target"].as_str().unwrap().ends_with(&node[5..]), "{v}");
    }
    assert_eq!(
        by_name("uploads")["target"],
        new.join("uploads").display().to_string()
    );
    for key in [
        "name", "kind", "source", "target", "usable", "why", "bytes", "items",
    ] {
        assert!(listed[0].get(key).is_some(), "{key} missing");
    }

    // A finished content-addressed store is refused as a source.
    let cas = sb.root.join("cas");
    write(&cas.join("store.db"), b"");
    std::fs::create_dir_all(cas.join("objects")).unwrap();
    let out = sb.cutover(&["sources", "add", cas.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("content-addressed store"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    // Forgetting never deletes.
    let out = sb.cutover(&["sources", "remove", "pkgs"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(sb.root.join("pkgs").is_dir());
    assert_eq!(json_lines(&sb.cutover(&["sources", "--json"])).len(), 4);
    let out = sb.cutover(&["sources", "remove", "pkgs"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));

    // --kind overrides detection.
    let out = sb.cutover(&["sources", "add", &paths[1], "--kind", "tree-sync"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let listed = json_lines(&sb.cutover(&["sources", "--json"]));
    let pkgs = listed.iter().find(|v| v["name"] == "pkgs").unwrap();
    assert_eq!(pkgs["kind"], "tree-sync");
    assert_eq!(pkgs["usable"], false, "no target given: {pkgs}");
    assert!(pkgs["why"].as_str().unwrap().contains("no target"));
}

#[test]
fn plain_cutover_opens_on_the_inventory_and_on_given_sources() {
    if !tmux_installed() {
        assert!(!support::skip::strict(), "tmux not installed");
        support::say("skipped: plain cutover in tmux: tmux not installed");
        return;
    }
    let sb = Sandbox::new();
    own_sources(&sb.root);
    let root = sb.root.join("new").display().to_string();
    for p in ["uploads", "pkgs", "raft"] {
        let path = sb.root.join(p).display().to_string();
        let out = sb.cutover(&["sources", "add", &path, "--target-root", &root]);
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    }
    let tmux = Tmux::new(sb.root.join("tmux.sock"), "own");
    let launch = format!("{} --state-dir {}", bin(), sb.state.display());
    tmux.start(120, 36, &launch);
    tmux.wait_for("the inventory's sources", Duration::from_secs(30), |t| {
        let s = t.screen();
        s.contains("uploads") && s.contains("pkgs") && s.contains("raft/node-3")
    });
    let screen = tmux.screen();
    assert!(screen.contains("5 usable of 5"), "{screen}");
    assert!(screen.contains("2 packages"), "{screen}");
    tmux.keys(&["q"]);
    let _ = tmux.cmd(&["kill-session", "-t", "own"]);

    // Sources on the command line, classified; one without a target says so.
    let launch = format!(
        "{} --state-dir {} --source {} --source {} --target {}",
        bin(),
        sb.root.join("state2").display(),
        sb.root.join("pkgs").display(),
        sb.root.join("raft").display(),
        sb.root.join("cas").display(),
    );
    tmux.start(120, 36, &launch);
    tmux.wait_for("the given sources", Duration::from_secs(30), |t| {
        let s = t.screen();
        s.contains("pkgs") && s.contains("raft/node-1")
    });
    let screen = tmux.screen();
    assert!(screen.contains("1 usable of 4"), "{screen}");
}

#[test]
fn the_console_adds_retargets_and_forgets_a_source() {
    if !tmux_installed() {
        assert!(!support::skip::strict(), "tmux not installed");
        support::say("skipped: console source editing: tmux not installed");
        return;
    }
    let sb = Sandbox::new();
    own_sources(&sb.root);
    let tmux = Tmux::new(sb.root.join("tmux.sock"), "edit");
    let launch = format!(
        "{} --state-dir {} --target-root {}",
        bin(),
        sb.state.display(),
        sb.root.join("new").display()
    );
    tmux.start(120, 36, &launch);
    tmux.wait_for("the empty console", Duration::from_secs(30), |t| {
        t.screen().contains("No sources yet")
    });
    tmux.keys(&["n"]);
    let path = format!("{}/upl", sb.root.display());
    tmux.keys(&["-l", &path]);
    tmux.keys(&["Tab"]);
    tmux.wait_for("tab completion", Duration::from_secs(10), |t| {
        t.screen().contains("uploads/")
    });
    tmux.keys(&["Enter"]);
    tmux.wait_for("the detected kind", Duration::from_secs(10), |t| {
        t.screen().contains("tree-sync source uploads")
    });
    tmux.keys(&["Enter"]);
    tmux.wait_for("the new source", Duration::from_secs(10), |t| {
        t.screen().contains("1 usable of 1")
    });
    let inv = std::fs::read_to_string(sb.state.join("sources.toml")).unwrap();
    assert!(inv.contains("name = \"uploads\""), "{inv}");
    assert!(
        inv.contains(&format!("{}/new/uploads", sb.root.display())),
        "{inv}"
    );

    // t: a new target.
    tmux.keys(&["t"]);
    for _ in 0..200 {
        tmux.keys(&["BSpace"]);
    }
    let elsewhere = sb.root.join("elsewhere").display().to_string();
    tmux.keys(&["-l", &elsewhere]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("the new target", Duration::from_secs(10), |t| {
        t.screen().contains("uploads goes to")
    });
    let inv = std::fs::read_to_string(sb.state.join("sources.toml")).unwrap();
    assert!(inv.contains(&elsewhere), "{inv}");

    // d: asks, then forgets; the data stays.
    tmux.keys(&["d"]);
    tmux.wait_for("the question", Duration::from_secs(10), |t| {
        t.screen().contains("Forget the source uploads?")
    });
    tmux.keys(&["y"]);
    tmux.wait_for("the forgotten source", Duration::from_secs(10), |t| {
        t.screen().contains("No sources yet")
    });
    assert!(sb.root.join("uploads/2024/a.jpg").is_file());
    tmux.keys(&["q"]);
}
