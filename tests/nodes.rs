//! Nodes over real SSH (a throwaway sshd on 127.0.0.1): `cutover nodes`
//! probes every node at once and says why one is unreachable, promptly;
//! host keys are checked unless the operator's own options say otherwise;
//! a runbook's command step runs on a node with every argument quoted
//! alone, so a name holding `$(…)` is a name, never a command.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::cli::{show, Sandbox};
use support::{require, Sshd};

/// The `[[node]]` of the fixture's sshd, with `options` (the operator's choice).
fn node(name: &str, sshd: &Sshd, port: u16, options: &[&str]) -> String {
    let options: Vec<String> = options.iter().map(|o| format!("\"{o}\"")).collect();
    format!(
        "[[node]]\nname = \"{name}\"\nssh = \"{}\"\nport = {port}\nidentity = \"{}\"\noptions = [{}]\n\n",
        sshd.user_host(),
        sshd.key_path().display(),
        options.join(", ")
    )
}

use support::sshd::TRUSTING;

fn json_lines(out: &std::process::Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

use support::sshd::closed_port;

#[test]
fn nodes_are_probed_at_once_and_an_unreachable_one_says_why() {
    if !require("nodes_are_probed", Sshd::prerequisites()) {
        return;
    }
    let sshd = Sshd::start();
    let sb = Sandbox::new();
    let appdata = sb.root.join("appdata");
    for s in [
        "authelia",
        "authelia-redis",
        "mariadb $(x) 'q'",
        "traefik",
        "odd\nname",
    ] {
        std::fs::create_dir_all(appdata.join(s)).unwrap();
    }
    // A file under appdata is not a service.
    std::fs::write(appdata.join("README"), b"notes").unwrap();
    // A compose file in authelia's directory names the database's
    // directory in a volume: the two move together, read over SSH.
    std::fs::write(
        appdata.join("authelia/docker-compose.yml"),
        format!(
            "services:\n  db:\n    volumes:\n      - \"{}/mariadb $(x) 'q':/var/lib/mysql\"\n",
            appdata.display()
        ),
    )
    .unwrap();
    let mut text = node("beta", &sshd, sshd.port(), TRUSTING);
    text.push_str(&format!("appdata = \"{}\"\n\n", appdata.display()));
    text.push_str(&node("gamma", &sshd, closed_port(), TRUSTING));
    // No options: the host key is checked, as ssh does by default.
    text.push_str(&node(
        "delta",
        &sshd,
        sshd.port(),
        &[
            "IdentitiesOnly=yes",
            "UserKnownHostsFile=/dev/null",
            "GlobalKnownHostsFile=/dev/null",
        ],
    ));
    let file = sb.root.join("nodes.toml");
    std::fs::write(&file, text).unwrap();
    let started = Instant::now();
    let out = sb.cutover(&["--nodes", file.to_str().unwrap(), "nodes", "--json"]);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let nodes = json_lines(&out);
    let by = |n: &str| nodes.iter().find(|x| x["name"] == n).unwrap().clone();
    assert_eq!(by("local")["reachable"], true);
    let beta = by("beta");
    assert_eq!(beta["reachable"], true, "{beta}");
    let names: Vec<&str> = beta["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec![
            "authelia",
            "authelia-redis",
            "mariadb $(x) 'q'",
            "odd\nname",
            "traefik"
        ]
    );
    assert!(
        beta["services"][0]["files"].as_u64().unwrap() >= 1,
        "{beta}"
    );
    assert_eq!(
        beta["stacks"],
        serde_json::json!([
            {"name": "authelia", "services": ["authelia", "authelia-redis", "mariadb $(x) 'q'"]},
            {"name": "odd\nname", "services": ["odd\nname"]},
            {"name": "traefik", "services": ["traefik"]}
        ])
    );
    let gamma = by("gamma");
    assert_eq!(gamma["reachable"], false);
    assert!(
        gamma["why"].as_str().unwrap().contains("nothing listens"),
        "{gamma}"
    );
    let delta = by("delta");
    assert_eq!(delta["reachable"], false);
    assert!(
        delta["why"].as_str().unwrap().contains("host key"),
        "{delta}"
    );
}

#[test]
fn a_runbook_command_runs_on_a_node_with_its_arguments_quoted() {
    if !require("runbook_on_a_node", Sshd::prerequisites()) {
        return;
    }
    let sshd = Sshd::start();
    let sb = Sandbox::new();
    let dir = sb.root.join("remote");
    std::fs::create_dir_all(&dir).unwrap();
    let nodes = sb.root.join("nodes.toml");
    std::fs::write(&nodes, node("beta", &sshd, sshd.port(), TRUSTING)).unwrap();
    // Were it run by a shell, the name would create a file in the remote
    // user's home (sshd starts commands there).
    let marker = format!("cutover-pwned-{}", std::process::id());
    let hostile = format!("{}/a b 'q' $(id>{marker})", dir.display());
    let book = sb.root.join("book.toml");
    std::fs::write(
        &book,
        r#"name = "remote"
[vars]
file = "x"
[[phase]]
name = "p"
[[phase.step]]
id = "touch"
kind = "command"
node = "beta"
run = ["touch", "{file}"]
[[phase.step]]
id = "check"
kind = "command"
node = "beta"
run = ["ls", "-1", "{file}"]
expect_output = "$(id>"
"#,
    )
    .unwrap();
    let var = format!("file={hostile}");
    let out = sb.cutover(&[
        "--nodes",
        nodes.to_str().unwrap(),
        "runbook",
        "run",
        book.to_str().unwrap(),
        "--var",
        &var,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(std::path::Path::new(&hostile).exists(), "the literal name");
    let home = sshd.run("echo $HOME");
    assert!(
        !std::path::Path::new(home.trim()).join(&marker).exists(),
        "no command ran from a name"
    );
}

/// A tree with what a service directory holds: nested directories, a hard
/// link, a symlink, modes, an owner, hostile names.
fn service_tree(root: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(root.join("conf/deep")).unwrap();
    std::fs::write(root.join("conf/app.ini"), "port = 80\n").unwrap();
    std::fs::write(root.join("conf/deep/$(touch pwned) 'q'\nx"), "data").unwrap();
    std::fs::hard_link(root.join("conf/app.ini"), root.join("linked.ini")).unwrap();
    std::os::unix::fs::symlink("conf/app.ini", root.join("current")).unwrap();
    std::fs::set_permissions(root.join("conf"), std::fs::Permissions::from_mode(0o750)).unwrap();
    std::os::unix::fs::chown(root.join("conf/app.ini"), Some(1234), Some(5678)).ok();
}

/// `nodes::tree::compare` finds every kind of difference between two trees,
/// on this machine and across SSH, and finds none between a tree and its
/// `cp -a` copy.
#[test]
fn trees_on_two_nodes_compare_by_metadata_content_and_links() {
    use cutover::nodes::file::{Node, Ssh};
    use cutover::nodes::runner::NodeRunner;
    use cutover::nodes::tree::compare;
    use cutover::verify::VerifyMode;
    if !require("trees_on_two_nodes", Sshd::prerequisites()) {
        return;
    }
    let sshd = Sshd::start();
    let sb = Sandbox::new();
    let (a, b) = (sb.root.join("a"), sb.root.join("b"));
    service_tree(&a);
    let cp = std::process::Command::new("cp")
        .arg("-a")
        .arg(&a)
        .arg(&b)
        .status()
        .unwrap();
    assert!(cp.success());
    let local = Node {
        name: "local".into(),
        ssh: None,
        appdata: None,
        dataset: None,
    };
    let remote = Node {
        name: "beta".into(),
        ssh: Some(Ssh {
            destination: sshd.user_host(),
            port: Some(sshd.port()),
            identity: Some(sshd.key_path().to_path_buf()),
            options: TRUSTING.iter().map(|o| o.to_string()).collect(),
        }),
        appdata: None,
        dataset: None,
    };
    let state = sb.root.join("state");
    let (l, r) = (
        NodeRunner::new(&local, &state),
        NodeRunner::new(&remote, &state),
    );
    for (name, runner) in [("local", &l), ("ssh", &r)] {
        let same = compare((&l, &a), (runner, &b), &VerifyMode::Full, 1).unwrap();
        assert!(same.equal(), "{name}: {}", same.summary());
        assert_eq!(same.hashed, 3, "{name}: every file hashed");
        assert!(same.entries >= 7, "{name}: {same:?}");
    }
    // Same size and time, other bytes: only the content hash tells.
    let f = b.join("conf/deep/$(touch pwned) 'q'\nx");
    let t = std::fs::metadata(&f).unwrap().modified().unwrap();
    std::fs::write(&f, "DATA").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&f)
        .unwrap()
        .set_modified(t)
        .unwrap();
    std::fs::remove_file(b.join("linked.ini")).unwrap();
    std::fs::copy(b.join("conf/app.ini"), b.join("linked.ini")).unwrap();
    std::fs::write(b.join("extra"), "x").unwrap();
    std::fs::remove_file(b.join("current")).unwrap();
    std::os::unix::fs::symlink("elsewhere", b.join("current")).unwrap();
    let xattr = std::process::Command::new("setfattr")
        .args(["-n", "user.color", "-v", "blue"])
        .arg(a.join("conf"))
        .status()
        .is_ok_and(|s| s.success());
    let diff = compare((&l, &a), (&r, &b), &VerifyMode::Full, 1).unwrap();
    let text = diff.summary();
    if xattr {
        assert!(
            text.contains("* conf extended attribute user.color"),
            "{text}"
        );
    } else {
        support::say("note: extended attributes not tested: setfattr failed here");
    }
    for want in [
        "content",
        "- extra only in target",
        "* current symlink target",
        "hard link not preserved",
    ] {
        assert!(text.contains(want), "{want} not in: {text}");
    }
    // A sample of one file hashes one file on each side.
    let sampled = compare((&l, &a), (&r, &b), &VerifyMode::Sample(1), 7).unwrap();
    assert_eq!(sampled.hashed, 1, "{sampled:?}");
    assert!(!sb.root.join("pwned").exists() && !std::path::Path::new("pwned").exists());
    // A root that is not there is one error naming the node.
    let err = compare((&l, &a), (&r, &sb.root.join("nope")), &VerifyMode::Full, 1).unwrap_err();
    assert!(err.starts_with("node beta:"), "{err}");
}

/// The console's Nodes pane: with an inventory, each node shows reachable
/// or not and why; `tab` to it and the services of the node at the cursor
/// show, a plain directory marked as such.
#[test]
fn the_console_shows_the_nodes_pane() {
    if !require(
        "the console's nodes pane",
        support::skip::all([Sshd::prerequisites(), support::skip::tools(&["tmux"])]),
    ) || !support::tmux::tmux_installed()
    {
        return;
    }
    let sshd = Sshd::start();
    let sb = Sandbox::new();
    let appdata = sb.root.join("appdata");
    for s in ["authelia", "authelia-mariadb"] {
        std::fs::create_dir_all(appdata.join(s)).unwrap();
    }
    let mut text = node("beta", &sshd, sshd.port(), TRUSTING);
    text.push_str(&format!("appdata = \"{}\"\n\n", appdata.display()));
    text.push_str(&node("gamma", &sshd, closed_port(), TRUSTING));
    let file = sb.root.join("nodes.toml");
    std::fs::write(&file, text).unwrap();
    let tmux = support::tmux::Tmux::new(sb.root.join("n.sock"), "nodes");
    let launch = format!(
        "{} --state-dir {} --nodes {}",
        support::cli::bin(),
        sb.state.display(),
        file.display()
    );
    tmux.start(120, 40, &launch);
    let wait =
        |text: &str| tmux.wait_for(text, Duration::from_secs(30), |t| t.screen().contains(text));
    wait("Nodes · 2 reachable of 3");
    let screen = tmux.screen();
    assert!(screen.contains("● beta"), "{screen}");
    assert!(screen.contains("✗ gamma"), "{screen}");
    assert!(screen.contains("nothing listens"), "{screen}");
    tmux.keys(&["Tab"]);
    wait("probe again");
    tmux.keys(&["j"]);
    wait("authelia-mariadb");
    assert!(
        tmux.screen().contains("plain directory"),
        "{}",
        tmux.screen()
    );
    tmux.keys(&["q"]);
    let _ = tmux.cmd(&["kill-session", "-t", "nodes"]);
}
