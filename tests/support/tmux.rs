//! A tmux server of a test's own, to drive the console in a real terminal.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// A tmux server of the test's own (its own socket), with one session.
pub struct Tmux {
    socket: std::path::PathBuf,
    session: String,
}

impl Tmux {
    /// A server on `socket`; the session is started by the test (`new-session -s SESSION`).
    pub fn new(socket: std::path::PathBuf, session: &str) -> Tmux {
        Tmux {
            socket,
            session: session.to_string(),
        }
    }

    /// Start the session, `width` x `height`, running `command` (a shell line).
    pub fn start(&self, width: u16, height: u16, command: &str) {
        let (w, h) = (width.to_string(), height.to_string());
        self.ok(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-x",
            &w,
            "-y",
            &h,
            "-s",
            &self.session,
            command,
        ]);
    }

    /// Send keys (tmux key names, or `-l TEXT` for literal text).
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", self.session.as_str()];
        args.extend_from_slice(keys);
        self.ok(&args);
    }

    /// `tmux -S SOCKET ARGS…`.
    pub fn cmd(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .env("LANG", "C.UTF-8")
            .env("LC_ALL", "C.UTF-8")
            .output()
            .expect("run tmux")
    }

    /// `tmux ARGS…`, which must succeed.
    pub fn ok(&self, args: &[&str]) {
        let out = self.cmd(args);
        assert!(
            out.status.success(),
            "tmux {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The session's screen (`capture-pane -p`).
    pub fn screen(&self) -> String {
        String::from_utf8_lossy(
            &self
                .cmd(&["capture-pane", "-p", "-t", &self.session])
                .stdout,
        )
        .into_owned()
    }

    /// `display-message -p FORMAT`.
    pub fn display(&self, format: &str) -> String {
        String::from_utf8_lossy(
            &self
                .cmd(&["display-message", "-p", "-t", &self.session, format])
                .stdout,
        )
        .trim()
        .to_string()
    }

    /// Wait until `done`, or panic showing the screen.
    pub fn wait_for(&self, what: &str, timeout: Duration, mut done: impl FnMut(&Tmux) -> bool) {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if done(self) {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!(
            "timed out after {timeout:?} waiting for {what}; the screen:\n{}",
            self.screen()
        );
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

/// Whether tmux runs here.
pub fn tmux_installed() -> bool {
    Command::new("tmux")
        .arg("-V")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}
