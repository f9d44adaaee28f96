//! A killed tree-sync resumes without redoing verified items, and a second
//! process on the same journal is refused while the first runs.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_cutover")
}

fn big_tree(src: &Path, dirs: usize, files: usize, size: usize) {
    for d in 0..dirs {
        let dir = src.join(format!("dir-{d:04}"));
        std::fs::create_dir_all(&dir).expect("mkdir");
        for f in 0..files {
            let body: Vec<u8> = (0..size).map(|i| (i ^ d ^ f) as u8).collect();
            std::fs::write(dir.join(format!("f{f}")), body).expect("write");
        }
    }
}

fn start_run(state: &Path, src: &Path, dst: &Path) -> Child {
    Command::new(bin())
        .arg("--state-dir")
        .arg(state)
        .args(["run", "tree-sync", "--parallel", "1", "--json", "--source"])
        .arg(src)
        .arg("--target")
        .arg(dst)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn cutover")
}

/// Read NDJSON lines until one has `event == want`; the rest of the output
/// is drained in the background so the child never blocks on a full pipe.
fn wait_for(child: &mut Child, want: &str) -> Value {
    let stdout = child.stdout.take().expect("stdout");
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader.read_line(&mut line).expect("read");
        assert!(n > 0, "cutover ended before a {want} event");
        let v: Value = serde_json::from_str(&line).expect("json line");
        if v["event"] == want {
            std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
            return v;
        }
    }
}

fn jobs(state: &Path) -> Vec<Value> {
    let out = Command::new(bin())
        .arg("--state-dir")
        .arg(state)
        .args(["jobs", "--json"])
        .output()
        .expect("jobs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect()
}

struct Dirs {
    _tmp: tempfile::TempDir,
    src: PathBuf,
    dst: PathBuf,
    state: PathBuf,
}

fn dirs() -> Dirs {
    let tmp = tempfile::tempdir().expect("tempdir");
    Dirs {
        src: tmp.path().join("src"),
        dst: tmp.path().join("dst"),
        state: tmp.path().join("state"),
        _tmp: tmp,
    }
}

#[test]
fn sigkill_mid_copy_then_resume_finishes_and_verifies() {
    let d = dirs();
    big_tree(&d.src, 400, 8, 48 * 1024);
    let mut child = start_run(&d.state, &d.src, &d.dst);
    wait_for(&mut child, "item_verified");
    child.kill().expect("SIGKILL");
    let _ = child.wait();

    let listed = jobs(&d.state);
    assert_eq!(listed.len(), 1, "{listed:?}");
    let job = &listed[0];
    assert_eq!(job["status"], "interrupted", "{job}");
    assert_eq!(job["kind"], "tree-sync");
    let verified_before = job["items_verified"].as_u64().expect("count");
    assert!(verified_before < job["items_total"].as_u64().expect("total"));

    let out = Command::new(bin())
        .arg("--state-dir")
        .arg(&d.state)
        .args(["resume", "--json"])
        .arg(job["job"].to_string())
        .output()
        .expect("resume");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(lines[0]["items_skipped"].as_u64(), Some(verified_before));
    let redone = lines
        .iter()
        .filter(|e| e["event"] == "item_verified")
        .count() as u64;
    assert_eq!(redone + verified_before, 401, "every item once verified");

    let after = jobs(&d.state);
    assert_eq!(after[0]["status"], "completed");
    assert_eq!(after[0]["items_verified"], 401);

    let out = Command::new(bin())
        .arg("--state-dir")
        .arg(&d.state)
        .args(["verify", "tree-sync", "--source"])
        .arg(&d.src)
        .arg("--target")
        .arg(&d.dst)
        .output()
        .expect("verify");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn second_process_is_refused_while_jobs_shows_running() {
    let d = dirs();
    big_tree(&d.src, 300, 8, 32 * 1024);
    let mut child = start_run(&d.state, &d.src, &d.dst);
    wait_for(&mut child, "item_verified");

    let listed = jobs(&d.state);
    assert_eq!(listed[0]["status"], "running", "{listed:?}");

    let other = Command::new(bin())
        .arg("--state-dir")
        .arg(&d.state)
        .args(["run", "tree-sync", "--source"])
        .arg(&d.src)
        .arg("--target")
        .arg(d.state.with_file_name("other"))
        .output()
        .expect("second run");
    let err = String::from_utf8_lossy(&other.stderr);
    assert_eq!(other.status.code(), Some(2), "{err}");
    assert!(err.contains("in use by another cutover process"), "{err}");
    assert!(!d.state.with_file_name("other").exists());

    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(0));
    assert_eq!(jobs(&d.state)[0]["status"], "completed");
}
