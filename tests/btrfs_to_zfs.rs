//! btrfs-to-zfs on real systems: a loop-mounted BTRFS whose subvolume has
//! five read-only snapshots with evolving content, migrated into a
//! file-backed zfs-fuse pool; `--limit`, continuing, the four checks, a byte
//! changed in the dataset caught by `verify`, rollback, and resume after
//! SIGKILL. Without root, btrfs-progs or zfs-fuse these print `skipped:`
//! (and fail under `CUTOVER_REQUIRE_REAL_FS=1`).

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde_json::Value;

mod support;

use support::cli::{cutover, events, job, show, summary, write, Running};
use support::skip::all;
use support::{require, BtrfsFs, ZfsPool};

const KIND: &str = "btrfs-to-zfs";

/// Real BTRFS and zfs-fuse, or skip.
fn real_systems(what: &str) -> bool {
    require(
        what,
        all([BtrfsFs::prerequisites(), ZfsPool::prerequisites()]),
    )
}

/// Append to a file.
fn append(path: &Path, bytes: &[u8]) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .expect("open for append");
    f.write_all(bytes).expect("append");
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// A subvolume `live` changed five times, snapshotted read-only after each
/// change as `repo/s1`…`repo/s5`: adds, edits, deletes, renames,
/// permission changes, a hard link, a symlink; `HEAD` and `.snap/push.log`
/// are the snapshots' own metadata. `bulk` more files of that many KiB are
/// added to each snapshot. Returns the repository directory.
fn evolving_repo(fs: &BtrfsFs, bulk: (usize, usize)) -> PathBuf {
    let live = fs.create_subvolume("live");
    std::fs::create_dir(fs.path("repo")).expect("mkdir repo");
    let filler = |n: usize| {
        for i in 0..bulk.0 {
            let data = vec![(i % 251) as u8 ^ n as u8; bulk.1 * 1024];
            write(&live.join(format!("bulk{n}/f{i}")), &data);
        }
    };
    let steps: [&dyn Fn(); 5] = [
        &|| {
            write(&live.join("a.txt"), b"first\n");
            write(&live.join("dir/b.txt"), b"bee\n");
            write(&live.join("dir/c.bin"), &vec![7u8; 16 * 1024]);
            write(&live.join("HEAD"), b"ref: 1\n");
            write(&live.join(".snap/push.log"), b"push 1\n");
        },
        &|| {
            append(&live.join("a.txt"), b"second\n");
            write(&live.join("dir/new.txt"), b"new\n");
            std::fs::hard_link(live.join("dir/b.txt"), live.join("hl.txt")).expect("link");
            std::os::unix::fs::symlink("a.txt", live.join("link")).expect("symlink");
            append(&live.join(".snap/push.log"), b"push 2\n");
        },
        &|| {
            std::fs::remove_file(live.join("dir/c.bin")).expect("rm");
            std::fs::rename(live.join("dir/new.txt"), live.join("moved.txt")).expect("mv");
            chmod(&live.join("a.txt"), 0o600);
        },
        &|| {
            write(&live.join("sub/deep/file"), b"deep\n");
            chmod(&live.join("sub"), 0o700);
            write(&live.join("HEAD"), b"ref: 4\n");
        },
        &|| {
            // Through the hard link: both names change.
            append(&live.join("hl.txt"), b"more bee\n");
            std::fs::remove_file(live.join("link")).expect("rm link");
            std::os::unix::fs::symlink("moved.txt", live.join("link")).expect("symlink");
            append(&live.join(".snap/push.log"), b"push 5\n");
        },
    ];
    for (i, step) in steps.iter().enumerate() {
        step();
        filler(i + 1);
        fs.snapshot_readonly("live", format!("repo/s{}", i + 1));
    }
    fs.path("repo")
}

fn run(state: &Path, repo: &Path, dataset: &str, extra: &[&str]) -> std::process::Output {
    job(state, "run", KIND, repo, Path::new(dataset), extra)
}

fn zfs_snapshots(pool: &ZfsPool, dataset: &str) -> Vec<String> {
    pool.zfs([
        "list", "-H", "-t", "snapshot", "-o", "name", "-d", "1", dataset,
    ])
    .lines()
    .filter_map(|l| l.split_once('@').map(|(_, s)| s.to_string()))
    .collect()
}

fn verified(out: &std::process::Output) -> Vec<String> {
    events(out)
        .iter()
        .filter(|e| e["event"] == "item_verified")
        .filter_map(|e| e["item"].as_str().map(str::to_string))
        .collect()
}

/// A BTRFS with an evolving repository, a zfs-fuse pool, a state
/// directory, and the dataset name to migrate into.
struct Setup {
    pool: ZfsPool,
    repo: PathBuf,
    state: PathBuf,
    ds: String,
    fs: BtrfsFs,
    _tmp: tempfile::TempDir,
}

impl Setup {
    /// A BTRFS of `fs_mb` MiB, a pool of `pool_mb`; `bulk` as for
    /// [`evolving_repo`]. `None` (skipped, saying why) without real systems.
    fn new(what: &str, fs_mb: u64, pool_mb: u64, bulk: (usize, usize)) -> Option<Setup> {
        if !real_systems(what) {
            return None;
        }
        let fs = BtrfsFs::new(fs_mb);
        let pool = ZfsPool::new(pool_mb);
        let repo = evolving_repo(&fs, bulk);
        let tmp = tempfile::tempdir().expect("tempdir");
        Some(Setup {
            state: tmp.path().join("state"),
            ds: pool.dataset("repo"),
            pool,
            repo,
            fs,
            _tmp: tmp,
        })
    }
}

/// The command exited 1 with one failed item, `item`, whose result says `what`.
fn only_failure(out: &std::process::Output, item: &str, what: &str) {
    assert_eq!(out.status.code(), Some(1), "{}", show(out));
    let failed: Vec<Value> = events(out)
        .into_iter()
        .filter(|e| e["event"] == "item_failed")
        .collect();
    assert_eq!(failed.len(), 1, "{}", show(out));
    assert_eq!(failed[0]["item"], item);
    assert!(
        failed[0].to_string().contains(what),
        "{what}: {}",
        failed[0]
    );
}

#[test]
fn five_snapshots_limit_then_continue_verify_catches_a_change_and_rollback() {
    let Some(s) = Setup::new("btrfs-to-zfs migration", 256, 256, (3, 4)) else {
        return;
    };
    let (pool, repo, state, ds) = (&s.pool, s.repo.as_path(), s.state.as_path(), s.ds.as_str());

    let first = run(state, repo, ds, &["--limit", "2"]);
    assert_eq!(first.status.code(), Some(0), "{}", show(&first));
    assert_eq!(verified(&first), ["s1", "s2"], "{}", show(&first));
    assert_eq!(zfs_snapshots(pool, ds), ["s1", "s2"]);

    // Unmounted meanwhile: its mountpoint is then a directory of the
    // parent dataset, and a snapshot would not hold what was written there.
    pool.zfs(["unmount", ds]);
    let second = run(state, repo, ds, &[]);
    assert_eq!(second.status.code(), Some(0), "{}", show(&second));
    assert_eq!(
        pool.zfs(["get", "-H", "-o", "value", "mounted", ds]).trim(),
        "yes"
    );
    assert_eq!(summary(&second)["items_verified"], 5, "{}", show(&second));
    assert_eq!(zfs_snapshots(pool, ds), ["s1", "s2", "s3", "s4", "s5"]);
    // After s3 (the first this run verified whole), files BTRFS kept
    // unchanged and the dataset kept untouched are not read again.
    let inherited: u64 = events(&second)
        .iter()
        .filter(|e| e["event"] == "item_verified")
        .filter_map(|e| e["report"]["files_inherited"].as_u64())
        .sum();
    assert!(inherited > 0, "{}", show(&second));

    // The live dataset is s5: links, modes, metadata kept out of the content.
    let mnt = pool.path("repo");
    let (hl, b) = (
        std::fs::metadata(mnt.join("hl.txt")).expect("hl"),
        std::fs::metadata(mnt.join("dir/b.txt")).expect("b"),
    );
    assert_eq!(hl.ino(), b.ino(), "hard link kept");
    assert_eq!(
        std::fs::read_link(mnt.join("link")).expect("link"),
        Path::new("moved.txt")
    );
    assert_eq!(
        std::fs::metadata(mnt.join("a.txt")).expect("a").mode() & 0o777,
        0o600
    );
    assert!(!mnt.join("dir/c.bin").exists() && !mnt.join("HEAD").exists());
    assert!(!mnt.join(".snap").exists());
    let index = std::fs::read_to_string(mnt.join(".cutover/index.json")).expect("index");
    let index: Value = serde_json::from_str(&index).expect("index parses");
    assert_eq!(index["snapshots"].as_array().map(Vec::len), Some(5));
    assert_eq!(
        index["snapshots"][4]["metadata"][".snap/push.log"],
        "push 1\npush 2\npush 5\n"
    );
    assert_eq!(index["snapshots"][3]["metadata"]["HEAD"], "ref: 4\n");
    assert!(mnt.join(".cutover/manifests/s3.json").is_file());

    // All four checks pass on every snapshot; the clones they read through
    // (zfs-fuse has no .zfs/snapshot) are gone; the figures come as rows.
    let check = job(state, "verify", KIND, repo, Path::new(&ds), &[]);
    assert_eq!(check.status.code(), Some(0), "{}", show(&check));
    assert_eq!(verified(&check), ["s1", "s2", "s3", "s4", "s5"]);
    let datasets = pool.zfs(["list", "-H", "-o", "name", "-r", pool.name()]);
    assert!(!datasets.contains("cutover-check"), "{datasets}");
    let rows = events(&check);
    let snap_rows = rows.iter().filter(|e| e["event"] == "snapshot").count();
    assert_eq!(snap_rows, 5, "{}", show(&check));
    let space = rows
        .iter()
        .find(|e| e["event"] == "space")
        .expect("space row");
    assert!(space["logical"].as_u64() > Some(0), "{space}");
    assert!(space["used"].as_u64() > Some(0), "{space}");

    // The BTRFS mount itself is offered as its repositories: the directory
    // of read-only snapshots (the writable `live` subvolume is not one).
    let mount = s.fs.mountpoint();
    let kind = cutover::kinds::detect(mount).expect("detected");
    assert_eq!(kind.name(), KIND);
    let offered = kind.sources("vol", mount, pool.mountpoint());
    let names: Vec<&str> = offered.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["vol/repo"]);
    assert_eq!(offered[0].source, repo);
    assert_eq!(offered[0].params["dataset"], ds);

    // The console's details: snapshots migrated, the dialect, the space.
    let shown = format!("{:?}", offered[0].details);
    assert_eq!(offered[0].count, "5 snapshots");
    assert_eq!(offered[0].problem, None);
    assert!(shown.contains("5 of 5 · 0 pending"), "{shown}");
    assert!(shown.contains("BTRFS read-only snapshots"), "{shown}");
    assert!(shown.contains("zfs-fuse"), "{shown}");
    assert!(shown.contains("with its snapshots"), "{shown}");

    // A byte changed in the dataset afterwards is a difference, named.
    let mut bytes = std::fs::read(mnt.join("moved.txt")).expect("read");
    bytes[0] ^= 1;
    std::fs::write(mnt.join("moved.txt"), &bytes).expect("write");
    let caught = job(state, "verify", KIND, repo, Path::new(&ds), &[]);
    only_failure(&caught, "s5", "moved.txt");

    // A verification changes nothing: an unmounted dataset stays so, and
    // every item says what to do.
    pool.zfs(["unmount", ds]);
    let unmounted = job(state, "verify", KIND, repo, Path::new(&ds), &[]);
    assert_eq!(unmounted.status.code(), Some(1), "{}", show(&unmounted));
    assert!(
        String::from_utf8_lossy(&unmounted.stdout)
            .contains("is not mounted, and a verification changes nothing"),
        "{}",
        show(&unmounted)
    );
    assert_eq!(
        pool.zfs(["get", "-H", "-o", "value", "mounted", ds]).trim(),
        "no"
    );
    pool.zfs(["mount", ds]);

    // Rollback of the second job takes s3..s5 only; of the first, the dataset.
    let rb = cutover(state, &["rollback", "2", "--confirm"]);
    assert_eq!(rb.status.code(), Some(0), "{}", show(&rb));
    assert_eq!(zfs_snapshots(pool, ds), ["s1", "s2"]);
    let rb = cutover(state, &["rollback", "1", "--confirm"]);
    assert_eq!(rb.status.code(), Some(0), "{}", show(&rb));
    assert!(pool
        .zfs(["list", "-H", "-o", "name", "-r", pool.name()])
        .lines()
        .all(|l| l != ds));
}

#[test]
fn sigkill_mid_snapshot_then_resume_redoes_it_once() {
    let Some(s) = Setup::new("btrfs-to-zfs resume after SIGKILL", 512, 512, (150, 32)) else {
        return;
    };
    let (pool, repo, state, ds) = (&s.pool, s.repo.as_path(), s.state.as_path(), s.ds.as_str());

    let mut child = Running::start(
        state,
        &[
            "run".as_ref(),
            KIND.as_ref(),
            "--source".as_ref(),
            repo.as_os_str(),
            "--target".as_ref(),
            ds.as_ref(),
            "--json".as_ref(),
        ] as &[&std::ffi::OsStr],
    );
    child.read_until(|e| e["event"] == "item_verified");
    child.kill();

    let listed = cutover(state, &["jobs", "--json"]);
    let text = String::from_utf8_lossy(&listed.stdout).to_string();
    assert!(text.contains("interrupted"), "{text}");
    let before = zfs_snapshots(pool, ds);
    assert!(before.len() < 5, "killed before the end: {before:?}");
    // The clone of a verified snapshot whose destroy was still pending at
    // the kill: resuming does not check s1 again, and destroys it anyway.
    let leftover = format!("{ds}.cutover-check.s1");
    if !pool
        .zfs(["list", "-H", "-o", "name", "-r", pool.name()])
        .contains(&leftover)
    {
        pool.zfs(["clone", &format!("{ds}@s1"), leftover.as_str()]);
    }

    let resumed = cutover(state, &["resume", "--json", "1"]);
    assert_eq!(resumed.status.code(), Some(0), "{}", show(&resumed));
    assert_eq!(zfs_snapshots(pool, ds), ["s1", "s2", "s3", "s4", "s5"]);
    let datasets = pool.zfs(["list", "-H", "-o", "name", "-r", pool.name()]);
    assert!(!datasets.contains("cutover-check"), "{datasets}");
    let check = job(state, "verify", KIND, repo, Path::new(&ds), &[]);
    assert_eq!(check.status.code(), Some(0), "{}", show(&check));
}

#[test]
fn a_full_pool_fails_the_snapshot_clearly_and_keeps_the_earlier_ones() {
    let Some(s) = Setup::new("btrfs-to-zfs on a full pool", 384, 64, (0, 0)) else {
        return;
    };
    // s6: more than the 64 MiB pool holds.
    let live = s.fs.path("live");
    for i in 0..3u8 {
        write(&live.join(format!("big{i}")), &vec![i + 1; 32 << 20]);
    }
    s.fs.snapshot_readonly("live", "repo/s6");
    let out = run(&s.state, &s.repo, &s.ds, &[]);
    only_failure(&out, "s6", "No space left on device");
    assert_eq!(
        zfs_snapshots(&s.pool, &s.ds),
        ["s1", "s2", "s3", "s4", "s5"],
        "earlier snapshots intact"
    );
}

#[test]
fn a_directory_of_repositories_is_one_job_each_repository_in_order() {
    if !require(
        "btrfs-to-zfs with several repositories",
        ZfsPool::prerequisites(),
    ) {
        return;
    }
    let pool = ZfsPool::new(256);
    let tmp = tempfile::tempdir().expect("tempdir");
    let repos = tmp.path().join("repos");
    // Plain directories of snapshot copies, two repositories of three each.
    for repo in ["web", "db"] {
        for (i, snap) in ["s1", "s2", "s10"].iter().enumerate() {
            let dir = repos.join(repo).join(snap);
            for f in 0..=i {
                write(&dir.join(format!("f{f}")), format!("{repo} {f}").as_bytes());
            }
        }
    }
    let parent = pool.create_dataset("repos");
    let state = tmp.path().join("state");
    let out = run(&state, &repos, &parent, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let done = verified(&out);
    assert_eq!(done.len(), 6, "{}", show(&out));
    for repo in ["web", "db"] {
        let mine: Vec<&String> = done.iter().filter(|k| k.starts_with(repo)).collect();
        assert_eq!(
            mine,
            [
                &format!("{repo}/s1"),
                &format!("{repo}/s2"),
                &format!("{repo}/s10")
            ],
            "each repository in order"
        );
        let ds = format!("{parent}/{repo}");
        assert_eq!(zfs_snapshots(&pool, &ds), ["s1", "s2", "s10"]);
    }
    let check = job(&state, "verify", KIND, &repos, Path::new(&parent), &[]);
    assert_eq!(check.status.code(), Some(0), "{}", show(&check));
    let rb = cutover(&state, &["rollback", "1", "--confirm"]);
    assert_eq!(rb.status.code(), Some(0), "{}", show(&rb));
    let left = pool.zfs(["list", "-H", "-o", "name", "-r", parent.as_str()]);
    assert_eq!(
        left.trim(),
        parent,
        "only the parent, which the job did not create"
    );
}

#[test]
fn a_snapshot_name_zfs_cannot_take_is_refused_with_the_rule() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = tmp.path().join("repo");
    write(&repo.join("s1/a"), b"a");
    write(&repo.join("s$2/a"), b"a");
    let out = run(&tmp.path().join("state"), &repo, "tank/repo", &[]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("contains '$'"), "{err}");

    std::fs::remove_dir_all(repo.join("s$2")).expect("rm");
    let out = run(&tmp.path().join("state"), &repo, "tank/a;b", &[]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("contains ';'"));
}

#[test]
fn sources_add_offers_a_directory_of_snapshots_as_btrfs_to_zfs_and_a_tree_as_a_tree() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = tmp.path().join("repo");
    for s in ["s1", "s2", "s10"] {
        write(&repo.join(s).join("f"), s.as_bytes());
    }
    let tree = tmp.path().join("tree");
    write(&tree.join("s1/f"), b"x");
    write(&tree.join("notes.txt"), b"x");
    let state = tmp.path().join("state");
    let out = cutover(
        &state,
        &[
            "sources".as_ref(),
            "add".as_ref(),
            repo.as_os_str(),
            "--target".as_ref(),
            "/tank/repo".as_ref(),
        ] as &[&std::ffi::OsStr],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("(btrfs-to-zfs)"));
    let out = cutover(
        &state,
        &[
            "sources".as_ref(),
            "add".as_ref(),
            tree.as_os_str(),
            "--target".as_ref(),
            "/tmp/elsewhere".as_ref(),
        ] as &[&std::ffi::OsStr],
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("(tree-sync)"),
        "{}",
        show(&out)
    );
}

#[test]
fn the_shipped_runbook_migrates_and_validates_a_repository() {
    if !require("the btrfs-to-zfs runbook", ZfsPool::prerequisites()) {
        return;
    }
    let pool = ZfsPool::new(128);
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = tmp.path().join("app");
    // Each snapshot rewrites f0 (with another size: files written within
    // one tick of the filesystem's clock share their mtime, which the quick
    // check cannot tell apart — as rsync's cannot).
    for (i, snap) in ["s1", "s2", "s3"].iter().enumerate() {
        for f in 0..=i {
            let text = format!("{snap} {f} {}", "+".repeat(i));
            write(&repo.join(snap).join(format!("f{f}")), text.as_bytes());
        }
    }
    let parent = pool.create_dataset("repos");
    let dataset = format!("{parent}/app");
    let state = tmp.path().join("state");
    let book = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/runbooks/btrfs-to-zfs.toml"
    );
    let out = cutover(
        &state,
        &[
            "runbook",
            "run",
            book,
            "--var",
            &format!("repo={}", repo.display()),
            "--var",
            &format!("dataset={dataset}"),
            "--yes",
            "switch-readers",
            "--yes",
            "watch",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(zfs_snapshots(&pool, &dataset), ["s1", "s2", "s3"]);
}

#[test]
fn an_unchanged_file_is_not_copied_again_unless_the_dataset_copy_was_touched() {
    if !require("btrfs-to-zfs quick check", ZfsPool::prerequisites()) {
        return;
    }
    let pool = ZfsPool::new(128);
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = tmp.path().join("app");
    write(&repo.join("s1/same.txt"), b"one");
    write(&repo.join("s1/kept.txt"), b"kept");
    write(&repo.join("s1/twin.txt"), b"aaa");
    for f in ["same.txt", "kept.txt", "twin.txt"] {
        let p = repo.join("s1").join(f);
        let ok = std::process::Command::new("touch")
            .args(["-d", "2020-01-01 00:00:00.123456789"])
            .arg(&p)
            .status()
            .expect("touch");
        assert!(ok.success());
    }
    // s2: the same files, stat and all (as a BTRFS snapshot keeps them).
    let ok = std::process::Command::new("cp")
        .arg("-a")
        .arg(repo.join("s1"))
        .arg(repo.join("s2"))
        .status()
        .expect("cp");
    assert!(ok.success());
    // Another file of the same size and time (two writes in one clock
    // tick): only its content, or its inode, can tell it apart.
    let twin = repo.join("s2/twin.txt");
    std::fs::write(&twin, b"bbb").expect("write");
    let ok = std::process::Command::new("touch")
        .arg("-r")
        .arg(repo.join("s1/twin.txt"))
        .arg(&twin)
        .status()
        .expect("touch");
    assert!(ok.success());
    let parent = pool.create_dataset("repos");
    let dataset = format!("{parent}/app");
    let state = tmp.path().join("state");
    let out = run(&state, &repo, &dataset, &["--limit", "1"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    // Someone rewrites a file of the dataset (same size): s2 must not keep it.
    let mount = pool.zfs(["get", "-H", "-o", "value", "mountpoint", dataset.as_str()]);
    let live = Path::new(mount.trim()).join("same.txt");
    std::fs::write(&live, b"ONE").expect("write");
    let out = run(&state, &repo, &dataset, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(std::fs::read(&live).expect("read"), b"one");
    assert_eq!(
        std::fs::read(live.with_file_name("twin.txt")).expect("read"),
        b"bbb"
    );
    // The untouched file was not written again for s2; the touched one was.
    let rows = String::from_utf8_lossy(&out.stdout);
    let s2: serde_json::Value = rows
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event"] == "snapshot" && v["snapshot"] == "s2")
        .expect("the s2 row");
    assert_eq!(s2["changed"], 2, "{s2}: the touched file and the twin");
}

/// The console on `repo` going to `dataset`, in a tmux session `name`.
fn console_on(
    tmp: &Path,
    state: &Path,
    repo: &Path,
    dataset: &str,
    name: &str,
) -> support::tmux::Tmux {
    let tmux = support::tmux::Tmux::new(tmp.join(format!("{name}.sock")), name);
    let launch = format!(
        "{} --state-dir {} --source {} --target {}",
        support::cli::bin(),
        state.display(),
        repo.display(),
        dataset
    );
    tmux.start(120, 36, &launch);
    tmux
}

/// Wait up to 30 s for `text` on the screen.
fn wait_for(tmux: &support::tmux::Tmux, text: &str) {
    tmux.wait_for(text, std::time::Duration::from_secs(30), |t| {
        t.screen().contains(text)
    });
}

/// In the console, `R` on a repository whose dataset cutover made shows
/// what goes, wants the dataset's name typed, destroys it, and a new
/// migration rebuilds every snapshot; a dataset cutover did not make is
/// refused.
#[test]
fn the_console_recreates_a_dataset_only_after_its_name_is_typed() {
    if !require(
        "btrfs-to-zfs recreate in the console",
        all([ZfsPool::prerequisites(), support::skip::tools(&["tmux"])]),
    ) || !support::tmux::tmux_installed()
    {
        return;
    }
    let pool = ZfsPool::new(128);
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = tmp.path().join("app");
    for s in ["s1", "s2"] {
        write(&repo.join(s).join("f.txt"), s.as_bytes());
    }
    let parent = pool.create_dataset("repos");
    let dataset = format!("{parent}/app");
    let state = tmp.path().join("state");
    let out = run(&state, &repo, &dataset, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let tmux = console_on(tmp.path(), &state, &repo, &dataset, "recreate");
    wait_for(&tmux, "2 of 2 · 0 pending");
    tmux.keys(&["s"]);
    wait_for(&tmux, "Steps of");
    tmux.keys(&["R"]);
    wait_for(&tmux, "Recreate of");
    let screen = tmux.screen();
    assert!(screen.contains(&format!("{dataset}@s1")), "{screen}");
    tmux.keys(&["y"]);
    wait_for(&tmux, "Type the name");
    tmux.keys(&["-l", &dataset]);
    tmux.keys(&["Enter"]);
    wait_for(&tmux, "destroyed");
    assert!(!pool.zfs(["list", "-H", "-o", "name"]).contains(&dataset));
    // enter: the migration rebuilds it, both snapshots.
    tmux.keys(&["Space", "Enter"]);
    wait_for(&tmux, "all verified (2 items)");
    assert_eq!(zfs_snapshots(&pool, &dataset), ["s1", "s2"]);
    tmux.keys(&["q"]);
    let _ = tmux.cmd(&["kill-session", "-t", "recreate"]);

    // A dataset cutover did not create: the step refuses, nothing goes.
    let theirs = pool.create_dataset("theirs");
    let tmux = console_on(tmp.path(), &state, &repo, &theirs, "theirs");
    wait_for(&tmux, "2 snapshots");
    tmux.keys(&["s"]);
    wait_for(&tmux, "Steps of");
    tmux.keys(&["R"]);
    wait_for(&tmux, "not created by cutover");
    assert!(pool.zfs(["list", "-H", "-o", "name"]).contains(&theirs));
    tmux.keys(&["q"]);
    let _ = tmux.cmd(&["kill-session", "-t", "theirs"]);
}

/// `cutover demo` offers its repository of snapshots when ZFS runs here:
/// the repository migrates into the demo's own pool, all verified, and the
/// pool is gone when the demo quits.
#[test]
fn the_demo_migrates_its_repository_into_its_own_pool() {
    if !require(
        "the demo's repository",
        all([ZfsPool::prerequisites(), support::skip::tools(&["tmux"])]),
    ) || !support::tmux::tmux_installed()
    {
        return;
    }
    // Holding a pool keeps the fixtures' daemon running for the demo.
    let _pool = ZfsPool::new(64);
    let tmp = tempfile::tempdir().expect("tempdir");
    let tmux = support::tmux::Tmux::new(tmp.path().join("demo.sock"), "demo");
    let launch = format!(
        "{} demo --dir {}",
        support::cli::bin(),
        tmp.path().join("sandbox").display()
    );
    tmux.start(130, 40, &launch);
    wait_for(&tmux, "6 snapshots");
    let pid_pool = |tmux: &support::tmux::Tmux| {
        let screen = tmux.screen();
        screen
            .split_whitespace()
            .find(|w| w.starts_with("cutover-demo-"))
            .map(|w| w.split('/').next().unwrap_or(w).to_string())
    };
    tmux.keys(&["/"]);
    tmux.keys(&["-l", "repository"]);
    tmux.keys(&["Enter", "Space", "Enter"]);
    wait_for(&tmux, "all verified (6 items)");
    let pool = pid_pool(&tmux).expect("the demo's pool on the screen");
    let listed = std::process::Command::new("zpool")
        .args(["list", "-H", "-o", "name"])
        .output()
        .expect("zpool");
    assert!(String::from_utf8_lossy(&listed.stdout).contains(&pool));
    tmux.keys(&["q"]);
    let gone = support::wait_until(
        std::time::Duration::from_secs(30),
        std::time::Duration::from_millis(200),
        || {
            std::process::Command::new("zpool")
                .args(["list", "-H", "-o", "name"])
                .output()
                .is_ok_and(|o| !String::from_utf8_lossy(&o.stdout).contains(&pool))
        },
    );
    assert!(gone, "the demo's pool {pool} is destroyed when it quits");
    let _ = tmux.cmd(&["kill-session", "-t", "demo"]);
}

/// Every entry under `root` (but the root's `skip` names), by relative
/// path: its type, mode, owner, size and content (or link target), read
/// with std alone — independent of cutover's own verification.
fn listing(root: &Path, skip: &[&str]) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            let rel = path.strip_prefix(root).expect("inside").to_path_buf();
            if dir == root && skip.iter().any(|s| rel == Path::new(s)) {
                continue;
            }
            let m = std::fs::symlink_metadata(&path).expect("lstat");
            let what = if m.is_dir() {
                stack.push(path.clone());
                "dir".to_string()
            } else if m.file_type().is_symlink() {
                format!("link {:?}", std::fs::read_link(&path).expect("readlink"))
            } else {
                let data = std::fs::read(&path).expect("read");
                let sum = data.iter().fold(0xcbf29ce484222325u64, |h, b| {
                    (h ^ *b as u64).wrapping_mul(0x100000001b3)
                });
                format!("file {} {sum:x} links {}", data.len(), m.nlink())
            };
            let mode = m.mode() & 0o7777;
            out.insert(
                rel.display().to_string(),
                format!("{what} mode {mode:o} owner {}:{}", m.uid(), m.gid()),
            );
        }
    }
    out
}

/// Many small directories changing between snapshots — whole directories
/// deleted, added, renamed, turned into files and back — synced eight
/// directories at once and verified while the next snapshot is written:
/// every ZFS snapshot, read through a clone the test makes, equals its
/// source snapshot, compared without cutover.
#[test]
fn many_directories_changing_between_snapshots_each_zfs_snapshot_equals_its_source() {
    let Some(s) = Setup::new("btrfs-to-zfs directory stress", 512, 512, (0, 0)) else {
        return;
    };
    let live = s.fs.path("live");
    let mut seed = 0x2545f4914f6cdd1du64;
    let mut next = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let leaf = |d: usize, e: usize| live.join(format!("stress/d{d:02}/e{e:02}"));
    for d in 0..20 {
        for e in 0..15 {
            for f in 0..2 {
                write(
                    &leaf(d, e).join(format!("f{f}")),
                    &vec![(d * e + f) as u8; 100 + 37 * f + e],
                );
            }
        }
    }
    // A repository of its own for these snapshots.
    let stress_repo = s.fs.path("stress_repo");
    std::fs::create_dir(&stress_repo).expect("mkdir");
    s.fs.snapshot_readonly("live", "stress_repo/s1");
    for k in 2..=4 {
        for _ in 0..15 {
            let _ = std::fs::remove_dir_all(leaf(next(20), next(15)));
        }
        for i in 0..15 {
            write(
                &leaf(next(20), 20 + k * 20 + i).join("new"),
                format!("{k}/{i}").as_bytes(),
            );
        }
        for _ in 0..5 {
            // A directory becomes a file of the same name.
            let p = leaf(next(20), next(15));
            if p.is_dir() {
                std::fs::remove_dir_all(&p).expect("rm dir");
                write(&p, b"was a directory");
            }
        }
        for _ in 0..5 {
            // A file becomes a directory.
            let p = leaf(next(20), next(15)).join("f0");
            if p.is_file() {
                std::fs::remove_file(&p).expect("rm file");
                write(&p.join("inside"), b"was a file");
            }
        }
        for _ in 0..5 {
            let p = leaf(next(20), next(15));
            if p.is_dir() {
                let _ = std::fs::rename(&p, p.with_extension(format!("r{k}")));
            }
        }
        for _ in 0..40 {
            let p = leaf(next(20), next(15)).join("f1");
            if p.is_file() {
                write(&p, &vec![k as u8; next(3000)]);
            }
        }
        for _ in 0..5 {
            let p = leaf(next(20), next(15));
            if p.is_dir() {
                chmod(&p, 0o750);
            }
        }
        s.fs.snapshot_readonly("live", format!("stress_repo/s{k}"));
    }
    let out = run(&s.state, &stress_repo, &s.ds, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(verified(&out), ["s1", "s2", "s3", "s4"], "{}", show(&out));
    let skip = [".cutover", "HEAD", ".snap"];
    for k in 1..=4 {
        let clone = s.pool.dataset(&format!("cmp{k}"));
        s.pool
            .zfs(["clone", &format!("{}@s{k}", s.ds), clone.as_str()]);
        let source = listing(&stress_repo.join(format!("s{k}")), &skip);
        let copy = listing(&s.pool.path(format!("cmp{k}")), &skip);
        assert!(source.len() > 500, "{} entries", source.len());
        let differing: Vec<_> = source
            .iter()
            .filter(|(p, v)| copy.get(*p) != Some(*v))
            .map(|(p, _)| p)
            .chain(copy.keys().filter(|p| !source.contains_key(*p)))
            .take(5)
            .collect();
        assert!(differing.is_empty(), "s{k}: {differing:?}");
    }
}
