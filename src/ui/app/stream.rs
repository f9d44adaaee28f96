//! The item stream as the operator moves through it: the live stream or a
//! job's report (`enter` in Jobs; `esc` goes back), filtered by text (`/`,
//! the Sources and Jobs lists too), failures and warnings one jump away
//! (`n` / `N`), a page at a time (`pgdn` / `pgup`, the pane's height).

use crossterm::event::{KeyCode, KeyEvent};

use crate::ui::model::{ItemLine, ItemLog, ItemMark, Pane};

use super::{Command, State};

/// A job's report shown in the Items pane instead of the live stream.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportView {
    /// The job.
    pub job: crate::job::event::JobId,
    /// Its lines: header, failures, warnings, counts.
    pub log: ItemLog,
}

/// The lines the filter let through so far, kept between frames so that a
/// frame looks only at the lines that arrived since the last one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FilterCache {
    /// The filter (lowercase) and the report it applies to (none: live).
    key: Option<(String, Option<crate::job::event::JobId>)>,
    /// Absolute line numbers (dropped lines included) of the matches.
    matches: Vec<u64>,
    /// The next absolute line number to look at.
    next: u64,
}

/// Whether `line` holds `needle` (lowercase), in its item or its details.
pub fn matches(line: &ItemLine, needle: &str) -> bool {
    contains(&line.item, needle) || contains(&line.detail, needle)
}

/// Case-insensitive `haystack.contains(needle)`, `needle` already lowercase.
pub fn contains(haystack: &str, needle: &str) -> bool {
    needle.is_empty() || haystack.to_lowercase().contains(needle)
}

/// The log the Items pane shows: a report, else the live stream.
pub fn shown_log(state: &State) -> &ItemLog {
    state.report.as_ref().map_or(&state.items, |r| &r.log)
}

/// The positions (into [`shown_log`]) of the lines the filter lets through,
/// oldest first; every line without a filter.
pub fn shown_lines(state: &State) -> Vec<usize> {
    let log = shown_log(state);
    let Some(f) = state.filter.as_deref().filter(|f| !f.is_empty()) else {
        return (0..log.lines.len()).collect();
    };
    let needle = f.to_lowercase();
    let key = Some((needle.clone(), state.report.as_ref().map(|r| r.job)));
    let mut cache = state.filter_cache.borrow_mut();
    if cache.key != key || cache.next < log.dropped {
        *cache = FilterCache {
            key,
            matches: Vec::new(),
            next: log.dropped,
        };
    }
    let end = log.dropped + log.lines.len() as u64;
    for abs in cache.next..end {
        if matches(&log.lines[(abs - log.dropped) as usize], &needle) {
            cache.matches.push(abs);
        }
    }
    cache.next = end;
    let gone = cache.matches.partition_point(|&a| a < log.dropped);
    cache.matches.drain(..gone);
    cache
        .matches
        .iter()
        .map(|&a| (a - log.dropped) as usize)
        .collect()
}

/// Lines the Items pane can show (after the filter).
pub fn shown_count(state: &State) -> usize {
    match state.filter.as_deref() {
        Some(f) if !f.is_empty() => shown_lines(state).len(),
        _ => shown_log(state).lines.len(),
    }
}

/// `/`: type a filter for the focused list (Items, Sources, Jobs).
pub(super) fn open_filter(state: &mut State) -> Vec<Command> {
    if !matches!(state.focus, Pane::Items | Pane::Sources | Pane::Jobs) {
        state.focus = Pane::Items;
    }
    state.filter_input = Some(state.filter.clone().unwrap_or_default());
    Vec::new()
}

/// A key while the filter line is open: it filters as it is typed;
/// `enter` keeps it, `esc` clears it.
pub(super) fn on_filter_key(state: &mut State, ev: KeyEvent) -> Vec<Command> {
    let Some(text) = state.filter_input.as_mut() else {
        return Vec::new();
    };
    match ev.code {
        KeyCode::Esc => {
            state.filter_input = None;
            state.filter = None;
        }
        KeyCode::Enter => {
            state.filter_input = None;
        }
        KeyCode::Backspace => {
            text.pop();
            state.filter = Some(text.clone()).filter(|t| !t.is_empty());
        }
        KeyCode::Char(c) => {
            text.push(c);
            state.filter = Some(text.clone());
        }
        _ => return Vec::new(),
    }
    // What is shown changed: start from the newest shown line, and keep the
    // lists' cursors on rows that are shown (space must never pick a hidden
    // source).
    state.cursor.items_back = 0;
    let sources = state.shown_sources();
    if !sources.contains(&state.cursor.sources) {
        if let Some(&first) = sources.first() {
            state.cursor.sources = first;
        }
    }
    let jobs = state.shown_jobs();
    if !jobs.contains(&state.cursor.jobs) {
        if let Some(&first) = jobs.first() {
            state.cursor.jobs = first;
        }
    }
    Vec::new()
}

/// `n` / `N` in Items: the next (newer) / previous (older) failure or
/// warning; from the end, `n` starts again at the top.
pub(super) fn jump(state: &mut State, newer: bool) -> Vec<Command> {
    let shown = shown_lines(state);
    let log = shown_log(state);
    if shown.is_empty() {
        state.status = Some("no lines to search".into());
        return Vec::new();
    }
    let notable = |pos: usize| {
        matches!(
            log.lines[shown[pos]].mark,
            ItemMark::Failed | ItemMark::Warning
        )
    };
    let last = shown.len() - 1;
    let here = last.saturating_sub(state.cursor.items_back);
    let found = if newer {
        ((here + 1)..=last)
            .find(|&p| notable(p))
            .or_else(|| (0..=here).find(|&p| notable(p)))
    } else {
        (0..here).rev().find(|&p| notable(p))
    };
    match found {
        Some(p) => {
            let l = &log.lines[shown[p]];
            let note = format!("{} {}", l.mark.symbol(), l.item);
            state.cursor.items_back = last - p;
            state.status = Some(note);
        }
        None => {
            state.status = Some(if newer {
                "no failure or warning in the stream".into()
            } else {
                "no earlier failure or warning".into()
            })
        }
    }
    Vec::new()
}

/// `enter` in Jobs: open the report of the job under the cursor.
pub(super) fn open_report(state: &mut State) -> Vec<Command> {
    let Some(row) = state.jobs.get(state.cursor.jobs) else {
        state.status = Some("no job here".into());
        return Vec::new();
    };
    vec![Command::OpenReport { job: row.job }]
}

/// A job's report arrived: show it in Items (all of it: a report is bounded
/// by what the journal keeps).
pub(super) fn on_report(state: &mut State, job: crate::job::event::JobId, lines: Vec<ItemLine>) {
    let mut log = ItemLog::default();
    for l in lines {
        // A report is bounded by what the journal keeps: all of it is shown.
        log.push(l);
    }
    state.report = Some(ReportView { job, log });
    state.focus = Pane::Items;
    state.cursor.items_back = 0;
    state.status = Some(format!(
        "report of job #{job}: esc goes back to the live stream"
    ));
}

/// `esc` with a report open: back to the live stream.
pub(super) fn close_report(state: &mut State) -> bool {
    if state.report.take().is_some() {
        state.cursor.items_back = 0;
        return true;
    }
    false
}
