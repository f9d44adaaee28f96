//! The metrics of the current (or last) job: where it stands, the counts
//! its events add up to, the rolling rate and the ETA drawn from it.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::job::event::{JobId, Summary};
use crate::ui::fmt;

use super::{Outcome, RunMode, IDLE_RESET, IN_FLIGHT_CAP, MIN_RATE_SPAN, RATE_WINDOW};

/// Where the current job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Asked for; planning (the job id is not known yet).
    Starting,
    /// Items are being processed.
    Running,
    /// The operator cancelled; waiting for running items to stop.
    Cancelling,
    /// Ended (see the summary or error).
    Done,
}

/// One progress sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// When it arrived.
    pub at: Instant,
    /// Files done then.
    pub files: u64,
    /// Bytes done then.
    pub bytes: u64,
}

/// The current throughput.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rate {
    /// No job is running.
    NotRunning,
    /// Not enough samples yet.
    Counting,
    /// No progress for [`IDLE_RESET`]; the window was reset.
    Idle,
    /// Bytes and files per second over the rolling window.
    Measured {
        /// Bytes per second.
        bytes: f64,
        /// Files per second.
        files: f64,
    },
}

/// Everything known about the current (or last) job of this session.
#[derive(Debug, Clone, PartialEq)]
pub struct JobMetrics {
    /// Journal id once known (0 for verify-only runs, which are not journalled).
    pub job: Option<JobId>,
    /// What was asked.
    pub mode: RunMode,
    /// The sources it runs on (several redb nodes run together; none when
    /// a resumed job's sources are not configured).
    pub sources: Vec<usize>,
    /// The sources' names or the resumed job's label.
    pub name: String,
    /// Migration kind.
    pub kind: String,
    /// What its items hold and what it writes (from the job's first event).
    pub units: crate::job::Units,
    /// Verification mode label (`full`, `sample=100 seed=42`).
    pub verify: String,
    /// Dry run: steps are listed, nothing written.
    pub dry_run: bool,
    /// Where it stands.
    pub phase: Phase,
    /// When it was asked for.
    pub started_at: Instant,
    /// When it ended.
    pub ended_at: Option<Instant>,
    /// Items in the plan.
    pub items_total: u64,
    /// Items skipped because an earlier run verified them.
    pub items_skipped: u64,
    /// Items verified (skipped ones included).
    pub items_verified: u64,
    /// Items failed.
    pub items_failed: u64,
    /// Warnings seen.
    pub warnings: u64,
    /// Files done.
    pub files_done: u64,
    /// Files in the plan.
    pub files_total: u64,
    /// Bytes done.
    pub bytes_done: u64,
    /// Bytes in the plan.
    pub bytes_total: u64,
    /// Files written to the target.
    pub files_transferred: u64,
    /// Bytes written to the target.
    pub bytes_transferred: u64,
    /// Target entries deleted (final sync).
    pub files_deleted: u64,
    /// Bytes the target did not need to store.
    pub space_saved: u64,
    /// Bytes of the items done (verified or failed), what the space saved is out of.
    pub bytes_of_items_done: u64,
    /// Files of the items done: progress never shows less.
    pub files_of_items_done: u64,
    /// The run a resumed job was (`bulk`, `migrate`…), whose mark it sets.
    pub resumed: Option<RunMode>,
    /// Items being processed now.
    pub in_flight: Vec<String>,
    /// Progress samples inside the rolling window.
    pub samples: VecDeque<Sample>,
    /// When the counters last moved.
    pub last_change: Option<Instant>,
    /// The engine's summary, once the job ended.
    pub summary: Option<Summary>,
    /// Why it could not start or ended abnormally.
    pub error: Option<String>,
    /// Its live rate limit in bytes per second (0: none), when its kind
    /// has one (`[` / `]` change it while it runs).
    pub rate_limit: Option<u64>,
}

impl JobMetrics {
    /// A job just asked for.
    pub fn new(mode: RunMode, sources: Vec<usize>, name: String, now: Instant) -> Self {
        JobMetrics {
            job: None,
            mode,
            sources,
            name,
            kind: String::new(),
            units: crate::job::Units::default(),
            verify: String::new(),
            dry_run: false,
            phase: Phase::Starting,
            started_at: now,
            ended_at: None,
            items_total: 0,
            items_skipped: 0,
            items_verified: 0,
            items_failed: 0,
            warnings: 0,
            files_done: 0,
            files_total: 0,
            bytes_done: 0,
            bytes_total: 0,
            files_transferred: 0,
            bytes_transferred: 0,
            files_deleted: 0,
            space_saved: 0,
            bytes_of_items_done: 0,
            files_of_items_done: 0,
            resumed: None,
            in_flight: Vec::new(),
            samples: VecDeque::new(),
            last_change: None,
            summary: None,
            error: None,
            rate_limit: None,
        }
    }

    /// Whether the job has not ended.
    pub fn active(&self) -> bool {
        self.phase != Phase::Done
    }

    /// `#3 bulk copy` (no number for unjournalled runs).
    pub fn title(&self) -> String {
        match self.job {
            Some(id) if id > 0 => format!("#{id} {}", self.mode.label()),
            _ => self.mode.label().to_string(),
        }
    }

    /// Time since it was asked for (until it ended).
    pub fn elapsed(&self, now: Instant) -> Duration {
        self.ended_at
            .unwrap_or(now)
            .saturating_duration_since(self.started_at)
    }

    /// Mark an item as running.
    pub fn item_started(&mut self, item: &str) {
        if self.in_flight.len() < IN_FLIGHT_CAP {
            self.in_flight.push(item.to_string());
        }
    }

    /// Mark an item as no longer running.
    pub fn item_done(&mut self, item: &str) {
        self.in_flight.retain(|i| i != item);
    }

    /// An item finished (verified or failed): count what it wrote, and let
    /// progress show at least every finished item (a kind may report its
    /// progress late, or only per item).
    pub fn item_finished(&mut self, item: &str, r: &crate::job::ItemReport) {
        self.item_done(item);
        self.files_transferred += r.files_transferred;
        self.bytes_transferred += r.bytes_transferred;
        self.files_deleted += r.files_deleted;
        self.space_saved += r.space_saved_bytes;
        self.files_of_items_done += r.files;
        self.bytes_of_items_done += r.bytes;
        self.files_done = self.files_done.max(self.files_of_items_done);
        self.bytes_done = self.bytes_done.max(self.bytes_of_items_done);
    }

    /// Record a progress sample.
    pub fn progress(&mut self, at: Instant, files: u64, bytes: u64) {
        // Items done count whole, whatever progress their kind reported.
        let files = files.max(self.files_of_items_done);
        let bytes = bytes.max(self.bytes_of_items_done);
        let changed = files != self.files_done || bytes != self.bytes_done;
        self.files_done = files;
        self.bytes_done = bytes;
        if let Some(last) = self.samples.back() {
            if at.saturating_duration_since(last.at) > IDLE_RESET {
                self.samples.clear();
            }
        }
        self.samples.push_back(Sample { at, files, bytes });
        while let Some(first) = self.samples.front() {
            if at.saturating_duration_since(first.at) > RATE_WINDOW {
                self.samples.pop_front();
            } else {
                break;
            }
        }
        if changed || self.last_change.is_none() {
            self.last_change = Some(at);
        }
    }

    /// Throughput over the rolling window.
    pub fn rate(&self, now: Instant) -> Rate {
        if self.phase != Phase::Running && self.phase != Phase::Cancelling {
            return Rate::NotRunning;
        }
        let Some(last_change) = self.last_change else {
            return Rate::Counting;
        };
        if now.saturating_duration_since(last_change) > IDLE_RESET {
            return Rate::Idle;
        }
        let (Some(first), Some(last)) = (self.samples.front(), self.samples.back()) else {
            return Rate::Counting;
        };
        let span = last.at.saturating_duration_since(first.at);
        if span < MIN_RATE_SPAN {
            return Rate::Counting;
        }
        let secs = span.as_secs_f64();
        Rate::Measured {
            bytes: last.bytes.saturating_sub(first.bytes) as f64 / secs,
            files: last.files.saturating_sub(first.files) as f64 / secs,
        }
    }

    /// The ETA in words: remaining bytes over the rolling rate.
    pub fn eta(&self, now: Instant) -> String {
        match self.phase {
            Phase::Done => {
                return match self.outcome() {
                    super::Outcome::Verified => "done".to_string(),
                    super::Outcome::Cancelled => "— (cancelled)".to_string(),
                    _ => "— (ended)".to_string(),
                }
            }
            Phase::Starting => return "counting… (planning)".to_string(),
            Phase::Cancelling => return "stopping…".to_string(),
            Phase::Running => {}
        }
        if self.bytes_total == 0 && self.files_total == 0 {
            return "unknown (no total yet)".to_string();
        }
        if self.bytes_done >= self.bytes_total && self.files_done >= self.files_total {
            return "verifying…".to_string();
        }
        match self.rate(now) {
            Rate::Counting | Rate::NotRunning => "counting…".to_string(),
            Rate::Idle => "unknown (no progress for 3s)".to_string(),
            Rate::Measured { bytes, files } => {
                if bytes > 0.0 && self.bytes_total > self.bytes_done {
                    fmt::eta((self.bytes_total - self.bytes_done) as f64 / bytes)
                } else if files > 0.0 && self.files_total > self.files_done {
                    fmt::eta((self.files_total - self.files_done) as f64 / files)
                } else {
                    "unknown".to_string()
                }
            }
        }
    }

    /// The outcome for the source's run marks.
    pub fn outcome(&self) -> Outcome {
        if self.phase != Phase::Done {
            return Outcome::Running;
        }
        match &self.summary {
            _ if self.error.is_some() => Outcome::Error,
            None => Outcome::Error,
            Some(s) if s.cancelled => Outcome::Cancelled,
            Some(s) if s.all_verified() => Outcome::Verified,
            Some(_) => Outcome::Failed,
        }
    }

    /// One line saying how it ended (or where it stands).
    pub fn verdict(&self) -> String {
        if let Some(err) = &self.error {
            return format!("{}: error: {err}", self.title());
        }
        match (&self.summary, self.phase) {
            (_, Phase::Starting) => format!("{}: planning…", self.title()),
            (_, Phase::Cancelling) => format!("{}: cancelling…", self.title()),
            (None, _) => format!(
                "{}: {}/{} verified",
                self.title(),
                self.items_verified,
                self.items_total
            ),
            (Some(s), _) if self.dry_run => {
                format!(
                    "{}: dry run of {}, nothing written",
                    self.title(),
                    fmt::items(s.items_total)
                )
            }
            (Some(s), _) if s.cancelled => {
                let resumable = if self.mode == RunMode::Verify {
                    ""
                } else {
                    ", resumable"
                };
                format!(
                    "{}: cancelled at {}/{} verified{resumable}",
                    self.title(),
                    s.items_verified,
                    s.items_total
                )
            }
            (Some(s), _) if s.all_verified() => format!(
                "{}: all verified ({})",
                self.title(),
                fmt::items(s.items_total)
            ),
            (Some(s), _) => format!(
                "{}: {} of {} FAILED",
                self.title(),
                s.items_failed
                    .max(s.items_total - s.items_verified.min(s.items_total)),
                fmt::items(s.items_total)
            ),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn running(now: Instant) -> JobMetrics {
        let mut m = JobMetrics::new(RunMode::Bulk, vec![0], "t".into(), now);
        m.phase = Phase::Running;
        m.bytes_total = 100 << 20;
        m.files_total = 100;
        m
    }

    #[test]
    fn rate_is_rolling_and_resets_when_idle() {
        let t0 = Instant::now();
        let s = |ms: u64| t0 + Duration::from_millis(ms);
        let mut m = running(t0);
        assert_eq!(m.rate(t0), Rate::Counting);
        assert_eq!(m.eta(t0), "counting…");
        m.progress(s(0), 0, 0);
        m.progress(s(500), 5, 5 << 20);
        assert_eq!(m.rate(s(500)), Rate::Counting);
        m.progress(s(1000), 10, 10 << 20);
        let Rate::Measured { bytes, files } = m.rate(s(1000)) else {
            panic!("no rate")
        };
        assert_eq!(bytes as u64, 10 << 20);
        assert_eq!(files as u64, 10);
        assert_eq!(m.eta(s(1000)), "9s");
        // Samples older than the window fall out.
        for i in 3..=12u64 {
            m.progress(s(i * 500), 10 + i * 2, (10 + i * 2) << 20);
        }
        assert!(m.samples.len() <= 11);
        let Rate::Measured { bytes, .. } = m.rate(s(6000)) else {
            panic!("no rate")
        };
        assert!((bytes / (1u64 << 20) as f64 - 4.8).abs() < 0.01, "{bytes}");
        // Idle for more than 3 s: shown as idle, then the window restarts.
        assert_eq!(m.rate(s(9500)), Rate::Idle);
        assert_eq!(m.eta(s(9500)), "unknown (no progress for 3s)");
        m.progress(s(10000), 40, 40 << 20);
        assert_eq!(m.samples.len(), 1);
        assert_eq!(m.rate(s(10000)), Rate::Counting);
    }
}
