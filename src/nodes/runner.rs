//! One way to run a command on any node: locally as an argument list, or
//! over SSH with the remote command quoted argument by argument (never a
//! pasted shell string) and one shared connection per node (ControlMaster).
//! SSH failures become one line naming the node and what to do.

use std::path::{Path, PathBuf};

use super::file::{Node, Ssh};

/// What a command printed and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ran {
    /// Its exit code (-1: killed by a signal).
    pub code: i32,
    /// What it printed.
    pub stdout: String,
    /// What it complained about.
    pub stderr: String,
}

impl Ran {
    /// Its complaint as one line (see [`one_line`]), for an error message.
    pub fn complaint(&self) -> String {
        one_line(&self.stderr)
    }
}

/// A command's output as one line: its non-empty lines joined (zfs and
/// rsync wrap their messages), cut at 400 characters; "no message" when
/// there is none. Operator errors stay one line.
pub fn one_line(text: &str) -> String {
    let mut line: String = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if line.is_empty() {
        return "no message".to_string();
    }
    if line.len() > 400 {
        let cut = (0..=400)
            .rev()
            .find(|i| line.is_char_boundary(*i))
            .unwrap_or(0);
        line.truncate(cut);
        line.push('…');
    }
    line
}

/// `word` quoted for a POSIX shell: the remote side of SSH reads the
/// command through the user's shell, so every argument is quoted alone.
pub fn quote(word: &str) -> String {
    crate::sys::cmd::shell_word(std::ffi::OsStr::new(word))
}

/// Where a node's shared connection's socket lives: the state directory's
/// `ssh/NODE/`, or a short directory under /tmp when that path is too long
/// for a socket. One directory per node: two nodes reached through the same
/// `user@host:port` (aliases of one machine) still get a connection each.
fn control_dir(state_dir: &Path, node: &str) -> PathBuf {
    let plain = !node.is_empty()
        && node.len() <= 24
        && node
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        && !node.starts_with('.');
    let leaf = if plain {
        node.to_string()
    } else {
        blake3::hash(node.as_bytes()).to_hex()[..16].to_string()
    };
    let dir = state_dir.join("ssh").join(&leaf);
    // A socket path is limited (~104 bytes); %C adds 40 characters.
    if dir.as_os_str().len() + 42 < 100 {
        return dir;
    }
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    std::env::temp_dir()
        .join(format!("cutover-ssh-{uid}"))
        .join(leaf)
}

/// The ssh client's arguments for `ssh` and the remote command `argv`.
pub fn ssh_args(ssh: &Ssh, control: &Path, argv: &[String]) -> Vec<String> {
    let mut args: Vec<String> = [
        "ControlMaster=auto".to_string(),
        format!("ControlPath={}/%C", control.display()),
        "ControlPersist=60".to_string(),
        "BatchMode=yes".to_string(),
        "ConnectTimeout=10".to_string(),
    ]
    .into_iter()
    .flat_map(|o| ["-o".to_string(), o])
    .collect();
    if let Some(port) = ssh.port {
        args.extend(["-p".to_string(), port.to_string()]);
    }
    if let Some(id) = &ssh.identity {
        args.extend(["-i".to_string(), id.display().to_string()]);
    }
    for o in &ssh.options {
        args.extend(["-o".to_string(), o.clone()]);
    }
    args.push(ssh.destination.clone());
    args.push(argv.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" "));
    args
}

/// Runs commands on one node.
pub struct NodeRunner<'a> {
    node: &'a Node,
    control: PathBuf,
}

impl<'a> NodeRunner<'a> {
    /// A runner for `node`, sharing its SSH connection under `state_dir`.
    pub fn new(node: &'a Node, state_dir: &Path) -> Self {
        NodeRunner {
            node,
            control: control_dir(state_dir, &node.name),
        }
    }

    /// The node this runner runs on.
    pub fn node(&self) -> &Node {
        self.node
    }

    /// `argv` on the node as an unstarted expression, for streams (`zfs
    /// send` into a pipe, `zfs receive` from one): local, or `ssh` through
    /// the node's shared connection. The caller sets stdin/stdout and reads
    /// the exit code; an ssh exit of 255 is the connection's failure
    /// ([`ssh_failure`]).
    pub fn expression(&self, argv: &[String]) -> Result<duct::Expression, String> {
        let Some((program, args)) = argv.split_first() else {
            return Err("nothing to run".into());
        };
        match &self.node.ssh {
            None => Ok(duct::cmd(program, args)),
            Some(ssh) => {
                crate::state_dir::create(&self.control)
                    .map_err(|e| format!("node {}: {e}", self.node.name))?;
                Ok(duct::cmd("ssh", ssh_args(ssh, &self.control, argv)))
            }
        }
    }

    /// The remote shell for tools that run ssh themselves (rsync's `-e`):
    /// `ssh` with the node's options and its shared connection, each word
    /// quoted alone; `None` for a local node.
    pub fn rsh(&self) -> Result<Option<String>, String> {
        let Some(ssh) = &self.node.ssh else {
            return Ok(None);
        };
        crate::state_dir::create(&self.control)
            .map_err(|e| format!("node {}: {e}", self.node.name))?;
        let mut words = ssh_args(ssh, &self.control, &[]);
        // Without the destination and the (empty) remote command.
        words.truncate(words.len().saturating_sub(2));
        let mut line = vec!["ssh".to_string()];
        line.extend(words.iter().map(|w| quote(w)));
        Ok(Some(line.join(" ")))
    }

    /// Run `argv` on the node; an SSH failure is an error naming the node.
    pub fn run(&self, argv: &[String]) -> Result<Ran, String> {
        let program = argv.first().map(String::as_str).unwrap_or_default();
        let out = self
            .expression(argv)?
            .stdout_capture()
            .stderr_capture()
            .stdin_null()
            .unchecked()
            .run()
            .map_err(|e| match &self.node.ssh {
                Some(_) => format!(
                    "node {}: cannot run ssh ({e}); install openssh-client",
                    self.node.name
                ),
                None => format!("cannot run {program}: {e}"),
            })?;
        let ran = Ran {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        match &self.node.ssh {
            Some(ssh) if ran.code == 255 => Err(ssh_failure(&self.node.name, ssh, &ran.stderr)),
            _ => Ok(ran),
        }
    }
}

/// One line on why SSH to `node` failed, and what to do.
pub fn ssh_failure(node: &str, ssh: &Ssh, stderr: &str) -> String {
    let host = ssh
        .destination
        .rsplit_once('@')
        .map_or(ssh.destination.as_str(), |(_, h)| h);
    let port = ssh.port.unwrap_or(22);
    let last = stderr.trim().lines().last().unwrap_or_default().trim();
    if stderr.contains("REMOTE HOST IDENTIFICATION HAS CHANGED") {
        format!("node {node}: the host key of {host} changed: if that is expected, remove the old key (ssh-keygen -R {host}) and check the new one; otherwise do not connect")
    } else if stderr.contains("Host key verification failed")
        || stderr.contains("No ED25519 host key")
    {
        format!("node {node}: the host key of {host} is not known: check it and add it to known_hosts (ssh-keyscan -p {port} {host})")
    } else if stderr.contains("Permission denied") {
        format!(
            "node {node}: {} refused the login: check the node's user and identity",
            ssh.destination
        )
    } else if stderr.contains("Connection refused") {
        format!("node {node}: nothing listens on {host}:{port} (connection refused): check the port and that sshd runs")
    } else if stderr.contains("timed out") {
        format!("node {node}: no answer from {host}:{port} (timed out)")
    } else if stderr.contains("Could not resolve") {
        format!("node {node}: the host name {host} does not resolve")
    } else {
        format!("node {node}: ssh failed: {last}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_complaint_is_one_line() {
        let zfs = "cannot receive new filesystem stream:\n  destination 'tank/x' exists\n\n  must specify -F to overwrite it\n";
        assert_eq!(
            one_line(zfs),
            "cannot receive new filesystem stream: destination 'tank/x' exists must specify -F to overwrite it"
        );
        assert_eq!(one_line("  \n"), "no message");
        let long = "é".repeat(300);
        let cut = one_line(&long);
        assert!(cut.len() <= 403 && cut.ends_with('…'), "{}", cut.len());
    }

    #[test]
    fn every_word_is_quoted_alone() {
        assert_eq!(quote("zfs"), "zfs");
        assert_eq!(quote("pool/app data"), "'pool/app data'");
        assert_eq!(quote("$(rm -rf /)"), "'$(rm -rf /)'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote(""), "''");
        let ssh = Ssh {
            destination: "root@127.0.0.1".into(),
            port: Some(2222),
            identity: None,
            options: vec!["StrictHostKeyChecking=no".into()],
        };
        let args = ssh_args(&ssh, Path::new("/s"), &["touch".into(), "a b;c".into()]);
        assert_eq!(args.last().map(String::as_str), Some("touch 'a b;c'"));
        assert!(args.windows(2).any(|w| w == ["-p", "2222"]));
        assert!(args.contains(&"ControlPath=/s/%C".to_string()));
        assert!(!args
            .iter()
            .any(|a| a.contains("StrictHostKeyChecking=no") && a != "StrictHostKeyChecking=no"));
    }

    #[test]
    fn ssh_failures_say_what_to_do() {
        let ssh = Ssh {
            destination: "root@10.0.0.9".into(),
            port: None,
            identity: None,
            options: Vec::new(),
        };
        let refused = ssh_failure(
            "beta",
            &ssh,
            "ssh: connect to host 10.0.0.9 port 22: Connection refused\n",
        );
        assert!(
            refused.starts_with("node beta: nothing listens on 10.0.0.9:22"),
            "{refused}"
        );
        let key = ssh_failure("beta", &ssh, "Host key verification failed.\n");
        assert!(key.contains("ssh-keyscan -p 22 10.0.0.9"), "{key}");
        let denied = ssh_failure(
            "beta",
            &ssh,
            "root@10.0.0.9: Permission denied (publickey).\n",
        );
        assert!(denied.contains("refused the login"), "{denied}");
    }
}
