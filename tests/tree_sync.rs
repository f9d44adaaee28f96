//! tree-sync end to end through the real binary: hostile names, links,
//! final sync, verification catching damage, SIGKILL + resume, unreadable
//! files, bad input, and the journal lock.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

mod support;

use support::cli::{bin, events, show, summary, write, Sandbox};

trait TreeSyncSandbox {
    fn sync(&self, extra: &[&str]) -> Output;
    fn verify(&self, extra: &[&str]) -> Output;
}

impl TreeSyncSandbox for Sandbox {
    fn sync(&self, extra: &[&str]) -> Output {
        self.job("run", "tree-sync", extra)
    }

    fn verify(&self, extra: &[&str]) -> Output {
        self.job("verify", "tree-sync", extra)
    }
}

/// A tree with every hostile name the issue lists, links and odd metadata.
fn hostile_tree(src: &Path) {
    let names: Vec<Vec<u8>> = vec![
        b"new\nline".to_vec(),
        b"single ' quote".to_vec(),
        b"double \" quote".to_vec(),
        b"$(touch x)".to_vec(),
        b"-leading-dash".to_vec(),
        "ünïcødé ✓ 名前".as_bytes().to_vec(),
        vec![b'n'; 255],
        b"not utf8 \xff\xfe".to_vec(),
        b"back\\slash".to_vec(),
    ];
    for (i, n) in names.iter().enumerate() {
        let p = src.join("names").join(OsStr::from_bytes(n));
        write(&p, format!("file {i}").as_bytes());
        let d = src.join(OsStr::from_bytes(n));
        write(&d.join("inner"), b"inside a hostile dir");
    }
    for i in 0..300u32 {
        let len = (i as usize * 37) % 5000;
        let body: Vec<u8> = (0..len).map(|j| (j as u32 ^ i) as u8).collect();
        write(&src.join(format!("deep/a/b/c/{}/f{i}", i % 7)), &body);
    }
    write(&src.join("big.bin"), &vec![7u8; 3 * 1024 * 1024 + 17]);
    write(&src.join("empty-file"), b"");
    std::fs::create_dir_all(src.join("empty/dir/tree")).expect("mkdir");
    std::os::unix::fs::symlink("deep/a/b/c/0/f0", src.join("link-to-file")).expect("symlink");
    std::os::unix::fs::symlink("/nonexistent/target", src.join("dangling")).expect("symlink");
    std::os::unix::fs::symlink("loop-b", src.join("loop-a")).expect("symlink");
    std::os::unix::fs::symlink("loop-a", src.join("loop-b")).expect("symlink");
    std::os::unix::fs::symlink(".", src.join("deep/self")).expect("symlink");
    write(&src.join("hl/one"), b"hard linked content");
    std::fs::hard_link(src.join("hl/one"), src.join("hl/two")).expect("link");
    std::fs::hard_link(src.join("hl/one"), src.join("deep/three")).expect("link");
    let exe = src.join("script.sh");
    write(&exe, b"#!/bin/sh\necho hi\n");
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o750)).expect("chmod");
    let ro = src.join("readonly-dir");
    write(&ro.join("kept"), b"kept");
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).expect("chmod");
}

#[test]
fn bulk_final_verify_on_hostile_tree() {
    let sb = Sandbox::new();
    hostile_tree(&sb.src);
    let out = sb.sync(&["--parallel", "3"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let s = summary(&out);
    assert_eq!(s["items_failed"], 0);
    assert_eq!(s["items_verified"], s["items_total"]);
    assert!(s["files_transferred"].as_u64().unwrap_or(0) > 300, "{s}");
    for key in [
        "job",
        "kind",
        "items_total",
        "files",
        "bytes",
        "bytes_transferred",
        "space_saved_bytes",
        "elapsed_s",
    ] {
        assert!(s.get(key).is_some(), "summary lacks {key}: {s}");
    }

    // Names, links, metadata arrived as they are.
    let n = sb.dst.join("names").join(OsStr::from_bytes(b"new\nline"));
    assert_eq!(std::fs::read(&n).expect("read"), b"file 0");
    assert!(sb
        .dst
        .join(OsStr::from_bytes(b"$(touch x)"))
        .join("inner")
        .exists());
    assert!(!sb.root.join("x").exists() && !Path::new("x").exists());
    assert_eq!(
        std::fs::read_link(sb.dst.join("loop-a")).expect("readlink"),
        PathBuf::from("loop-b")
    );
    assert_eq!(
        std::fs::read_link(sb.dst.join("dangling")).expect("readlink"),
        PathBuf::from("/nonexistent/target")
    );
    let one = std::fs::metadata(sb.dst.join("hl/one")).expect("stat");
    let two = std::fs::metadata(sb.dst.join("hl/two")).expect("stat");
    let three = std::fs::metadata(sb.dst.join("deep/three")).expect("stat");
    assert_eq!(one.ino(), two.ino());
    assert_eq!(one.ino(), three.ino());
    assert!(sb.dst.join("empty/dir/tree").is_dir());
    let mode = std::fs::metadata(sb.dst.join("script.sh"))
        .expect("stat")
        .mode()
        & 0o7777;
    assert_eq!(mode, 0o750);
    let ro = std::fs::metadata(sb.dst.join("readonly-dir")).expect("stat");
    assert_eq!(ro.mode() & 0o7777, 0o555);
    let (sm, dm) = (
        std::fs::metadata(sb.src.join("big.bin")).expect("stat"),
        std::fs::metadata(sb.dst.join("big.bin")).expect("stat"),
    );
    assert_eq!((sm.mtime(), sm.mtime_nsec()), (dm.mtime(), dm.mtime_nsec()));

    // Change the source: the final sync copies the change and deletes on the target.
    write(&sb.src.join("deep/a/b/c/1/f1"), b"changed");
    std::fs::remove_file(
        sb.src
            .join("names")
            .join(OsStr::from_bytes(b"-leading-dash")),
    )
    .expect("rm");
    write(&sb.src.join("new-file"), b"new");
    let out = sb.sync(&["--final"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let s = summary(&out);
    assert_eq!(s["files_transferred"], 2, "{s}");
    assert_eq!(s["files_deleted"], 1, "{s}");
    assert!(!sb.dst.join("names/-leading-dash").exists());

    // A target name of a hard-linked file lost before the final sync is linked
    // again to the copy an earlier run made, even from another directory's item.
    std::fs::remove_file(sb.dst.join("deep/three")).expect("rm");
    let out = sb.sync(&["--final", "--parallel", "1"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(
        summary(&out)["files_transferred"],
        0,
        "linked, not copied again"
    );
    let three = std::fs::metadata(sb.dst.join("deep/three")).expect("stat");
    let one = std::fs::metadata(sb.dst.join("hl/one")).expect("stat");
    assert_eq!(three.ino(), one.ino());

    // A new name for an already copied hard-linked file links to its copy.
    std::fs::hard_link(sb.src.join("hl/one"), sb.src.join("names/fourth-link")).expect("link");
    let out = sb.sync(&["--final"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let four = std::fs::metadata(sb.dst.join("names/fourth-link")).expect("stat");
    let one = std::fs::metadata(sb.dst.join("hl/one")).expect("stat");
    assert_eq!(four.ino(), one.ino());

    // Nothing changed: the proof the operators ran rsync twice for.
    for _ in 0..2 {
        let out = sb.sync(&["--final"]);
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        let s = summary(&out);
        assert_eq!(s["files_transferred"], 0, "{s}");
        assert_eq!(s["files_deleted"], 0, "{s}");
    }

    let out = sb.verify(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let out = sb.verify(&["--verify", "sample=5", "--seed", "42"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let started = &events(&out)[0];
    assert_eq!(started["event"], "job_started");
    assert_eq!(started["verify"], "sample=5 seed=42");
    let hashed: u64 = events(&out)
        .iter()
        .filter(|e| e["event"] == "item_verified")
        .map(|e| e["report"]["files_hashed"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(hashed, 5);
}

#[test]
fn verify_names_each_damaged_file() {
    let sb = Sandbox::new();
    for i in 0..20 {
        write(
            &sb.src.join(format!("d{}/file-{i}", i % 3)),
            format!("content {i}").as_bytes(),
        );
    }
    let out = sb.sync(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));

    // Flip one byte (same size, same mtime: only the hash can see it).
    let flip = sb.dst.join("d0/file-3");
    let md = std::fs::metadata(&flip).expect("stat");
    let mut bytes = std::fs::read(&flip).expect("read");
    bytes[2] ^= 0x01;
    std::fs::write(&flip, &bytes).expect("write");
    let times = std::fs::FileTimes::new().set_modified(md.modified().expect("mtime"));
    std::fs::File::options()
        .write(true)
        .open(&flip)
        .expect("open")
        .set_times(times)
        .expect("set times");
    std::fs::write(sb.dst.join("d1/file-4"), b"con").expect("truncate");
    std::fs::remove_file(sb.dst.join("d2/file-5")).expect("rm");

    let out = sb.verify(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let failed: Vec<String> = events(&out)
        .iter()
        .filter(|e| e["event"] == "item_failed")
        .map(|e| e["reason"].as_str().unwrap_or("").to_string())
        .collect();
    let all = failed.join("\n");
    assert!(all.contains("d0/file-3 content"), "{all}");
    assert!(all.contains("d1/file-4 size"), "{all}");
    assert!(all.contains("d2/file-5 missing in target"), "{all}");
    assert_eq!(summary(&out)["items_failed"], 3);

    // Text mode names them too, on stdout, and the exit code says so.
    let text = Command::new(bin())
        .arg("--state-dir")
        .arg(&sb.state)
        .args(["verify", "tree-sync", "--source"])
        .arg(&sb.src)
        .arg("--target")
        .arg(&sb.dst)
        .output()
        .expect("run");
    assert_eq!(text.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&text.stdout).contains("d0/file-3"));
}

#[test]
fn bad_input_exits_2_with_one_line_and_writes_nothing() {
    let sb = Sandbox::new();
    write(&sb.src.join("a"), b"a");
    let cases: Vec<(Vec<PathBuf>, &str)> = vec![
        (vec![sb.root.join("missing"), sb.dst.clone()], "missing"),
        (vec![sb.src.clone(), sb.src.join("inner")], "inside source"),
        (vec![sb.src.clone(), sb.src.clone()], "same directory"),
        (
            vec![sb.src.clone(), sb.root.join("no/such/parent/dst")],
            "parent",
        ),
    ];
    for (paths, expect) in cases {
        let out = Command::new(bin())
            .arg("--state-dir")
            .arg(&sb.state)
            .args(["run", "tree-sync", "--source"])
            .arg(&paths[0])
            .arg("--target")
            .arg(&paths[1])
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{expect}: {}", show(&out));
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
        assert!(err.contains(expect), "{expect}: {err}");
        assert!(!sb.src.join("inner").exists());
        assert!(!sb.dst.exists());
    }
    assert!(!sb.state.exists(), "nothing written, not even the journal");

    // A non-empty target without --final.
    write(&sb.dst.join("existing"), b"keep me");
    let out = sb.sync(&[]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not empty"));
    assert!(!sb.dst.join("a").exists());
    assert_eq!(
        std::fs::read(sb.dst.join("existing")).expect("read"),
        b"keep me"
    );

    let out = sb.sync(&["--verify", "bogus"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--verify"));
}

#[test]
fn dry_run_prints_steps_and_writes_nothing() {
    let sb = Sandbox::new();
    write(&sb.src.join("x/y"), b"y");
    let out = sb.sync(&["--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let steps: Vec<String> = events(&out)
        .iter()
        .filter(|e| e["event"] == "plan_step")
        .map(|e| e["action"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        steps
            .iter()
            .any(|s| s.starts_with("copy ") && s.contains("x/y")),
        "{steps:?}"
    );
    assert!(!sb.dst.exists());
}

/// Run `args` as an unprivileged user when we are root (so permissions bite).
fn unprivileged(sb: &Sandbox, args: &[&OsStr]) -> Output {
    // SAFETY: geteuid cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let mut cmd = if root {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", bin()]);
        c
    } else {
        Command::new(bin())
    };
    cmd.arg("--state-dir").arg(&sb.state).args(args);
    cmd.output().expect("run")
}

#[test]
fn unreadable_file_fails_its_item_and_others_finish() {
    let sb = Sandbox::new();
    write(&sb.src.join("good/a"), b"a");
    write(&sb.src.join("good/b"), b"b");
    write(&sb.src.join("bad/secret"), b"secret");
    write(&sb.src.join("bad/fine"), b"fine");
    std::fs::set_permissions(
        sb.src.join("bad/secret"),
        std::fs::Permissions::from_mode(0o000),
    )
    .expect("chmod");
    for p in [&sb.root, &sb.src, &sb.src.join("good"), &sb.src.join("bad")] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    }
    let args: Vec<&OsStr> = vec![
        "run".as_ref(),
        "tree-sync".as_ref(),
        "--source".as_ref(),
        sb.src.as_os_str(),
        "--target".as_ref(),
        sb.dst.as_os_str(),
        "--json".as_ref(),
    ];
    let out = unprivileged(&sb, &args);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let ev = events(&out);
    let failed: Vec<&Value> = ev.iter().filter(|e| e["event"] == "item_failed").collect();
    assert_eq!(failed.len(), 1, "{}", show(&out));
    assert_eq!(failed[0]["item"], "bad");
    let reason = failed[0]["reason"].as_str().unwrap_or("");
    assert!(
        reason.contains("bad/secret") && reason.contains("ermission"),
        "{reason}"
    );
    assert_eq!(std::fs::read(sb.dst.join("good/a")).expect("read"), b"a");
    assert_eq!(
        std::fs::read(sb.dst.join("bad/fine")).expect("read"),
        b"fine"
    );
    let s = summary(&out);
    assert_eq!(s["items_failed"], 1);
}

#[test]
fn writers_during_the_bulk_copy_are_warnings_and_the_final_sync_settles_them() {
    let sb = Sandbox::new();
    for i in 0..50 {
        write(
            &sb.src.join(format!("static/f{i}")),
            format!("{i}").as_bytes(),
        );
    }
    // A big file a writer appends to while it is copied, and files that vanish.
    let growing = sb.src.join("live/growing.log");
    write(&growing, &vec![b'x'; 64 * 1024 * 1024]);
    for i in 0..200 {
        write(&sb.src.join(format!("live/msg-{i:03}")), b"queued message");
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let live = sb.src.join("live");
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                use std::io::Write as _;
                if let Ok(mut f) = std::fs::OpenOptions::new()
                    .append(true)
                    .open(live.join("growing.log"))
                {
                    let _ = f.write_all(b"appended line\n");
                }
                let _ = std::fs::remove_file(live.join(format!("msg-{:03}", n % 200)));
                n += 1;
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
        })
    };
    let out = sb.sync(&["--parallel", "2"]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().expect("writer");
    assert_eq!(
        out.status.code(),
        Some(0),
        "warnings are not failures: {}",
        show(&out)
    );
    let warnings: Vec<String> = events(&out)
        .iter()
        .filter(|e| e["event"] == "warning")
        .map(|e| e["message"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("live/growing.log") && w.contains("changed")),
        "{warnings:?}"
    );
    let s = summary(&out);
    assert_eq!(s["warnings"].as_u64(), Some(warnings.len() as u64));

    // Writers paused: the final sync copies the rest; a second one finds nothing.
    let out = sb.sync(&["--final"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(summary(&out)["files_transferred"].as_u64().unwrap_or(0) >= 1);
    let out = sb.sync(&["--final"]);
    assert_eq!(summary(&out)["files_transferred"], 0, "{}", show(&out));
    let out = sb.verify(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
}

#[test]
fn owners_are_preserved_when_root() {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        println!("skipped: preserving owners needs root");
        return;
    }
    let sb = Sandbox::new();
    write(&sb.src.join("d/owned"), b"x");
    std::os::unix::fs::lchown(sb.src.join("d/owned"), Some(1234), Some(5678)).expect("chown");
    std::os::unix::fs::symlink("owned", sb.src.join("d/link")).expect("symlink");
    std::os::unix::fs::lchown(sb.src.join("d/link"), Some(4321), Some(8765)).expect("chown");
    std::os::unix::fs::lchown(sb.src.join("d"), Some(42), Some(43)).expect("chown");
    let out = sb.sync(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let md = std::fs::symlink_metadata(sb.dst.join("d/owned")).expect("stat");
    assert_eq!((md.uid(), md.gid()), (1234, 5678));
    let md = std::fs::symlink_metadata(sb.dst.join("d/link")).expect("stat");
    assert_eq!((md.uid(), md.gid()), (4321, 8765));
    let md = std::fs::symlink_metadata(sb.dst.join("d")).expect("stat");
    assert_eq!((md.uid(), md.gid()), (42, 43));
    // A changed owner in the target is a difference verification names.
    std::os::unix::fs::lchown(sb.dst.join("d/owned"), Some(1), Some(1)).expect("chown");
    let out = sb.verify(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("d/owned owner 1234:5678"));
}

#[test]
fn a_final_sync_onto_a_folder_no_bulk_copy_wrote_is_refused_unless_forced() {
    let sb = Sandbox::new();
    write(&sb.src.join("keep/a.txt"), b"a");
    // An unrelated folder that happens to be the target: its files are not
    // the source's and no bulk copy in this journal wrote it.
    write(&sb.dst.join("notes.txt"), b"mine");
    write(&sb.dst.join("keep/old.txt"), b"old");
    let out = sb.sync(&["--final"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("final sync refused") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(sb.dst.join("notes.txt").exists() && sb.dst.join("keep/old.txt").exists());
    // A dry run shows what it would do and needs no force.
    let out = sb.sync(&["--final", "--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(sb.dst.join("notes.txt").exists());
    // --force: the operator says the folder is a copy of the source.
    let out = sb.sync(&["--final", "--force"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(!sb.dst.join("notes.txt").exists());
    assert!(!sb.dst.join("keep/old.txt").exists());
    assert_eq!(
        std::fs::read(sb.dst.join("keep/a.txt")).expect("read"),
        b"a"
    );
    // Once a job of this source wrote the target, a final sync needs no force.
    write(&sb.dst.join("stray.txt"), b"x");
    let out = sb.sync(&["--final"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(!sb.dst.join("stray.txt").exists());
    // An empty or missing target has nothing to lose.
    let other = sb.root.join("fresh");
    let out = support::cli::job(&sb.state, "run", "tree-sync", &sb.src, &other, &["--final"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
}
