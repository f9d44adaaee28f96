//! Extended attributes, read and written without following symlinks. POSIX
//! ACLs (`system.posix_acl_access`, `system.posix_acl_default`) and file
//! capabilities (`security.capability`) are extended attributes too, so
//! copying every attribute copies them (like `rsync -AX`).

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// One attribute: name bytes (without the trailing NUL) and value.
pub type Xattr = (Vec<u8>, Vec<u8>);

fn cpath(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

fn cname(name: &[u8]) -> io::Result<CString> {
    CString::new(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "attribute name contains NUL"))
}

/// Whether an error means "this filesystem (or file type) cannot hold that".
pub fn is_unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOTSUP) | Some(libc::EPERM) | Some(libc::EACCES)
    )
}

/// Names of the attributes of `path`, sorted. An empty list when the
/// filesystem has no attributes at all.
pub fn names(path: &Path) -> io::Result<Vec<Vec<u8>>> {
    let c = cpath(path)?;
    let mut buf = vec![0u8; 256];
    loop {
        // SAFETY: c is NUL-terminated; buf is writable for buf.len() bytes.
        let n = unsafe { libc::llistxattr(c.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if n >= 0 {
            buf.truncate(n as usize);
            break;
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::ERANGE) => {
                // SAFETY: a null buffer of size 0 asks for the needed size.
                let need = unsafe { libc::llistxattr(c.as_ptr(), std::ptr::null_mut(), 0) };
                if need < 0 {
                    return Err(io::Error::last_os_error());
                }
                buf = vec![0u8; need as usize + 64];
            }
            Some(libc::ENOTSUP) => return Ok(Vec::new()),
            _ => return Err(e),
        }
    }
    let mut out: Vec<Vec<u8>> = buf
        .split(|&b| b == 0)
        .filter(|n| !n.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    out.sort();
    Ok(out)
}

/// The value of one attribute.
pub fn get(path: &Path, name: &[u8]) -> io::Result<Vec<u8>> {
    let c = cpath(path)?;
    let n = cname(name)?;
    let mut buf = vec![0u8; 256];
    loop {
        // SAFETY: both strings are NUL-terminated; buf is writable for its length.
        let r =
            unsafe { libc::lgetxattr(c.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if r >= 0 {
            buf.truncate(r as usize);
            return Ok(buf);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ERANGE) {
            return Err(e);
        }
        // SAFETY: a null buffer of size 0 asks for the needed size.
        let need = unsafe { libc::lgetxattr(c.as_ptr(), n.as_ptr(), std::ptr::null_mut(), 0) };
        if need < 0 {
            return Err(io::Error::last_os_error());
        }
        buf = vec![0u8; need as usize + 64];
    }
}

/// Every attribute of `path` with its value, sorted by name. Attributes that
/// vanish between listing and reading are left out.
pub fn read_all(path: &Path) -> io::Result<Vec<Xattr>> {
    let mut out = Vec::new();
    for name in names(path)? {
        match get(path, &name) {
            Ok(v) => out.push((name, v)),
            Err(e) if e.raw_os_error() == Some(libc::ENODATA) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Set one attribute.
pub fn set(path: &Path, name: &[u8], value: &[u8]) -> io::Result<()> {
    let c = cpath(path)?;
    let n = cname(name)?;
    // SAFETY: both strings are NUL-terminated; value is readable for its length.
    let r = unsafe {
        libc::lsetxattr(
            c.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Remove one attribute.
pub fn remove(path: &Path, name: &[u8]) -> io::Result<()> {
    let c = cpath(path)?;
    let n = cname(name)?;
    // SAFETY: both strings are NUL-terminated.
    let r = unsafe { libc::lremovexattr(c.as_ptr(), n.as_ptr()) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Make the attributes of `dst` equal to `attrs`: set each (when different)
/// and remove those `dst` has beyond them. Returns the attributes that could
/// not be set or removed, with why; the caller words the warning.
pub fn apply(dst: &Path, attrs: &[Xattr]) -> Vec<(Vec<u8>, io::Error)> {
    let mut failed = Vec::new();
    let current = read_all(dst).unwrap_or_default();
    if current.as_slice() == attrs {
        return failed;
    }
    for (name, value) in attrs {
        let same = current.iter().any(|(n, v)| n == name && v == value);
        if !same {
            if let Err(e) = set(dst, name, value) {
                failed.push((name.clone(), e));
            }
        }
    }
    for (name, _) in &current {
        if !attrs.iter().any(|(n, _)| n == name) {
            // ACLs a fresh file did not carry in the source, and others.
            if let Err(e) = remove(dst, name) {
                if e.raw_os_error() != Some(libc::ENODATA) {
                    failed.push((name.clone(), e));
                }
            }
        }
    }
    failed
}

/// Copy the attributes of `src` onto `dst`; the ones that failed, with why.
pub fn copy(src: &Path, dst: &Path) -> io::Result<Vec<(Vec<u8>, io::Error)>> {
    let attrs = read_all(src)?;
    if attrs.is_empty() {
        // Fast path: most files carry none; only clear what dst may have.
        let extra = names(dst).unwrap_or_default();
        if extra.is_empty() {
            return Ok(Vec::new());
        }
    }
    Ok(apply(dst, &attrs))
}

/// Printable attribute name for messages.
pub fn shown(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}

/// The differences between two attribute sets, one line each (`user.color
/// missing in target`, `user.color differs`, `user.x only in target`).
pub fn differences(src: &[Xattr], dst: &[Xattr]) -> Vec<String> {
    let mut out = Vec::new();
    for (name, value) in src {
        match dst.iter().find(|(n, _)| n == name) {
            None => out.push(format!(
                "extended attribute {} missing in target",
                shown(name)
            )),
            Some((_, v)) if v != value => {
                out.push(format!("extended attribute {} differs", shown(name)))
            }
            Some(_) => {}
        }
    }
    for (name, _) in dst {
        if !src.iter().any(|(n, _)| n == name) {
            out.push(format!("extended attribute {} only in target", shown(name)));
        }
    }
    out
}

/// Attributes as text, for metadata files: `[name (encoded like paths),
/// value in hex]`, sorted by name.
pub fn to_text(attrs: &[Xattr]) -> Vec<[String; 2]> {
    attrs
        .iter()
        .map(|(n, v)| {
            let hex: String = v.iter().map(|b| format!("{b:02x}")).collect();
            [crate::names::encode(n), hex]
        })
        .collect()
}

/// Attributes back from their text form; pairs that do not decode are left out.
pub fn from_text(text: &[[String; 2]]) -> Vec<Xattr> {
    text.iter()
        .filter_map(|[name, hex]| {
            let name = crate::names::decode(name)?;
            let value = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
                .collect::<Option<Vec<u8>>>()?;
            Some((name, value))
        })
        .collect()
}

/// The attributes of `path` as text ([`to_text`]); empty when it has none.
pub fn read_text(path: &Path) -> io::Result<Vec<[String; 2]>> {
    read_all(path).map(|a| to_text(&a))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_attributes_copy_and_compare() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::fs::write(&a, b"x").expect("write");
        std::fs::write(&b, b"x").expect("write");
        if let Err(e) = set(&a, b"user.color", b"blue") {
            eprintln!("skipped: this filesystem holds no user attributes ({e})");
            return;
        }
        set(&b, b"user.stale", b"1").expect("set stale");
        let failed = copy(&a, &b).expect("copy");
        assert!(failed.is_empty(), "{failed:?}");
        let (sa, sb) = (read_all(&a).expect("a"), read_all(&b).expect("b"));
        assert_eq!(sa, sb);
        assert!(differences(&sa, &sb).is_empty());
        assert_eq!(from_text(&to_text(&sa)), sa);
        set(&b, b"user.color", b"red").expect("set");
        assert_eq!(
            differences(&sa, &read_all(&b).expect("b")),
            vec!["extended attribute user.color differs".to_string()]
        );
    }
}
