//! The demo's repository: six snapshots `s1`…`s6` of one project as plain
//! directories (adds, edits, deletes, a rename, a mode change, a hard link
//! and a symlink between them), and — when this machine can — a small
//! file-backed ZFS pool to migrate it into. Without root or a running ZFS
//! the demo says what it needs instead.

use std::path::{Path, PathBuf};

use crate::demo::content;
use crate::sys::cmd;
use crate::verify::sample::mix;

/// The file in the sandbox naming the pool a demo created, so that the next
/// demo (after a kill) destroys it before clearing the sandbox.
const POOL_NOTE: &str = "zfs/pool-name";

/// Snapshots in the demo repository.
const SNAPSHOTS: u64 = 6;

/// Build the repository at `repo`: `s1` with 120 files, each later
/// snapshot a copy of the one before with about 5 % changed.
pub fn build(repo: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let first = repo.join("s1");
    for d in 0..6u64 {
        let dir = first.join(format!("src/module-{d}"));
        std::fs::create_dir_all(&dir)?;
        for f in 0..20u64 {
            let n = d * 100 + f;
            let len = 256 + (mix(n) % 4096) as usize;
            std::fs::write(dir.join(format!("file-{f:02}.rs")), content(n, len))?;
        }
    }
    std::fs::write(first.join("README"), b"the demo project\n")?;
    std::fs::hard_link(first.join("README"), first.join("README.hardlink"))?;
    std::os::unix::fs::symlink("src/module-0/file-00.rs", first.join("main"))?;
    std::fs::create_dir_all(first.join(".snap"))?;
    std::fs::write(first.join(".snap/push-log"), b"s1 pushed by demo\n")?;
    for s in 2..=SNAPSHOTS {
        let (before, now) = (repo.join(format!("s{}", s - 1)), repo.join(format!("s{s}")));
        copy_tree(&before, &now)?;
        // ~5 % churn: six edits, one add, one delete, one rename, one chmod.
        for k in 0..6u64 {
            let n = mix(s * 31 + k);
            let f = now.join(format!("src/module-{}/file-{:02}.rs", n % 6, (n >> 8) % 20));
            if f.exists() {
                std::fs::write(&f, content(s * 1000 + k, 300 + (n % 2000) as usize))?;
            }
        }
        std::fs::write(now.join(format!("src/added-in-s{s}.rs")), content(s, 512))?;
        let gone = now.join(format!("src/module-{}/file-19.rs", s % 6));
        if gone.exists() {
            std::fs::remove_file(gone)?;
        }
        let from = now.join(format!("src/module-{}/file-18.rs", (s + 1) % 6));
        if from.exists() {
            std::fs::rename(&from, now.join(format!("src/renamed-in-s{s}.rs")))?;
        }
        let exec = now.join(format!("src/module-{}/file-17.rs", (s + 2) % 6));
        if exec.exists() {
            std::fs::set_permissions(&exec, std::fs::Permissions::from_mode(0o755))?;
        }
        std::fs::write(now.join(".snap/push-log"), format!("s{s} pushed by demo\n"))?;
    }
    Ok(())
}

/// Copy a tree (files, directories, symlinks, hard links kept as links).
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let mut seen: std::collections::HashMap<u64, PathBuf> = std::collections::HashMap::new();
    let mut stack = vec![(from.to_path_buf(), to.to_path_buf())];
    while let Some((src, dst)) = stack.pop() {
        std::fs::create_dir_all(&dst)?;
        for entry in std::fs::read_dir(&src)? {
            let entry = entry?;
            let (s, d) = (entry.path(), dst.join(entry.file_name()));
            let md = std::fs::symlink_metadata(&s)?;
            if md.is_dir() {
                stack.push((s, d));
            } else if md.file_type().is_symlink() {
                std::os::unix::fs::symlink(std::fs::read_link(&s)?, &d)?;
            } else if let Some(first) = seen.get(&md.ino()) {
                std::fs::hard_link(first, &d)?;
            } else {
                std::fs::copy(&s, &d)?;
                // As a snapshot keeps it: an unchanged file keeps its time.
                std::fs::File::options()
                    .write(true)
                    .open(&d)?
                    .set_modified(md.modified()?)?;
                if md.nlink() > 1 {
                    seen.insert(md.ino(), d);
                }
            }
        }
    }
    Ok(())
}

/// A pool the demo made; destroyed when dropped.
pub struct DemoPool {
    /// Its name (`cutover-demo-PID`).
    pub name: String,
}

impl Drop for DemoPool {
    fn drop(&mut self) {
        destroy(&self.name);
    }
}

/// `zpool destroy -f name`, retried while zfs-fuse calls it busy (it
/// releases files a moment after a job closed them).
fn destroy(name: &str) {
    for attempt in 0..40u64 {
        match cmd::output("zpool", &["destroy", "-f", name]) {
            Ok(o) if o.code != 0 && o.stderr.contains("busy") => {
                std::thread::sleep(std::time::Duration::from_millis(100 + 10 * attempt));
            }
            _ => return,
        }
    }
}

/// Make a 128 MiB file-backed pool in `sandbox/zfs/`, or say why this
/// machine cannot: not root, no ZFS installed, ZFS not running.
pub fn pool(sandbox: &Path) -> Result<DemoPool, String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Err("migrating it into ZFS needs root (a pool on a file)".into());
    }
    if !cmd::installed("zpool") || !cmd::installed("zfs") {
        return Err("ZFS is not installed (apt-get install zfs-fuse, or OpenZFS)".into());
    }
    match cmd::output::<&str>("zpool", &["list", "-H"]) {
        Ok(o) if o.code == 0 => {}
        _ => return Err("ZFS is not running (start zfs-fuse, or load the OpenZFS module)".into()),
    }
    destroy_stale(sandbox);
    let dir = sandbox.join("zfs");
    std::fs::create_dir_all(dir.join("mnt"))
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let image = dir.join("pool.img");
    let file = std::fs::File::create(&image)
        .map_err(|e| format!("cannot create {}: {e}", image.display()))?;
    file.set_len(128 << 20)
        .map_err(|e| format!("cannot size {}: {e}", image.display()))?;
    drop(file);
    let name = format!("cutover-demo-{}", std::process::id());
    std::fs::write(sandbox.join(POOL_NOTE), &name)
        .map_err(|e| format!("cannot write {}: {e}", sandbox.display()))?;
    let mnt = dir.join("mnt");
    let (mnt, image) = (mnt.to_string_lossy(), image.to_string_lossy());
    cmd::run("zpool", &["create", "-m", &mnt, &name, &image]).map_err(|e| e.to_string())?;
    Ok(DemoPool { name })
}

/// Destroy the pool an earlier demo in `sandbox` left (it was killed),
/// and any demo pool whose process is gone.
pub fn destroy_stale(sandbox: &Path) {
    if let Ok(name) = std::fs::read_to_string(sandbox.join(POOL_NOTE)) {
        let name = name.trim();
        if name.starts_with("cutover-demo-") {
            destroy(name);
        }
    }
    let Ok(out) = cmd::output("zpool", &["list", "-H", "-o", "name"]) else {
        return;
    };
    for name in out.stdout.lines() {
        let Some(pid) = name.strip_prefix("cutover-demo-") else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            destroy(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_has_six_evolving_snapshots() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let repo = tmp.path().join("repo");
        build(&repo).expect("build");
        for s in 1..=SNAPSHOTS {
            assert!(repo.join(format!("s{s}/README")).is_file());
        }
        assert!(repo.join("s6/src/added-in-s6.rs").is_file());
        assert!(!repo.join("s1/src/added-in-s2.rs").exists());
        let a = std::fs::read(repo.join("s5/.snap/push-log")).expect("log");
        assert_eq!(a, b"s5 pushed by demo\n");
        use std::os::unix::fs::MetadataExt;
        let md = std::fs::metadata(repo.join("s6/README")).expect("readme");
        assert_eq!(md.nlink(), 2, "the hard link is kept in every snapshot");
    }
}
