//! Running the built `cutover` binary in tests: one state directory per
//! test, NDJSON parsing, and readable failure output.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_cutover")
}

/// `cutover --state-dir STATE ARGS…`.
pub fn cutover<S: AsRef<OsStr>>(state: &Path, args: &[S]) -> Output {
    Command::new(bin())
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .output()
        .expect("run cutover")
}

/// `cutover run|verify KIND --source SRC --target DST --json EXTRA…`.
pub fn job(state: &Path, verb: &str, kind: &str, src: &Path, dst: &Path, extra: &[&str]) -> Output {
    let mut args: Vec<&OsStr> = vec![
        verb.as_ref(),
        kind.as_ref(),
        "--source".as_ref(),
        src.as_os_str(),
        "--target".as_ref(),
        dst.as_os_str(),
        "--json".as_ref(),
    ];
    args.extend(extra.iter().map(|s| OsStr::new(*s)));
    cutover(state, &args)
}

/// Every NDJSON line of stdout.
pub fn events(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

/// The last line, which must be the summary.
pub fn summary(out: &Output) -> Value {
    let last = events(out)
        .last()
        .cloned()
        .unwrap_or_else(|| panic!("{}", show(out)));
    assert_eq!(
        last["event"],
        "summary",
        "last line is the summary: {}",
        show(out)
    );
    last
}

/// Exit code, stdout and stderr, for assertion messages.
pub fn show(out: &Output) -> String {
    format!(
        "code {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Write a file, creating its parent directories.
pub fn write(path: &Path, bytes: &[u8]) {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).expect("mkdir");
    }
    std::fs::write(path, bytes).expect("write");
}

/// A temporary directory with `src/`, and paths for a target and a state dir.
pub struct Sandbox {
    _tmp: tempfile::TempDir,
    pub root: PathBuf,
    pub src: PathBuf,
    pub dst: PathBuf,
    pub state: PathBuf,
}

impl Sandbox {
    /// A fresh sandbox; `src` exists, `dst` and `state` do not.
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().to_path_buf();
        let src = root.join("src");
        std::fs::create_dir_all(&src).expect("mkdir src");
        Sandbox {
            src,
            dst: root.join("dst"),
            state: root.join("state"),
            root,
            _tmp: tmp,
        }
    }

    /// `cutover ARGS…` with this sandbox's state directory.
    pub fn cutover<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        cutover(&self.state, args)
    }

    /// `cutover VERB KIND --source src --target dst --json EXTRA…`.
    pub fn job(&self, verb: &str, kind: &str, extra: &[&str]) -> Output {
        job(&self.state, verb, kind, &self.src, &self.dst, extra)
    }
}

/// A cutover process started with its NDJSON stdout piped, read as it runs.
pub struct Running {
    pub child: std::process::Child,
    reader: std::io::BufReader<std::process::ChildStdout>,
}

impl Running {
    /// Start `cutover --state-dir STATE ARGS…` (stderr discarded).
    pub fn start<S: AsRef<OsStr>>(state: &Path, args: &[S]) -> Running {
        let mut child = Command::new(bin())
            .arg("--state-dir")
            .arg(state)
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start cutover");
        let stdout = child.stdout.take().expect("stdout");
        Running {
            child,
            reader: std::io::BufReader::new(stdout),
        }
    }

    /// Read events until `stop` accepts one; returns the events read (that
    /// one last), or every event if the output ended first.
    pub fn read_until(&mut self, mut stop: impl FnMut(&Value) -> bool) -> Vec<Value> {
        use std::io::BufRead;
        let mut seen = Vec::new();
        let mut line = String::new();
        loop {
            line.clear();
            if self.reader.read_line(&mut line).expect("read stdout") == 0 {
                return seen;
            }
            let v: Value =
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON: {line}: {e}"));
            let done = stop(&v);
            seen.push(v);
            if done {
                return seen;
            }
        }
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Wait for the end: the rest of stdout and the exit status.
    pub fn finish(mut self) -> (String, std::process::ExitStatus) {
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut self.reader, &mut rest).expect("read stdout");
        let status = self.child.wait().expect("wait");
        (rest, status)
    }

    /// kill -9 and reap.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
