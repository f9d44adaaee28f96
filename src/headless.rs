//! The plain front end: prints a job's events as readable lines or as
//! NDJSON (one object per line, each with an `"event"` field), and turns the
//! summary into the exit code.

use std::io::{IsTerminal, Write};

use humansize::{format_size, BINARY};

use crate::engine::{Event, JobHandle, Summary};

/// Exit code of a finished job: 0 all verified, 1 otherwise.
pub fn exit_code(summary: &Summary) -> i32 {
    if summary.all_verified() {
        0
    } else {
        1
    }
}

/// Print every event of a job until it ends; returns its summary.
/// A first Ctrl-C stops the job (it stays resumable).
pub async fn follow(mut handle: JobHandle, json: bool) -> Summary {
    let stdout = std::io::stdout();
    let progress_to_tty = !json && std::io::stderr().is_terminal();
    let mut last: Option<Summary> = None;
    let mut units = crate::job::Units::default();
    let mut kind: Option<&'static dyn crate::job::Kind> = None;
    let mut rows_header = true;
    let cancel = handle.cancel.clone();
    let job = handle.job;
    let interrupt = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\nstopping job {job}; `cutover resume {job}` continues it");
            cancel.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    });
    while let Some(event) = handle.events.recv().await {
        if let Event::Summary(s) = &event {
            last = Some(s.clone());
        }
        if let Event::JobStarted {
            kind: name,
            units: u,
            ..
        } = &event
        {
            units = *u;
            kind = crate::kinds::find(name).ok();
        }
        let mut out = stdout.lock();
        // An item's kind-specific rows come before its result line.
        if let Event::ItemVerified { report, .. } | Event::ItemFailed { report, .. } = &event {
            if json {
                for row in &report.rows {
                    let _ = writeln!(out, "{}", row.json_line());
                }
            } else if let (Some(k), false) = (kind, report.rows.is_empty()) {
                for line in k.row_lines(&report.rows, rows_header) {
                    let _ = writeln!(out, "{line}");
                }
                rows_header = false;
            }
        }
        if json {
            if let Ok(line) = serde_json::to_string(&event) {
                let _ = writeln!(out, "{line}");
            }
        } else if let Event::ItemStarted { .. } = event {
            continue;
        } else if let Event::Progress { .. } = event {
            if progress_to_tty {
                eprint!("\r{}\x1b[K", text_line(&event, &units));
            }
        } else {
            if progress_to_tty {
                eprint!("\r\x1b[K");
            }
            let _ = writeln!(out, "{}", text_line(&event, &units));
        }
        let _ = out.flush();
    }
    interrupt.abort();
    let joined = handle.task.await.ok();
    last.or(joined).unwrap_or_default()
}

/// One readable line for an event; `units` are the job's kind's words.
pub fn text_line(event: &Event, units: &crate::job::Units) -> String {
    let unit = units.entries;
    match event {
        Event::JobStarted {
            job,
            kind,
            items_total,
            items_skipped,
            files_total,
            bytes_total,
            verify,
            dry_run,
            ..
        } => {
            let mode = if *dry_run {
                " (dry run: nothing is written)"
            } else {
                ""
            };
            let resumed = if *items_skipped > 0 {
                format!(", {items_skipped} already verified")
            } else {
                String::new()
            };
            let sizes = if !crate::fmt::sized(*items_total, *files_total, *bytes_total) {
                crate::fmt::unsized_note(unit)
            } else {
                format!(
                    "{files_total} {unit}, {}",
                    format_size(*bytes_total, BINARY)
                )
            };
            format!(
                "job {job} {kind}{mode}: {items_total} items{resumed}, {sizes}; verify {verify}"
            )
        }
        Event::PlanStep { action, .. } => format!("  {action}"),
        Event::ItemStarted { item, .. } => format!("  started {item}"),
        Event::Progress {
            files_done,
            files_total,
            bytes_done,
            bytes_total,
            ..
        } => format!(
            "  {files_done}/{files_total} {unit}, {} / {}",
            format_size(*bytes_done, BINARY),
            format_size(*bytes_total, BINARY)
        ),
        Event::Warning { item, message, .. } => format!("! {item}: {message}"),
        Event::ItemVerified { item, report, .. } => format!(
            "= {item}  ({} {unit}, {} written, {} hashed)",
            report.files,
            crate::fmt::counted(report.files_transferred, units.written),
            report.files_hashed
        ),
        Event::ItemFailed { item, reason, .. } => format!("* {item}  FAILED: {reason}"),
        Event::Summary(s) => summary_text(s, units),
    }
}

fn summary_text(s: &Summary, units: &crate::job::Units) -> String {
    let (unit, written) = (units.entries, units.written);
    let verdict = if s.dry_run {
        "dry run: nothing was written".to_string()
    } else if s.cancelled {
        format!("INTERRUPTED — resume with `cutover resume {}`", s.job)
    } else if s.items_failed > 0 {
        "FAILED — the items above marked * name each difference".to_string()
    } else {
        "all items verified".to_string()
    };
    format!(
        "summary: job {} {}: {}/{} items verified, {} failed; {}, {}; {} transferred ({}), {} deleted; {}; space saved {}; {:.1}s — {verdict}",
        s.job,
        s.kind,
        s.items_verified,
        s.items_total,
        s.items_failed,
        crate::fmt::counted(s.files, unit),
        format_size(s.bytes, BINARY),
        crate::fmt::counted(s.files_transferred, written),
        format_size(s.bytes_transferred, BINARY),
        s.files_deleted,
        crate::fmt::counted(s.warnings, "warnings"),
        format_size(s.space_saved_bytes, BINARY),
        s.elapsed_s
    )
}
