//! The real-system fixtures in `tests/support/` work, and clean up after
//! themselves even when the test using them panics.

#![allow(clippy::expect_used)]

mod support;

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::Duration;
use support::{is_mounted, require, run, sh_quote, tool_cmd, try_run, BtrfsFs, Sshd, ZfsPool};

#[test]
fn btrfs_subvolume_and_readonly_snapshot() {
    if !require(
        "btrfs_subvolume_and_readonly_snapshot",
        BtrfsFs::prerequisites(),
    ) {
        return;
    }
    let fs = BtrfsFs::new(256);
    assert!(
        is_mounted(fs.mountpoint()),
        "{} is not mounted",
        fs.mountpoint().display()
    );

    let sub = fs.create_subvolume("data");
    std::fs::write(sub.join("hello.txt"), b"hello btrfs\n").expect("write into the subvolume");
    let snap = fs.snapshot_readonly("data", "data.ro");

    // Seen by `btrfs subvolume list`, both through the helper and directly.
    let listed = fs.subvolumes();
    assert!(
        listed.iter().any(|p| p == "data"),
        "subvolume list: {listed:?}"
    );
    assert!(
        listed.iter().any(|p| p == "data.ro"),
        "subvolume list: {listed:?}"
    );
    let raw = run(tool_cmd("btrfs", ["subvolume", "list", "-r"]).arg(fs.mountpoint()));
    assert!(
        raw.lines().any(|l| l.ends_with(" path data.ro")),
        "read-only list: {raw}"
    );
    assert!(
        !raw.lines().any(|l| l.ends_with(" path data")),
        "data is not read-only: {raw}"
    );

    assert_eq!(
        std::fs::read(snap.join("hello.txt")).expect("read from the snapshot"),
        b"hello btrfs\n"
    );
    let err = std::fs::write(snap.join("new.txt"), b"x")
        .expect_err("writing into a read-only snapshot must fail");
    assert_eq!(
        err.raw_os_error(),
        Some(libc::EROFS),
        "unexpected error: {err}"
    );
    let err = std::fs::write(snap.join("hello.txt"), b"x")
        .expect_err("overwriting in a read-only snapshot must fail");
    assert_eq!(
        err.raw_os_error(),
        Some(libc::EROFS),
        "unexpected error: {err}"
    );
}

#[test]
fn zfs_dataset_snapshot_and_clone() {
    if !require("zfs_dataset_snapshot_and_clone", ZfsPool::prerequisites()) {
        return;
    }
    let pool = ZfsPool::new(128);
    assert!(
        is_mounted(pool.mountpoint()),
        "{} is not mounted",
        pool.mountpoint().display()
    );

    let ds = pool.create_dataset("data");
    assert_eq!(ds, format!("{}/data", pool.name()));
    std::fs::write(pool.path("data/hello.txt"), b"hello zfs\n").expect("write into the dataset");
    let snap = pool.snapshot("data", "s1");
    // Changed after the snapshot: the clone must show the old content.
    std::fs::write(pool.path("data/hello.txt"), b"changed\n").expect("overwrite in the dataset");

    let snaps = pool.zfs([
        "list",
        "-H",
        "-t",
        "snapshot",
        "-o",
        "name",
        "-r",
        pool.name(),
    ]);
    assert!(
        snaps.lines().any(|l| l == snap),
        "`zfs list -t snapshot` lacks {snap}: {snaps}"
    );

    // zfs-fuse has no .zfs/snapshot: read the snapshot through a clone.
    let clone = pool.dataset("clone");
    pool.zfs(["clone", snap.as_str(), clone.as_str()]);
    assert_eq!(
        std::fs::read(pool.path("clone/hello.txt")).expect("read from the clone"),
        b"hello zfs\n"
    );
    assert_eq!(
        std::fs::read(pool.path("data/hello.txt")).expect("read from the dataset"),
        b"changed\n"
    );
}

#[test]
fn sshd_runs_commands_and_keeps_quoted_names() {
    if !require(
        "sshd_runs_commands_and_keeps_quoted_names",
        Sshd::prerequisites(),
    ) {
        return;
    }
    let sshd = Sshd::start();
    assert_eq!(sshd.run("echo hello over ssh"), "hello over ssh\n");
    assert!(
        sshd.log().contains(&format!(
            "Server listening on 127.0.0.1 port {}",
            sshd.port()
        )),
        "sshd should listen on loopback only:\n{}",
        sshd.log()
    );

    // The documented pieces work with a plain `ssh` too.
    let mut ssh = tool_cmd("ssh", sshd.ssh_args());
    ssh.arg(sshd.user_host()).arg("id -u");
    assert_eq!(run(&mut ssh), "0\n");

    // A name with spaces, both quotes, `$`, `*` and a backslash survives a
    // remote command when quoted with sh_quote.
    let dir = tempfile::tempdir().expect("temp dir");
    let name = r#"it's a "quoted" $HOME * \ name.txt"#;
    let local = dir.path().join(name);
    std::fs::write(&local, b"payload\n").expect("write the oddly named file");
    let path = local.to_str().expect("utf-8 path");
    assert_eq!(sshd.run(&format!("cat -- {}", sh_quote(path))), "payload\n");

    let copy = dir.path().join(format!("copy of {name}"));
    let copy_str = copy.to_str().expect("utf-8 path");
    sshd.run(&format!("cp -- {} {}", sh_quote(path), sh_quote(copy_str)));
    assert_eq!(
        std::fs::read(&copy).expect("read the copy made over ssh"),
        b"payload\n"
    );
    let listed = sshd.run(&format!(
        "ls -1 -- {}",
        sh_quote(&dir.path().to_string_lossy())
    ));
    let mut names: Vec<&str> = listed.lines().collect();
    names.sort_unstable();
    assert_eq!(names, vec![format!("copy of {name}"), name.to_string()]);

    // Unquoted, the same command does not reach the file: the quoting is
    // what made it work.
    assert!(sshd.try_run(&format!("cat -- {path}")).is_err());
}

#[test]
fn btrfs_is_torn_down_even_when_the_test_panics() {
    if !require(
        "btrfs_is_torn_down_even_when_the_test_panics",
        BtrfsFs::prerequisites(),
    ) {
        return;
    }
    let mut seen = None;
    let result = catch_unwind(AssertUnwindSafe(|| {
        let fs = BtrfsFs::new(128);
        let sub = fs.create_subvolume("busy");
        std::fs::write(sub.join("f"), b"x").expect("write");
        seen = Some((fs.mountpoint().to_path_buf(), fs.image().to_path_buf()));
        panic!("deliberate panic with a mounted BTRFS");
    }));
    assert!(result.is_err());
    let (mountpoint, image) = seen.expect("the fixture was made");
    assert!(
        !is_mounted(&mountpoint),
        "{} still mounted",
        mountpoint.display()
    );
    assert!(
        !mountpoint.exists(),
        "{} still exists",
        mountpoint.display()
    );
    assert!(!image.exists(), "{} still exists", image.display());
    let loops = run(tool_cmd("losetup", ["-a"]));
    assert!(
        !loops.contains(&*image.to_string_lossy()),
        "loop device still attached: {loops}"
    );
}

#[test]
fn zfs_pool_is_torn_down_even_when_the_test_panics() {
    if !require(
        "zfs_pool_is_torn_down_even_when_the_test_panics",
        ZfsPool::prerequisites(),
    ) {
        return;
    }
    let mut seen = None;
    let result = catch_unwind(AssertUnwindSafe(|| {
        let pool = ZfsPool::new(64);
        pool.create_dataset("busy");
        std::fs::write(pool.path("busy/f"), b"x").expect("write");
        seen = Some((
            pool.name().to_string(),
            pool.mountpoint().to_path_buf(),
            pool.image().to_path_buf(),
        ));
        panic!("deliberate panic with an imported pool");
    }));
    assert!(result.is_err());
    let (name, mountpoint, image) = seen.expect("the fixture was made");
    assert!(
        try_run(tool_cmd(
            "zpool",
            ["list", "-H", "-o", "name", name.as_str()]
        ))
        .is_err(),
        "pool {name} still exists"
    );
    assert!(
        !is_mounted(&mountpoint),
        "{} still mounted",
        mountpoint.display()
    );
    assert!(!image.exists(), "{} still exists", image.display());
}

#[test]
fn sshd_is_stopped_even_when_the_test_panics() {
    if !require(
        "sshd_is_stopped_even_when_the_test_panics",
        Sshd::prerequisites(),
    ) {
        return;
    }
    let mut seen = None;
    let result = catch_unwind(AssertUnwindSafe(|| {
        let sshd = Sshd::start();
        seen = Some((sshd.pid(), sshd.port(), sshd.key_path().to_path_buf()));
        panic!("deliberate panic with sshd running");
    }));
    assert!(result.is_err());
    let (pid, port, key) = seen.expect("the fixture was made");
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "sshd pid {pid} still exists"
    );
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    assert!(
        TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(),
        "something still listens on 127.0.0.1:{port}"
    );
    assert!(!key.exists(), "{} still exists", key.display());
}
