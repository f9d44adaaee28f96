//! Paths as text. File names may hold any byte but a slash and NUL; the
//! journal, the console and one-line messages need text. Encoding is
//! reversible: `\` becomes `\\`; control characters, DEL and bytes that are
//! not UTF-8 become `\xNN`. Everything else (unicode included) stays as is.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// Encode bytes of a path as printable, reversible text.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                    out.push_str(&format!("\\x{:02x}", c as u32));
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// Reverse [`encode`]. Returns `None` for text `encode` cannot produce.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        match bytes.get(i + 1) {
            Some(b'\\') => {
                out.push(b'\\');
                i += 2;
            }
            Some(b'x') => {
                let hex = std::str::from_utf8(bytes.get(i + 2..i + 4)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 4;
            }
            _ => return None,
        }
    }
    Some(out)
}

/// A path shown in a message or a pane, on one line.
pub fn display(path: &Path) -> String {
    encode(path.as_os_str().as_bytes())
}

/// A name (a service's, say) shown in a message or a pane, on one line.
pub fn display_name(name: &str) -> String {
    encode(name.as_bytes())
}

/// Path from encoded text.
pub fn decode_path(text: &str) -> Option<PathBuf> {
    decode(text).map(|b| PathBuf::from(OsString::from_vec(b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_hostile_names() {
        let names: Vec<&[u8]> = vec![
            b"plain",
            b"new\nline",
            b"back\\slash",
            b"\xff\xfe raw",
            "ünïcødé ✓".as_bytes(),
            b"$(touch x)",
            b"\\x41",
        ];
        for n in names {
            let e = encode(n);
            assert!(!e.contains('\n'));
            assert_eq!(decode(&e).as_deref(), Some(n), "{e}");
        }
        assert_eq!(encode(b"a\nb"), "a\\x0ab");
        assert_eq!(decode("bad\\q"), None);
    }
}
