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
