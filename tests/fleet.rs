//! A fleet: 20 nodes reached over SSH (one throwaway sshd on 127.0.0.1,
//! each node its own name, appdata and shared connection) and one whose
//! port is wrong. Each node's stack moves to this machine at once (a job
//! per node; the nodes have no ZFS, so by rsync over SSH). The unreachable
//! node fails its own job promptly and names itself; every other service
//! arrives whole (`diff -r`); SSH connections stay at one per node.

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

    let job = |from: &str, service: &str| -> Child {
        Command::new(bin())
            .arg("--state-dir")
            .arg(sb.root.join("state").join(from))
            .arg("--nodes")
            .arg(&nodes)
            .args(["run", "zfs-transfer", "--from", from, "--to", "local"])
            .args(["--service", service])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let started = Instant::now();
    let lost_job = job("lost", "svc99");
    let mut jobs = Vec::new();
    for (i, name) in names.iter().enumerate() {
        jobs.push((name.clone(), job(name, &format!("svc{:02}", i + 1))));
        // sshd drops unauthenticated connections beyond its MaxStartups.
        std::thread::sleep(Duration::from_millis(150));
    }
    // While they run: at most one connection per node reaches sshd.
    let mut most = 0;
    let watch_until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < watch_until {
        most = most.max(connections_to(sshd.port()));
        std::thread::sleep(Duration::from_millis(50));
    }
    let lost_out = lost_job.wait_with_output().unwrap();
    let lost_took = started.elapsed();
    for (name, child) in jobs {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{name}: {}", show(&out));
    }
    assert!(
        (1..=NODES).contains(&most),
        "{most} connections seen for {NODES} nodes"
    );
    assert_ne!(lost_out.status.code(), Some(0), "{}", show(&lost_out));
    let said = String::from_utf8_lossy(&lost_out.stderr).into_owned()
        + &String::from_utf8_lossy(&lost_out.stdout);
    assert!(said.contains("node lost"), "{said}");
    assert!(
        lost_took < Duration::from_secs(20),
        "the unreachable node took {lost_took:?}"
    );
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
}
