//! The command line's contract for what jobs leave behind: every run,
//! verification included, is a job in `cutover jobs` with its mode;
//! `cutover report JOB [--json]` shows a job's failures with their
//! differences after the process exited, and while another process holds
//! the journal; a closed standard output never panics; the state directory
//! is private.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

mod support;

use support::cli::{bin, events, show, write, Running, Sandbox};

/// A copied tree whose target file `a/f` was then damaged (same size and
/// mtime, other bytes), and `cutover verify` run on it: job 1 is the bulk
/// copy, job 2 the verification, which failed.
fn damaged() -> Sandbox {
    let sb = Sandbox::new();
    write(&sb.src.join("a/f"), b"original");
    write(&sb.src.join("a/b/g"), b"fine");
    write(&sb.src.join("top"), b"top");
    let out = sb.job("run", "tree-sync", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let f = sb.dst.join("a/f");
    let mtime = std::fs::metadata(&f).unwrap().modified().unwrap();
    std::fs::write(&f, b"damaged!").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&f)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let out = sb.job("verify", "tree-sync", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    sb
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn report_shows_a_verification_failure_after_the_process_exited() {
    let sb = damaged();
    let out = sb.cutover(&["report", "2"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let text = stdout(&out);
    let head = text.lines().next().unwrap();
    assert!(head.contains("job 2 tree-sync (verify): failed"), "{text}");
    assert!(
        text.contains(&format!("target   {}", sb.dst.display())),
        "{text}"
    );
    assert!(text.contains("started  20"), "{text}");
    assert!(text.contains("* a  FAILED:"), "{text}");
    assert!(
        text.contains("a/f content differs") || text.contains("a/f"),
        "{text}"
    );
    assert!(
        text.contains("counts: 2/3 items verified, 1 failed"),
        "{text}"
    );

    let out = sb.cutover(&["report", "2", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let lines = events(&out);
    assert_eq!(lines[0]["event"], "job");
    assert_eq!(lines[0]["mode"], "verify");
    assert_eq!(lines[0]["status"], "failed");
    let failed: Vec<&Value> = lines
        .iter()
        .filter(|l| l["event"] == "item_failed")
        .collect();
    assert_eq!(failed.len(), 1, "{}", stdout(&out));
    assert_eq!(failed[0]["item"], "a");
    assert_eq!(failed[0]["job"], 2);
    let reason = failed[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("a/f content"),
        "the difference is named: {reason}"
    );
    assert!(failed[0]["report"].is_object());
    let last = lines.last().unwrap();
    assert_eq!(last["event"], "summary");
    assert_eq!(last["items_failed"], 1);
    assert_eq!(last["items_verified"], 2);
    assert_eq!(last["failures_omitted"], 0);

    // The run's own NDJSON line for the failure carries the same fields.
    let again = sb.job("verify", "tree-sync", &[]);
    let run_failed = events(&again)
        .into_iter()
        .find(|l| l["event"] == "item_failed")
        .unwrap();
    let keys = |v: &Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&run_failed), keys(failed[0]));
    assert_eq!(run_failed["reason"], failed[0]["reason"]);

    // The bulk copy has nothing to show but its counts.
    let out = sb.cutover(&["report", "1"]);
    assert!(stdout(&out).contains("(bulk): completed"), "{}", show(&out));
    assert!(!stdout(&out).contains("FAILED"), "{}", show(&out));

    // An unknown job: one line, exit 2.
    let out = sb.cutover(&["report", "99"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no job 99"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn a_verification_is_a_job_of_mode_verify_never_resumed_or_rolled_back() {
    let sb = damaged();
    let out = sb.cutover(&["jobs", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let jobs = events(&out);
    assert_eq!(jobs.len(), 2, "{}", stdout(&out));
    assert_eq!(jobs[0]["mode"], "bulk");
    assert_eq!(jobs[1]["mode"], "verify");
    assert_eq!(jobs[1]["job"], 2);
    assert_eq!(jobs[1]["status"], "failed");
    assert_eq!(jobs[1]["target"], sb.dst.to_str().unwrap());
    assert_eq!(jobs[1]["source"], sb.src.to_str().unwrap());
    assert!(jobs[1]["started_unix"].as_u64().unwrap() > 0);
    assert!(jobs[1]["ended_unix"].as_u64().unwrap() >= jobs[1]["started_unix"].as_u64().unwrap());
    assert!(jobs[1]["duration_s"].is_u64());
    // Existing fields stay.
    for key in ["kind", "items_total", "items_verified", "items_failed"] {
        assert!(jobs[1].get(key).is_some(), "{key}");
    }

    let out = sb.cutover(&["jobs"]);
    let text = stdout(&out);
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("2 "))
        .unwrap();
    assert!(line.contains("verify") && line.contains(" UTC"), "{line}");
    assert!(line.contains(sb.dst.to_str().unwrap()), "{line}");

    // Resuming the failed verification would write: refused, target untouched.
    let out = sb.cutover(&["resume", "2"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("mode verify") && err.contains("cutover verify"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert_eq!(std::fs::read(sb.dst.join("a/f")).unwrap(), b"damaged!");
    let out = sb.cutover(&["rollback", "2", "--confirm"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        sb.dst.join("a/b/g").exists(),
        "rollback of a verification removed nothing"
    );
}

#[test]
fn report_reads_while_another_process_holds_the_journal() {
    let sb = damaged();
    // As a journal from before reports: the next holder publishes it.
    std::fs::remove_file(sb.state.join("reports/2.json")).unwrap();
    // A third job, stopped while it holds the journal.
    let mut running = Running::start(
        &sb.state,
        &[
            "run".as_ref(),
            "tree-sync".as_ref(),
            "--source".as_ref(),
            sb.src.as_os_str(),
            "--target".as_ref(),
            sb.root.join("dst2").as_os_str(),
            "--json".as_ref(),
        ],
    );
    running.read_until(|e| e["event"] == "job_started");
    let pid = running.id() as libc::pid_t;
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let jobs = sb.cutover(&["jobs"]);
    let report = sb.cutover(&["report", "2", "--json"]);
    let header = sb.cutover(&["report", "3"]);
    unsafe { libc::kill(pid, libc::SIGCONT) };
    let (_, status) = running.finish();
    assert!(status.success());
    assert_eq!(jobs.status.code(), Some(0), "{}", show(&jobs));
    assert!(stdout(&jobs).contains("running"), "{}", show(&jobs));
    assert_eq!(report.status.code(), Some(0), "{}", show(&report));
    let lines = events(&report);
    assert!(lines
        .iter()
        .any(|l| l["event"] == "item_failed" && l["reason"].as_str().unwrap().contains("a/f")));
    assert_eq!(lines.last().unwrap()["event"], "summary");
    assert_eq!(header.status.code(), Some(0), "{}", show(&header));
    assert!(
        stdout(&header).contains("(bulk): running"),
        "{}",
        show(&header)
    );
}

/// `cutover ARGS…` with its standard output a pipe nobody reads any more.
fn with_stdout_closed(state: &Path, args: &[&str]) -> std::process::Output {
    let mut fds = [0; 2];
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(read);
    Command::new(bin())
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .stdout(Stdio::from(write))
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

#[test]
fn a_closed_stdout_ends_every_command_quietly() {
    let sb = damaged();
    let out = sb.cutover(&["sources", "add", sb.src.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let src = sb.src.to_str().unwrap().to_string();
    let dst = sb.dst.to_str().unwrap().to_string();
    let fresh = sb.root.join("dst3").to_str().unwrap().to_string();
    let run = [
        "run",
        "tree-sync",
        "--source",
        &src,
        "--target",
        &fresh,
        "--json",
    ];
    let verify = ["verify", "tree-sync", "--source", &src, "--target", &dst];
    let commands: Vec<&[&str]> = vec![
        &["jobs", "--json"],
        &["jobs"],
        &["sources", "--json"],
        &["sources"],
        &["report", "2", "--json"],
        &["report", "2"],
        &run,
        &verify,
    ];
    for args in commands {
        let out = with_stdout_closed(&sb.state, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(out.status.code().is_some(), "{args:?}: killed by a signal");
        let expect = if args[0] == "verify" { 1 } else { 0 };
        assert_eq!(out.status.code(), Some(expect), "{args:?}: {err}");
    }
    // Through a shell pipe, as an operator types it.
    let script = format!(
        "'{}' --state-dir '{}' jobs --json | head -1",
        bin(),
        sb.state.display()
    );
    let out = Command::new("sh").arg("-c").arg(&script).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    assert_eq!(stdout(&out).lines().count(), 1);
}

#[test]
fn the_state_directory_and_its_files_are_private() {
    let sb = Sandbox::new();
    write(&sb.src.join("a/f"), b"x");
    // A permissive umask: only cutover's own choice makes them private.
    let script = format!(
        "umask 022 && '{b}' --state-dir '{s}' run tree-sync --source '{src}' --target '{dst}' >/dev/null && '{b}' --state-dir '{s}' sources add '{src}' >/dev/null",
        b = bin(),
        s = sb.state.display(),
        src = sb.src.display(),
        dst = sb.dst.display(),
    );
    let out = Command::new("sh").arg("-c").arg(&script).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&sb.state), 0o700, "state directory");
    let mut seen = Vec::new();
    let mut dirs = vec![sb.state.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                assert_eq!(mode(&path), 0o700, "{}", path.display());
                dirs.push(path);
            } else {
                assert_eq!(mode(&path), 0o600, "{}", path.display());
                seen.push(name);
            }
        }
    }
    seen.sort();
    for name in ["journal.redb", "jobs.json", "sources.toml", "1.json"] {
        assert!(seen.iter().any(|s| s == name), "{name} in {seen:?}");
    }
}
