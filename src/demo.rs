//! The demo sandbox: sample sources built on a fresh machine without root,
//! and a writer that keeps changing the live tree for a while, as a queue
//! subscriber would until the cutover window pauses it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::names;
use crate::verify::sample::mix;

/// Marker file that says a directory is a cutover demo sandbox (safe to rebuild).
const MARKER: &str = ".cutover-demo";

/// Paths of a built sandbox.
#[derive(Debug, Clone)]
pub struct Sandbox {
    pub root: PathBuf,
    /// The live tree (source of tree-sync).
    pub live: PathBuf,
    /// Where the live tree goes (does not exist until the first copy).
    pub new_storage: PathBuf,
    /// The demo's own state directory (journal).
    pub state: PathBuf,
    /// A package store with real duplication (source of store-to-cas).
    pub package_store: PathBuf,
    /// Where the package store goes (created by the first migration).
    pub cas: PathBuf,
    /// A redb cluster: one folder per node (source of redb-to-sqlite).
    pub cluster: PathBuf,
    /// Where the cluster's SQLite files go, mirroring the node folders.
    pub cluster_sqlite: PathBuf,
    /// A repository of snapshots `s1`…`s6` (source of btrfs-to-zfs).
    pub repository: PathBuf,
}

/// Build (or rebuild) the sandbox in `dir`. A non-empty directory that is
/// not a sandbox is refused, never overwritten.
pub fn build(dir: &Path) -> Result<Sandbox> {
    if dir.exists() {
        let non_empty = std::fs::read_dir(dir)
            .map_err(|e| Error::io("cannot read demo directory", dir, &e))?
            .next()
            .is_some();
        if non_empty && !dir.join(MARKER).exists() {
            return Err(Error::bad(format!(
                "demo directory {} is not empty and not a cutover sandbox; choose an empty or new --dir",
                names::display(dir)
            )));
        }
        if non_empty {
            crate::demo_repo::destroy_stale(dir);
            std::fs::remove_dir_all(dir)
                .map_err(|e| Error::io("cannot clear old sandbox", dir, &e))?;
        }
    }
    let io = |what: &'static str, p: &Path| {
        let p = p.to_path_buf();
        move |e: std::io::Error| Error::io(what, &p, &e)
    };
    std::fs::create_dir_all(dir).map_err(io("cannot create", dir))?;
    std::fs::write(dir.join(MARKER), b"cutover demo sandbox\n").map_err(io("cannot write", dir))?;
    let sandbox = Sandbox {
        root: dir.to_path_buf(),
        live: dir.join("live"),
        new_storage: dir.join("new-storage"),
        state: dir.join("state"),
        package_store: dir.join("package-store"),
        cas: dir.join("cas"),
        cluster: dir.join("cluster"),
        cluster_sqlite: dir.join("cluster-sqlite"),
        repository: dir.join("repository"),
    };
    build_live_tree(&sandbox.live).map_err(io("cannot build the live tree in", &sandbox.live))?;
    build_package_store(&sandbox.package_store).map_err(io(
        "cannot build the package store in",
        &sandbox.package_store,
    ))?;
    crate::demo_redb::build(&sandbox.cluster)?;
    crate::demo_repo::build(&sandbox.repository)
        .map_err(io("cannot build the repository in", &sandbox.repository))?;
    Ok(sandbox)
}

/// `len` bytes of seeded noise: sample file content.
pub fn content(seed: u64, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    let mut x = seed;
    while out.len() < len {
        x = mix(x);
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn build_live_tree(live: &Path) -> std::io::Result<()> {
    let mut n = 0u64;
    for top in 0..12 {
        for sub in 0..5 {
            let d = live.join(format!("shard-{top:02}/day-{sub}"));
            std::fs::create_dir_all(&d)?;
            for f in 0..50 {
                n += 1;
                let len = 512 + (mix(n) % 8192) as usize;
                std::fs::write(d.join(format!("event-{f:03}.json")), content(n, len))?;
            }
        }
    }
    let odd = live.join("odd names");
    std::fs::create_dir_all(&odd)?;
    for name in [
        "with space.txt",
        "new\nline.txt",
        "quote's \"double\".txt",
        "$(touch pwned)",
        "-leading-dash",
        "ünïcødé ✓.txt",
        "back\\slash",
    ] {
        std::fs::write(odd.join(name), name.as_bytes())?;
    }
    std::fs::write(odd.join("x".repeat(255)), b"a 255-byte name\n")?;
    std::fs::create_dir_all(live.join("empty"))?;
    std::fs::create_dir_all(live.join("incoming"))?;
    let links = live.join("hardlinks");
    std::fs::create_dir_all(&links)?;
    std::fs::write(links.join("original"), content(7, 4096))?;
    std::fs::hard_link(links.join("original"), links.join("second-name"))?;
    std::fs::hard_link(
        links.join("original"),
        live.join("shard-00/hardlink-elsewhere"),
    )?;
    std::os::unix::fs::symlink("shard-00/day-0/event-000.json", live.join("latest"))?;
    std::os::unix::fs::symlink("does-not-exist", live.join("dangling"))?;
    Ok(())
}

/// A package store: one directory per package hash, with the duplication
/// real stores have (one license text everywhere, a library identical
/// across versions, shared icons).
fn build_package_store(store: &Path) -> std::io::Result<()> {
    let license = b"Licensed under the Apache License, Version 2.0 (the \"License\");\n".repeat(60);
    let icon = content(4242, 24 * 1024);
    let names = ["openssl", "zlib", "curl", "sqlite", "ripgrep", "jq"];
    for (i, name) in names.iter().enumerate() {
        for version in 0..3u64 {
            let hash = blake3::hash(format!("{name}-{version}").as_bytes()).to_hex();
            let pkg = store.join(format!("{}-{name}-1.{version}", &hash[..32]));
            std::fs::create_dir_all(pkg.join("share/doc"))?;
            std::fs::create_dir_all(pkg.join("lib"))?;
            std::fs::create_dir_all(pkg.join("bin"))?;
            std::fs::create_dir_all(pkg.join("share/icons"))?;
            std::fs::write(pkg.join("share/doc/LICENSE"), &license)?;
            std::fs::write(pkg.join("share/icons/app.png"), &icon)?;
            // The library changes every second release; the binary each release.
            let lib = content(i as u64 * 100 + version / 2, 64 * 1024 + i * 512);
            std::fs::write(pkg.join(format!("lib/lib{name}.so")), lib)?;
            std::fs::write(
                pkg.join(format!("bin/{name}")),
                content(i as u64 * 1000 + version, 16 * 1024),
            )?;
            std::os::unix::fs::symlink(
                format!("lib{name}.so"),
                pkg.join(format!("lib/lib{name}.so.1")),
            )?;
            std::fs::write(pkg.join("share/doc/empty-changelog"), b"")?;
        }
    }
    Ok(())
}

/// A background writer changing the live tree until stopped or its time is up.
pub struct Writer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<u64>>,
}

impl Writer {
    /// Start writing into `live/incoming` for `duration`.
    pub fn start(live: &Path, duration: Duration) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let incoming = live.join("incoming");
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            let mut n = 0u64;
            while !flag.load(Ordering::Relaxed) && started.elapsed() < duration {
                n += 1;
                let _ = std::fs::write(
                    incoming.join(format!("msg-{n:06}.json")),
                    content(n ^ 0xfeed, 200 + (n % 700) as usize),
                );
                if n > 20 {
                    let _ = std::fs::remove_file(incoming.join(format!("msg-{:06}.json", n - 20)));
                }
                if let Ok(mut log) = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(incoming.join("subscriber.log"))
                {
                    let _ = writeln!(log, "message {n}");
                }
                std::thread::sleep(Duration::from_millis(25));
            }
            tracing::info!("demo writer paused after {n} messages: the cutover window is open");
            n
        });
        Writer {
            stop,
            thread: Some(thread),
        }
    }

    /// Stop the writer and wait for it; returns how many messages it wrote.
    pub fn stop(mut self) -> u64 {
        self.halt()
    }

    fn halt(&mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().and_then(|t| t.join().ok()).unwrap_or(0)
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.halt();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_and_refuses_foreign_dirs() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let sb = build(&tmp.path().join("sb")).expect("build");
        assert!(sb.live.join("odd names/new\nline.txt").exists());
        assert!(!sb.new_storage.exists());
        // Rebuilding a sandbox is allowed.
        build(&sb.root).expect("rebuild");
        let foreign = tmp.path().join("foreign");
        std::fs::create_dir_all(&foreign).expect("mkdir");
        std::fs::write(foreign.join("precious"), b"x").expect("write");
        assert!(build(&foreign).is_err());
        assert!(foreign.join("precious").exists());
    }

    #[test]
    fn writer_changes_the_tree_and_stops() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let sb = build(tmp.path()).expect("build");
        let w = Writer::start(&sb.live, Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(200));
        let n = w.stop();
        assert!(n > 0);
        assert!(sb.live.join("incoming/subscriber.log").exists());
    }
}
