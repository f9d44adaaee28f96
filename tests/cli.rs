//! The command line's contract: state directory resolution, `jobs`,
//! `resume` refusals, and one-line errors with exit code 2.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::process::Command;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cutover"));
    c.env_remove("CUTOVER_STATE_DIR");
    c
}

#[test]
fn jobs_on_a_fresh_state_dir_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["jobs"])
        .env("CUTOVER_STATE_DIR", tmp.path().join("state"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("no jobs yet"));
    let out = bin()
        .args(["jobs", "--json"])
        .env("CUTOVER_STATE_DIR", tmp.path().join("state"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty(), "no lines, no jobs");
}

#[test]
fn state_dir_comes_from_env_then_xdg() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("src/a")).unwrap();
    std::fs::write(tmp.path().join("src/a/f"), b"x").unwrap();
    let out = bin()
        .args(["run", "tree-sync", "--source"])
        .arg(tmp.path().join("src"))
        .arg("--target")
        .arg(tmp.path().join("dst"))
        .env("XDG_STATE_HOME", tmp.path().join("xdg"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(tmp.path().join("xdg/cutover/journal.redb").exists());
    let out = bin()
        .args(["jobs", "--json"])
        .env("XDG_STATE_HOME", tmp.path().join("xdg"))
        .output()
        .unwrap();
    let line: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    assert_eq!(line["status"], "completed");
    assert_eq!(line["kind"], "tree-sync");
    assert_eq!(line["items_verified"], line["items_total"]);
    assert_eq!(line["items_failed"], 0);

    // Resuming a completed job, or one that does not exist, is refused.
    for (job, expect) in [("1", "already completed"), ("99", "no job 99")] {
        let out = bin()
            .args(["resume", job])
            .env("XDG_STATE_HOME", tmp.path().join("xdg"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(expect), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1);
    }
}

#[test]
fn bad_flags_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("src")).unwrap();
    let out = bin()
        .arg("--state-dir")
        .arg(tmp.path().join("state"))
        .args(["run", "tree-sync", "--parallel", "0", "--source"])
        .arg(tmp.path().join("src"))
        .arg("--target")
        .arg(tmp.path().join("dst"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--parallel"));
    let out = bin().args(["run", "no-such-kind"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "clap usage errors exit 2 too");
    // A kind checked by a command of its own says which.
    let out = bin()
        .arg("--state-dir")
        .arg(tmp.path().join("state"))
        .args(["verify", "store-to-cas", "--source", "/a", "--target", "/b"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cutover store status --target CAS --verify"),
        "{err}"
    );
}

#[test]
fn rollback_of_a_bulk_copy_needs_confirm_and_leaves_the_source() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst, state) = (
        tmp.path().join("src"),
        tmp.path().join("dst"),
        tmp.path().join("state"),
    );
    std::fs::create_dir_all(src.join("a")).unwrap();
    std::fs::write(src.join("a/f"), b"x").unwrap();
    let run = |args: &[&std::ffi::OsStr]| {
        bin()
            .arg("--state-dir")
            .arg(&state)
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&[
        "run".as_ref(),
        "tree-sync".as_ref(),
        "--source".as_ref(),
        src.as_os_str(),
        "--target".as_ref(),
        dst.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let out = run(&["rollback".as_ref(), "1".as_ref()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--confirm"));
    assert!(dst.join("a/f").exists());
    let out = run(&["rollback".as_ref(), "1".as_ref(), "--confirm".as_ref()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!dst.exists());
    assert_eq!(std::fs::read(src.join("a/f")).unwrap(), b"x");
}
