//! What the details pane shows, kept current: a live source's details (a
//! store's numbers) are read again after each job on it and on a slow tick
//! (every [`REFRESH_RUNNING`] while a job writes it, every [`REFRESH_IDLE`]
//! otherwise); a source keeps the table rows of its last job's items
//! (redb: per table), which also stream into the item stream.

use std::time::Duration;

use crate::job::event::JobId;
use crate::ui::model::{ItemMark, Reading, TableRow};

use super::events::push_line;
use super::{Command, State};

/// How often a live source is read while a job writes it.
pub const REFRESH_RUNNING: Duration = Duration::from_secs(2);
/// How often a live source is read otherwise (another process may be writing it).
pub const REFRESH_IDLE: Duration = Duration::from_secs(30);

/// Ask for a live source's details (none for other sources, or while a
/// reading is on its way).
pub(super) fn ask_details(state: &mut State, source: usize) -> Option<Command> {
    let now = state.now;
    let live = state.sources.get_mut(source)?.live.as_mut()?;
    if live.in_flight {
        return None;
    }
    live.in_flight = true;
    live.asked_at = Some(now);
    Some(Command::ReadDetails { source })
}

/// The live sources due for a reading (`all`: every one, at start).
pub(super) fn live_refresh(state: &mut State, all: bool) -> Vec<Command> {
    let now = state.now;
    let running: Vec<usize> = state
        .active_job()
        .map(|m| m.sources.clone())
        .unwrap_or_default();
    let due: Vec<usize> = state
        .sources
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let live = s.live.as_ref().filter(|l| !l.in_flight)?;
            let every = if running.contains(&i) {
                REFRESH_RUNNING
            } else {
                REFRESH_IDLE
            };
            let is_due = all
                || live
                    .asked_at
                    .is_none_or(|at| now.saturating_duration_since(at) >= every);
            is_due.then_some(i)
        })
        .collect();
    due.into_iter()
        .filter_map(|i| ask_details(state, i))
        .collect()
}

/// A live source's details arrived.
pub(super) fn on_reading(state: &mut State, source: usize, reading: Reading) {
    if let Some(live) = state.sources.get_mut(source).and_then(|s| s.live.as_mut()) {
        live.reading = reading;
        live.in_flight = false;
    }
}

/// Names in the item stream are padded to this width, so the numbers of a
/// file's tables line up as in pgloader's summary.
const ROW_NAME: usize = 10;

/// The item-stream text of a row: every cell after the first, with its
/// column's name (`read 240 · written 240 · …`).
fn row_detail(state: &State, source: usize, row: &TableRow) -> String {
    let columns = state
        .sources
        .get(source)
        .map(|s| s.columns.as_slice())
        .unwrap_or_default();
    row.cells
        .iter()
        .enumerate()
        .skip(1)
        .map(|(i, cell)| match columns.get(i) {
            Some(c) => format!("{} {cell}", c.name),
            None => cell.clone(),
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

/// The table rows of an item of the running job: one line per row in the
/// item stream, and the source's table in the details pane.
pub(super) fn on_rows(
    state: &mut State,
    job: JobId,
    source: usize,
    item: String,
    rows: Vec<TableRow>,
) {
    let current = state
        .job
        .as_ref()
        .is_some_and(|m| m.active() && m.job == Some(job));
    if !current {
        return;
    }
    for r in &rows {
        let name = r.cells.first().cloned().unwrap_or_default();
        let detail = row_detail(state, source, r);
        push_line(state, ItemMark::Table, format!("{name:<ROW_NAME$}"), detail);
    }
    if let Some(src) = state.sources.get_mut(source) {
        src.results.retain(|(i, _)| *i != item);
        src.results
            .extend(rows.into_iter().map(|r| (item.clone(), r)));
    }
}
