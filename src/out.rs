//! Standard output of the plain commands. A reader that goes away early
//! (`cutover jobs --json | head -1`) ends the command quietly with exit 0
//! ([`Error::StdoutClosed`]) instead of a panic, as `println!` would.

use std::fmt;
use std::io::Write;

use crate::error::{Error, Result};

/// Print one line (`format_args!` syntax) on standard output; `?` it.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::out::line(format_args!($($arg)*))
    };
}

/// Write one line to standard output; a closed pipe is [`Error::StdoutClosed`].
pub fn line(args: fmt::Arguments) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{args}")
        .and_then(|()| out.flush())
        .map_err(|e| of_io(&e))
}

/// What a failed write to standard output means for the command.
pub fn of_io(e: &std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Error::StdoutClosed
    } else {
        Error::Io(format!("cannot write to standard output: {e}"))
    }
}
