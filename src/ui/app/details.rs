//! What the details pane shows, kept current: a store's numbers are read
//! again after each job on it and on a slow tick (every
//! [`STORE_REFRESH_RUNNING`] while a job writes it, every
//! [`STORE_REFRESH_IDLE`] otherwise); a redb node keeps the per-table
//! results of its last job, which also stream into the item stream.

use std::time::Duration;

use crate::job::event::JobId;
use crate::ui::fmt;
use crate::ui::model::{Detail, ItemMark, StoreReading, TableRow};

use super::events::push_line;
use super::{Command, State};

/// How often a store is read while a job writes it.
pub const STORE_REFRESH_RUNNING: Duration = Duration::from_secs(2);
/// How often a store is read otherwise (another process may be migrating it).
pub const STORE_REFRESH_IDLE: Duration = Duration::from_secs(30);

/// Ask for a store source's numbers (none for other kinds, or while a
/// reading is on its way).
pub(super) fn ask_store(state: &mut State, source: usize) -> Option<Command> {
    let now = state.now;
    let Some(Detail::Store(store)) = state.sources.get_mut(source).map(|s| &mut s.detail) else {
        return None;
    };
    if store.in_flight {
        return None;
    }
    store.in_flight = true;
    store.asked_at = Some(now);
    Some(Command::ReadStore { source })
}

/// The stores due for a reading (`all`: every store, at start).
pub(super) fn store_refresh(state: &mut State, all: bool) -> Vec<Command> {
    let now = state.now;
    let running: Vec<usize> = state
        .active_job()
        .map(|m| m.sources.clone())
        .unwrap_or_default();
    let due: Vec<usize> = state
        .sources
        .iter()
        .enumerate()
        .filter_map(|(i, s)| match &s.detail {
            Detail::Store(d) if !d.in_flight => {
                let every = if running.contains(&i) {
                    STORE_REFRESH_RUNNING
                } else {
                    STORE_REFRESH_IDLE
                };
                let is_due = all
                    || d.asked_at
                        .is_none_or(|at| now.saturating_duration_since(at) >= every);
                is_due.then_some(i)
            }
            _ => None,
        })
        .collect();
    due.into_iter()
        .filter_map(|i| ask_store(state, i))
        .collect()
}

/// A store's numbers arrived.
pub(super) fn on_store_reading(state: &mut State, source: usize, reading: StoreReading) {
    if let Some(Detail::Store(store)) = state.sources.get_mut(source).map(|s| &mut s.detail) {
        store.reading = reading;
        store.in_flight = false;
    }
}

/// Table names in the item stream are padded to this width, so the numbers
/// of a file's tables line up as in pgloader's summary.
const TABLE_NAME: usize = 10;

fn table_detail(r: &TableRow) -> String {
    let mut out = format!(
        "read {} · written {} · verified {} · errors {} · {:.3}s",
        fmt::count(r.read),
        fmt::count(r.written),
        fmt::count(r.verified),
        fmt::count(r.errors),
        r.elapsed_s
    );
    match r.checksum_equal {
        Some(true) => out.push_str(" · sum ="),
        Some(false) => out.push_str(" · sum *"),
        None => {}
    }
    out
}

/// The per-table results of an item of the running job: one line per table
/// in the item stream, and the node's summary in the details pane.
pub(super) fn on_tables(
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
        let name = format!("{:<TABLE_NAME$}", r.table);
        push_line(state, ItemMark::Table, name, table_detail(r));
    }
    if let Some(Detail::Redb(node)) = state.sources.get_mut(source).map(|s| &mut s.detail) {
        node.results.retain(|r| r.item != item);
        node.results.extend(rows);
    }
}
