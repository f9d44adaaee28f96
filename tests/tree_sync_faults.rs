//! tree-sync under stress and faults: many small directories at high
//! parallelism checked by rsync (not by cutover), everything a file carries
//! (extended attributes, ACLs, holes), a full disk, one writer per target,
//! and the target flushed before anything is called verified.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

mod support;

use std::ffi::OsStr;

use support::cli::{bin, events, show, summary, write, Running, Sandbox};
use support::skip::{root, tool, tools};
use support::tmpfs::Tmpfs;

/// `dirs` top directories with `subdirs` subdirectories each, `files`
/// small files in every one of them, and a few hard links across them.
fn many_small_dirs(src: &Path, dirs: usize, subdirs: usize, files: usize) {
    for d in 0..dirs {
        for e in 0..subdirs {
            for f in 0..files {
                let n = d * 1000 + e * 10 + f;
                let body: Vec<u8> = (0..(n * 13) % 3000).map(|i| (i ^ n) as u8).collect();
                write(&src.join(format!("d{d}/e{e}/f{n}")), &body);
            }
        }
        write(
            &src.join(format!("d{d}/top")),
            format!("top {d}").as_bytes(),
        );
        if d > 0 {
            // A second name in another directory item.
            std::fs::hard_link(
                src.join(format!("d{}/top", d - 1)),
                src.join(format!("d{d}/e0/link-to-prev")),
            )
            .expect("hard link");
        }
    }
}

/// Differences rsync finds between the trees (content by checksum, hard
/// links, ACLs, xattrs, modes, owners, times of files and directories).
/// Empty when the copy is exact.
fn rsync_differences(src: &Path, dst: &Path) -> String {
    let out = Command::new("rsync")
        .args(["-aHAXc", "--dry-run", "--delete", "--itemize-changes"])
        .arg(format!("{}/", src.display()))
        .arg(format!("{}/", dst.display()))
        .output()
        .expect("run rsync");
    assert!(out.status.success(), "rsync failed: {:?}", out);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn parallel_items_never_lose_files_checked_by_rsync() {
    if !support::require("tree-sync stress", tool("rsync")) {
        return;
    }
    let sb = Sandbox::new();
    many_small_dirs(&sb.src, 40, 12, 5);
    for round in 0..4 {
        let dst = sb.root.join(format!("dst{round}"));
        let out = support::cli::job(
            &sb.state,
            "run",
            "tree-sync",
            &sb.src,
            &dst,
            &["--parallel", "32", "--verify", "full"],
        );
        assert_eq!(out.status.code(), Some(0), "round {round}: {}", show(&out));
        let diff = rsync_differences(&sb.src, &dst);
        assert!(diff.is_empty(), "round {round}: rsync finds:\n{diff}");
        let s = summary(&out);
        assert_eq!(s["items_failed"], 0);
    }
}

/// `cutover run tree-sync … --parallel 32` under strace, the system calls of
/// `inject` (`CALLS:delay_enter=US`) slowed.
fn slowed_run(
    inject: &str,
    state: &Path,
    src: &Path,
    dst: &Path,
    extra: &[&str],
) -> std::process::Output {
    Command::new("strace")
        .args(["-f", "-qq", "-o", "/dev/null", "-e"])
        .arg(format!("trace={}", inject.split(':').next().unwrap_or("")))
        .arg("-e")
        .arg(format!("inject={inject}"))
        .arg(bin())
        .arg("--state-dir")
        .arg(state)
        .args(["run", "tree-sync", "--source"])
        .arg(src)
        .arg("--target")
        .arg(dst)
        .args(["--json", "--parallel", "32", "--verify", "full"])
        .args(extra)
        .output()
        .expect("strace cutover")
}

/// Parallel items on a slow filesystem: strace delays the chosen system
/// calls by 2 ms each, which widens every window between one item looking at
/// a path and acting on it (a parent deciding a subdirectory is missing, a
/// child creating it meanwhile). Before paths had one owner, the first of
/// these rounds lost files every time ("d0/e13/f0 missing in target",
/// "d0 Directory not empty").
#[test]
fn parallel_items_on_a_slow_filesystem_checked_by_rsync() {
    if !support::require(
        "tree-sync stress on slowed system calls",
        tools(&["rsync", "strace"]),
    ) {
        return;
    }
    let sb = Sandbox::new();
    many_small_dirs(&sb.src, 3, 30, 2);
    let slowed = [
        "statx,newfstatat:delay_exit=2000",
        "mkdir,mkdirat:delay_enter=2000",
        "openat:delay_exit=1000",
        "rename,renameat,renameat2,link,linkat:delay_enter=2000",
    ];
    for (round, inject) in slowed.iter().enumerate() {
        let dst = sb.root.join(format!("slow{round}"));
        let out = slowed_run(inject, &sb.state, &sb.src, &dst, &[]);
        assert_eq!(out.status.code(), Some(0), "{inject}: {}", show(&out));
        let diff = rsync_differences(&sb.src, &dst);
        assert!(diff.is_empty(), "{inject}: rsync finds:\n{diff}");
        // A final sync on the same slow system: changes, deletions, a file
        // turned into a directory and back.
        write(&sb.src.join("d1/e3/new"), b"added");
        std::fs::remove_file(sb.src.join("d2/e5/f2051")).expect("rm");
        let out = slowed_run(inject, &sb.state, &sb.src, &dst, &["--final"]);
        assert_eq!(out.status.code(), Some(0), "{inject} final: {}", show(&out));
        let diff = rsync_differences(&sb.src, &dst);
        assert!(diff.is_empty(), "{inject} final: rsync finds:\n{diff}");
        std::fs::remove_file(sb.src.join("d1/e3/new")).expect("rm");
        write(&sb.src.join("d2/e5/f2051"), b"back");
    }
}

#[test]
fn extended_attributes_acls_and_capabilities_are_copied_and_verified() {
    if !support::require(
        "xattrs and ACLs",
        support::skip::all([root(), tools(&["setfattr", "setfacl", "getfacl"])]),
    ) {
        return;
    }
    let sb = Sandbox::new();
    let f = sb.src.join("dir/file");
    write(&f, b"carries attributes");
    let run = |args: &[&str], p: &Path| {
        let st = Command::new(args[0])
            .args(&args[1..])
            .arg(p)
            .status()
            .expect("run tool");
        assert!(st.success(), "{args:?} {}", p.display());
    };
    run(&["setfattr", "-n", "user.color", "-v", "blue"], &f);
    run(&["setfacl", "-m", "u:nobody:r"], &f);
    // A file capability (cap_net_bind_service=ep), as `setcap` writes it.
    run(
        &[
            "setfattr",
            "-n",
            "security.capability",
            "-v",
            "0x0100000200040000000000000000000000000000",
        ],
        &f,
    );
    run(&["setfacl", "-d", "-m", "u:nobody:rx"], &sb.src.join("dir"));
    run(
        &["setfattr", "-n", "user.dir", "-v", "yes"],
        &sb.src.join("dir"),
    );
    let out = sb.job("run", "tree-sync", &["--verify", "full"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let dump = |p: &Path| {
        let out = Command::new("getfattr")
            .args(["-d", "-m", "-", "--absolute-names", "-e", "hex"])
            .arg(p)
            .output()
            .expect("getfattr");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .skip(1) // "# file: PATH"
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    for rel in ["dir/file", "dir"] {
        let (a, b) = (dump(&sb.src.join(rel)), dump(&sb.dst.join(rel)));
        assert!(!a.is_empty());
        assert_eq!(a, b, "{rel}");
    }
    // Verification looks at them: a changed attribute is a named difference.
    run(
        &["setfattr", "-n", "user.color", "-v", "red"],
        &sb.dst.join("dir/file"),
    );
    let out = sb.job("verify", "tree-sync", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("dir/file") && text.contains("user.color differs"),
        "{text}"
    );
    // The final sync puts it right.
    let out = sb.job("run", "tree-sync", &["--final"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(
        dump(&sb.src.join("dir/file")),
        dump(&sb.dst.join("dir/file"))
    );
}

#[test]
fn sparse_files_keep_their_holes() {
    let sb = Sandbox::new();
    let f = sb.src.join("sparse.img");
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut file = std::fs::File::create(&f).expect("create");
        file.seek(SeekFrom::Start(50 << 20)).expect("seek");
        file.write_all(b"data in the middle").expect("write");
        file.set_len(100 << 20).expect("len");
    }
    let src_blocks = std::fs::metadata(&f).expect("md").blocks();
    if src_blocks * 512 > (1 << 20) {
        support::say(
            "skipped: sparse_files_keep_their_holes: the test filesystem does not keep holes",
        );
        return;
    }
    let out = sb.job("run", "tree-sync", &["--verify", "full"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let copy = sb.dst.join("sparse.img");
    let md = std::fs::metadata(&copy).expect("md");
    assert_eq!(md.len(), 100 << 20);
    assert!(
        md.blocks() * 512 < (1 << 20),
        "the copy allocates {} bytes",
        md.blocks() * 512
    );
    assert_eq!(
        std::fs::read(&copy).expect("copy"),
        std::fs::read(&f).expect("src")
    );
}

#[test]
fn a_full_disk_leaves_no_half_file_under_a_real_name() {
    if !support::require("tree-sync full disk (tmpfs)", root()) {
        return;
    }
    let sb = Sandbox::new();
    for i in 0..40 {
        write(
            &sb.src.join(format!("d{}/f{i}", i % 4)),
            &vec![i as u8; 256 * 1024],
        );
    }
    let fs = Tmpfs::new("3m").expect("mount a tmpfs");
    let dst = fs.path().join("copy");
    let out = support::cli::job(&sb.state, "run", "tree-sync", &sb.src, &dst, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout).to_lowercase();
    assert!(text.contains("no space left"), "{text}");
    // Every name in the target is a complete copy of its source file.
    let mut checked = 0;
    for d in 0..4 {
        let Ok(entries) = std::fs::read_dir(dst.join(format!("d{d}"))) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(".cutover-tmp.") {
                continue;
            }
            let src = std::fs::read(sb.src.join(format!("d{d}")).join(&*name)).expect("src");
            let got = std::fs::read(e.path()).expect("dst");
            assert_eq!(got.len(), src.len(), "{name} is a half file");
            checked += 1;
        }
    }
    assert!(checked < 40, "the disk was not full ({checked} files)");
}

#[test]
fn a_second_writer_of_one_target_is_refused_naming_the_first() {
    let sb = Sandbox::new();
    for i in 0..400 {
        write(
            &sb.src.join(format!("d{}/f{i}", i % 20)),
            &vec![1u8; 64 * 1024],
        );
    }
    let first_state = sb.root.join("state-first");
    let mut first = Running::start(
        &first_state,
        &[
            OsStr::new("run"),
            OsStr::new("tree-sync"),
            OsStr::new("--source"),
            sb.src.as_os_str(),
            OsStr::new("--target"),
            sb.dst.as_os_str(),
            OsStr::new("--json"),
            OsStr::new("--parallel"),
            OsStr::new("1"),
        ],
    );
    // Wait until the first one has written an item.
    let seen = first.read_until(|v| v["event"] == "item_verified");
    assert!(
        seen.last().is_some_and(|v| v["event"] == "item_verified"),
        "the first job never started: {seen:?}"
    );
    let second = support::cli::job(
        &sb.root.join("state-second"),
        "run",
        "tree-sync",
        &sb.src,
        &sb.dst,
        &["--final"],
    );
    let first_pid = first.id();
    let (rest, first_status) = first.finish();
    assert_eq!(second.status.code(), Some(2), "{}", show(&second));
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(err.contains(&first_pid.to_string()), "{err}");
    assert!(err.contains("state-first"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert_eq!(first_status.code(), Some(0), "first job: {rest}");
    // And after it, the target is free again.
    let verify = support::cli::job(
        &sb.root.join("s3"),
        "verify",
        "tree-sync",
        &sb.src,
        &sb.dst,
        &[],
    );
    assert_eq!(verify.status.code(), Some(0), "{}", show(&verify));
}

#[test]
fn the_target_is_flushed_before_the_first_item_is_verified() {
    if !support::require("strace of tree-sync", support::strace::usable()) {
        return;
    }
    let sb = Sandbox::new();
    for i in 0..30 {
        write(&sb.src.join(format!("d{}/f{i}", i % 3)), b"some bytes");
    }
    let log = sb.root.join("strace.log");
    let args = [
        OsStr::new("--state-dir"),
        sb.state.as_os_str(),
        OsStr::new("run"),
        OsStr::new("tree-sync"),
        OsStr::new("--source"),
        sb.src.as_os_str(),
        OsStr::new("--target"),
        sb.dst.as_os_str(),
        OsStr::new("--json"),
    ];
    let out = support::strace::traced(bin(), &args, &log);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(events(&out).iter().any(|e| e["event"] == "item_verified"));
    let trace = std::fs::read_to_string(&log).expect("log");
    let dst = format!("<{}>", sb.dst.display());
    let flushed =
        support::strace::first_flush(&trace, |c| c.starts_with("syncfs(") && c.contains(&dst))
            .unwrap_or_else(|| panic!("no syncfs of {dst}:\n{trace}"));
    let verified = support::strace::first_verified(&trace)
        .unwrap_or_else(|| panic!("no item_verified written:\n{trace}"));
    assert!(
        flushed < verified,
        "item verified before the target was flushed"
    );
}

/// Kill -9 while many items run, then resume: half-done items are redone
/// beside finished ones (temporary names swept, hard links to copies the
/// first run finished) and the result is exact, checked by rsync.
#[test]
fn killed_at_high_parallelism_then_resumed_is_exact() {
    if !support::require("tree-sync kill and resume", tool("rsync")) {
        return;
    }
    let sb = Sandbox::new();
    many_small_dirs(&sb.src, 20, 8, 4);
    write(&sb.src.join("d3/big"), &vec![9u8; 8 << 20]);
    for (round, after) in [5usize, 60].into_iter().enumerate() {
        let dst = sb.root.join(format!("killed{round}"));
        let mut run = Running::start(
            &sb.state,
            &[
                OsStr::new("run"),
                OsStr::new("tree-sync"),
                OsStr::new("--parallel"),
                OsStr::new("16"),
                OsStr::new("--json"),
                OsStr::new("--source"),
                sb.src.as_os_str(),
                OsStr::new("--target"),
                dst.as_os_str(),
            ],
        );
        let mut seen = 0;
        let events = run.read_until(|v| {
            seen += usize::from(v["event"] == "item_verified");
            seen >= after
        });
        run.kill();
        let job = events
            .iter()
            .find(|v| v["event"] == "job_started")
            .and_then(|v| v["job"].as_u64());
        let job = job.expect("job id").to_string();
        let out = sb.cutover(&["resume", job.as_str(), "--json"]);
        assert_eq!(out.status.code(), Some(0), "round {round}: {}", show(&out));
        let diff = rsync_differences(&sb.src, &dst);
        assert!(diff.is_empty(), "round {round}: rsync finds:\n{diff}");
    }
}

/// A dry run writes nothing, not even the target's lock file.
#[test]
fn a_dry_run_leaves_no_lock_file() {
    let sb = Sandbox::new();
    write(&sb.src.join("a/f"), b"x");
    let out = sb.job("run", "tree-sync", &["--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let beside: Vec<_> = std::fs::read_dir(&sb.root)
        .expect("root")
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n.to_string_lossy().ends_with(".cutover-lock"))
        .collect();
    assert!(beside.is_empty(), "{beside:?}");
}
