//! zfs-transfer on real systems: two zfs-fuse pools stand for two hosts;
//! the "remote" one (node `beta`) is reached only through a throwaway sshd
//! on 127.0.0.1, so every remote command and the stream really cross SSH.
//! A plain directory root stands for a node without ZFS (rsync fallback).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::cli::{events, show, summary, Running, Sandbox};
use support::{require, Sshd, ZfsPool};

use support::sshd::TRUSTING;

const STACK: [&str; 3] = ["authelia", "authelia-mariadb", "authelia-redis"];

fn prereqs() -> support::skip::Prereq {
    support::skip::all([
        ZfsPool::prerequisites(),
        Sshd::prerequisites(),
        support::skip::tools(&["rsync", "getfattr"]),
    ])
}

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

/// The `[[node]]` of a node reached through the fixture's sshd.
fn ssh_node(name: &str, sshd: &Sshd, port: u16, appdata: &Path, dataset: Option<&str>) -> String {
    let options: Vec<String> = TRUSTING.iter().map(|o| format!("\"{o}\"")).collect();
    let mut text = format!(
        "[[node]]\nname = \"{name}\"\nssh = \"{}\"\nport = {port}\nidentity = \"{}\"\noptions = [{}]\nappdata = \"{}\"\n",
        sshd.user_host(),
        sshd.key_path().display(),
        options.join(", "),
        appdata.display()
    );
    if let Some(ds) = dataset {
        text.push_str(&format!("dataset = \"{ds}\"\n"));
    }
    text.push('\n');
    text
}

/// Two pools: `local` holds the services, `beta` (over SSH) receives them.
struct World {
    src: ZfsPool,
    dst: ZfsPool,
    _sshd: Sshd,
    sb: Sandbox,
    nodes: PathBuf,
}

impl World {
    fn new(services: &[&str], mb_each: usize) -> World {
        let src = ZfsPool::new(256);
        let dst = ZfsPool::new(256);
        let sshd = Sshd::start();
        let sb = Sandbox::new();
        src.create_dataset("appdata");
        dst.create_dataset("appdata");
        for (i, s) in services.iter().enumerate() {
            src.create_dataset(&format!("appdata/{s}"));
            let dir = src.path("appdata").join(s);
            std::fs::create_dir_all(dir.join("config")).unwrap();
            std::fs::write(dir.join("config/settings.yml"), format!("service: {s}\n")).unwrap();
            std::fs::write(dir.join("data.bin"), noise(i as u64 + 1, mb_each << 20)).unwrap();
        }
        let mut text = format!(
            "[[node]]\nname = \"local\"\nappdata = \"{}\"\ndataset = \"{}\"\n\n",
            src.path("appdata").display(),
            src.dataset("appdata")
        );
        text.push_str(&ssh_node(
            "beta",
            &sshd,
            sshd.port(),
            &dst.path("appdata"),
            Some(&dst.dataset("appdata")),
        ));
        let nodes = sb.root.join("nodes.toml");
        std::fs::write(&nodes, text).unwrap();
        World {
            src,
            dst,
            _sshd: sshd,
            sb,
            nodes,
        }
    }

    fn args<'a>(&'a self, services: &[&'a str], extra: &[&'a str]) -> Vec<String> {
        let mut a: Vec<String> = [
            "--nodes",
            self.nodes.to_str().unwrap(),
            "run",
            "zfs-transfer",
            "--from",
            "local",
            "--to",
            "beta",
            "--json",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for s in services {
            a.push("--service".into());
            a.push(s.to_string());
        }
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    }

    fn run(&self, services: &[&str], extra: &[&str]) -> std::process::Output {
        self.sb.cutover(&self.args(services, extra))
    }
}

/// The `transfer` rows of a run, by service.
fn transfers(out: &std::process::Output) -> Vec<Value> {
    events(out)
        .into_iter()
        .filter(|e| e["event"] == "transfer")
        .collect()
}

#[test]
fn a_stack_goes_over_ssh_then_the_second_transfer_is_incremental_and_smaller() {
    if !require("zfs_transfer_stack", prereqs()) {
        return;
    }
    let w = World::new(&STACK, 4);
    let out = w.run(&STACK, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let first = summary(&out);
    assert_eq!(first["items_verified"], 3, "{first}");
    let rows = transfers(&out);
    assert_eq!(rows.len(), 3, "{}", show(&out));
    assert!(rows.iter().all(|r| r["method"] == "zfs full"), "{rows:?}");
    let first_bytes = first["bytes_transferred"].as_u64().unwrap();
    assert!(first_bytes >= 12 << 20, "{first}");
    for s in STACK {
        // Received under the target's parent, mounted at its APPDATA/S, marked.
        let got = std::fs::read(w.dst.path("appdata").join(s).join("data.bin")).unwrap();
        assert_eq!(got.len(), 4 << 20);
        let ds = w.dst.dataset(&format!("appdata/{s}"));
        let mark = w
            .dst
            .zfs(["get", "-H", "-o", "value", "cutover:created", ds.as_str()]);
        assert!(mark.trim().len() >= 8, "{mark}");
    }

    // A change in one service, then the second transfer.
    std::fs::write(
        w.src.path("appdata/authelia/config/settings.yml"),
        "service: authelia\nchanged: yes\n",
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    let out = w.run(&STACK, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let second = summary(&out);
    assert_eq!(second["items_verified"], 3, "{second}");
    let rows = transfers(&out);
    assert!(
        rows.iter().all(|r| r["method"] == "zfs incremental"),
        "{rows:?}"
    );
    let second_bytes = second["bytes_transferred"].as_u64().unwrap();
    assert!(
        second_bytes * 20 < first_bytes,
        "incremental {second_bytes} vs full {first_bytes}"
    );
    let got = std::fs::read_to_string(w.dst.path("appdata/authelia/config/settings.yml")).unwrap();
    assert!(got.contains("changed: yes"), "{got}");

    // A dry run shows the incremental it would send, and writes nothing.
    std::fs::write(w.src.path("appdata/authelia-redis/new.txt"), "x\n").unwrap();
    let out = w.run(&STACK, &["--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let steps: Vec<String> = events(&out)
        .iter()
        .filter(|e| e["event"] == "plan_step")
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    assert!(steps.iter().any(|s| s.contains("zfs send -i")), "{steps:?}");
    assert!(!w.dst.path("appdata/authelia-redis/new.txt").exists());

    // cutover verify checks the newest common snapshot, writing nothing.
    let mut verify = w.args(&STACK, &[]);
    verify[2] = "verify".into();
    let out = w.sb.cutover(&verify);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(summary(&out)["items_verified"], 3, "{}", show(&out));
    // A target that moved on (a snapshot of its own after a change) is
    // refused before anything is sent, and keeps its data.
    std::fs::write(w.dst.path("appdata/authelia/data.bin"), b"theirs").unwrap();
    let snap = w.dst.dataset("appdata/authelia@theirs");
    w.dst.zfs(["snapshot", snap.as_str()]);
    let out = w.run(&["authelia"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("has snapshots after") && err.contains("theirs"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(w.dst.path("appdata/authelia/data.bin")).unwrap(),
        b"theirs"
    );
}

/// The ssh processes cutover started whose command line holds `word`.
fn ssh_children(parent: u32, word: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(after) = stat.rsplit_once(") ").map(|(_, a)| a.to_string()) else {
            continue;
        };
        let ppid: u32 = after
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if ppid == parent && cmdline.starts_with("ssh ") && cmdline.contains(word) {
            out.push(pid);
        }
    }
    out
}

#[test]
fn the_connection_cut_mid_send_leaves_no_half_dataset_and_resume_completes() {
    if !require("zfs_transfer_cut", prereqs()) {
        return;
    }
    let w = World::new(&["authelia"], 16);
    let args = w.args(&["authelia"], &["--bwlimit", "2M"]);
    let mut running = Running::start(&w.sb.state, &args);
    let seen = running.read_until(|e| {
        e["event"] == "progress" && e["bytes_done"].as_u64().unwrap_or(0) >= 2 << 20
    });
    let job = seen
        .iter()
        .find(|e| e["event"] == "job_started")
        .map(|e| e["job"].as_u64().unwrap())
        .unwrap();
    let pid = running.id();
    let victims = ssh_children(pid, "receive");
    assert_eq!(victims.len(), 1, "ssh receive processes: {victims:?}");
    unsafe {
        libc::kill(victims[0] as i32, libc::SIGKILL);
    }
    let (rest, status) = running.finish();
    assert_eq!(status.code(), Some(1), "{rest}");
    assert!(rest.contains("item_failed"), "{rest}");
    support::say(&format!("cut mid-send: {rest}"));
    assert!(
        rest.contains("node beta") && rest.contains("cutover resume"),
        "{rest}"
    );
    let ds = w.dst.dataset("appdata/authelia");
    let list = w.dst.zfs(["list", "-H", "-r", "-o", "name", w.dst.name()]);
    assert!(!list.lines().any(|l| l == ds), "half dataset left: {list}");

    let started = Instant::now();
    let out = w.sb.cutover(&[
        "--nodes",
        w.nodes.to_str().unwrap(),
        "resume",
        &job.to_string(),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(summary(&out)["items_verified"], 1, "{}", show(&out));
    assert!(started.elapsed() < Duration::from_secs(120));
    let got = std::fs::read(w.dst.path("appdata/authelia/data.bin")).unwrap();
    assert_eq!(got, noise(1, 16 << 20));
}

#[test]
fn final_reports_a_change_made_on_the_source_after_its_snapshot() {
    if !require("zfs_transfer_final", prereqs()) {
        return;
    }
    let w = World::new(&["authelia"], 1);
    let out = w.run(&["authelia"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    // Enough new data that the final increment takes a few seconds at 1M/s.
    std::fs::write(w.src.path("appdata/authelia/more.bin"), noise(9, 4 << 20)).unwrap();
    let args = w.args(&["authelia"], &["--final", "--bwlimit", "1M"]);
    let mut running = Running::start(&w.sb.state, &args);
    running.read_until(|e| e["event"] == "progress" && e["bytes_done"].as_u64().unwrap_or(0) > 0);
    // The snapshot is taken: a service that was not stopped writes on.
    std::fs::write(w.src.path("appdata/authelia/late.log"), "written after\n").unwrap();
    let (rest, status) = running.finish();
    assert_eq!(status.code(), Some(1), "{rest}");
    let failed: Vec<Value> = rest
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["event"] == "item_failed")
        .collect();
    assert_eq!(failed.len(), 1, "{rest}");
    support::say(&format!("final: {}", failed[0]));
    let reason = failed[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("changed")
            && reason.contains("after its snapshot")
            && reason.contains("late.log"),
        "{reason}"
    );
}

#[test]
fn without_zfs_on_a_node_the_service_goes_by_rsync_and_is_verified() {
    if !require("zfs_transfer_rsync", prereqs()) {
        return;
    }
    let sshd = Sshd::start();
    let sb = Sandbox::new();
    let remote = sb.root.join("remote-appdata");
    let here = sb.root.join("local-appdata");
    let service = "app data";
    let dir = remote.join(service);
    std::fs::create_dir_all(dir.join("sub dir")).unwrap();
    std::fs::create_dir_all(&here).unwrap();
    for name in ["plain", "it's \"quoted\"", "$(touch pwned)", "sub dir/x y"] {
        std::fs::write(dir.join(name), format!("content of {name}\n")).unwrap();
    }
    std::fs::write(dir.join("big.bin"), noise(3, 1 << 20)).unwrap();
    let mut text = String::from(&format!(
        "[[node]]\nname = \"local\"\nappdata = \"{}\"\n\n",
        here.display()
    ));
    text.push_str(&ssh_node("beta", &sshd, sshd.port(), &remote, None));
    let nodes = sb.root.join("nodes.toml");
    std::fs::write(&nodes, text).unwrap();
    // `cutover run zfs-transfer` from beta to local with these arguments.
    let transfer = |extra: &[&str]| {
        let mut args = vec![
            "--nodes",
            nodes.to_str().unwrap(),
            "run",
            "zfs-transfer",
            "--from",
            "beta",
            "--to",
            "local",
        ];
        args.extend(extra);
        sb.cutover(&args)
    };
    let out = transfer(&["--service", service, "--bwlimit", "50M", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let s = summary(&out);
    assert_eq!(s["items_verified"], 1, "{s}");
    assert!(s["bytes_transferred"].as_u64().unwrap() >= 1 << 20, "{s}");
    let rows = transfers(&out);
    assert_eq!(rows[0]["method"], "rsync", "{rows:?}");
    assert_eq!(rows[0]["bwlimit"], 50 << 20, "{rows:?}");
    for name in ["plain", "it's \"quoted\"", "$(touch pwned)", "sub dir/x y"] {
        let got = std::fs::read_to_string(here.join(service).join(name)).unwrap();
        assert_eq!(got, format!("content of {name}\n"));
    }
    assert!(!here.join(service).join("pwned").exists());
    assert!(!Path::new("/root/pwned").exists());

    // A target directory holding files cutover did not put there: rsync
    // --delete would remove them, so it is refused until --force-full.
    std::fs::create_dir_all(remote.join("other")).unwrap();
    std::fs::write(remote.join("other/new.txt"), "from the source\n").unwrap();
    std::fs::create_dir_all(here.join("other")).unwrap();
    std::fs::write(here.join("other/theirs.txt"), "the operator's\n").unwrap();
    let other = |extra: &[&str]| {
        let mut args = vec!["--service", "other", "--service", service];
        args.extend(extra);
        transfer(&args)
    };
    let out = other(&[]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("holds files cutover did not put there") && err.contains("--force-full"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert_eq!(
        std::fs::read_to_string(here.join("other/theirs.txt")).unwrap(),
        "the operator's\n",
        "nothing touched"
    );
    // `app data` was written by cutover before: it goes again unasked.
    let out = other(&["--force-full"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(!here.join("other/theirs.txt").exists());
    assert!(here.join("other/new.txt").exists());
    // Now cutover's: the next transfer needs no --force-full.
    let out = other(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
}

#[test]
fn bad_names_unknown_nodes_ssh_failures_and_foreign_targets_are_refused_with_the_rule() {
    if !require("zfs_transfer_refusals", prereqs()) {
        return;
    }
    let w = World::new(&["authelia"], 1);
    // Names ZFS rejects, with the rule.
    for bad in ["x$(id)", "a'b", "a/b", ""] {
        let out = w.run(&[bad], &[]);
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", show(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--service"), "{bad}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    // An unknown node.
    let out = w.sb.cutover(&[
        "--nodes",
        w.nodes.to_str().unwrap(),
        "run",
        "zfs-transfer",
        "--from",
        "local",
        "--to",
        "nowhere",
        "--service",
        "authelia",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no node 'nowhere'"));

    // A target dataset cutover did not create, sharing no snapshot.
    let foreign = w.dst.create_dataset("appdata/authelia");
    std::fs::write(w.dst.path("appdata/authelia/keep.txt"), "theirs\n").unwrap();
    let out = w.run(&["authelia"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--force-full"),
        "{}",
        show(&out)
    );
    let out = w.run(&["authelia"], &["--force-full"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not created by cutover"),
        "{}",
        show(&out)
    );
    assert_eq!(
        std::fs::read_to_string(w.dst.path("appdata/authelia/keep.txt")).unwrap(),
        "theirs\n"
    );
    // Marked as cutover's own, --force-full replaces it.
    w.dst.zfs(["set", "cutover:created=test", foreign.as_str()]);
    let out = w.run(&["authelia"], &["--force-full"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(!w.dst.path("appdata/authelia/keep.txt").exists());

    // SSH refused: nothing listens on the port.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let text = std::fs::read_to_string(&w.nodes).unwrap().replace(
        &format!("port = {}", w._sshd.port()),
        &format!("port = {port}"),
    );
    let closed = w.sb.root.join("closed.toml");
    std::fs::write(&closed, text).unwrap();
    let out = w.sb.cutover(&[
        "--nodes",
        closed.to_str().unwrap(),
        "run",
        "zfs-transfer",
        "--from",
        "local",
        "--to",
        "beta",
        "--service",
        "authelia",
    ]);
    assert_ne!(out.status.code(), Some(0), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("node beta: nothing listens"), "{err}");
}

/// The shipped service-stack runbook on real nodes: the stack's plain
/// directory becomes a dataset on its node, the stack goes to `beta` over
/// SSH, the window's final transfer follows, and every file arrives.
#[test]
fn the_shipped_service_stack_runbook_moves_a_stack_with_a_plain_service() {
    if !require("the service-stack runbook", prereqs()) {
        return;
    }
    let w = World::new(&["authelia", "authelia-redis"], 1);
    let plain = w.src.path("appdata").join("authelia-mariadb");
    std::fs::create_dir_all(plain.join("db")).unwrap();
    std::fs::write(plain.join("db/ibdata1"), noise(9, 200_000)).unwrap();
    let book = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/runbooks/service-stack.toml"
    );
    let nodes = w.nodes.to_str().unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "--nodes",
            nodes,
            "runbook",
            "run",
            book,
            "--var",
            "from=local",
            "--var",
            "to=beta",
        ];
        args.extend_from_slice(extra);
        w.sb.cutover(&args)
    };
    // It stops at the window's typed confirmation.
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("stop-stack"),
        "{}",
        show(&out)
    );
    let listed = w.src.zfs(["list", "-H", "-o", "name"]);
    assert!(
        listed.contains(&w.src.dataset("appdata/authelia-mariadb")),
        "the plain service became a dataset: {listed}"
    );
    let out = run(&[
        "--yes",
        "stop-stack=STOPPED",
        "--yes",
        "start-on-target",
        "--yes",
        "watch",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    for s in STACK {
        let diff = std::process::Command::new("diff")
            .args(["-r", "--no-dereference"])
            .arg(w.src.path("appdata").join(s))
            .arg(w.dst.path("appdata").join(s))
            .output()
            .unwrap();
        assert!(diff.status.success(), "{s}: {}", show(&diff));
    }
}
