//! The token a new job of a ZFS kind marks what it creates with (a user
//! property on datasets, names of aside copies), so a later run, a resume or
//! a rollback touches only what that job made.

/// A fresh token for a new job: 16 hex digits, unique per process and moment.
pub fn new_token() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let h = blake3::hash(format!("{nanos} {}", std::process::id()).as_bytes());
    h.to_hex()[..16].to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_differ_and_are_hex() {
        let a = crate::job::token::new_token();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = crate::job::token::new_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 16);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()), "{a}");
    }
}
