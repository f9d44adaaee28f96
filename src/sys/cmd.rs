//! Running an external program from an argument list (never a shell
//! string). A failure is one line naming the command line, as an operator
//! could paste it, and what the program wrote on stderr.

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

/// What a finished command printed.
#[derive(Debug, Clone)]
pub struct Output {
    /// Its exit status (0: success).
    pub code: i32,
    /// Standard output, lossily decoded.
    pub stdout: String,
    /// Standard error, lossily decoded and trimmed.
    pub stderr: String,
}

/// A command that could not be run or did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmdError {
    /// The command line, shell-quoted.
    pub line: String,
    /// What went wrong: its stderr, or why it could not start.
    pub why: String,
}

impl std::fmt::Display for CmdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}` failed: {}", self.line, self.why)
    }
}

impl std::error::Error for CmdError {}

/// The full path of `program`: found in `PATH`, then in the sbin
/// directories where `zfs`, `zpool` and `btrfs` live (a service's `PATH`
/// may lack them). Unknown programs are returned as given.
pub fn program(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

/// Whether `name` is installed (see [`program`]).
pub fn installed(name: &str) -> bool {
    program(name).is_absolute()
}

/// `name args…` as an operator would type it, each word quoted if needed.
pub fn line<S: AsRef<OsStr>>(name: &str, args: &[S]) -> String {
    std::iter::once(shell_word(OsStr::new(name)))
        .chain(args.iter().map(|a| shell_word(a.as_ref())))
        .collect::<Vec<_>>()
        .join(" ")
}

/// One word for a POSIX shell: left alone when it is plain, else
/// single-quoted (for lines shown to the operator, and for the remote side
/// of SSH, which reads a command through the user's shell).
pub fn shell_word(word: &OsStr) -> String {
    let s = word.to_string_lossy();
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./@:=,%+".contains(&b));
    if plain {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Run `name args…` and wait; any exit status is returned (see [`run`]
/// for the usual "must succeed").
pub fn output<S: AsRef<OsStr>>(name: &str, args: &[S]) -> Result<Output, CmdError> {
    let argv: Vec<OsString> = args.iter().map(|a| a.as_ref().to_os_string()).collect();
    let out = duct::cmd(program(name), argv)
        .stdin_null()
        .stdout_capture()
        .stderr_capture()
        .unchecked()
        .run()
        .map_err(|e| CmdError {
            line: line(name, args),
            why: format!("cannot start it: {e}"),
        })?;
    Ok(Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    })
}

/// Run `name args…`; its stdout when it exits 0, else an error with the
/// command line and its stderr (or exit status when stderr is empty).
pub fn run<S: AsRef<OsStr>>(name: &str, args: &[S]) -> Result<String, CmdError> {
    let out = output(name, args)?;
    if out.code == 0 {
        return Ok(out.stdout);
    }
    let why = if out.stderr.is_empty() {
        format!("exit status {}", out.code)
    } else {
        out.stderr.lines().collect::<Vec<_>>().join(" / ")
    };
    Err(CmdError {
        line: line(name, args),
        why,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_quote_what_a_shell_would_split() {
        assert_eq!(
            line("zfs", &["snapshot", "tank/repo@s 1", "it's"]),
            r"zfs snapshot 'tank/repo@s 1' 'it'\''s'"
        );
        assert_eq!(line::<&str>("zpool", &["list", "-H"]), "zpool list -H");
    }

    #[test]
    fn a_failure_names_the_command_and_its_stderr() {
        let err = run("sh", &["-c", "echo nope >&2; exit 3"]).err();
        let err = err.map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(err, "`sh -c 'echo nope >&2; exit 3'` failed: nope");
        let missing = run::<&str>("cutover-no-such-program", &[]).err();
        assert!(missing.is_some_and(|e| e.why.starts_with("cannot start it")));
    }
}
