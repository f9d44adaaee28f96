//! The data path: a producer on one node (`zfs send`) piped through
//! cutover into a consumer on another (`zfs receive`), with a large buffer,
//! an exact byte count, and a rate limit read from a shared atomic at every
//! chunk, so it can change while the stream runs.

use std::io::{Read, Write};
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
    let last = text.trim().lines().last().unwrap_or("").trim().to_string();
    let why = if last.is_empty() {
        how
    } else {
        format!("{last} ({how})")
    };
    format!("node {}: {what} failed: {why}", node.name)
}

/// Run `producer` on `from`, `consumer` on `to`, and pump the bytes from
/// one to the other; progress is counted in `ctx` as bytes. Both sides
/// are waited for; the first failure (or a cancellation) is the error.
pub fn pump(
    from: (&NodeRunner, &[String]),
    to: (&NodeRunner, &[String]),
    limit: &RateLimit,
    ctx: &ItemCtx,
) -> Result<Pumped, String> {
    let started = Instant::now();
    let (pipe_read, mut pipe_write) =
        std::io::pipe().map_err(|e| format!("cannot make a pipe: {e}"))?;
    let consumer = {
        // The expression holds our copy of the pipe's read end: dropped
        // after the start, so a dead consumer makes our writes fail.
        let expr =
            to.0.expression(to.1)?
                .stdin_file(pipe_read)
                .stdout_null()
                .stderr_capture()
                .unchecked();
        expr.start().map_err(|e| {
            format!(
                "node {}: cannot start {}: {e}",
                to.0.node().name,
                to.1.join(" ")
            )
        })?
    };
    let producer = from
        .0
        .expression(from.1)?
        .stderr_capture()
        .stdin_null()
        .unchecked()
        .reader();
    let mut producer = match producer {
        Ok(p) => p,
        Err(e) => {
            let _ = consumer.kill();
            return Err(format!(
                "node {}: cannot start {}: {e}",
                from.0.node().name,
                from.1.join(" ")
            ));
        }
    };
    let mut buf = vec![0u8; CHUNK];
    let mut bytes = 0u64;
    // The limit is kept over a window that restarts when it changes.
    let (mut window_start, mut window_bytes, mut window_limit) =
        (Instant::now(), 0u64, limit.get());
    let mut broken: Option<String> = None;
    loop {
        if ctx.cancelled() {
            broken = Some("cancelled by the operator".into());
            break;
        }
        let n = match producer.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                broken = Some(format!("reading the stream: {e}"));
                break;
            }
        };
        if let Err(e) = pipe_write.write_all(&buf[..n]) {
            broken = Some(format!("writing the stream: {e}"));
            break;
        }
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
    drop(pipe_write);
    if broken.is_some() {
        let _ = producer.kill();
    }
    let out_to = consumer.wait();
    if broken.is_some() {
        let _ = consumer.kill();
    }
    // The producer's status (its stderr was captured).
    let mut status_from = None;
    let deadline = Instant::now() + Duration::from_secs(60);
    while status_from.is_none() && Instant::now() < deadline {
        match producer.try_wait() {
            Ok(Some(o)) => status_from = Some((o.status.code(), o.stderr.clone())),
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(_) => break,
        }
    }
    let to_err = match out_to {
        Ok(o) if o.status.success() => None,
        Ok(o) => Some(failed(to.0, &to.1.join(" "), o.status.code(), &o.stderr)),
        Err(e) => Some(format!("node {}: {e}", to.0.node().name)),
    };
    let from_err = match &status_from {
        Some((Some(0), _)) => None,
        Some((code, stderr)) => Some(failed(from.0, &from.1.join(" "), *code, stderr)),
        None if broken.is_none() => None,
        None => Some(format!(
            "node {}: {} was stopped",
            from.0.node().name,
            from.1.join(" ")
        )),
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
        elapsed: started.elapsed(),
    })
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
