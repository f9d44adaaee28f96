//! The store section of the details pane: the numbers of a package store's
//! content-addressed store as `cutover store status` reads them from its
//! `store.db` — packages done / failed / pending, files, distinct objects,
//! space saved, dedup ratio, ETA, phase — with health warnings highlighted.
//! Read again after each job on the store and every few seconds while one
//! runs (see `app::details`).

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::details::labelled;
use crate::ui::app::State;
use crate::ui::fmt;
use crate::ui::model::{SourceView, StoreDetail, StoreNumbers, StoreReading};
use crate::ui::theme;

fn numbers(n: &StoreNumbers, width: usize) -> Vec<Line<'static>> {
    let mut packages = vec![Span::raw(format!("{} · ", fmt::count(n.packages)))];
    packages.push(Span::styled(
        format!("{} done", fmt::count(n.completed)),
        theme::ok(),
    ));
    packages.push(Span::raw(" · "));
    packages.push(Span::styled(
        format!("{} failed", fmt::count(n.failed)),
        if n.failed > 0 {
            theme::bad()
        } else {
            theme::dim()
        },
    ));
    packages.push(Span::raw(format!(" · {} pending", fmt::count(n.pending))));
    if n.in_progress > 0 {
        packages.push(Span::raw(format!(
            " · {} running",
            fmt::count(n.in_progress)
        )));
    }
    if n.rolled_back > 0 {
        packages.push(Span::styled(
            format!(" · {} rolled back", fmt::count(n.rolled_back)),
            theme::warn(),
        ));
    }
    let saved_style = if n.space_saved > 0 {
        theme::ok()
    } else {
        theme::dim()
    };
    let mut lines = vec![
        labelled("packages", packages),
        labelled(
            "files",
            vec![Span::raw(format!(
                "{} · {} distinct objects",
                fmt::count(n.files),
                fmt::count(n.objects)
            ))],
        ),
        labelled(
            "saved",
            vec![
                Span::styled(fmt::bytes(n.space_saved), saved_style),
                Span::raw(format!(
                    " · dedup {} · {} in {}",
                    fmt::ratio(n.dedup_ratio),
                    fmt::bytes(n.logical_bytes),
                    fmt::bytes(n.stored_bytes)
                )),
            ],
        ),
    ];
    let eta = match n.eta_s {
        Some(s) => format!("{} (rate of the last minute)", fmt::eta(s)),
        None if n.pending + n.in_progress == 0 => "—".to_string(),
        None => "unknown (nothing finished in the last minute)".to_string(),
    };
    lines.push(labelled("ETA", vec![Span::raw(eta)]));
    if n.warnings.is_empty() && n.failed == 0 {
        lines.push(labelled("health", vec![Span::styled("ok", theme::ok())]));
    }
    let mut first = true;
    let label = |first: &mut bool| {
        let l = if *first { "health" } else { "" };
        *first = false;
        l
    };
    if n.failed > 0 && n.warnings.is_empty() {
        lines.push(labelled(
            label(&mut first),
            vec![Span::styled(
                format!("✗ {} packages failed", fmt::count(n.failed)),
                theme::bad(),
            )],
        ));
    }
    for w in &n.warnings {
        lines.push(labelled(
            label(&mut first),
            vec![Span::styled(format!("! {w}"), theme::alert())],
        ));
    }
    lines.push(labelled("phase", vec![Span::raw(n.phase.clone())]));
    let room = width.saturating_sub(super::details::LABEL + 2);
    for (p, why) in &n.failures {
        lines.push(labelled(
            "failed",
            vec![Span::styled(
                format!("{}: {why}", fmt::clip_middle(p, room.min(24))),
                theme::bad(),
            )],
        ));
    }
    lines
}

/// Draw the store section for `src` (focused: the details pane has the focus).
pub fn render(
    frame: &mut Frame,
    area: Rect,
    _state: &State,
    src: &SourceView,
    d: &StoreDetail,
    focused: bool,
) {
    let title = format!("Store · {}", src.name);
    let block = theme::pane_block(title, focused);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let w = (inner.width as usize).saturating_sub(super::details::LABEL);
    let lines = match &d.reading {
        StoreReading::Unread => vec![Line::styled("reading store.db…", theme::dim())],
        StoreReading::Missing => vec![
            labelled(
                "packages",
                vec![Span::raw(format!(
                    "{} in the old store · none migrated yet",
                    fmt::count(d.packages)
                ))],
            ),
            labelled("into", vec![Span::raw(fmt::clip_left(&src.target, w))]),
            Line::styled(
                "enter migrates the store (the old one is never modified).",
                theme::dim(),
            ),
        ],
        StoreReading::Failed(e) => vec![
            labelled("into", vec![Span::raw(fmt::clip_left(&src.target, w))]),
            Line::styled(format!("cannot read the store: {e}"), theme::bad()),
        ],
        StoreReading::Read(n) => numbers(n, inner.width as usize),
    };
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::ui::app::{update, Msg};
    use crate::ui::model::Pane;
    use crate::ui::panes::details;
    use crate::ui::panes::testing::{multi, screen, store_numbers, store_running};

    #[test]
    fn store_before_any_migration() {
        let mut state = multi(Instant::now());
        update(&mut state, Msg::ch('j'));
        let unread = screen(60, 5, |f, a| details::render(f, a, &state));
        update(
            &mut state,
            Msg::Store {
                source: 1,
                reading: StoreReading::Missing,
            },
        );
        let missing = screen(60, 6, |f, a| details::render(f, a, &state));
        update(
            &mut state,
            Msg::Store {
                source: 1,
                reading: StoreReading::Failed("store.db: database disk image is malformed".into()),
            },
        );
        let failed = screen(60, 5, |f, a| details::render(f, a, &state));
        insta::assert_snapshot!(format!("{unread}\n{missing}\n{failed}"));
    }

    #[test]
    fn store_numbers_at_80x24() {
        let mut state = store_running(Instant::now());
        update(&mut state, Msg::key(crossterm::event::KeyCode::BackTab));
        update(&mut state, Msg::key(crossterm::event::KeyCode::BackTab));
        assert_eq!(state.focus, Pane::Details);
        insta::assert_snapshot!(screen(80, 24, |f, a| details::render(f, a, &state)));
    }

    #[test]
    fn store_numbers_with_health_warnings_at_120x40() {
        let mut state = store_running(Instant::now());
        let mut n = store_numbers();
        n.failed = 2;
        n.warnings = vec![
            "error rate 15.4% is over 5%: 2 of 13 packages failed".into(),
            "free space on the store's filesystem is low: 512.0 MiB left".into(),
        ];
        n.failures = vec![
            (
                "3f2a9c0d1b2e4f5a6b7c8d9e0f1a2b3c-openssl-1.1".into(),
                "lib/libssl.so: content differs".into(),
            ),
            (
                "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b-zlib-1.2".into(),
                "bin/zlib: mode 755 != 700".into(),
            ),
        ];
        update(
            &mut state,
            Msg::Store {
                source: 1,
                reading: StoreReading::Read(n),
            },
        );
        insta::assert_snapshot!(screen(120, 40, |f, a| details::render(f, a, &state)));
    }
}
