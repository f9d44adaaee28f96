//! Differences found by verification, collected per item and rendered as one
//! readable line (rclone-check style markers: `*` differs, `+` only in
//! source, `-` only in target, `!` error).

/// The differences of one item.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct DiffReport {
    lines: Vec<String>,
}

/// How many differences are spelled out before "and N more".
const SHOWN: usize = 20;

impl DiffReport {
    /// Record that `path` differs in `what`.
    pub fn differs(&mut self, path: &str, what: impl std::fmt::Display) {
        self.lines.push(format!("* {path} {what}"));
    }

    /// Record that `path` exists in the source only.
    pub fn missing_in_target(&mut self, path: &str) {
        self.lines.push(format!("+ {path} missing in target"));
    }

    /// Record that `path` exists in the target only.
    pub fn only_in_target(&mut self, path: &str) {
        self.lines.push(format!("- {path} only in target"));
    }

    /// Record an error reading `path`.
    pub fn error(&mut self, path: &str, what: impl std::fmt::Display) {
        self.lines.push(format!("! {path} {what}"));
    }

    /// Whether nothing differs.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Number of differences.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// One line: "2 differences: * a content …; + b missing in target".
    pub fn summary(&self) -> String {
        let n = self.lines.len();
        let mut shown: Vec<&str> = self.lines.iter().take(SHOWN).map(String::as_str).collect();
        let more = n.saturating_sub(SHOWN);
        let more_text = format!("and {more} more");
        if more > 0 {
            shown.push(&more_text);
        }
        let noun = if n == 1 { "difference" } else { "differences" };
        format!("{n} {noun}: {}", shown.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_names_each_path() {
        let mut d = DiffReport::default();
        assert!(d.is_empty());
        d.differs("a/b.txt", "content");
        d.missing_in_target("c");
        assert_eq!(
            d.summary(),
            "2 differences: * a/b.txt content; + c missing in target"
        );
    }
}
