//! A fleet: 20 nodes reached over SSH (one throwaway sshd on 127.0.0.1,
//! each node its own name, appdata and shared connection) and one whose
//! port is wrong. One job moves every node's service to this machine
//! (`--from` repeated, `--service NODE/S`; the nodes have no ZFS, so by
//! rsync over SSH). The unreachable node fails only its own item, naming
//! itself; every other service arrives whole (`diff -r`); SSH connections
//! stay at one per node.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::cli::{bin, show, Sandbox};
use support::{require, Sshd};

const NODES: usize = 20;

use support::sshd::TRUSTING;

fn node(name: &str, sshd: &Sshd, port: u16, appdata: &Path) -> String {
    let options: Vec<String> = TRUSTING.iter().map(|o| format!("\"{o}\"")).collect();
    format!(
        "[[node]]\nname = \"{name}\"\nssh = \"{}\"\nport = {port}\nidentity = \"{}\"\noptions = [{}]\nappdata = \"{}\"\n\n",
        sshd.user_host(),
        sshd.key_path().display(),
        options.join(", "),
        appdata.display()
    )
}

use support::sshd::closed_port;

/// Established TCP connections to `port` on loopback right now.
fn connections_to(port: u16) -> usize {
    let out = Command::new("ss")
        .args(["-Htn", "state", "established"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let peer = format!("127.0.0.1:{port}");
    out.lines()
        .filter(|l| l.split_whitespace().nth(3) == Some(peer.as_str()))
        .count()
}

#[test]
fn twenty_nodes_move_at_once_and_an_unreachable_one_fails_alone() {
    if !require(
        "the fleet",
        support::skip::all([
            Sshd::prerequisites(),
            support::skip::tools(&["rsync", "ss", "diff"]),
        ]),
    ) {
        return;
    }
    let sshd = Sshd::start();
    let sb = Sandbox::new();
    let central = sb.root.join("central/appdata");
    std::fs::create_dir_all(&central).unwrap();
    let mut text = format!(
        "[[node]]\nname = \"local\"\nappdata = \"{}\"\n\n",
        central.display()
    );
    let names: Vec<String> = (1..=NODES).map(|i| format!("n{i:02}")).collect();
    for (i, name) in names.iter().enumerate() {
        let appdata = sb.root.join(name).join("appdata");
        let svc = appdata.join(format!("svc{:02}", i + 1));
        std::fs::create_dir_all(svc.join("conf")).unwrap();
        std::fs::write(svc.join("conf/app.yml"), format!("node: {name}\n")).unwrap();
        std::fs::write(svc.join("data.bin"), vec![i as u8; 64 * 1024]).unwrap();
        text.push_str(&node(name, &sshd, sshd.port(), &appdata));
    }
    let lost = sb.root.join("lost/appdata");
    std::fs::create_dir_all(lost.join("svc99")).unwrap();
    text.push_str(&node("lost", &sshd, closed_port(), &lost));
    let nodes = sb.root.join("nodes.toml");
    std::fs::write(&nodes, text).unwrap();

    // One job: every node's service, the unreachable node's too.
    let mut cmd = Command::new(bin());
    cmd.arg("--state-dir")
        .arg(sb.root.join("state"))
        .arg("--nodes")
        .arg(&nodes)
        .args(["run", "zfs-transfer", "--to", "local", "--json"]);
    for (i, name) in names.iter().enumerate() {
        cmd.args(["--from", name.as_str()]);
        cmd.args(["--service", &format!("{name}/svc{:02}", i + 1)]);
    }
    cmd.args(["--from", "lost", "--service", "lost/svc99"]);
    let started = Instant::now();
    let child: Child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // While it runs: at most one connection per node reaches sshd.
    let mut most = 0;
    let pid = child.id();
    while Path::new(&format!("/proc/{pid}/stat")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z")
        && started.elapsed() < Duration::from_secs(120)
    {
        most = most.max(connections_to(sshd.port()));
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        (1..=NODES).contains(&most),
        "{most} connections seen for {NODES} nodes"
    );
    let events = support::cli::events(&out);
    let failed: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["event"] == "item_failed")
        .collect();
    assert_eq!(
        failed.len(),
        1,
        "only the lost node's item fails: {}",
        show(&out)
    );
    assert_eq!(failed[0]["item"], "lost/svc99");
    let why = failed[0]["reason"].as_str().unwrap_or_default();
    assert!(why.contains("node lost"), "{why}");
    let summary = support::cli::summary(&out);
    assert_eq!(summary["items_verified"], NODES as u64, "{}", show(&out));
    assert!(took < Duration::from_secs(90), "the job took {took:?}");
    for (i, name) in names.iter().enumerate() {
        let svc = format!("svc{:02}", i + 1);
        let diff = Command::new("diff")
            .args(["-r", "--no-dereference"])
            .arg(sb.root.join(name).join("appdata").join(&svc))
            .arg(central.join(&svc))
            .output()
            .unwrap();
        assert!(diff.status.success(), "{svc}: {}", show(&diff));
    }
    assert!(!central.join("svc99").exists());
    // Resumed, the job redoes only the lost node's item (still unreachable).
    let out = Command::new(bin())
        .arg("--state-dir")
        .arg(sb.root.join("state"))
        .arg("--nodes")
        .arg(&nodes)
        .args(["resume", "--json", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let summary = support::cli::summary(&out);
    assert_eq!(summary["items_verified"], NODES as u64, "{}", show(&out));
    assert_eq!(summary["items_failed"], 1, "{}", show(&out));
}
