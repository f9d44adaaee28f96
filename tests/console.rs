//! The console in a real terminal (tmux), on the operator's own paths. It
//! never deletes without asking: a final sync started with `f` shows what
//! it would delete, replace and copy and waits for `y`; `n` leaves the
//! target as it was; onto a folder no bulk copy journalled here wrote, `y`
//! is not enough — the target's name must be typed. A store is cut over
//! and cleaned up by keys. Reports of earlier jobs open from Jobs after a
//! restart; `/` filters and `n` finds failures.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::time::Duration;

use support::cli::{bin, write, Sandbox};
use support::tmux::{tmux_installed, Tmux};

/// A console on `source` → `target` in tmux, or `None` (said why) without tmux.
fn console(
    sb: &Sandbox,
    session: &str,
    source: &Path,
    target: &Path,
    size: (u16, u16),
) -> Option<Tmux> {
    if !tmux_installed() {
        assert!(!support::skip::strict(), "tmux not installed");
        support::say(&format!(
            "skipped: console test {session}: tmux not installed"
        ));
        return None;
    }
    let tmux = Tmux::new(sb.root.join(format!("{session}.sock")), session);
    let launch = format!(
        "{} --state-dir {} --source {} --target {}",
        bin(),
        sb.state.display(),
        source.display(),
        target.display()
    );
    tmux.start(size.0, size.1, &launch);
    Some(tmux)
}

/// Wait until the screen shows `text`.
fn wait(tmux: &Tmux, text: &str, secs: u64) {
    tmux.wait_for(text, Duration::from_secs(secs), |t| {
        t.screen().contains(text)
    });
}

/// Leave the console and its tmux session.
fn quit(tmux: &Tmux, session: &str) {
    tmux.keys(&["q"]);
    let _ = tmux.cmd(&["kill-session", "-t", session]);
}

#[test]
fn a_final_sync_asks_first_and_n_changes_nothing() {
    let sb = Sandbox::new();
    write(&sb.src.join("photos/a.jpg"), b"a");
    write(&sb.src.join("photos/b.jpg"), b"b");
    // The operator points the console at an existing, unrelated folder.
    write(&sb.dst.join("mine.txt"), b"not the source's");
    write(&sb.dst.join("photos/a.jpg"), b"an older a");
    let Some(tmux) = console(&sb, "confirm", &sb.src, &sb.dst, (100, 30)) else {
        return;
    };
    wait(&tmux, "1 usable of 1", 30);
    tmux.keys(&["Space", "f"]);
    wait(&tmux, "Final sync?", 30);
    let screen = tmux.screen();
    assert!(screen.contains("delete 1 entry: mine.txt"), "{screen}");
    assert!(screen.contains("replace 1 entry: photos/a.jpg"), "{screen}");
    assert!(screen.contains("copy 1 entry: photos/b.jpg"), "{screen}");
    tmux.keys(&["n"]);
    wait(&tmux, "nothing was changed", 10);
    assert_eq!(
        std::fs::read(sb.dst.join("mine.txt")).unwrap(),
        b"not the source's"
    );
    assert_eq!(
        std::fs::read(sb.dst.join("photos/a.jpg")).unwrap(),
        b"an older a"
    );
    assert!(!sb.dst.join("photos/b.jpg").exists());

    // y is not enough: no bulk copy journalled here wrote this folder.
    tmux.keys(&["f"]);
    wait(&tmux, "Final sync?", 30);
    assert!(
        tmux.screen().contains("final sync refused"),
        "{}",
        tmux.screen()
    );
    tmux.keys(&["y"]);
    wait(&tmux, "Type the name", 10);
    let name = sb.dst.file_name().unwrap().to_string_lossy().into_owned();
    tmux.keys(&["-l", "wrong"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for(
        "the refusal of a wrong name",
        Duration::from_secs(10),
        |t| t.screen().contains("exactly"),
    );
    for _ in 0.."wrong".len() {
        tmux.keys(&["BSpace"]);
    }
    tmux.keys(&["-l", &name]);
    tmux.keys(&["Enter"]);
    wait(&tmux, "final sync: all verified", 60);
    assert!(!sb.dst.join("mine.txt").exists());
    assert_eq!(std::fs::read(sb.dst.join("photos/a.jpg")).unwrap(), b"a");
    assert_eq!(std::fs::read(sb.dst.join("photos/b.jpg")).unwrap(), b"b");
    quit(&tmux, "confirm");
}

#[test]
fn a_store_is_migrated_cut_over_and_cleaned_up_from_the_console() {
    let sb = Sandbox::new();
    let store = sb.root.join("pkgs");
    let packages = [
        "0b3f6c1e9d2a4b7f8e5c3a1d9f0e2b4c-openssl-1.1",
        "1c4e7a2b9f3d5c8e0a6b4d2f1e3c5a7b-zlib-1.3",
    ];
    for p in packages {
        write(&store.join(p).join("lib/x.so"), p.as_bytes());
        write(&store.join(p).join("LICENSE"), b"MIT");
    }
    let cas = sb.root.join("cas");
    let Some(tmux) = console(&sb, "store", &store, &cas, (120, 36)) else {
        return;
    };
    wait(&tmux, "2 packages", 30);
    tmux.keys(&["Space", "Enter"]);
    wait(&tmux, "migrate: all verified (2 items)", 60);
    // s, c: cut over (re-verifies every package; nothing is deleted).
    tmux.keys(&["s"]);
    wait(&tmux, "Steps of pkgs", 10);
    tmux.keys(&["c"]);
    wait(&tmux, "cut over: 2 packages verified", 60);
    // A second migration says the store is cut over instead of running.
    tmux.keys(&["Enter"]);
    wait(&tmux, "already cut over", 10);
    // s, x: clean up asks, shows what goes, and wants the store's name typed.
    tmux.keys(&["s"]);
    wait(&tmux, "Steps of pkgs", 10);
    tmux.keys(&["x"]);
    wait(&tmux, "Clean up of pkgs?", 30);
    assert!(
        tmux.screen().contains("delete 2 entries"),
        "{}",
        tmux.screen()
    );
    tmux.keys(&["n"]);
    wait(&tmux, "nothing was changed", 10);
    for p in packages {
        assert!(store.join(p).exists(), "{p} kept after n");
    }
    tmux.keys(&["s"]);
    wait(&tmux, "Steps of pkgs", 10);
    tmux.keys(&["x"]);
    wait(&tmux, "Clean up of pkgs?", 30);
    tmux.keys(&["y"]);
    wait(&tmux, "Type the name", 10);
    tmux.keys(&["-l", "pkgs"]);
    tmux.keys(&["Enter"]);
    wait(&tmux, "removed 2 old package directories", 60);
    for p in packages {
        assert!(!store.join(p).exists(), "{p} removed");
    }
    quit(&tmux, "store");
}

#[test]
fn a_report_opens_from_jobs_after_a_restart_and_the_stream_is_searched() {
    let sb = Sandbox::new();
    for i in 0..30 {
        write(
            &sb.src.join(format!("d{i:02}/f.txt")),
            format!("file {i}").as_bytes(),
        );
    }
    let out = sb.job("run", "tree-sync", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", support::cli::show(&out));
    // Damage the copy, then verify from the command line: the job fails.
    write(&sb.dst.join("d17/f.txt"), b"not what was copied");
    let out = sb.job("verify", "tree-sync", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", support::cli::show(&out));

    // A new console: its Items pane is empty; the report is in the journal.
    let Some(tmux) = console(&sb, "report", &sb.src, &sb.dst, (120, 40)) else {
        return;
    };
    wait(&tmux, "src (verify)", 30);
    tmux.keys(&["Tab", "Tab"]);
    wait(&tmux, "enter report", 10);
    tmux.keys(&["Enter"]);
    wait(&tmux, "report of job #2", 10);
    let screen = tmux.screen();
    assert!(screen.contains("* d17"), "{screen}");
    assert!(screen.contains("f.txt"), "{screen}");
    tmux.keys(&["Escape"]);
    tmux.wait_for("the live stream", Duration::from_secs(10), |t| {
        !t.screen().contains("report of job #2")
    });

    // Verify again in the console; n finds the failure, / filters.
    tmux.keys(&["BTab", "BTab", "BTab", "Space", "v"]);
    wait(&tmux, "verify: 1 of 31 items FAILED", 60);
    tmux.keys(&["Tab", "Tab", "Tab"]);
    wait(&tmux, "next failure", 10);
    tmux.keys(&["n"]);
    wait(&tmux, "* d17", 10);
    tmux.keys(&["/"]);
    tmux.keys(&["-l", "d2"]);
    tmux.keys(&["Enter"]);
    wait(&tmux, "/d2: 10 lines", 10);
    let screen = tmux.screen();
    assert!(!screen.contains("= d17"), "{screen}");
    quit(&tmux, "report");
}

#[test]
fn a_cancelled_job_says_so_and_q_in_the_quit_question_quits() {
    let sb = Sandbox::new();
    // Enough directories that the copy is still running when c arrives.
    for i in 0..6_000 {
        write(&sb.src.join(format!("d{i:04}/f")), b"x");
    }
    let Some(tmux) = console(&sb, "cancel", &sb.src, &sb.dst, (120, 40)) else {
        return;
    };
    wait(&tmux, "1 usable of 1", 30);
    tmux.keys(&["Space", "Enter"]);
    wait(&tmux, "#1 bulk copy", 30);
    tmux.keys(&["c"]);
    wait(&tmux, "Cancel?", 10);
    tmux.keys(&["y"]);
    wait(&tmux, "cancelled", 60);
    tmux.wait_for(
        "the footer after the job stopped",
        Duration::from_secs(10),
        |t| {
            let screen = t.screen();
            let footer = screen
                .trim_end()
                .lines()
                .last()
                .unwrap_or_default()
                .to_string();
            !footer.contains("cancelling")
        },
    );
    let screen = tmux.screen();
    assert!(screen.contains("— (cancelled)"), "{screen}");
    assert!(!screen.contains("ETA      done"), "{screen}");
    // While a job runs, q asks; q again means quit.
    tmux.keys(&["Tab", "Tab"]);
    wait(&tmux, "r resume", 10);
    tmux.keys(&["r"]);
    wait(&tmux, "resume", 10);
    tmux.keys(&["q"]);
    tmux.wait_for(
        "the quit question or the end",
        Duration::from_secs(30),
        |t| {
            let s = t.screen();
            s.contains("Quit?") || s.contains("all verified")
        },
    );
    // Either way, q: quit (in the question it means yes).
    tmux.keys(&["q"]);
    tmux.wait_for("the console to end", Duration::from_secs(30), |t| {
        !t.cmd(&["has-session", "-t", "cancel"]).status.success()
    });
}

#[test]
fn a_runbook_survives_a_dropped_session_at_the_same_step() {
    if !tmux_installed() {
        assert!(!support::skip::strict(), "tmux not installed");
        support::say("skipped: runbook in tmux: tmux not installed");
        return;
    }
    let sb = Sandbox::new();
    write(&sb.src.join("a/one.txt"), b"one");
    std::fs::create_dir_all(&sb.dst).unwrap();
    let book = sb.root.join("tree.toml");
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/assets/runbooks/tree-cutover.toml"
        ),
        &book,
    )
    .unwrap();
    let vars = format!(
        "--var src={} --var dst={}",
        sb.src.display(),
        sb.dst.display()
    );
    let tmux = Tmux::new(sb.root.join("rb.sock"), "rb");
    tmux.start(
        120,
        40,
        &format!(
            "{} --state-dir {} runbook open {} {vars} --operator bob",
            bin(),
            sb.state.display(),
            book.display()
        ),
    );
    wait(&tmux, "Checklist · tree cutover · 0/4", 30);
    tmux.keys(&["Enter"]);
    wait(&tmux, "✓ space", 30);
    tmux.keys(&["Enter"]);
    wait(&tmux, "✓ bulk-copy", 60);
    tmux.keys(&["Enter"]);
    wait(&tmux, "Confirm the step", 10);
    tmux.keys(&["y"]);
    wait(&tmux, "✓ pause-writers", 10);
    // The SSH session drops: tmux hangs up on the console.
    let _ = tmux.cmd(&["kill-session", "-t", "rb"]);
    std::thread::sleep(Duration::from_millis(500));

    // cutover again: the runbook, at the same step.
    let again = Tmux::new(sb.root.join("rb2.sock"), "rb2");
    again.start(
        120,
        40,
        &format!("{} --state-dir {}", bin(), sb.state.display()),
    );
    wait(&again, "Checklist · tree cutover · 3/4", 30);
    wait(&again, "▶· final", 10);
    write(&sb.src.join("b/two.txt"), b"two");
    again.keys(&["Enter"]);
    wait(&again, "Checklist · tree cutover · 4/4", 60);
    assert_eq!(std::fs::read(sb.dst.join("b/two.txt")).unwrap(), b"two");
    // The audit trail names who confirmed what, readable while the console
    // holds the journal (it publishes the runbook's state).
    let out = sb.cutover(&[
        "runbook",
        "log",
        book.to_str().unwrap(),
        "--var",
        &format!("src={}", sb.src.display()),
        "--var",
        &format!("dst={}", sb.dst.display()),
        "--json",
    ]);
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(
        log.lines().any(|l| l.contains("\"pause-writers\"")
            && l.contains("\"confirmed\"")
            && l.contains("\"bob\"")),
        "{log}"
    );
    quit(&again, "rb2");
}
