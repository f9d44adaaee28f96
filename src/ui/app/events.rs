//! How engine events change the console state: the metrics of the current
//! job, the bounded item stream, and the run marks of the sources.

use crate::job::event::{Event, ItemReport, Summary};
use crate::ui::fmt;
use crate::ui::model::{ItemLine, ItemMark, Outcome, Phase, RunMode};

use super::State;

pub(super) fn push_line(state: &mut State, mark: ItemMark, item: String, detail: String) {
    let line = ItemLine { mark, item, detail };
    // Whether the Items pane shows it (not while a report is open, nor
    // when the filter hides it).
    let shown = state.report.is_none()
        && state
            .filter
            .as_deref()
            .is_none_or(|f| super::stream::matches(&line, &f.to_lowercase()));
    let dropped = state.items.push(line);
    // Keep a scrolled-back view on the same lines while new ones arrive.
    if shown && state.cursor.items_back > 0 && !dropped {
        state.cursor.items_back += 1;
    }
    if state.report.is_none() {
        let max = state.items.lines.len().saturating_sub(1);
        state.cursor.items_back = state.cursor.items_back.min(max);
    }
}

/// The details of an item's line, in the words of its kind (a package's
/// space saved first, a redb file's entries, a directory's files copied).
fn report_detail(r: &ItemReport, mode: RunMode, kind: &str) -> String {
    match crate::kinds::find(kind) {
        Ok(k) => k.item_detail(r, mode == RunMode::Verify),
        Err(_) => format!(
            "{} entries · {} · {:.1}s",
            fmt::count(r.files),
            fmt::bytes(r.bytes),
            r.elapsed_s
        ),
    }
}

pub(super) fn on_event(state: &mut State, event: Event) {
    let job = event.job();
    let now = state.now;
    let Some(m) = state
        .job
        .as_mut()
        .filter(|m| m.active() && m.job == Some(job))
    else {
        return;
    };
    let line = match event {
        Event::JobStarted {
            kind,
            items_total,
            items_skipped,
            files_total,
            bytes_total,
            verify,
            dry_run,
            units,
            ..
        } => {
            m.kind = kind;
            m.units = units;
            m.items_total = items_total;
            m.items_skipped = items_skipped;
            m.items_verified = items_skipped;
            m.files_total = files_total;
            m.bytes_total = bytes_total;
            m.verify = verify;
            m.dry_run = dry_run;
            let mut detail = format!(
                "{} · {} · verify {}",
                fmt::items(items_total),
                fmt::planned(
                    items_total,
                    files_total,
                    bytes_total,
                    m.units.entries,
                    " · "
                ),
                m.verify
            );
            if items_skipped > 0 {
                detail.push_str(&format!(" · {items_skipped} already verified"));
            }
            Some((
                ItemMark::Note,
                format!("{} of {}", m.title(), m.name),
                detail,
            ))
        }
        Event::PlanStep { item, action, .. } => Some((ItemMark::Step, item, action)),
        Event::ItemStarted { item, .. } => {
            m.item_started(&item);
            None
        }
        Event::Progress {
            files_done,
            bytes_done,
            files_total,
            bytes_total,
            ..
        } => {
            m.files_total = files_total;
            m.bytes_total = bytes_total;
            m.progress(now, files_done, bytes_done);
            None
        }
        Event::Warning { item, message, .. } => {
            m.warnings += 1;
            Some((ItemMark::Warning, item, message))
        }
        Event::ItemVerified { item, report, .. } => {
            m.item_finished(&item, &report);
            m.items_verified += 1;
            Some((
                ItemMark::Verified,
                item,
                report_detail(&report, m.mode, &m.kind),
            ))
        }
        Event::ItemFailed {
            item,
            reason,
            report,
            ..
        } => {
            m.item_finished(&item, &report);
            m.items_failed += 1;
            Some((ItemMark::Failed, item, reason))
        }
        Event::Summary(summary) => {
            on_summary(state, summary);
            None
        }
    };
    if let Some((mark, item, detail)) = line {
        push_line(state, mark, item, detail);
    }
}

pub(super) fn on_summary(state: &mut State, s: Summary) {
    let now = state.now;
    let Some(m) = state.job.as_mut().filter(|m| m.ended_at.is_none()) else {
        return;
    };
    m.items_total = s.items_total;
    m.items_verified = s.items_verified;
    m.items_failed = s.items_failed;
    m.warnings = m.warnings.max(s.warnings);
    m.files_transferred = s.files_transferred;
    m.bytes_transferred = s.bytes_transferred;
    m.files_deleted = s.files_deleted;
    m.space_saved = s.space_saved_bytes;
    m.in_flight.clear();
    if s.all_verified() && !s.dry_run {
        // Every item verified: everything is done, whatever progress said.
        m.files_done = m.files_done.max(m.files_total);
        m.bytes_done = m.bytes_done.max(m.bytes_total);
    }
    m.summary = Some(s);
    m.phase = Phase::Done;
    m.ended_at = Some(now);
    finish_source(state);
    note_end(state);
}

pub(super) fn finish_source(state: &mut State) {
    let Some(m) = state.job.as_ref() else {
        return;
    };
    // A resumed job sets the mark of the run it was (bulk, migrate…).
    let (mode, sources, outcome) = (m.resumed.unwrap_or(m.mode), m.sources.clone(), m.outcome());
    state.batch_done += 1;
    if outcome != Outcome::Verified {
        state.batch_failed += 1;
    }
    for i in sources {
        if let Some(slot) = state.sources.get_mut(i).and_then(|s| s.runs.slot(mode)) {
            *slot = Some(outcome);
        }
    }
}

pub(super) fn note_end(state: &mut State) {
    // Whatever the footer said is stale now that the job ended (unless it
    // must stay until the next key).
    if !state.status_sticky {
        state.status = None;
    }
    let Some(m) = state.job.as_ref() else {
        return;
    };
    let mut detail = format!("in {}", fmt::clock(m.elapsed(state.now)));
    if m.summary.is_some() && !m.dry_run {
        detail.push_str(&format!(
            " · {} {} transferred · {}",
            fmt::count(m.files_transferred),
            m.units.written,
            fmt::bytes(m.bytes_transferred)
        ));
        if m.files_deleted > 0 {
            detail.push_str(&format!(" · {} deleted", fmt::count(m.files_deleted)));
        }
        if m.space_saved > 0 {
            detail.push_str(&format!(" · saved {}", fmt::bytes(m.space_saved)));
        }
    }
    let verdict = m.verdict();
    push_line(state, ItemMark::Note, verdict, detail);
}
