//! The console in a real terminal (tmux), on the operator's own paths. It
//! never deletes without asking: a final sync started with `f` shows what
//! it would delete, replace and copy and waits for `y`; `n` leaves the
//! target as it was; onto a folder no bulk copy journalled here wrote, `y`
//! is not enough — the target's name must be typed. A store is cut over
//! and cleaned up by keys. Reports of earlier jobs open from Jobs after a
//! restart; `/` filters and `n` finds failures.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use support::cli::{bin, write, Sandbox};
use support::tmux::{tmux_installed, Tmux};

#[test]
fn a_final_sync_asks_first_and_n_changes_nothing() {
    if !tmux_installed() {
        assert!(!support::skip::strict(), "tmux not installed");
        support::say("skipped: the final-sync question in tmux: tmux not installed");
        return;
    }
    let sb = Sandbox::new();
    write(&sb.src.join("photos/a.jpg"), b"a");
    write(&sb.src.join("photos/b.jpg"), b"b");
    // The operator points the console at an existing, unrelated folder.
    write(&sb.dst.join("mine.txt"), b"not the source's");
    write(&sb.dst.join("photos/a.jpg"), b"an older a");
    let tmux = Tmux::new(sb.root.join("tmux.sock"), "confirm");
    let launch = format!(
        "{} --state-dir {} --source {} --target {}",
        bin(),
        sb.state.display(),
        sb.src.display(),
        sb.dst.display()
    );
    tmux.start(100, 30, &launch);
    tmux.wait_for("the source", Duration::from_secs(30), |t| {
        t.screen().contains("1 usable of 1")
    });
    tmux.keys(&["Space", "f"]);
    tmux.wait_for("the question", Duration::from_secs(30), |t| {
        t.screen().contains("Final sync?")
    });
    let screen = tmux.screen();
    assert!(screen.contains("delete 1 entry: mine.txt"), "{screen}");
    assert!(screen.contains("replace 1 entry: photos/a.jpg"), "{screen}");
    assert!(screen.contains("copy 1 entry: photos/b.jpg"), "{screen}");
    tmux.keys(&["n"]);
    tmux.wait_for("the answer", Duration::from_secs(10), |t| {
        t.screen().contains("nothing was changed")
    });
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
    tmux.wait_for("the question again", Duration::from_secs(30), |t| {
        t.screen().contains("Final sync?")
    });
    assert!(
        tmux.screen().contains("final sync refused"),
        "{}",
        tmux.screen()
    );
    tmux.keys(&["y"]);
    tmux.wait_for("the typed confirmation", Duration::from_secs(10), |t| {
        t.screen().contains("Type the name")
    });
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
    tmux.wait_for("the final sync", Duration::from_secs(60), |t| {
        t.screen().contains("final sync: all verified")
    });
    assert!(!sb.dst.join("mine.txt").exists());
    assert_eq!(std::fs::read(sb.dst.join("photos/a.jpg")).unwrap(), b"a");
    assert_eq!(std::fs::read(sb.dst.join("photos/b.jpg")).unwrap(), b"b");
    tmux.keys(&["q"]);
    let _ = tmux.cmd(&["kill-session", "-t", "confirm"]);
}

#[test]
fn a_store_is_migrated_cut_over_and_cleaned_up_from_the_console() {
    if !tmux_installed() {
        assert!(!support::skip::strict(), "tmux not installed");
        support::say("skipped: a store cut over in tmux: tmux not installed");
        return;
    }
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
    let tmux = Tmux::new(sb.root.join("tmux.sock"), "store");
    let launch = format!(
        "{} --state-dir {} --source {} --target {}",
        bin(),
        sb.state.display(),
        store.display(),
        cas.display()
    );
    tmux.start(120, 36, &launch);
    tmux.wait_for("the store", Duration::from_secs(30), |t| {
        t.screen().contains("2 packages")
    });
    tmux.keys(&["Space", "Enter"]);
    tmux.wait_for("the migration", Duration::from_secs(60), |t| {
        t.screen().contains("migrate: all verified (2 items)")
    });
    // s, c: cut over (re-verifies every package; nothing is deleted).
    tmux.keys(&["s"]);
    tmux.wait_for("the steps menu", Duration::from_secs(10), |t| {
        t.screen().contains("Steps of pkgs")
    });
    tmux.keys(&["c"]);
    tmux.wait_for("the cut over", Duration::from_secs(60), |t| {
        t.screen().contains("cut over: 2 packages verified")
    });
    // A second migration says the store is cut over instead of running.
    tmux.keys(&["Enter"]);
    tmux.wait_for("the refusal", Duration::from_secs(10), |t| {
        t.screen().contains("already cut over")
    });
    // s, x: clean up asks, shows what goes, and wants the store's name typed.
    tmux.keys(&["s"]);
    tmux.wait_for("the steps menu", Duration::from_secs(10), |t| {
        t.screen().contains("Steps of pkgs")
    });
    tmux.keys(&["x"]);
    tmux.wait_for("the question", Duration::from_secs(30), |t| {
        t.screen().contains("Clean up of pkgs?")
    });
    assert!(
        tmux.screen().contains("delete 2 entries"),
        "{}",
        tmux.screen()
    );
    tmux.keys(&["n"]);
    tmux.wait_for("nothing done", Duration::from_secs(10), |t| {
        t.screen().contains("nothing was changed")
    });
    for p in packages {
        assert!(store.join(p).exists(), "{p} kept after n");
    }
    tmux.keys(&["s"]);
    tmux.wait_for("the steps menu", Duration::from_secs(10), |t| {
        t.screen().contains("Steps of pkgs")
    });
    tmux.keys(&["x"]);
    tmux.wait_for("the question", Duration::from_secs(30), |t| {
        t.screen().contains("Clean up of pkgs?")
    });
    tmux.keys(&["y"]);
    tmux.wait_for("the typed confirmation", Duration::from_secs(10), |t| {
        t.screen().contains("Type the name")
    });
    tmux.keys(&["-l", "pkgs"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("the cleanup", Duration::from_secs(60), |t| {
        t.screen().contains("removed 2 old package directories")
    });
    for p in packages {
        assert!(!store.join(p).exists(), "{p} removed");
    }
    tmux.keys(&["q"]);
    let _ = tmux.cmd(&["kill-session", "-t", "store"]);
}

#[test]
fn a_report_opens_from_jobs_after_a_restart_and_the_stream_is_searched() {
    if !tmux_installed() {
        assert!(!support::skip::strict(), "tmux not installed");
        support::say("skipped: reports and search in tmux: tmux not installed");
        return;
    }
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
    let tmux = Tmux::new(sb.root.join("tmux.sock"), "report");
    let launch = format!(
        "{} --state-dir {} --source {} --target {}",
        bin(),
        sb.state.display(),
        sb.src.display(),
        sb.dst.display()
    );
    tmux.start(120, 40, &launch);
    tmux.wait_for("the jobs", Duration::from_secs(30), |t| {
        t.screen().contains("src (verify)")
    });
    tmux.keys(&["Tab", "Tab"]);
    tmux.wait_for("the Jobs pane", Duration::from_secs(10), |t| {
        t.screen().contains("enter report")
    });
    tmux.keys(&["Enter"]);
    tmux.wait_for("the report", Duration::from_secs(10), |t| {
        t.screen().contains("report of job #2")
    });
    let screen = tmux.screen();
    assert!(screen.contains("* d17"), "{screen}");
    assert!(screen.contains("f.txt"), "{screen}");
    tmux.keys(&["Escape"]);
    tmux.wait_for("the live stream", Duration::from_secs(10), |t| {
        !t.screen().contains("report of job #2")
    });

    // Verify again in the console; n finds the failure, / filters.
    tmux.keys(&["BTab", "BTab", "BTab", "Space", "v"]);
    tmux.wait_for("the verification", Duration::from_secs(60), |t| {
        t.screen().contains("verify: 1 of 31 items FAILED")
    });
    tmux.keys(&["Tab", "Tab", "Tab"]);
    tmux.wait_for("the Items pane", Duration::from_secs(10), |t| {
        t.screen().contains("next failure")
    });
    tmux.keys(&["n"]);
    tmux.wait_for("the failure found", Duration::from_secs(10), |t| {
        t.screen().contains("* d17")
    });
    tmux.keys(&["/"]);
    tmux.keys(&["-l", "d2"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("the filter", Duration::from_secs(10), |t| {
        t.screen().contains("/d2: 10 lines")
    });
    let screen = tmux.screen();
    assert!(!screen.contains("= d17"), "{screen}");
    tmux.keys(&["q"]);
    let _ = tmux.cmd(&["kill-session", "-t", "report"]);
}
