//! A throwaway sshd on 127.0.0.1 (never any other address), with its own
//! host key, config, pid file and a client key that is the only one it
//! accepts. Tests log in as root.

use super::skip::{self, Prereq};
use super::{describe, sh_quote, temp_dir, tool_cmd, try_run, unique_name, wait_until};
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const HOST: &str = "127.0.0.1";
const USER: &str = "root";
/// sshd's privilege separation directory; it refuses to start without it.
const PRIVSEP_DIR: &str = "/run/sshd";

/// An sshd child process, killed (and its files removed) when dropped.
pub struct Sshd {
    name: String,
    child: Child,
    port: u16,
    key: PathBuf,
    log: PathBuf,
    /// Holds the keys, config, pid file and log; removed on drop. `None`
    /// only while a failed start moves it on to the next attempt.
    dir: Option<tempfile::TempDir>,
}

impl Sshd {
    /// What this fixture needs: root (it logs in as root), `sshd`, `ssh`,
    /// `ssh-keygen`.
    pub fn prerequisites() -> Prereq {
        skip::all([skip::root(), skip::tools(&["sshd", "ssh", "ssh-keygen"])])
    }

    /// Starts sshd on a free port of 127.0.0.1 and waits until a real
    /// `ssh ... true` login works; panics with the reason (and sshd's log)
    /// if it cannot.
    pub fn start() -> Self {
        match Self::try_start() {
            Ok(sshd) => sshd,
            Err(e) => panic!("sshd fixture: {e}"),
        }
    }

    /// Like [`Self::start`], returning the reason instead of panicking.
    pub fn try_start() -> Result<Self, String> {
        let sshd_bin = skip::find_tool("sshd").ok_or("`sshd` not found")?;
        // sshd re-executes itself and insists on an absolute path.
        let sshd_bin = std::fs::canonicalize(&sshd_bin).unwrap_or(sshd_bin);
        ensure_privsep_dir()?;

        let name = unique_name("cutover_sshd");
        let dir = temp_dir(&name)?;
        let host_key = dir.path().join("host_ed25519");
        let key = dir.path().join("client_ed25519");
        for (path, comment) in [
            (&host_key, "cutover test host"),
            (&key, "cutover test client"),
        ] {
            try_run(
                tool_cmd(
                    "ssh-keygen",
                    ["-q", "-N", "", "-t", "ed25519", "-C", comment, "-f"],
                )
                .arg(path),
            )?;
        }
        let config = dir.path().join("sshd_config");
        let log = dir.path().join("sshd.log");
        let pid_file = dir.path().join("sshd.pid");

        // The port is picked by binding port 0 and letting it go, so another
        // process may grab it in between: then sshd cannot bind, and we retry.
        let mut last_err = String::new();
        let mut dir = Some(dir);
        for _ in 0..5 {
            let port = free_port()?;
            write_config(&config, port, &host_key, &key, &pid_file)?;
            let log_file = std::fs::File::create(&log)
                .map_err(|e| format!("cannot create {}: {e}", log.display()))?;
            let mut command = Command::new(&sshd_bin);
            command
                .arg("-D")
                .arg("-e")
                .arg("-f")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log_file);
            let child = command
                .spawn()
                .map_err(|e| format!("cannot start `{}`: {e}", describe(&command)))?;
            let mut sshd = Self {
                name: name.clone(),
                child,
                port,
                key: key.clone(),
                log: log.clone(),
                dir,
            };
            match sshd.wait_ready(Duration::from_secs(30)) {
                Ok(()) => return Ok(sshd),
                Err(e) => {
                    let log_text = sshd.log();
                    last_err = format!("{e}; sshd log:\n{}", log_text.trim());
                    let port_taken = log_text.contains("Address already in use")
                        || log_text.contains("Cannot bind");
                    sshd.stop();
                    if !port_taken {
                        return Err(last_err);
                    }
                    dir = sshd.dir.take();
                }
            }
        }
        Err(last_err)
    }

    /// Waits until sshd listens and a real login runs `true`.
    fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let mut exited = None;
        let mut last = String::from("no login attempted yet");
        let ok = wait_until(timeout, Duration::from_millis(100), || {
            if let Ok(Some(status)) = self.child.try_wait() {
                exited = Some(status);
                return true;
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_err() {
                return false;
            }
            match self.try_run("true") {
                Ok(_) => true,
                Err(e) => {
                    last = e;
                    false
                }
            }
        });
        match exited {
            Some(status) => Err(format!("sshd exited ({status})")),
            None if ok => Ok(()),
            None => Err(format!(
                "no ssh login within {} s; last attempt: {last}",
                timeout.as_secs()
            )),
        }
    }

    /// The pid of the sshd process (the listener).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The port sshd listens on (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Always `127.0.0.1`.
    pub fn host(&self) -> &'static str {
        HOST
    }

    /// `root@127.0.0.1`.
    pub fn user_host(&self) -> String {
        format!("{USER}@{HOST}")
    }

    /// The private key sshd accepts (`ssh -i`).
    pub fn key_path(&self) -> &Path {
        &self.key
    }

    /// The client options, without the destination: identity, port, no host
    /// key checking or known_hosts, batch mode, quiet, connect timeout.
    /// `ssh <ssh_args()> <user_host()> <remote command>`.
    pub fn ssh_args(&self) -> Vec<String> {
        let mut args = vec![
            "-i".to_string(),
            self.key.to_string_lossy().into_owned(),
            "-p".to_string(),
            self.port.to_string(),
        ];
        for opt in [
            "IdentitiesOnly=yes",
            "StrictHostKeyChecking=no",
            "UserKnownHostsFile=/dev/null",
            "GlobalKnownHostsFile=/dev/null",
            "BatchMode=yes",
            "LogLevel=ERROR",
            "ConnectTimeout=10",
        ] {
            args.push("-o".to_string());
            args.push(opt.to_string());
        }
        args
    }

    /// The whole ssh client command as one string, words shell-quoted, for
    /// `rsync -e` (rsync honours the quotes) or a shell.
    pub fn rsh(&self) -> String {
        let ssh = skip::find_tool("ssh").unwrap_or_else(|| PathBuf::from("ssh"));
        std::iter::once(ssh.to_string_lossy().into_owned())
            .chain(self.ssh_args())
            .map(|w| sh_quote(&w))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// `ssh <ssh_args> root@127.0.0.1 <remote>`, not yet run. `remote` is
    /// interpreted by the remote shell: quote words with
    /// [`super::sh_quote`].
    pub fn ssh_command(&self, remote: &str) -> Command {
        let mut c = tool_cmd("ssh", self.ssh_args());
        c.arg(self.user_host()).arg(remote);
        c
    }

    /// Runs `remote` over ssh; its stdout, or an error with its stderr.
    pub fn try_run(&self, remote: &str) -> Result<String, String> {
        try_run(self.ssh_command(remote))
    }

    /// Runs `remote` over ssh and returns its stdout; panics with stderr and
    /// sshd's log on failure.
    pub fn run(&self, remote: &str) -> String {
        match self.try_run(remote) {
            Ok(out) => out,
            Err(e) => panic!(
                "sshd fixture {}: {e}\nsshd log:\n{}",
                self.name,
                self.log().trim()
            ),
        }
    }

    /// What sshd has logged so far (it runs with `-e`).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then SIGKILL after 5 s; reaps the child.
    fn stop(&mut self) {
        if !matches!(self.child.try_wait(), Ok(None)) {
            return;
        }
        if let Ok(pid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: kill has no memory-safety preconditions; pid is our
            // own child, not yet reaped, so it cannot have been reused.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let exited = wait_until(Duration::from_secs(5), Duration::from_millis(20), || {
            !matches!(self.child.try_wait(), Ok(None))
        });
        if !exited {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.stop();
        // `dir` (keys, config, log) is removed when the field drops.
    }
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| format!("cannot bind 127.0.0.1:0: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("cannot read the picked port: {e}"))
}

fn ensure_privsep_dir() -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let dir = Path::new(PRIVSEP_DIR);
    if !dir.is_dir() {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {PRIVSEP_DIR}: {e}"))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| format!("cannot chmod {PRIVSEP_DIR}: {e}"))?;
    }
    Ok(())
}

fn write_config(
    path: &Path,
    port: u16,
    host_key: &Path,
    client_key: &Path,
    pid_file: &Path,
) -> Result<(), String> {
    let authorized = client_key.with_extension("pub");
    let text = format!(
        "# cutover test fixture: loopback only, one throwaway key\n\
         Port {port}\n\
         ListenAddress {HOST}\n\
         AddressFamily inet\n\
         HostKey {host}\n\
         PidFile {pid}\n\
         AuthorizedKeysFile {auth}\n\
         StrictModes no\n\
         PermitRootLogin yes\n\
         UsePAM no\n\
         PubkeyAuthentication yes\n\
         PasswordAuthentication no\n\
         KbdInteractiveAuthentication no\n\
         AllowUsers {USER}\n\
         PrintMotd no\n\
         UseDNS no\n\
         MaxStartups 100\n\
         MaxSessions 100\n\
         Subsystem sftp internal-sftp\n",
        host = host_key.display(),
        pid = pid_file.display(),
        auth = authorized.display(),
    );
    std::fs::File::create(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// SSH options of a test node: the throwaway key only, no host key check
/// (the host key is new every run), quiet. An operator's choice in
/// nodes.toml — cutover never adds them itself.
pub const TRUSTING: &[&str] = &[
    "IdentitiesOnly=yes",
    "StrictHostKeyChecking=no",
    "UserKnownHostsFile=/dev/null",
    "GlobalKnownHostsFile=/dev/null",
    "LogLevel=ERROR",
];

/// A port nothing listens on (bound, then closed).
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    l.local_addr().expect("its address").port()
}
