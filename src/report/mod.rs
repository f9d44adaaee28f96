//! `cutover report JOB [--json]`: what a job did, from the journal — its
//! header (kind, mode, source, target, start, duration, status), every
//! failure with its differences and every warning it keeps, then counts.
//! Read from the journal, or, while another cutover process holds it, from
//! the report that process publishes (`reports/JOB.json`).

mod time;

use std::path::Path;

use serde_json::{json, Value};

use crate::engine::{Event, Summary};
use crate::error::Result;
use crate::job::event::Row;
use crate::journal::{ItemResult, JobRecord, Journal, KEEP_FAILURES, KEEP_WARNINGS};
use crate::outln;

pub use time::{duration, utc};

/// Print job `id`'s report; exit 0 (an unknown job is bad input, exit 2).
pub fn run(state: &Path, id: u64, json: bool) -> Result<i32> {
    let unknown = || Journal::no_such_job(&Journal::file_in(state), id);
    if !Journal::file_in(state).exists() {
        return Err(unknown());
    }
    let report = Journal::report(state, id)?.ok_or_else(unknown)?;
    let now = crate::journal::now_unix();
    if json {
        print_json(&report.job, &report.results, now)?;
    } else {
        print_text(&report.job, &report.results, now)?;
    }
    Ok(0)
}

/// The mode a job ran in; for jobs journalled before modes, the mode its
/// kind gives its parameters (`-` when the kind is unknown here).
pub fn job_mode(job: &JobRecord) -> String {
    if !job.run.mode.is_empty() {
        return job.run.mode.clone();
    }
    crate::kinds::find(&job.info.kind)
        .and_then(|k| k.rebuild(&job.info.params))
        .map(|m| m.mode().to_string())
        .unwrap_or_else(|_| "-".to_string())
}

/// The fields every description of a job carries (`jobs --json`, the
/// report's first line): kind, mode, status, source, target, times.
pub fn job_fields(job: &JobRecord, now: u64) -> serde_json::Map<String, Value> {
    let info = &job.info;
    let value = json!({
        "job": info.job,
        "kind": info.kind,
        "mode": job_mode(job),
        "status": info.status.to_string(),
        "source": job.param_path("source"),
        "target": job.param_path("target"),
        "started_unix": info.created_unix,
        "ended_unix": job.ended_unix(),
        "duration_s": job.duration_s(now),
        "items_total": info.items_total,
        "items_verified": info.items_verified,
        "items_failed": info.items_failed,
        "warnings": job.run.warnings,
    });
    match value {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    }
}

fn failures(results: &[ItemResult]) -> impl Iterator<Item = (&ItemResult, &String)> {
    results.iter().filter_map(|r| {
        r.reason
            .as_ref()
            .filter(|_| r.failed)
            .map(|reason| (r, reason))
    })
}

fn warnings(results: &[ItemResult]) -> impl Iterator<Item = (&ItemResult, &String)> {
    results
        .iter()
        .flat_map(|r| r.warnings.iter().map(move |w| (r, w)))
}

/// The report's last line: the job's last run summary with the journal's
/// exact counts, and what was not kept.
fn summary_line(job: &JobRecord, results: &[ItemResult], now: u64) -> Value {
    let info = &job.info;
    let summary = Summary {
        job: info.job,
        kind: info.kind.clone(),
        items_total: info.items_total,
        items_verified: info.items_verified,
        items_failed: info.items_failed,
        warnings: job.run.warnings,
        ..job.run.summary.clone().unwrap_or_default()
    };
    let mut value = serde_json::to_value(Event::Summary(summary)).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        let (f, w) = (
            failures(results).count() as u64,
            warnings(results).count() as u64,
        );
        map.insert("mode".into(), job_mode(job).into());
        map.insert("status".into(), info.status.to_string().into());
        map.insert("duration_s".into(), job.duration_s(now).into());
        map.insert("failures_shown".into(), f.into());
        map.insert("warnings_shown".into(), w.into());
        map.insert(
            "failures_omitted".into(),
            info.items_failed.saturating_sub(f).into(),
        );
        map.insert(
            "warnings_omitted".into(),
            job.run.warnings.saturating_sub(w).into(),
        );
    }
    value
}

fn print_json(job: &JobRecord, results: &[ItemResult], now: u64) -> Result<()> {
    let mut head = job_fields(job, now);
    head.insert("event".into(), "job".into());
    outln!("{}", Value::Object(head))?;
    let id = job.info.job;
    for (r, reason) in failures(results) {
        for row in &r.rows {
            outln!("{row}")?;
        }
        let event = Event::ItemFailed {
            job: id,
            item: r.item.clone(),
            reason: reason.clone(),
            report: r.report.clone(),
        };
        outln!("{}", serde_json::to_value(&event).unwrap_or(Value::Null))?;
    }
    for (r, message) in warnings(results) {
        let event = Event::Warning {
            job: id,
            item: r.item.clone(),
            message: message.clone(),
        };
        outln!("{}", serde_json::to_value(&event).unwrap_or(Value::Null))?;
    }
    outln!("{}", summary_line(job, results, now))
}

fn print_text(job: &JobRecord, results: &[ItemResult], now: u64) -> Result<()> {
    let info = &job.info;
    let kind = crate::kinds::find(&info.kind).ok();
    let units = kind.map(|k| k.units()).unwrap_or_default();
    outln!(
        "job {} {} ({}): {}",
        info.job,
        info.kind,
        job_mode(job),
        info.status
    )?;
    let path = |name| job.param_path(name).unwrap_or("-").to_string();
    outln!("  source   {}", path("source"))?;
    outln!("  target   {}", path("target"))?;
    let took = duration(job.duration_s(now));
    match job.ended_unix() {
        Some(end) => outln!(
            "  started  {}, ended {} ({took})",
            utc(info.created_unix),
            utc(end)
        )?,
        None => outln!("  started  {} (running for {took})", utc(info.created_unix))?,
    }
    let mut rows_header = true;
    for (r, reason) in failures(results) {
        let rows: Vec<Row> = r.rows.iter().filter_map(Row::from_object).collect();
        if let (Some(k), false) = (kind, rows.is_empty()) {
            for line in k.row_lines(&rows, rows_header) {
                outln!("{line}")?;
            }
            rows_header = false;
        }
        let event = Event::ItemFailed {
            job: info.job,
            item: r.item.clone(),
            reason: reason.clone(),
            report: r.report.clone(),
        };
        outln!("{}", crate::headless::text_line(&event, &units))?;
    }
    for (r, message) in warnings(results) {
        let event = Event::Warning {
            job: info.job,
            item: r.item.clone(),
            message: message.clone(),
        };
        outln!("{}", crate::headless::text_line(&event, &units))?;
    }
    let (f, w) = (
        failures(results).count() as u64,
        warnings(results).count() as u64,
    );
    outln!(
        "counts: {}/{} items verified, {} failed, {} warnings",
        info.items_verified,
        info.items_total,
        info.items_failed,
        job.run.warnings
    )?;
    if f < info.items_failed || w < job.run.warnings {
        outln!(
            "  shown: the first {KEEP_FAILURES} failures and {KEEP_WARNINGS} warnings a job keeps ({} failures, {} warnings not kept)",
            info.items_failed.saturating_sub(f),
            job.run.warnings.saturating_sub(w)
        )?;
    }
    Ok(())
}
