//! The runbook the console shows: `cutover runbook open FILE` records it in
//! the state directory (`runbook.json`, private), so that plain `cutover`,
//! started again after a dropped session, shows it at the same step.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::file::{self, Runbook};
use super::state;
use crate::error::{Error, Result};

/// The runbook open in the console, as `cutover runbook open` was given it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Active {
    /// The file.
    pub file: PathBuf,
    /// `--var NAME=VALUE`.
    pub vars: Vec<(String, String)>,
    /// `--operator`.
    pub operator: Option<String>,
}

/// A loaded runbook with its key in the journal and its operator.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    /// The runbook, variables filled in.
    pub book: Runbook,
    /// Its key in the journal.
    pub key: String,
    /// Who confirms.
    pub operator: String,
    /// Its file.
    pub file: PathBuf,
}

fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("runbook.json")
}

impl Active {
    /// Load the runbook it names.
    pub fn load(&self) -> Result<Loaded> {
        let book = file::load(&self.file, &self.vars)?;
        Ok(Loaded {
            key: state::key(&self.file, &book.name),
            operator: state::operator(self.operator.as_deref()),
            file: self.file.clone(),
            book,
        })
    }

    /// Remember it as the console's runbook.
    pub fn save(&self, state_dir: &Path) -> Result<()> {
        crate::state_dir::create(state_dir)?;
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| Error::bad(e.to_string()))?;
        crate::state_dir::write_private(&path(state_dir), &bytes, true)
            .map_err(|e| Error::io("cannot write", &path(state_dir), &e))
    }

    /// The console's runbook, if one was opened.
    pub fn read(state_dir: &Path) -> Option<Active> {
        let bytes = std::fs::read(path(state_dir)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Forget the console's runbook (its state stays in the journal).
    pub fn clear(state_dir: &Path) {
        let _ = std::fs::remove_file(path(state_dir));
    }
}
