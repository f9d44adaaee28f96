//! The whole screen: header, panes, footer, overlays. Terminals of at least
//! [`FULL_WIDTH`] x [`FULL_HEIGHT`] show every pane at once; smaller ones
//! (80x24 included) show a tab bar, the focused pane and a metrics strip.
//! `z` zooms the focused pane over the whole body in either layout.
//!
//! The details pane (a store's numbers, a redb node's tables) joins the
//! full layout when the source in view has details: under the metrics on
//! terminals of at least [`TALL`] rows, else in the log's place (`tab` to
//! the log shows it again).

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::Frame;

use super::app::State;
use super::model::Pane;
use super::panes::{
    checklist, confirm, details, help, items, jobs, logs, metrics, nodes, prompt, selection,
    sources, status,
};

/// Narrowest terminal that gets the all-panes layout.
pub const FULL_WIDTH: u16 = 100;
/// Lowest terminal that gets the all-panes layout.
pub const FULL_HEIGHT: u16 = 28;
/// Lowest terminal whose full layout shows the details pane beside the log.
pub const TALL: u16 = 38;
/// Rows of the details pane when it has its own place.
const DETAILS_ROWS: u16 = 10;

/// Whether `area` gets the compact (one pane at a time) layout.
pub fn compact(area: Rect) -> bool {
    area.width < FULL_WIDTH || area.height < FULL_HEIGHT
}

/// Draw one pane.
pub fn render_pane(frame: &mut Frame, area: Rect, pane: Pane, state: &State) {
    match pane {
        Pane::Sources => sources::render(frame, area, state),
        Pane::Nodes => nodes::render(frame, area, state),
        Pane::Checklist => checklist::render(frame, area, state),
        Pane::Selection => selection::render(frame, area, state),
        Pane::Jobs => jobs::render(frame, area, state),
        Pane::Items => items::render(frame, area, state),
        Pane::Metrics => metrics::render(frame, area, state),
        Pane::Details => details::render(frame, area, state),
        Pane::Logs => logs::render(frame, area, state),
    }
}

/// Draw the whole console.
/// Where everything goes on a screen of `area`: the bars, the tab bar of
/// compact layouts, and each pane shown. Drawing and mouse clicks both use it.
#[derive(Debug, Clone, PartialEq)]
pub struct Placed {
    /// The header bar.
    pub header: Rect,
    /// The footer bar.
    pub footer: Rect,
    /// The tab bar (compact layouts).
    pub tabs: Option<Rect>,
    /// The metrics strip (compact layouts).
    pub strip: Option<Rect>,
    /// Each pane shown, where.
    pub panes: Vec<(Pane, Rect)>,
}

/// Place the console on `area` (pure: no drawing).
pub fn place(state: &State, area: Rect) -> Placed {
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(area);
    let mut placed = Placed {
        header,
        footer,
        tabs: None,
        strip: None,
        panes: Vec::new(),
    };
    if state.zoom {
        placed.panes.push((state.focus, body));
        return placed;
    }
    if compact(area) {
        let [tabs, pane, strip] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Fill(1),
            Constraint::Length(1),
        ])
        .areas(body);
        placed.tabs = Some(tabs);
        placed.strip = Some(strip);
        placed.panes.push((state.focus, pane));
        return placed;
    }
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(42), Constraint::Fill(1)]).areas(body);
    let [src, sel, job] = Layout::vertical([
        Constraint::Fill(4),
        Constraint::Fill(3),
        Constraint::Fill(3),
    ])
    .areas(left);
    // An open runbook's checklist takes the selection's place (tab to
    // Selection shows it again).
    let middle = if state.checklist.is_some() && state.focus != Pane::Selection {
        Pane::Checklist
    } else {
        Pane::Selection
    };
    // The nodes of an inventory under the sources: a line each, and the
    // services of the one at the cursor while the pane has the focus.
    let src = match &state.nodes {
        Some(list) => {
            let want = list.len().max(1) as u16 + 2;
            let want = if state.focus == Pane::Nodes {
                let services = list
                    .get(state.cursor.nodes)
                    .map_or(0, |p| p.services.len() + p.stacks.len());
                (want + services as u16).min(src.height.saturating_sub(3).max(want))
            } else {
                want.min(7)
            };
            let [src, nodes] =
                Layout::vertical([Constraint::Fill(1), Constraint::Length(want)]).areas(src);
            placed.panes.push((Pane::Nodes, nodes));
            src
        }
        None => src,
    };
    placed
        .panes
        .extend([(Pane::Sources, src), (middle, sel), (Pane::Jobs, job)]);
    let with_details = state.focus == Pane::Details || details::worth_showing(state);
    if with_details && area.height >= TALL {
        let [met, det, itm, log] = Layout::vertical([
            Constraint::Length(11),
            Constraint::Length(DETAILS_ROWS),
            Constraint::Fill(1),
            Constraint::Length(8),
        ])
        .areas(right);
        placed.panes.extend([
            (Pane::Metrics, met),
            (Pane::Details, det),
            (Pane::Items, itm),
            (Pane::Logs, log),
        ]);
    } else {
        let [met, itm, bottom] = Layout::vertical([
            Constraint::Length(11),
            Constraint::Fill(1),
            Constraint::Length(8),
        ])
        .areas(right);
        let last = if with_details && state.focus != Pane::Logs {
            Pane::Details
        } else {
            Pane::Logs
        };
        placed
            .panes
            .extend([(Pane::Metrics, met), (Pane::Items, itm), (last, bottom)]);
    }
    placed
}

/// Draw the whole console for `state`.
pub fn render(frame: &mut Frame, state: &State) {
    let area = frame.area();
    state.screen.set((area.width, area.height));
    let placed = place(state, area);
    status::render_header(frame, placed.header, state);
    status::render_footer(frame, placed.footer, state);
    if let Some(tabs) = placed.tabs {
        status::render_tabs(frame, tabs, state);
    }
    if let Some(strip) = placed.strip {
        metrics::render_strip(frame, strip, state);
    }
    for (pane, rect) in &placed.panes {
        render_pane(frame, *rect, *pane, state);
    }
    if state.help {
        help::render(frame, area, state);
    }
    confirm::render(frame, area, state);
    prompt::render(frame, area, state);
}

/// The pane whose tab is at column `x` of the tab bar, as `render_tabs`
/// draws them (` Sources │ Selection │ …`).
pub fn tab_at(x: u16, tabs: Rect, state: &State) -> Option<Pane> {
    let mut start = tabs.x;
    for pane in Pane::ALL.into_iter().filter(|p| state.has_pane(*p)) {
        let width = pane.title().chars().count() as u16 + 2;
        if x >= start && x < start + width {
            return Some(pane);
        }
        start += width + 1;
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::time::Instant;

    use crossterm::event::KeyCode;

    use super::*;
    use crate::ui::app::{update, Msg};
    use crate::ui::panes::testing::{fresh, running, screen};

    fn app(state: &State, w: u16, h: u16) -> String {
        screen(w, h, |f, _| render(f, state))
    }

    #[test]
    fn app_fresh_80x24_is_compact() {
        let state = fresh(Instant::now());
        insta::assert_snapshot!(app(&state, 80, 24));
    }

    #[test]
    fn app_running_80x24_items_tab() {
        let mut state = running(Instant::now());
        for _ in 0..3 {
            update(&mut state, Msg::key(KeyCode::Tab));
        }
        insta::assert_snapshot!(app(&state, 80, 24));
    }

    #[test]
    fn app_running_120x40_all_panes() {
        let state = running(Instant::now());
        insta::assert_snapshot!(app(&state, 120, 40));
    }

    #[test]
    fn app_running_100x30_zoomed_metrics() {
        let mut state = running(Instant::now());
        for _ in 0..3 {
            update(&mut state, Msg::key(KeyCode::BackTab));
        }
        let full = app(&state, 100, 30);
        update(&mut state, Msg::ch('z'));
        let zoomed = app(&state, 100, 30);
        insta::assert_snapshot!(format!("{full}\n{zoomed}"));
    }

    #[test]
    fn app_running_100x28_every_pane_with_a_store_and_nodes() {
        let mut state = crate::ui::panes::testing::store_running(Instant::now());
        // The store's numbers beside the stream, then a node's tables.
        let store = app(&state, 100, 28);
        for _ in 0..2 {
            update(&mut state, Msg::ch('j'));
        }
        let node = app(&state, 100, 28);
        insta::assert_snapshot!(format!("{store}\n{node}"));
    }

    #[test]
    fn app_help_over_compact_layout() {
        let mut state = fresh(Instant::now());
        update(&mut state, Msg::ch('?'));
        insta::assert_snapshot!(app(&state, 80, 24));
        update(&mut state, Msg::ch('q'));
        assert!(!state.help && !state.should_quit);
    }
}
