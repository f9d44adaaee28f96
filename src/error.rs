//! Errors that reach the operator. Each one is a single line that names the
//! thing at fault and what to do; the variant decides the exit code.

use std::fmt;
use std::path::Path;

/// An error of cutover, classified by what the operator can do about it.
#[derive(Debug)]
pub enum Error {
    /// The operator asked for something that cannot be done (exit 2, nothing written).
    BadInput(String),
    /// The state directory's journal is held by another cutover process (exit 2).
    Locked(String),
    /// A system call or external command failed before the work started (exit 2).
    Io(String),
    /// The journal could not be read or written.
    Journal(String),
    /// Standard output was closed by its reader (`| head`): a normal end,
    /// exit 0, nothing printed.
    StdoutClosed,
}

impl Error {
    /// A bad-input error from a message.
    pub fn bad(msg: impl Into<String>) -> Self {
        Error::BadInput(msg.into())
    }

    /// An I/O error with the path it happened on.
    pub fn io(what: &str, path: &Path, err: &std::io::Error) -> Self {
        Error::Io(format!("{what} {}: {err}", crate::display_path(path)))
    }

    /// The process exit code this error maps to.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::StdoutClosed => 0,
            _ => 2,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BadInput(m) | Error::Locked(m) | Error::Io(m) | Error::Journal(m) => {
                f.write_str(m)
            }
            Error::StdoutClosed => f.write_str("standard output closed"),
        }
    }
}

impl std::error::Error for Error {}

/// Result with cutover's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
