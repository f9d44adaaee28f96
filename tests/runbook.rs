//! Runbooks run headless: automatic steps run in order, a manual step stops
//! the run (exit 3) until confirmed with `--yes`, a failed gate stops it
//! (exit 1) and stays failed until a run retries it — never skipped — a step
//! that was running when the process died is checked again, and every
//! confirmation is in the audit trail. Mistakes in the file name the line.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::cli::{bin, show, write, Sandbox};

/// The runbook of the issue, word for word (shipped with cutover).
const TREE_CUTOVER: &str = include_str!("../assets/runbooks/tree-cutover.toml");

/// `cutover runbook status FILE --json`, one object per step.
fn status(sb: &Sandbox, book: &std::path::Path, vars: &[&str]) -> Vec<Value> {
    let mut args = vec!["runbook", "status", book.to_str().unwrap(), "--json"];
    args.extend(vars);
    json_lines(&sb.cutover(&args))
}

fn json_lines(out: &std::process::Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[test]
fn the_issue_runbook_runs_stops_at_the_manual_step_and_continues() {
    let sb = Sandbox::new();
    write(&sb.src.join("a/one.txt"), b"one");
    write(&sb.src.join("b/two.txt"), b"two");
    std::fs::create_dir_all(&sb.dst).unwrap();
    let book = sb.root.join("tree.toml");
    std::fs::write(&book, TREE_CUTOVER).unwrap();
    let (src, dst) = (sb.src.display().to_string(), sb.dst.display().to_string());
    let vars = [
        "--var",
        &format!("src={src}"),
        "--var",
        &format!("dst={dst}"),
    ];
    let run = |extra: &[&str]| {
        let mut args = vec!["runbook", "run", book.to_str().unwrap()];
        args.extend(vars);
        args.extend(extra);
        args.extend(["--operator", "alice"]);
        sb.cutover(&args)
    };
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!(
            "waiting at pause-writers: Pause every writer of {src}"
        )),
        "{text}"
    );
    assert_eq!(std::fs::read(sb.dst.join("a/one.txt")).unwrap(), b"one");
    // Nothing moves past the manual step until it is confirmed.
    write(&sb.src.join("c/three.txt"), b"three");
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    assert!(!sb.dst.join("c/three.txt").exists());
    // The line to run next repeats this run's flags (state directory,
    // variables), so it finds the same state.
    let text = String::from_utf8_lossy(&out.stdout);
    let next = text
        .lines()
        .find_map(|l| l.strip_prefix("when it is done: "))
        .unwrap_or_else(|| panic!("no next command in {text}"));
    assert!(next.contains("--state-dir"), "{next}");
    assert!(next.contains("--var"), "{next}");
    assert!(next.ends_with("--yes pause-writers"), "{next}");
    let out = run(&["--yes", "pause-writers"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(std::fs::read(sb.dst.join("c/three.txt")).unwrap(), b"three");

    let steps = status(&sb, &book, &vars);
    let state: Vec<(&str, &str)> = steps
        .iter()
        .map(|s| (s["id"].as_str().unwrap(), s["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        state,
        vec![
            ("space", "passed"),
            ("bulk-copy", "passed"),
            ("pause-writers", "confirmed"),
            ("final", "passed"),
            ("resume-writers", "pending"),
        ]
    );
    assert!(steps[1]["job"].as_u64().is_some(), "{:?}", steps[1]);
    assert_eq!(steps[2]["by"], "alice");
    let mut log = vec!["runbook", "log", book.to_str().unwrap(), "--json"];
    log.extend(vars);
    let trail = json_lines(&sb.cutover(&log));
    assert!(
        trail
            .iter()
            .any(|e| e["id"] == "pause-writers" && e["event"] == "confirmed" && e["by"] == "alice"),
        "{trail:?}"
    );
    // The phase's rollback: its manual step waits, then is confirmed.
    let mut rollback = vec![
        "runbook",
        "rollback",
        book.to_str().unwrap(),
        "--phase",
        "window",
    ];
    rollback.extend(vars);
    let out = sb.cutover(&rollback);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    rollback.extend(["--yes", "resume-writers"]);
    assert_eq!(sb.cutover(&rollback).status.code(), Some(0));
    // A reset starts over; the audit trail stays.
    let mut reset = vec!["runbook", "reset", book.to_str().unwrap()];
    reset.extend(vars);
    assert_eq!(
        sb.cutover(&reset).status.code(),
        Some(2),
        "asks for --confirm"
    );
    reset.push("--confirm");
    assert_eq!(sb.cutover(&reset).status.code(), Some(0));
    let steps = status(&sb, &book, &vars);
    assert!(steps.iter().all(|s| s["state"] == "pending"), "{steps:?}");
    assert!(json_lines(&sb.cutover(&log)).len() > trail.len());
}

#[test]
fn a_failed_gate_blocks_until_it_passes_and_is_retried_first() {
    let sb = Sandbox::new();
    let flag = sb.root.join("ready");
    let book = sb.root.join("gate.toml");
    std::fs::write(
        &book,
        format!(
            r#"name = "gate"
[[phase]]
name = "check"
[[phase.step]]
id = "ready"
kind = "command"
run = ["cat", "{}"]
expect_output = "go"
[[phase.step]]
id = "after"
kind = "command"
run = ["true"]
"#,
            flag.display()
        ),
    )
    .unwrap();
    let run = || sb.cutover(&["runbook", "run", book.to_str().unwrap()]);
    let out = run();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("failed at ready"));
    std::fs::write(&flag, "wait").unwrap();
    let out = run();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("did not print \"go\""),
        "{}",
        show(&out)
    );
    let steps = status(&sb, &book, &[]);
    assert_eq!(
        (steps[0]["state"].as_str(), steps[1]["state"].as_str()),
        (Some("failed"), Some("pending"))
    );
    // A failed gate is never skipped.
    let skip = sb.cutover(&[
        "runbook",
        "run",
        book.to_str().unwrap(),
        "--skip",
        "ready=no time",
    ]);
    assert_eq!(skip.status.code(), Some(2), "{}", show(&skip));
    assert!(String::from_utf8_lossy(&skip.stderr).contains("never skipped"));
    std::fs::write(&flag, "go").unwrap();
    assert_eq!(run().status.code(), Some(0));
}

#[test]
fn a_step_is_skipped_with_a_reason_and_a_confirmation_carries_a_note() {
    let sb = Sandbox::new();
    let book = sb.root.join("notes.toml");
    std::fs::write(
        &book,
        r#"name = "notes"
[[phase]]
name = "p"
[[phase.step]]
id = "backup"
kind = "command"
run = ["false"]
[[phase.step]]
id = "announce"
kind = "manual"
text = "Announce the window"
"#,
    )
    .unwrap();
    let out = sb.cutover(&[
        "runbook",
        "run",
        book.to_str().unwrap(),
        "--skip",
        "backup=snapshot taken by the storage team",
        "--yes",
        "announce",
        "--note",
        "mailed ops@ at 09:00",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let steps = status(&sb, &book, &[]);
    assert_eq!(steps[0]["state"], "skipped");
    assert_eq!(
        steps[0]["note"],
        "skipped: snapshot taken by the storage team"
    );
    assert_eq!(steps[1]["state"], "confirmed");
    assert!(steps[1]["note"]
        .as_str()
        .unwrap()
        .starts_with("mailed ops@ at 09:00"));
}

#[test]
fn a_step_running_when_the_process_died_is_checked_again() {
    let sb = Sandbox::new();
    let book = sb.root.join("watch.toml");
    std::fs::write(
        &book,
        r#"name = "watch"
[[phase]]
name = "after"
[[phase.step]]
id = "watch"
kind = "wait"
minutes = 10
[[phase.step]]
id = "done"
kind = "command"
run = ["true"]
"#,
    )
    .unwrap();
    let mut child = Command::new(bin())
        .arg("--state-dir")
        .arg(&sb.state)
        .args(["runbook", "run", book.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the watch is recorded running, then kill -9.
    let started = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let status = sb.cutover(&["runbook", "status", book.to_str().unwrap(), "--json"]);
        if json_lines(&status)
            .first()
            .is_some_and(|s| s["state"] == "running")
        {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "never running");
    }
    // One run at a time: a second is refused, naming the first.
    let second = sb.cutover(&["runbook", "run", book.to_str().unwrap(), "--yes", "watch"]);
    assert_eq!(second.status.code(), Some(2), "{}", show(&second));
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(
        err.contains(&format!(
            "runbook 'watch' is in use by cutover process {}",
            child.id()
        )),
        "{err}"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    // Its process gone, the step shows as interrupted before any new run.
    let steps = status(&sb, &book, &[]);
    assert_eq!(steps[0]["state"], "interrupted", "{steps:?}");
    let out = sb.cutover(&["runbook", "run", book.to_str().unwrap(), "--yes", "watch"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let log = json_lines(&sb.cutover(&["runbook", "log", book.to_str().unwrap(), "--json"]));
    let events: Vec<&str> = log.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(
        events,
        vec!["started", "interrupted", "passed", "started", "passed"]
    );
}

#[test]
fn mistakes_in_the_file_name_the_line_and_exit_2() {
    let sb = Sandbox::new();
    let book = sb.root.join("bad.toml");
    std::fs::write(
        &book,
        TREE_CUTOVER.replace("Pause every writer of {src}", "Pause {writers}"),
    )
    .unwrap();
    let out = sb.cutover(&["runbook", "run", book.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 25: unknown variable {writers}"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let missing = sb.cutover(&[
        "runbook",
        "run",
        sb.root.join("nope.toml").to_str().unwrap(),
    ]);
    assert_eq!(missing.status.code(), Some(2));
}

/// Run a shipped runbook headless against the demo's sandbox: every manual
/// step and watch confirmed up front; it must end with every step passed.
fn run_shipped(sb: &Sandbox, book: &str, vars: &[(&str, &std::path::Path)], yes: &[&str]) {
    let file = format!("{}/assets/runbooks/{book}", env!("CARGO_MANIFEST_DIR"));
    let mut args: Vec<String> = vec!["runbook".into(), "run".into(), file.clone()];
    for (k, v) in vars {
        args.push("--var".into());
        args.push(format!("{k}={}", v.display()));
    }
    for y in yes {
        args.push("--yes".into());
        args.push((*y).into());
    }
    let out = sb.cutover(&args);
    assert_eq!(out.status.code(), Some(0), "{book}: {}", show(&out));
    let mut status: Vec<String> = vec!["runbook".into(), "status".into(), file, "--json".into()];
    for (k, v) in vars {
        status.push("--var".into());
        status.push(format!("{k}={}", v.display()));
    }
    let steps = json_lines(&sb.cutover(&status));
    let undone: Vec<&Value> = steps
        .iter()
        .filter(|s| !s["phase"].as_str().unwrap().starts_with("rollback"))
        .filter(|s| s["state"] != "passed" && s["state"] != "confirmed")
        .collect();
    assert!(undone.is_empty(), "{book}: {undone:?}");
}

#[test]
fn the_shipped_runbooks_run_against_the_demo_sandbox() {
    let sb = Sandbox::new();
    let demo = cutover::demo::build(&sb.root.join("demo")).unwrap();
    run_shipped(
        &sb,
        "djafs-tree.toml",
        &[("src", &demo.live), ("dst", &demo.new_storage)],
        &[
            "configure-subscribers",
            "pause-subscribers=PAUSED",
            "switch-subscribers",
            "monitor",
        ],
    );
    run_shipped(
        &sb,
        "package-store.toml",
        &[("store", &demo.package_store), ("cas", &demo.cas)],
        &["switch-readers", "watch", "approve-cleanup=CLEANUP"],
    );
    assert!(
        std::fs::read_dir(&demo.package_store)
            .unwrap()
            .next()
            .is_none(),
        "the old store was cleaned up"
    );
    run_shipped(
        &sb,
        "redb-rolling.toml",
        &[("cluster", &demo.cluster), ("sqlite", &demo.cluster_sqlite)],
        &[
            "stop-1", "switch-1", "stop-2", "switch-2", "stop-3", "switch-3",
        ],
    );
    std::fs::create_dir_all(sb.root.join("again")).unwrap();
    run_shipped(
        &sb,
        "tree-cutover.toml",
        &[("src", &demo.live), ("dst", &sb.root.join("again"))],
        &["pause-writers"],
    );
}
