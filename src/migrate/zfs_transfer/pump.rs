//! The data path: a producer on one node (`zfs send`) piped through
//! cutover into a consumer on another (`zfs receive`), with a large buffer,
//! an exact byte count, and a rate limit read from a shared atomic at every
//! chunk, so it can change while the stream runs.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::job::ItemCtx;
use crate::nodes::runner::{ssh_failure, NodeRunner};

/// Bytes moved per read and write.
const CHUNK: usize = 1 << 20;

/// A rate limit in bytes per second shared between a job and whoever may
/// change it while the job runs (0: none).
#[derive(Debug, Clone, Default)]
pub struct RateLimit(Arc<AtomicU64>);

impl RateLimit {
    /// A limit of `bytes_per_s` (0: none).
    pub fn new(bytes_per_s: u64) -> Self {
        RateLimit(Arc::new(AtomicU64::new(bytes_per_s)))
    }

    /// The limit now, bytes per second (0: none).
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Change the limit (0: none); a running stream follows at its next chunk.
    pub fn set(&self, bytes_per_s: u64) {
        self.0.store(bytes_per_s, Ordering::Relaxed);
    }

    /// The shared atomic itself (for the console's key).
    pub fn shared(&self) -> Arc<AtomicU64> {
        self.0.clone()
    }
}

/// `50M`, `512K`, `1G` (1024-based) or a bare number of KiB (as rsync's
/// `--bwlimit`) into bytes per second; `0` means no limit.
pub fn parse_rate(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let mult: u64 = match c.to_ascii_uppercase() {
                'B' => 1,
                'K' => 1 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                _ => {
                    return Err(format!(
                        "--bwlimit '{text}': use a number with K, M or G (e.g. 50M)"
                    ))
                }
            };
            (&t[..i], mult)
        }
        _ => (t, 1 << 10),
    };
    let n: f64 = num
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite() && *n >= 0.0)
        .ok_or_else(|| format!("--bwlimit '{text}': use a number with K, M or G (e.g. 50M)"))?;
    Ok((n * mult as f64) as u64)
}

/// How a stream ended well: the bytes that crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pumped {
    /// Bytes of the stream.
    pub bytes: u64,
    /// Bytes the sender wrote after the receiver had taken a whole stream and ended.
    pub trailing: u64,
    /// Time the stream took.
    pub elapsed: Duration,
}

/// What one side printed when it failed, as one line naming its node.
fn failed(runner: &NodeRunner, what: &str, code: Option<i32>, stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let node = runner.node();
    if let (Some(ssh), Some(255)) = (&node.ssh, code) {
        return ssh_failure(&node.name, ssh, &text);
    }
    let how = match (code, &node.ssh) {
        (Some(c), _) => format!("exit {c}"),
        (None, Some(_)) => "ssh was killed: the connection was cut".to_string(),
        (None, None) => "killed".to_string(),
    };
    // The whole complaint on one line (zfs wraps its messages).
    let last = if text.trim().is_empty() {
        String::new()
    } else {
        crate::nodes::runner::one_line(&text)
    };
    let why = if last.is_empty() {
        how
    } else {
        format!("{last} ({how})")
    };
    format!("node {}: {what} failed: {why}", node.name)
}

/// A pipe's capacity raised to [`CHUNK`] (fewer wake-ups); a refusal
/// (a lower system limit) keeps the default.
fn widen(fd: &impl AsRawFd) {
    // SAFETY: fcntl on a file descriptor we own; failure is harmless.
    unsafe {
        libc::fcntl(fd.as_raw_fd(), libc::F_SETPIPE_SZ, CHUNK as libc::c_int);
    }
}

/// Move up to `len` bytes from pipe `from` to pipe `to` in the kernel
/// (splice); `Ok(0)` at the end of the stream.
fn splice(from: &impl AsRawFd, to: &impl AsRawFd, len: usize) -> std::io::Result<usize> {
    // SAFETY: both descriptors are open pipes we own; null offsets are
    // what splice takes for pipes.
    let n = unsafe {
        libc::splice(
            from.as_raw_fd(),
            std::ptr::null_mut(),
            to.as_raw_fd(),
            std::ptr::null_mut(),
            len,
            libc::SPLICE_F_MOVE | libc::SPLICE_F_MORE,
        )
    };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// One step of the stream: spliced, or (where splice is refused) read and
/// written through `buf`.
fn step(
    from: &mut std::io::PipeReader,
    to: &mut std::io::PipeWriter,
    buf: &mut Vec<u8>,
) -> Result<usize, String> {
    if buf.is_empty() {
        match splice(from, to, CHUNK) {
            Ok(n) => return Ok(n),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => buf.resize(CHUNK, 0),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return step(from, to, buf),
            Err(e) => return Err(format!("moving the stream: {e}")),
        }
    }
    let n = loop {
        match from.read(buf) {
            Ok(n) => break n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("reading the stream: {e}")),
        }
    };
    to.write_all(&buf[..n])
        .map_err(|e| format!("writing the stream: {e}"))?;
    Ok(n)
}

/// Run `producer` on `from`, `consumer` on `to`, and pump the bytes from
/// one to the other through two pipes cutover holds (spliced in the kernel,
/// no copy through user space); progress is counted in `ctx` as bytes. Both
/// sides are waited for; the first failure (or a cancellation) is the error.
pub fn pump(
    from: (&NodeRunner, &[String], &str),
    to: (&NodeRunner, &[String], &str),
    limit: &RateLimit,
    ctx: &ItemCtx,
) -> Result<Pumped, String> {
    let started = Instant::now();
    let pipe = || std::io::pipe().map_err(|e| format!("cannot make a pipe: {e}"));
    let (in_read, mut in_write) = pipe()?;
    let (mut out_read, out_write) = pipe()?;
    widen(&in_write);
    widen(&out_read);
    // Each expression holds our copy of the child's end: dropped after the
    // start, so a dead side ends the stream instead of blocking it.
    let consumer =
        to.0.expression(to.1)?
            .stdin_file(in_read)
            .stdout_null()
            .stderr_capture()
            .unchecked()
            .start()
            .map_err(|e| format!("node {}: cannot start {}: {e}", to.0.node().name, to.2))?;
    let producer = from
        .0
        .expression(from.1)?
        .stdout_file(out_write)
        .stderr_capture()
        .stdin_null()
        .unchecked()
        .start();
    let producer = match producer {
        Ok(p) => p,
        Err(e) => {
            let _ = consumer.kill();
            return Err(format!(
                "node {}: cannot start {}: {e}",
                from.0.node().name,
                from.2
            ));
        }
    };
    let mut buf = Vec::new();
    let mut bytes = 0u64;
    // The limit is kept over a window that restarts when it changes.
    let (mut window_start, mut window_bytes, mut window_limit) =
        (Instant::now(), 0u64, limit.get());
    let mut broken: Option<String> = None;
    let mut trailing = 0u64;
    loop {
        if ctx.cancelled() {
            broken = Some("cancelled by the operator".into());
            break;
        }
        let n = match step(&mut out_read, &mut in_write, &mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.contains("Broken pipe") && ended_well(&consumer) => {
                // The receive took a whole stream and ended well: what the
                // sender still writes is past the stream's end record.
                trailing = drain(&mut out_read, &mut buf);
                break;
            }
            Err(e) => {
                broken = Some(e);
                break;
            }
        };
        bytes += n as u64;
        ctx.progress.add(0, n as u64);
        let now_limit = limit.get();
        if now_limit != window_limit {
            (window_start, window_bytes, window_limit) = (Instant::now(), 0, now_limit);
        }
        window_bytes += n as u64;
        if window_limit > 0 {
            let due = Duration::from_secs_f64(window_bytes as f64 / window_limit as f64);
            let spent = window_start.elapsed();
            if due > spent {
                std::thread::sleep(due - spent);
            }
        }
    }
    drop(in_write);
    drop(out_read);
    if broken.is_some() {
        let _ = producer.kill();
    }
    let out_to = consumer.wait();
    let out_from = producer.wait();
    let to_err = match out_to {
        Ok(o) if o.status.success() && broken.is_some() => Some(format!(
            "node {}: {} ended before the stream did: {}",
            to.0.node().name,
            to.2,
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Ok(o) if o.status.success() => None,
        Ok(o) => Some(failed(to.0, to.2, o.status.code(), &o.stderr)),
        Err(e) => Some(format!("node {}: {e}", to.0.node().name)),
    };
    let from_err = match out_from {
        Ok(o) if o.status.success() => None,
        Ok(_) if broken.is_some() && to_err.is_some() => None,
        Ok(o) => Some(failed(from.0, from.2, o.status.code(), &o.stderr)),
        Err(e) => Some(format!("node {}: {e}", from.0.node().name)),
    };
    // The most telling first: a side's own complaint, then the pipe's.
    if let Some(why) = broken {
        if why.starts_with("cancelled") {
            return Err(why);
        }
        return Err(to_err.or(from_err).unwrap_or(why));
    }
    if let Some(e) = to_err.or(from_err) {
        return Err(e);
    }
    Ok(Pumped {
        bytes,
        trailing,
        elapsed: started.elapsed(),
    })
}

/// Whether the consuming side has ended, successfully (waited briefly).
fn ended_well(consumer: &duct::Handle) -> bool {
    matches!(
        consumer.wait_timeout(Duration::from_secs(5)),
        Ok(Some(o)) if o.status.success()
    )
}

/// Read the rest of a stream, counting it.
fn drain(from: &mut std::io::PipeReader, buf: &mut Vec<u8>) -> u64 {
    buf.resize(CHUNK, 0);
    let mut n = 0u64;
    loop {
        match from.read(buf) {
            Ok(0) => return n,
            Ok(k) => n += k as u64,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_like_rsyncs() {
        assert_eq!(parse_rate("50M"), Ok(50 << 20));
        assert_eq!(parse_rate("512k"), Ok(512 << 10));
        assert_eq!(parse_rate("1.5G"), Ok(3 << 29));
        assert_eq!(parse_rate("100"), Ok(100 << 10));
        assert_eq!(parse_rate("0"), Ok(0));
        assert!(parse_rate("fast").is_err());
        assert!(parse_rate("5X").is_err());
        assert!(parse_rate("-1M").is_err());
        let l = RateLimit::new(5);
        l.shared().store(7, Ordering::Relaxed);
        assert_eq!(l.get(), 7);
    }
}
