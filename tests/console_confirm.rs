//! The console never deletes without asking: a final sync started with `f`
//! shows what it would delete, replace and copy and waits for `y`; `n`
//! leaves the target as it was; onto a folder no bulk copy journalled here
//! wrote, `y` is not enough — the target's name must be typed. Driven in a
//! real terminal (tmux) on the operator's own paths.

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
