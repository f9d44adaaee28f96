//! Verification building blocks shared by every kind: the verification
//! mode, content hashing, seeded sampling, and readable difference reports.

pub mod diff;
pub mod hash;
pub mod sample;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// How thoroughly items are re-read from the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VerifyMode {
    /// Hash every file on both sides.
    Full,
    /// Check metadata of every file; hash a seeded sample of N files.
    Sample(u64),
}

impl std::str::FromStr for VerifyMode {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        if s == "full" {
            return Ok(VerifyMode::Full);
        }
        if let Some(n) = s.strip_prefix("sample=") {
            if let Ok(n) = n.parse::<u64>() {
                return Ok(VerifyMode::Sample(n));
            }
        }
        Err(Error::bad(format!(
            "--verify '{s}' is not a verification mode; use 'full' or 'sample=N' (N a whole number)"
        )))
    }
}

impl std::fmt::Display for VerifyMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VerifyMode::Full => f.write_str("full"),
            VerifyMode::Sample(n) => write!(f, "sample={n}"),
        }
    }
}

impl VerifyMode {
    /// The label shown to the operator: `full`, or `sample=N seed=S` so the
    /// same check can be rerun.
    pub fn label(&self, seed: u64) -> String {
        match self {
            VerifyMode::Full => "full".to_string(),
            VerifyMode::Sample(n) => format!("sample={n} seed={seed}"),
        }
    }

    /// A sample builder for planning, or `None` when every file is hashed.
    pub fn sampler(&self, seed: u64) -> Option<sample::SampleBuilder> {
        match self {
            VerifyMode::Full => None,
            VerifyMode::Sample(n) => Some(sample::SampleBuilder::new(seed, *n)),
        }
    }
}

/// A seed for sampling when the operator gave none: time-based, always shown.
pub fn fresh_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    sample::mix(nanos ^ u64::from(std::process::id())) % 1_000_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_modes() {
        assert_eq!("full".parse::<VerifyMode>().ok(), Some(VerifyMode::Full));
        assert_eq!(
            "sample=25".parse::<VerifyMode>().ok(),
            Some(VerifyMode::Sample(25))
        );
        assert!("sample=x".parse::<VerifyMode>().is_err());
        assert!("all".parse::<VerifyMode>().is_err());
        assert_eq!(VerifyMode::Sample(3).to_string(), "sample=3");
    }
}
