//! Where cutover keeps its journal: `--state-dir`, else `CUTOVER_STATE_DIR`,
//! else `$XDG_STATE_HOME/cutover`, else `~/.local/state/cutover`.

use std::path::PathBuf;

use crate::error::{Error, Result};

/// Resolve the state directory from the flag and the environment.
pub fn resolve(flag: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(dir) = flag {
        return Ok(dir);
    }
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = var("CUTOVER_STATE_DIR") {
        return Ok(PathBuf::from(dir));
    }
    if let Some(xdg) = var("XDG_STATE_HOME") {
        return Ok(PathBuf::from(xdg).join("cutover"));
    }
    if let Some(home) = var("HOME") {
        return Ok(PathBuf::from(home).join(".local/state/cutover"));
    }
    Err(Error::bad(
        "no state directory: set --state-dir, CUTOVER_STATE_DIR, XDG_STATE_HOME or HOME",
    ))
}

/// Create a directory of cutover's state (and any missing parents) private
/// to the operator: mode 0700 when cutover creates it. An existing directory
/// is left as the operator made it.
pub fn create(dir: &std::path::Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::io("cannot create state directory", dir, &e))
}

/// Make `file` in the state directory exist and be private (mode 0600),
/// without touching its content.
pub fn private_file(file: &std::path::Path) -> Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(file)
        .map_err(|e| Error::io("cannot open", file, &e))?;
    let mode = f
        .metadata()
        .map_err(|e| Error::io("cannot stat", file, &e))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        f.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| Error::io("cannot make private", file, &e))?;
    }
    Ok(())
}

/// Write a new file of the state directory, private (mode 0600), replacing
/// any old one at that name; fsynced when `sync`.
pub fn write_private(file: &std::path::Path, bytes: &[u8], sync: bool) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(file);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)?;
    f.write_all(bytes)?;
    if sync {
        f.sync_all()?;
    }
    Ok(())
}
