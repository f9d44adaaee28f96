//! A throwaway BTRFS: a sparse image file in a temporary directory,
//! `mkfs.btrfs`, loop-mounted on a directory of its own.

use super::skip::{self, Prereq};
use super::{is_mounted, keep_dir, say, temp_dir, tool_cmd, try_run, unique_name};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A loop-mounted BTRFS that is unmounted and deleted when dropped.
pub struct BtrfsFs {
    name: String,
    image: PathBuf,
    mountpoint: PathBuf,
    /// `None` only while dropping.
    dir: Option<tempfile::TempDir>,
}

impl BtrfsFs {
    /// `mkfs.btrfs` refuses devices under ~109 MiB; smaller requests are
    /// rounded up to this.
    pub const MIN_SIZE_MB: u64 = 128;

    /// What this fixture needs: root, btrfs-progs, `mount`, loop devices and
    /// BTRFS in the kernel (loading the module if it can).
    pub fn prerequisites() -> Prereq {
        skip::all([
            skip::root(),
            skip::tools(&["mkfs.btrfs", "btrfs", "mount", "umount"]),
            skip::path_exists("/dev/loop-control"),
            kernel_has_btrfs(),
        ])
    }

    /// Creates and mounts a BTRFS of `size_mb` MiB (at least
    /// [`Self::MIN_SIZE_MB`]); panics with the reason if it cannot.
    pub fn new(size_mb: u64) -> Self {
        match Self::try_new(size_mb) {
            Ok(fs) => fs,
            Err(e) => panic!("btrfs fixture: {e}"),
        }
    }

    /// Like [`Self::new`], returning the reason instead of panicking.
    pub fn try_new(size_mb: u64) -> Result<Self, String> {
        let size_mb = size_mb.max(Self::MIN_SIZE_MB);
        let name = unique_name("cutover_btrfs");
        let dir = temp_dir(&name)?;
        let image = dir.path().join("btrfs.img");
        let mountpoint = dir.path().join("mnt");

        let file = std::fs::File::create(&image)
            .map_err(|e| format!("cannot create {}: {e}", image.display()))?;
        file.set_len(size_mb * 1024 * 1024)
            .map_err(|e| format!("cannot size {} to {size_mb} MiB: {e}", image.display()))?;
        drop(file);
        try_run(tool_cmd("mkfs.btrfs", ["-q", "-f"]).arg(&image))?;
        std::fs::create_dir(&mountpoint)
            .map_err(|e| format!("cannot create {}: {e}", mountpoint.display()))?;
        try_run(
            tool_cmd("mount", ["-t", "btrfs", "-o", "loop"])
                .arg(&image)
                .arg(&mountpoint),
        )?;

        Ok(Self {
            name,
            image,
            mountpoint,
            dir: Some(dir),
        })
    }

    /// The unique name of this fixture (also in its directory's name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where the filesystem is mounted.
    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    /// The image file behind the loop device.
    pub fn image(&self) -> &Path {
        &self.image
    }

    /// `rel` inside the filesystem (an absolute path is returned as is).
    pub fn path(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.mountpoint.join(rel)
    }

    /// `btrfs subvolume create` at `rel` (relative to the mountpoint; parent
    /// directories must exist). Returns its path. Panics on failure.
    pub fn create_subvolume(&self, rel: impl AsRef<Path>) -> PathBuf {
        let path = self.path(rel);
        self.btrfs(tool_cmd("btrfs", ["subvolume", "create"]).arg(&path));
        path
    }

    /// `btrfs subvolume snapshot -r src dst` (both relative to the
    /// mountpoint). Returns the snapshot's path. Panics on failure.
    pub fn snapshot_readonly(&self, src: impl AsRef<Path>, dst: impl AsRef<Path>) -> PathBuf {
        self.snapshot_with(src.as_ref(), dst.as_ref(), true)
    }

    /// A writable snapshot, `btrfs subvolume snapshot src dst`.
    pub fn snapshot(&self, src: impl AsRef<Path>, dst: impl AsRef<Path>) -> PathBuf {
        self.snapshot_with(src.as_ref(), dst.as_ref(), false)
    }

    fn snapshot_with(&self, src: &Path, dst: &Path, readonly: bool) -> PathBuf {
        let (src, dst) = (self.path(src), self.path(dst));
        let mut cmd = tool_cmd("btrfs", ["subvolume", "snapshot"]);
        if readonly {
            cmd.arg("-r");
        }
        self.btrfs(cmd.arg(&src).arg(&dst));
        dst
    }

    /// The paths (relative to the top level) that `btrfs subvolume list`
    /// reports, snapshots included.
    pub fn subvolumes(&self) -> Vec<String> {
        let out = self.btrfs(tool_cmd("btrfs", ["subvolume", "list"]).arg(&self.mountpoint));
        // "ID 256 gen 7 top level 5 path data"
        out.lines()
            .filter_map(|l| l.split_once(" path ").map(|(_, p)| p.to_string()))
            .collect()
    }

    fn btrfs(&self, cmd: &mut std::process::Command) -> String {
        match try_run(cmd) {
            Ok(out) => out,
            Err(e) => panic!("btrfs fixture {}: {e}", self.name),
        }
    }
}

impl Drop for BtrfsFs {
    fn drop(&mut self) {
        let Some(dir) = self.dir.take() else { return };
        if let Err(e) = unmount(&self.mountpoint) {
            say(&format!("support: btrfs fixture {}: {e}", self.name));
            keep_dir(dir, "the BTRFS may still be mounted there");
            return;
        }
        // Removes the image and the (now empty) mount point.
        if let Err(e) = dir.close() {
            say(&format!(
                "support: btrfs fixture {}: cannot remove its directory: {e}",
                self.name
            ));
        }
    }
}

/// Unmounts `mountpoint`, retrying while it is busy, then lazily. The loop
/// device set up by `mount -o loop` is released with the mount (autoclear).
pub(crate) fn unmount(mountpoint: &Path) -> Result<(), String> {
    let mut last = String::new();
    for attempt in 0..10u64 {
        if !is_mounted(mountpoint) {
            return Ok(());
        }
        match try_run(tool_cmd("umount", [mountpoint])) {
            Ok(_) => return Ok(()),
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(100 * (attempt + 1)));
    }
    if !is_mounted(mountpoint) {
        return Ok(());
    }
    say(&format!(
        "support: {last}; unmounting {} lazily",
        mountpoint.display()
    ));
    try_run(tool_cmd(
        "umount",
        [std::ffi::OsStr::new("-l"), mountpoint.as_os_str()],
    ))?;
    if is_mounted(mountpoint) {
        Err(format!(
            "{} is still mounted after `umount -l`",
            mountpoint.display()
        ))
    } else {
        Ok(())
    }
}

/// BTRFS is in `/proc/filesystems`, or `modprobe btrfs` puts it there.
fn kernel_has_btrfs() -> Prereq {
    let listed = || {
        std::fs::read_to_string("/proc/filesystems")
            .map(|s| {
                s.lines()
                    .any(|l| l.split_whitespace().last() == Some("btrfs"))
            })
            .unwrap_or(false)
    };
    if listed() {
        return Ok(());
    }
    if skip::is_root() && skip::have_tool("modprobe") {
        let _ = try_run(tool_cmd("modprobe", ["btrfs"]));
        if listed() {
            return Ok(());
        }
    }
    Err("the kernel has no BTRFS support (not in /proc/filesystems, and `modprobe btrfs` did not add it)".into())
}
