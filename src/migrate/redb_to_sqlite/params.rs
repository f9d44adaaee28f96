//! What the operator asks of redb-to-sqlite: source, target, verification.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The largest sample per table (sampled entries are held in memory).
pub const MAX_SAMPLE: u64 = 100_000;

/// How targets are verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verify {
    /// Per table: row counts and the metadata only.
    Count,
    /// Counts, the checksum of every pair on both sides, and the values of
    /// N keys per table chosen by the seed.
    Sample(u64),
    /// Counts, the checksum, and every key's value compared.
    Full,
}

impl std::str::FromStr for Verify {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "count" => Ok(Verify::Count),
            "full" => Ok(Verify::Full),
            _ => match s.strip_prefix("sample=").and_then(|n| n.parse::<u64>().ok()) {
                Some(n) if n > MAX_SAMPLE => Err(Error::bad(format!(
                    "--verify sample={n}: a sample holds its entries in memory, at most {MAX_SAMPLE} per table; use --verify full to compare every key"
                ))),
                other => other.map(Verify::Sample).ok_or_else(|| {
                    Error::bad(format!(
                        "--verify '{s}' is not a verification mode; use 'count', 'sample=N' (N a whole number) or 'full'"
                    ))
                }),
            },
        }
    }
}

impl std::fmt::Display for Verify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verify::Count => f.write_str("count"),
            Verify::Sample(n) => write!(f, "sample={n}"),
            Verify::Full => f.write_str("full"),
        }
    }
}

/// What the operator asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RedbToSqliteParams {
    /// A redb file, or a directory of node folders holding redb files.
    pub source: PathBuf,
    /// A new SQLite file, or a directory mirroring the node folders.
    pub target: PathBuf,
    pub verify: Verify,
    pub seed: u64,
    /// With a directory source: only these nodes (`node-1`); empty = all.
    #[serde(default)]
    pub nodes: Vec<String>,
}

/// The target file a source file maps to under a target directory.
pub fn target_name(file: &Path) -> PathBuf {
    match file.extension() {
        Some(e) if e == "redb" => file.with_extension("sqlite"),
        _ => {
            let mut name = file.as_os_str().to_os_string();
            name.push(".sqlite");
            PathBuf::from(name)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_verify_modes_and_names_targets() {
        assert_eq!("count".parse::<Verify>().ok(), Some(Verify::Count));
        assert_eq!("full".parse::<Verify>().ok(), Some(Verify::Full));
        assert_eq!("sample=7".parse::<Verify>().ok(), Some(Verify::Sample(7)));
        assert!("sample".parse::<Verify>().is_err());
        assert!("sample=100001".parse::<Verify>().is_err());
        assert_eq!(Verify::Sample(3).to_string(), "sample=3");
        assert_eq!(
            target_name(Path::new("node-1/state.redb")),
            PathBuf::from("node-1/state.sqlite")
        );
        assert_eq!(
            target_name(Path::new("node-1/db")),
            PathBuf::from("node-1/db.sqlite")
        );
    }
}
