//! store-to-cas end to end through the binary: deduplication counted
//! exactly, every phase and refusal, resume after SIGKILL, a corrupted
//! object, a full disk, and a store of real Debian package contents.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod support;

use support::cli::{bin, show, summary, write, Sandbox};

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

struct Env {
    sb: Sandbox,
    store: PathBuf,
    cas: PathBuf,
}

fn env() -> Env {
    let sb = Sandbox::new();
    Env {
        store: sb.src.clone(),
        cas: sb.dst.clone(),
        sb,
    }
}

impl Env {
    fn cutover<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        self.sb.cutover(args)
    }

    fn migrate(&self, extra: &[&str]) -> Output {
        self.sb.job("run", "store-to-cas", extra)
    }

    fn store_cmd(&self, args: &[&str]) -> Output {
        let mut all = vec!["store"];
        all.extend_from_slice(args);
        self.cutover(&all)
    }

    /// The first job `cutover jobs --json` lists.
    fn first_job(&self) -> Value {
        let jobs = self.cutover(&["jobs", "--json"]);
        let first = String::from_utf8_lossy(&jobs.stdout)
            .lines()
            .next()
            .map(str::to_string)
            .unwrap_or_else(|| panic!("no job listed: {}", show(&jobs)));
        serde_json::from_str(&first).unwrap()
    }

    fn status(&self) -> Value {
        let out = self.store_cmd(&["status", "--json", "--target", self.cas.to_str().unwrap()]);
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", show(&out)))
    }
}

/// Make a fifo: a file no content-addressed store can hold.
fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0, "mkfifo");
}

/// A store with planned duplication: a shared license in every package,
/// identical libraries across versions, odd names, symlinks, empty files
/// and directories, and a hard link.
fn planned_store(store: &Path, packages: usize) {
    let license = b"Permission is hereby granted, free of charge, to any person...\n".repeat(40);
    for p in 0..packages {
        let pkg = store.join(format!("{:032x}-pkg{p}", p * 7919 + 13));
        write(&pkg.join("share/doc/LICENSE"), &license);
        // libfoo 1.x is the same across every second package ("versions").
        let lib: Vec<u8> = (0..20_000u32)
            .map(|i| (i * 31 + (p as u32 / 2)) as u8)
            .collect();
        write(&pkg.join("lib/libfoo.so.1"), &lib);
        write(
            &pkg.join(format!("bin/tool-{p}")),
            format!("#!/bin/sh\necho {p}\n").as_bytes(),
        );
        std::fs::set_permissions(
            pkg.join(format!("bin/tool-{p}")),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        write(&pkg.join("etc/empty.conf"), b"");
        std::fs::create_dir_all(pkg.join("var/empty/dir")).unwrap();
        std::os::unix::fs::symlink("libfoo.so.1", pkg.join("lib/libfoo.so")).unwrap();
        write(
            &pkg.join(OsStr::from_bytes(b"odd name \n $(x) '\"")),
            b"odd",
        );
        if p % 3 == 0 {
            write(&pkg.join("data/a"), &vec![b'q'; 5000 + p]);
            std::fs::hard_link(pkg.join("data/a"), pkg.join("data/a-link")).unwrap();
        }
    }
}

/// Independent count of reducible bytes: for each distinct content, size ×
/// (distinct inodes − 1). Returns (reducible bytes, distinct contents).
fn independent_dup_bytes(store: &Path) -> (u64, usize) {
    let mut by_content: HashMap<Vec<u8>, HashSet<(u64, u64)>> = HashMap::new();
    let mut sizes: HashMap<Vec<u8>, u64> = HashMap::new();
    let mut stack = vec![store.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let md = std::fs::symlink_metadata(e.path()).unwrap();
            if md.is_dir() {
                stack.push(e.path());
            } else if md.is_file() {
                let bytes = std::fs::read(e.path()).unwrap();
                sizes.insert(bytes.clone(), md.len());
                by_content
                    .entry(bytes)
                    .or_default()
                    .insert((md.dev(), md.ino()));
            }
        }
    }
    let reducible = by_content
        .iter()
        .map(|(c, inodes)| sizes[c] * (inodes.len() as u64 - 1))
        .sum();
    (reducible, by_content.len())
}

/// Snapshot of a tree: path → (mode, content) to prove it is untouched.
fn tree_state(root: &Path) -> BTreeMap<PathBuf, (u32, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let md = std::fs::symlink_metadata(e.path()).unwrap();
            let content = if md.is_file() {
                std::fs::read(e.path()).unwrap()
            } else if md.file_type().is_symlink() {
                std::fs::read_link(e.path())
                    .unwrap()
                    .as_os_str()
                    .as_bytes()
                    .to_vec()
            } else {
                stack.push(e.path());
                Vec::new()
            };
            out.insert(e.path(), (md.mode(), content));
        }
    }
    out
}

fn objects(cas: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for fan in std::fs::read_dir(cas.join("objects")).unwrap() {
        let fan = fan.unwrap();
        for o in std::fs::read_dir(fan.path()).unwrap() {
            let o = o.unwrap();
            if !o.file_name().to_str().unwrap().starts_with(".tmp.") {
                out.push(o.path());
            }
        }
    }
    out
}

#[test]
fn migrates_with_exact_space_saved_and_checkable_objects() {
    let e = env();
    planned_store(&e.store, 12);
    let before = tree_state(&e.store);
    let (reducible, distinct) = independent_dup_bytes(&e.store);
    let scan = e.store_cmd(&["scan", "--json", "--source", e.store.to_str().unwrap()]);
    let scan: Value = serde_json::from_slice(&scan.stdout).unwrap();
    assert_eq!(scan["reducible_bytes"].as_u64(), Some(reducible), "{scan}");
    let out = e.migrate(&["--batch", "4", "--parallel", "2"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let s = summary(&out);
    assert_eq!(s["items_verified"], 12);
    assert_eq!(s["space_saved_bytes"].as_u64(), Some(reducible), "{s}");
    assert!(reducible > 0);

    // Each object once, named by the BLAKE3 of its bytes, read-only.
    let objs = objects(&e.cas);
    assert_eq!(objs.len(), distinct);
    for o in &objs {
        let bytes = std::fs::read(o).unwrap();
        let name = o.file_name().unwrap().to_str().unwrap();
        assert_eq!(blake3::hash(&bytes).to_hex().as_str(), name);
        assert_eq!(
            &name[..2],
            o.parent().unwrap().file_name().unwrap().to_str().unwrap()
        );
        assert_eq!(std::fs::metadata(o).unwrap().mode() & 0o222, 0, "read-only");
    }
    // Metadata per package, parsable, with symlinks and empty dirs.
    let meta: Value = serde_json::from_slice(
        &std::fs::read(e.cas.join("packages").join(format!("{:032x}-pkg0", 13))).unwrap(),
    )
    .unwrap();
    let entries = meta["entries"].as_array().unwrap();
    assert!(entries
        .iter()
        .any(|x| x["type"] == "symlink" && x["target"] == "libfoo.so.1"));
    assert!(entries
        .iter()
        .any(|x| x["type"] == "dir" && x["path"] == "var/empty/dir"));
    assert!(entries
        .iter()
        .any(|x| x["path"] == "bin/tool-0" && x["mode"] == 0o755));

    let st = e.status();
    assert_eq!(st["completed"], 12);
    assert_eq!(st["pending"], 0);
    assert_eq!(st["space_saved"].as_u64(), Some(reducible));
    assert_eq!(st["objects"].as_u64(), Some(distinct as u64));
    assert!(st["dedup_ratio"].as_f64().unwrap() > 1.5, "{st}");
    // The store.db tables the seed asked for.
    let db = rusqlite::Connection::open(e.cas.join("store.db")).unwrap();
    let n: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM store_migration WHERE status = 'completed'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 12);

    // Dual mode: the old store is untouched.
    assert_eq!(before, tree_state(&e.store));

    // Running again migrates nothing new and counts nothing twice.
    let out = e.migrate(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(summary(&out)["items_total"], 0);
    assert_eq!(e.status()["space_saved"].as_u64(), Some(reducible));
}

#[test]
fn phases_refuse_out_of_order_and_cleanup_removes_verified_packages() {
    let e = env();
    planned_store(&e.store, 4);
    let cas = e.cas.to_str().unwrap().to_string();
    let store = e.store.to_str().unwrap().to_string();

    // A package that cannot be stored (a fifo) fails; the others finish.
    let bad = e.store.join("ffff-bad");
    std::fs::create_dir_all(&bad).unwrap();
    mkfifo(&bad.join("pipe"));
    let out = e.migrate(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let st = e.status();
    assert_eq!(
        (st["completed"].as_u64(), st["failed"].as_u64()),
        (Some(4), Some(1))
    );
    assert!(
        st["failures"][0][1].as_str().unwrap().contains("pipe"),
        "{st}"
    );

    let out = e.store_cmd(&["cutover", "--target", &cas]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 failed"));
    let out = e.store_cmd(&["cleanup", "--source", &store, "--target", &cas, "--confirm"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not cut over"));

    // The operator fixes the package; resume redoes only what failed.
    std::fs::remove_file(bad.join("pipe")).unwrap();
    write(&bad.join("ok"), b"fine now");
    let job = e.first_job();
    assert_eq!(job["status"], "failed");
    let out = e.cutover(&["resume", "--json", &job["job"].to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(e.status()["completed"], 5);

    let out = e.store_cmd(&["cleanup", "--source", &store, "--target", &cas]);
    assert_eq!(out.status.code(), Some(2), "needs --confirm");
    let out = e.store_cmd(&["cutover", "--target", &cas]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let out = e.store_cmd(&["cleanup", "--source", &store, "--target", &cas, "--confirm"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(
        std::fs::read_dir(&e.store).unwrap().count(),
        0,
        "old packages removed"
    );
    // Objects still verify, and rollback is no longer possible.
    let out = e.store_cmd(&["status", "--verify", "--target", &cas]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let out = e.store_cmd(&["rollback", "--target", &cas]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cleaned up"));
}

#[test]
fn rollback_before_cleanup_keeps_the_old_store() {
    let e = env();
    planned_store(&e.store, 3);
    let before = tree_state(&e.store);
    let out = e.migrate(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let cas = e.cas.to_str().unwrap().to_string();
    let out = e.store_cmd(&["rollback", "--target", &cas, "--remove-new"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(!e.cas.join("objects").exists() && !e.cas.join("packages").exists());
    let st = e.status();
    assert_eq!(st["rolled_back"], 3);
    assert_eq!(st["completed"], 0);
    assert_eq!(before, tree_state(&e.store));
    // Migrating again after a rollback works and counts from zero.
    let (reducible, _) = independent_dup_bytes(&e.store);
    let out = e.migrate(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(e.status()["space_saved"].as_u64(), Some(reducible));
}

#[test]
fn corrupted_object_is_found_by_status_and_refused_by_cutover() {
    let e = env();
    planned_store(&e.store, 3);
    let out = e.migrate(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let victim = objects(&e.cas)
        .into_iter()
        .find(|o| std::fs::metadata(o).unwrap().len() > 100)
        .unwrap();
    let name = victim.file_name().unwrap().to_str().unwrap().to_string();
    let mut bytes = std::fs::read(&victim).unwrap();
    bytes[50] ^= 0xff;
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(&victim, &bytes).unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o444)).unwrap();
    let cas = e.cas.to_str().unwrap().to_string();
    let out = e.store_cmd(&["status", "--verify", "--target", &cas]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l.contains(&name) && l.contains("content does not match")),
        "{text}"
    );
    let st: Value = serde_json::from_slice(
        &e.store_cmd(&["status", "--verify", "--json", "--target", &cas])
            .stdout,
    )
    .unwrap();
    assert_eq!(st["corrupt_objects"][0], name.as_str());
    let out = e.store_cmd(&["cutover", "--target", &cas]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("do not verify") && text.contains(&name) && text.contains("corrupt"),
        "{text}"
    );
}

#[test]
fn sigkill_then_resume_discards_temporaries_and_counts_once() {
    let e = env();
    planned_store(&e.store, 150);
    let (reducible, _) = independent_dup_bytes(&e.store);
    let mut child = Command::new(bin())
        .arg("--state-dir")
        .arg(&e.sb.state)
        .args([
            "run",
            "store-to-cas",
            "--parallel",
            "1",
            "--batch",
            "5",
            "--json",
            "--source",
        ])
        .arg(&e.store)
        .arg("--target")
        .arg(&e.cas)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(reader.read_line(&mut line).unwrap() > 0, "ended early");
        if line.contains("\"item_verified\"") {
            break;
        }
    }
    child.kill().unwrap();
    let _ = child.wait();
    // What a kill during an object write leaves behind.
    write(
        &e.cas.join("objects/de/.tmp.deadbeef.1.0"),
        b"half an object",
    );
    let job = e.first_job();
    assert_eq!(job["status"], "interrupted");
    let out = e.cutover(&["resume", "--json", &job["job"].to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(!e.cas.join("objects/de/.tmp.deadbeef.1.0").exists());
    // The job's counts are those of the whole job, not of the resumed part.
    let job = e.first_job();
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["items_verified"], job["items_total"], "{job}");
    let st = e.status();
    assert_eq!(st["completed"], 150);
    assert_eq!(
        st["space_saved"].as_u64(),
        Some(reducible),
        "no double counting: {st}"
    );
    let db = rusqlite::Connection::open(e.cas.join("store.db")).unwrap();
    let refs: i64 = db
        .query_row("SELECT SUM(refcount) FROM objects", [], |r| r.get(0))
        .unwrap();
    let files: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM package_files WHERE type = 'file'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(refs, files);
}

#[test]
fn full_disk_fails_the_package_with_the_reason() {
    if !support::require("full disk (tmpfs mount)", support::skip::root()) {
        return;
    }
    let e = env();
    planned_store(&e.store, 3);
    write(&e.store.join("ffff-huge/blob"), &vec![9u8; 3 << 20]);
    std::fs::create_dir_all(&e.cas).unwrap();
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&e.cas)
        .status()
        .unwrap();
    assert!(ok.success(), "mount tmpfs");
    let out = e.migrate(&[]);
    let _ = Command::new("umount").arg(&e.cas).status();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("ffff-huge") && text.contains("No space left"),
        "{text}"
    );
    assert!(e.store.join("ffff-huge/blob").exists(), "source intact");
}

#[test]
fn bad_input_is_refused_with_one_line() {
    let e = env();
    planned_store(&e.store, 1);
    let missing = e.sb.root.join("nope");
    let inside = e.store.join("cas");
    for (src, dst, expect) in [
        (missing.as_path(), e.cas.as_path(), "cannot be read"),
        (e.store.as_path(), inside.as_path(), "overlaps"),
    ] {
        let out = e.cutover(&[
            OsStr::new("run"),
            OsStr::new("store-to-cas"),
            OsStr::new("--source"),
            src.as_os_str(),
            OsStr::new("--target"),
            dst.as_os_str(),
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}", show(&out));
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.contains(expect), "{err}");
    }
    write(&e.cas.join("unrelated.txt"), b"x");
    let out = e.migrate(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a cutover store"));
    let out = e.store_cmd(&[
        "status",
        "--target",
        e.sb.root.join("none").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
}

/// A store built from real package contents: Debian packages downloaded
/// and extracted with `dpkg-deb -x`, one directory per package.
#[test]
fn migrates_real_debian_package_contents() {
    let e = env();
    let debs = e.sb.root.join("debs");
    std::fs::create_dir_all(&debs).unwrap();
    let got = Command::new("apt-get")
        .args(["download", "bc", "less", "sed", "tree"])
        .current_dir(&debs)
        .output();
    let ok = matches!(&got, Ok(o) if o.status.success());
    if !support::require(
        "real Debian packages",
        if ok {
            Ok(())
        } else {
            Err("apt-get download failed (no package mirror?)".into())
        },
    ) {
        return;
    }
    for deb in std::fs::read_dir(&debs).unwrap() {
        let deb = deb.unwrap().path();
        let bytes = std::fs::read(&deb).unwrap();
        let pkg = e.store.join(blake3::hash(&bytes).to_hex().as_str());
        let st = Command::new("dpkg-deb")
            .arg("-x")
            .arg(&deb)
            .arg(&pkg)
            .status()
            .unwrap();
        assert!(st.success());
    }
    let (reducible, distinct) = independent_dup_bytes(&e.store);
    let out = e.migrate(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(summary(&out)["space_saved_bytes"].as_u64(), Some(reducible));
    assert_eq!(objects(&e.cas).len(), distinct);
}

#[test]
fn a_failed_package_redone_later_counts_its_saving_once() {
    let e = env();
    let x = vec![b'x'; 10_000];
    write(&e.store.join("aaa/x"), &x);
    mkfifo(&e.store.join("aaa/zz-pipe"));
    write(&e.store.join("bbb/y"), &x);
    // aaa stores the object for x, then fails on the fifo; bbb reuses it.
    let out = e.migrate(&["--parallel", "1"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    std::fs::remove_file(e.store.join("aaa/zz-pipe")).unwrap();
    let job = e.first_job();
    let out = e.cutover(&["resume", "--json", &job["job"].to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let (reducible, _) = independent_dup_bytes(&e.store);
    assert_eq!(reducible, 10_000);
    assert_eq!(e.status()["space_saved"].as_u64(), Some(reducible));
}

#[test]
fn an_interrupted_cleanup_continues_where_it_stopped() {
    if !support::require("immutable file (chattr)", support::skip::root()) {
        return;
    }
    let e = env();
    planned_store(&e.store, 4);
    let cas = e.cas.to_str().unwrap().to_string();
    let store = e.store.to_str().unwrap().to_string();
    assert_eq!(e.migrate(&[]).status.code(), Some(0));
    assert_eq!(
        e.store_cmd(&["cutover", "--target", &cas]).status.code(),
        Some(0)
    );
    // The third package cannot be removed: cleanup stops there, says why.
    let third = e.store.join(format!("{:032x}-pkg2", 2 * 7919 + 13));
    let stuck = third.join("share/doc/LICENSE");
    let chattr = |flag: &str| {
        let ok = Command::new("chattr")
            .arg(flag)
            .arg(&stuck)
            .status()
            .unwrap();
        assert!(ok.success(), "chattr {flag}");
    };
    chattr("+i");
    let out = e.store_cmd(&["cleanup", "--source", &store, "--target", &cas, "--confirm"]);
    chattr("-i");
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("run cleanup again"), "{text}");
    assert!(third.exists(), "partly removed at most");
    // Rollback is refused once old packages are gone; cleanup again finishes.
    let out = e.store_cmd(&["rollback", "--target", &cas]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let out = e.store_cmd(&["cleanup", "--source", &store, "--target", &cas, "--confirm"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(std::fs::read_dir(&e.store).unwrap().count(), 0);
    let out = e.store_cmd(&["status", "--verify", "--target", &cas]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
}

/// The package name `planned_store` gives package `p`.
fn pkg_name(p: usize) -> String {
    format!("{:032x}-pkg{p}", p * 7919 + 13)
}

/// The object of the tool script only package `p` holds.
fn tool_object(cas: &Path, p: usize) -> (String, PathBuf) {
    let hex = blake3::hash(format!("#!/bin/sh\necho {p}\n").as_bytes())
        .to_hex()
        .to_string();
    let path = cas.join("objects").join(&hex[..2]).join(&hex);
    assert!(path.is_file(), "object of package {p}");
    (hex, path)
}

#[test]
fn status_verify_names_every_damaged_object_and_its_packages() {
    let e = env();
    planned_store(&e.store, 5);
    let out = e.migrate(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let cas = e.cas.to_str().unwrap().to_string();
    let clean = e.store_cmd(&["status", "--verify", "--target", &cas]);
    assert_eq!(clean.status.code(), Some(0), "{}", show(&clean));

    // 0: deleted; 1: made writable; 2: a symlink to a file with the same
    // bytes (hashes right when followed); 3: corrupt; 4: a directory.
    let (deleted, p0) = tool_object(&e.cas, 0);
    std::fs::remove_file(&p0).unwrap();
    let (writable, p1) = tool_object(&e.cas, 1);
    std::fs::set_permissions(&p1, std::fs::Permissions::from_mode(0o666)).unwrap();
    let (linked, p2) = tool_object(&e.cas, 2);
    let elsewhere = e.sb.root.join("same-bytes");
    std::fs::copy(&p2, &elsewhere).unwrap();
    std::fs::remove_file(&p2).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &p2).unwrap();
    let (corrupt, p3) = tool_object(&e.cas, 3);
    std::fs::remove_file(&p3).unwrap();
    std::fs::write(&p3, b"#!/bin/sh\necho 9\n").unwrap();
    std::fs::set_permissions(&p3, std::fs::Permissions::from_mode(0o444)).unwrap();
    let (dir, p4) = tool_object(&e.cas, 4);
    std::fs::remove_file(&p4).unwrap();
    std::fs::create_dir(&p4).unwrap();

    let out = e.store_cmd(&["status", "--verify", "--target", &cas]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    for (p, hex, what) in [
        (0, &deleted, "is missing"),
        (1, &writable, "is writable"),
        (2, &linked, "not a regular file (a symlink)"),
        (3, &corrupt, "content does not match its name"),
        (4, &dir, "not a regular file (a directory)"),
    ] {
        let line = text
            .lines()
            .find(|l| l.contains(hex.as_str()))
            .unwrap_or_else(|| panic!("object {hex} not named:\n{text}"));
        assert!(line.contains(what), "{what}: {line}");
        assert!(line.contains(&pkg_name(p)), "package named: {line}");
    }
    let symlink_line = text.lines().find(|l| l.contains(linked.as_str())).unwrap();
    assert!(!symlink_line.contains("hash to"), "{symlink_line}");
    let st: Value = serde_json::from_slice(
        &e.store_cmd(&["status", "--verify", "--json", "--target", &cas])
            .stdout,
    )
    .unwrap();
    let damaged = st["damaged_objects"].as_array().unwrap();
    assert_eq!(damaged.len(), 5, "{st}");
    assert!(damaged
        .iter()
        .all(|d| d["packages"].as_array().is_some_and(|p| p.len() == 1)));
    // The package checks (cutover) see the same damage.
    let out = e.store_cmd(&["cutover", "--target", &cas]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("5 of 5 packages do not verify"), "{text}");
    assert!(
        text.contains("(a symlink)") && text.contains("is writable"),
        "{text}"
    );
}

/// A package is `completed` in store.db only after its objects were
/// flushed; before that, a power loss may leave its objects empty. So a
/// run that finds a package still in progress writes its objects again
/// instead of taking them as stored.
#[test]
fn objects_of_a_package_not_completed_are_written_again_not_trusted() {
    let e = env();
    planned_store(&e.store, 3);
    let out = e.migrate(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    // What a power loss before the flush can leave: the package recorded
    // in progress, its own object empty.
    let (hex, object) = tool_object(&e.cas, 1);
    let db = rusqlite::Connection::open(e.cas.join("store.db")).unwrap();
    let n = db
        .execute(
            "UPDATE store_migration SET status = 'in_progress' WHERE package_hash = ?1",
            [pkg_name(1)],
        )
        .unwrap();
    assert_eq!(n, 1);
    drop(db);
    std::fs::write(&object, b"").unwrap();

    let out = e.migrate(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let bytes = std::fs::read(&object).unwrap();
    assert_eq!(
        blake3::hash(&bytes).to_hex().to_string(),
        hex,
        "object rewritten"
    );
    let cas = e.cas.to_str().unwrap().to_string();
    let out = e.store_cmd(&["status", "--verify", "--target", &cas]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(e.status()["completed"], 3);
}

#[test]
fn status_exits_1_while_a_package_is_failed() {
    let e = env();
    planned_store(&e.store, 2);
    let bad = e.store.join("ffff-bad");
    std::fs::create_dir_all(&bad).unwrap();
    mkfifo(&bad.join("pipe"));
    assert_eq!(e.migrate(&[]).status.code(), Some(1));
    let cas = e.cas.to_str().unwrap().to_string();
    let out = e.store_cmd(&["status", "--target", &cas]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("* failed ffff-bad"),
        "{}",
        show(&out)
    );
    std::fs::remove_file(bad.join("pipe")).unwrap();
    let job = e.first_job();
    let out = e.cutover(&["resume", "--json", &job["job"].to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let out = e.store_cmd(&["status", "--target", &cas]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
}

#[test]
fn cleanup_refuses_a_store_not_recorded_flushed_after_its_last_package() {
    let e = env();
    planned_store(&e.store, 3);
    let cas = e.cas.to_str().unwrap().to_string();
    let store = e.store.to_str().unwrap().to_string();
    assert_eq!(e.migrate(&[]).status.code(), Some(0));
    let db = rusqlite::Connection::open(e.cas.join("store.db")).unwrap();
    let seq = |k: &str| -> Option<String> {
        db.query_row("SELECT value FROM store_state WHERE key = ?1", [k], |r| {
            r.get(0)
        })
        .ok()
    };
    assert_eq!(seq("completed_seq").as_deref(), Some("3"));
    assert_eq!(seq("flushed_seq").as_deref(), Some("3"));
    assert_eq!(
        e.store_cmd(&["cutover", "--target", &cas]).status.code(),
        Some(0)
    );
    // A store whose last completions were not recorded flushed (an older
    // cutover wrote it, or a package completed with no flush after it).
    db.execute("DELETE FROM store_state WHERE key = 'flushed_seq'", [])
        .unwrap();
    let out = e.store_cmd(&["cleanup", "--source", &store, "--target", &cas, "--confirm"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("flushed") && err.contains("store cutover"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert_eq!(
        std::fs::read_dir(&e.store).unwrap().count(),
        3,
        "nothing removed"
    );
    // `store cutover` flushes the store and records it; cleanup goes ahead.
    assert_eq!(
        e.store_cmd(&["cutover", "--target", &cas]).status.code(),
        Some(0)
    );
    let out = e.store_cmd(&["cleanup", "--source", &store, "--target", &cas, "--confirm"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
}

#[test]
fn a_package_name_of_255_bytes_and_names_alike_but_for_an_extension() {
    let e = env();
    let long = format!("{}-pkg", "a".repeat(251));
    assert_eq!(long.len(), 255);
    write(&e.store.join(&long).join("f"), b"long name");
    // Names that differ only after their last dot: their metadata must not
    // be written through one temporary name.
    for n in 0..40 {
        write(
            &e.store.join(format!("libx.so.1.{n}")).join("lib/libx.so"),
            format!("version {n}").as_bytes(),
        );
    }
    let out = e.migrate(&["--parallel", "8", "--batch", "50"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(summary(&out)["items_verified"], 41);
    let meta: Value =
        serde_json::from_slice(&std::fs::read(e.cas.join("packages").join(&long)).unwrap())
            .unwrap();
    assert_eq!(meta["package"], long.as_str());
    for n in 0..40 {
        let name = format!("libx.so.1.{n}");
        let meta: Value =
            serde_json::from_slice(&std::fs::read(e.cas.join("packages").join(&name)).unwrap())
                .unwrap();
        assert_eq!(meta["package"], name.as_str());
        let want = blake3::hash(format!("version {n}").as_bytes())
            .to_hex()
            .to_string();
        assert_eq!(meta["entries"][1]["hash"], want.as_str(), "{meta}");
    }
    let leftovers: Vec<_> = std::fs::read_dir(e.cas.join("packages"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.as_bytes().starts_with(b"."))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn full_disk_failures_are_recorded_so_job_and_status_agree() {
    if !support::require("full disk (tmpfs mount)", support::skip::root()) {
        return;
    }
    let e = env();
    for p in 0..300u32 {
        let bytes: Vec<u8> = (0..6000u32)
            .map(|i| (i * 7 + p * 13) as u8 ^ (p >> 3) as u8)
            .collect();
        write(&e.store.join(format!("p{p:04}/data")), &bytes);
        write(&e.store.join(format!("p{p:04}/LICENSE")), b"shared text");
    }
    std::fs::create_dir_all(&e.cas).unwrap();
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&e.cas)
        .status()
        .unwrap();
    assert!(ok.success(), "mount tmpfs");
    let out = e.migrate(&["--parallel", "8", "--batch", "40"]);
    let st = e.status();
    let _ = Command::new("umount").arg(&e.cas).status();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let s = summary(&out);
    let failed = s["items_failed"].as_u64().unwrap();
    assert!(failed > 0, "the disk filled: {s}");
    assert_eq!(st["failed"].as_u64(), Some(failed), "job {s}\nstatus {st}");
    assert_eq!(
        st["completed"].as_u64(),
        s["items_verified"].as_u64(),
        "job {s}\nstatus {st}"
    );
    assert_eq!(st["pending"].as_u64(), Some(0), "{st}");
    assert_eq!(st["in_progress"].as_u64(), Some(0), "{st}");
}

#[test]
fn objects_are_flushed_before_a_package_is_reported_verified() {
    if !support::require("strace missing", support::strace::usable()) {
        return;
    }
    let e = env();
    planned_store(&e.store, 4);
    let log = e.sb.root.join("strace.log");
    let args: Vec<&OsStr> = vec![
        "--state-dir".as_ref(),
        e.sb.state.as_os_str(),
        "run".as_ref(),
        "store-to-cas".as_ref(),
        "--json".as_ref(),
        "--parallel".as_ref(),
        "2".as_ref(),
        "--source".as_ref(),
        e.store.as_os_str(),
        "--target".as_ref(),
        e.cas.as_os_str(),
    ];
    let out = support::strace::traced(bin(), &args, &log);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let log = std::fs::read_to_string(&log).unwrap();
    let cas = e.cas.canonicalize().unwrap().display().to_string();
    let verified = support::strace::first_verified(&log).expect("an item_verified write");
    // Objects are never fsynced one by one: only a syncfs of the store's
    // filesystem makes them durable (an fsync of store.db does not).
    let flushed = support::strace::first_flush(&log, |c| {
        c.starts_with("syncfs(") && c.contains(&format!("<{cas}>"))
    });
    assert!(
        flushed.is_some_and(|f| f < verified),
        "syncfs of {cas} at line {flushed:?}, first item_verified at {verified}\n{log}"
    );
}

#[test]
fn a_second_writer_on_one_store_is_refused_and_the_first_counts_exactly() {
    let e = env();
    planned_store(&e.store, 150);
    let (reducible, distinct) = independent_dup_bytes(&e.store);
    let mut first = support::cli::Running::start(
        &e.sb.state,
        &[
            OsStr::new("run"),
            OsStr::new("store-to-cas"),
            OsStr::new("--parallel"),
            OsStr::new("1"),
            OsStr::new("--batch"),
            OsStr::new("5"),
            OsStr::new("--json"),
            OsStr::new("--source"),
            e.store.as_os_str(),
            OsStr::new("--target"),
            e.cas.as_os_str(),
        ],
    );
    let seen = first.read_until(|v| v["event"] == "item_verified");
    assert!(
        seen.last().is_some_and(|v| v["event"] == "item_verified"),
        "ended early"
    );
    let other_state = e.sb.root.join("other state");
    let cas = e.cas.to_str().unwrap().to_string();
    let second = support::cli::job(
        &other_state,
        "run",
        "store-to-cas",
        &e.store,
        &e.cas,
        &["--parallel", "4"],
    );
    // A phase that writes the store is refused too while it runs.
    let rollback = support::cli::cutover(
        &other_state,
        &["store", "rollback", "--target", cas.as_str()],
    );
    let first_pid = first.id();
    let (rest, status) = first.finish();
    for refused in [&second, &rollback] {
        assert_eq!(refused.status.code(), Some(2), "{}", show(refused));
        let err = String::from_utf8_lossy(&refused.stderr);
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.contains(&format!("process {first_pid}")), "{err}");
        assert!(err.contains(&e.sb.state.display().to_string()), "{err}");
    }
    assert!(second.stdout.is_empty(), "{}", show(&second));
    assert_eq!(status.code(), Some(0), "first job: {rest}");
    let st = e.status();
    assert_eq!(st["completed"], 150, "{st}");
    assert_eq!(st["failed"], 0, "{st}");
    assert_eq!(st["space_saved"].as_u64(), Some(reducible), "{st}");
    assert_eq!(st["objects"].as_u64(), Some(distinct as u64), "{st}");
    assert_eq!(objects(&e.cas).len(), distinct);
    let out = e.store_cmd(&["status", "--verify", "--target", &cas]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
}

/// A store of many small packages sharing most of their contents: each
/// package holds a few of 40 shared files (under varying names and
/// folders), one file of its own, and a symlink.
fn shared_store(store: &Path, packages: usize) {
    let pool: Vec<Vec<u8>> = (0..40u32)
        .map(|k| {
            (0..(64 + k * 397))
                .map(|i| (i.wrapping_mul(2654435761) >> (k % 13)) as u8)
                .collect()
        })
        .collect();
    for p in 0..packages {
        let pkg = store.join(format!("{:08x}-p{p}", p * 2_654_435 % 0xffff_ffff));
        for j in 0..5 {
            let k = (p * 7 + j * 13) % pool.len();
            write(&pkg.join(format!("d{}/f{j}", j % 2)), &pool[k]);
        }
        write(&pkg.join("own"), format!("package {p}").as_bytes());
        std::os::unix::fs::symlink("d0/f0", pkg.join("link")).unwrap();
        // One inode shared by every eighth package (a store whose identical
        // files were hard-linked), met by packages running in parallel.
        if p % 8 == 0 {
            let first = store.join(format!("{:08x}-p0", 0)).join("hardlinked");
            if p == 0 {
                write(&first, &vec![b'h'; 3000]);
            } else {
                std::fs::hard_link(&first, pkg.join("hardlinked")).unwrap();
            }
        }
    }
}

/// Checks a migrated store against the source with no help from cutover:
/// every source file's bytes are at objects/xx/<blake3>, each package's
/// metadata lists exactly its entries with the right hashes, nothing is
/// left under a temporary name; returns the number of objects.
fn check_independently(store: &Path, cas: &Path) -> usize {
    let mut expected_objects = HashSet::new();
    for pkg in std::fs::read_dir(store).unwrap() {
        let pkg = pkg.unwrap();
        let name = pkg.file_name();
        let meta: Value = serde_json::from_slice(
            &std::fs::read(cas.join("packages").join(&name))
                .unwrap_or_else(|e| panic!("metadata of {name:?}: {e}")),
        )
        .unwrap();
        let listed: HashMap<String, Value> = meta["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| (x["path"].as_str().unwrap().to_string(), x.clone()))
            .collect();
        let mut seen = 0;
        let mut stack = vec![pkg.path()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let e = e.unwrap();
                let rel = e
                    .path()
                    .strip_prefix(pkg.path())
                    .unwrap()
                    .display()
                    .to_string();
                let entry = listed
                    .get(&rel)
                    .unwrap_or_else(|| panic!("{name:?}: {rel} not listed"));
                seen += 1;
                let md = std::fs::symlink_metadata(e.path()).unwrap();
                if md.is_dir() {
                    assert_eq!(entry["type"], "dir");
                    stack.push(e.path());
                } else if md.file_type().is_symlink() {
                    assert_eq!(entry["type"], "symlink");
                } else {
                    let bytes = std::fs::read(e.path()).unwrap();
                    let hex = blake3::hash(&bytes).to_hex().to_string();
                    assert_eq!(entry["hash"], hex.as_str(), "{name:?}/{rel}");
                    let obj = cas.join("objects").join(&hex[..2]).join(&hex);
                    assert_eq!(std::fs::read(&obj).unwrap(), bytes, "{obj:?}");
                    expected_objects.insert(hex);
                }
            }
        }
        assert_eq!(seen, listed.len(), "{name:?}: listing has extra entries");
    }
    let on_disk = objects(cas);
    assert_eq!(on_disk.len(), expected_objects.len(), "no stray objects");
    for dir in std::fs::read_dir(cas.join("objects"))
        .unwrap()
        .map(|d| d.unwrap().path())
        .chain([cas.join("packages")])
    {
        for e in std::fs::read_dir(&dir).unwrap() {
            let n = e.unwrap().file_name();
            assert!(
                !n.as_bytes().starts_with(b"."),
                "left behind: {dir:?}/{n:?}"
            );
        }
    }
    expected_objects.len()
}

#[test]
fn stress_many_sharing_packages_at_parallel_16() {
    let e = env();
    shared_store(&e.store, 320);
    let (reducible, distinct) = independent_dup_bytes(&e.store);
    assert!(reducible > 0);
    for round in 0..3 {
        let cas = e.sb.root.join(format!("cas{round}"));
        let state = e.sb.root.join(format!("state{round}"));
        if round == 1 {
            // Killed midway, then resumed: half-done packages are redone
            // beside finished ones.
            let mut child = Command::new(bin())
                .arg("--state-dir")
                .arg(&state)
                .args([
                    "run",
                    "store-to-cas",
                    "--parallel",
                    "16",
                    "--batch",
                    "320",
                    "--json",
                    "--source",
                ])
                .arg(&e.store)
                .arg("--target")
                .arg(&cas)
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let mut reader = BufReader::new(child.stdout.take().unwrap());
            let mut line = String::new();
            let mut verified = 0;
            while verified < 40 {
                line.clear();
                assert!(reader.read_line(&mut line).unwrap() > 0, "ended early");
                verified += usize::from(line.contains("\"item_verified\""));
            }
            child.kill().unwrap();
            let _ = child.wait();
            let out = support::cli::cutover(&state, &["resume", "--json", "--parallel", "16", "1"]);
            assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        } else {
            let out = support::cli::job(
                &state,
                "run",
                "store-to-cas",
                &e.store,
                &cas,
                &["--parallel", "16", "--batch", "64"],
            );
            assert_eq!(out.status.code(), Some(0), "{}", show(&out));
            assert_eq!(summary(&out)["space_saved_bytes"].as_u64(), Some(reducible));
        }
        assert_eq!(
            check_independently(&e.store, &cas),
            distinct,
            "round {round}"
        );
        let st = support::cli::cutover(
            &state,
            &[
                "store",
                "status",
                "--json",
                "--target",
                cas.to_str().unwrap(),
            ],
        );
        let st: Value = serde_json::from_slice(&st.stdout).unwrap();
        assert_eq!(st["completed"], 320, "round {round}: {st}");
        assert_eq!(
            st["space_saved"].as_u64(),
            Some(reducible),
            "round {round}: {st}"
        );
        assert_eq!(
            st["objects"].as_u64(),
            Some(distinct as u64),
            "round {round}"
        );
    }
}

/// What a package file carries beyond its bytes: extended attributes and
/// ACLs are recorded in the package's metadata and verified; a sparse file's
/// object keeps its holes.
#[test]
fn attributes_acls_and_holes_are_kept_and_verified() {
    if !support::require(
        "store attributes",
        support::skip::all([
            support::skip::root(),
            support::skip::tools(&["setfattr", "setfacl"]),
        ]),
    ) {
        return;
    }
    let e = env();
    let pkg = e.store.join("0123456789abcdef0123456789abcdef-attrs");
    let file = pkg.join("bin/tool");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, b"a tool").unwrap();
    let run = |args: &[&str], p: &Path| {
        let ok = Command::new(args[0])
            .args(&args[1..])
            .arg(p)
            .status()
            .unwrap();
        assert!(ok.success(), "{args:?}");
    };
    run(&["setfattr", "-n", "user.color", "-v", "blue"], &file);
    run(&["setfacl", "-m", "u:nobody:r"], &file);
    let sparse = pkg.join("disk.img");
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::File::create(&sparse).unwrap();
        f.seek(SeekFrom::Start(40 << 20)).unwrap();
        f.write_all(b"data").unwrap();
        f.set_len(64 << 20).unwrap();
    }
    let out = e.migrate(&["--verify", "full"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let meta = std::fs::read_to_string(
        e.cas
            .join("packages/0123456789abcdef0123456789abcdef-attrs"),
    )
    .unwrap();
    assert!(meta.contains("user.color"), "{meta}");
    assert!(meta.contains("system.posix_acl_access"), "{meta}");
    let hex = blake3::hash(&std::fs::read(&sparse).unwrap())
        .to_hex()
        .to_string();
    let object = e.cas.join("objects").join(&hex[..2]).join(&hex);
    use std::os::unix::fs::MetadataExt;
    let src_alloc = std::fs::metadata(&sparse).unwrap().blocks() * 512;
    if src_alloc < (1 << 20) {
        let alloc = std::fs::metadata(&object).unwrap().blocks() * 512;
        assert!(alloc < (1 << 20), "the object allocates {alloc} bytes");
    }
    // Verification compares them: a changed attribute is a named difference.
    run(&["setfattr", "-n", "user.color", "-v", "red"], &file);
    let cas = e.cas.to_str().unwrap().to_string();
    let out = e.store_cmd(&["cutover", "--target", &cas]);
    assert_ne!(out.status.code(), Some(0), "{}", show(&out));
    let text = show(&out);
    assert!(text.contains("user.color differs"), "{text}");
}
