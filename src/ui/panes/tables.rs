//! The tables section of the details pane, for a redb node: before a job,
//! every table discovered in the node's files (kind, entries, stored key and
//! value types); after one, pgloader's summary of the job, one row per
//! table — read, written, verified, errors, time, checksum — and the total.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use crate::ui::fmt;
use crate::ui::model::{RedbDetail, SourceView, TableRow};
use crate::ui::theme;

/// Columns of the numbers of a summary row: read, written, verified, errors, time, checksum.
const NUMBERS: usize = 9 + 9 + 9 + 7 + 8 + 4;

fn summary(d: &RedbDetail, width: usize) -> Vec<Line<'static>> {
    let longest = d
        .results
        .iter()
        .map(|r| r.table.chars().count())
        .max()
        .unwrap_or(0)
        .max("table".len());
    let name_w = width.saturating_sub(NUMBERS + 1).min(longest + 2).max(6);
    let row = |name: &str, cells: [String; 6], style: Style| {
        Line::styled(
            format!(
                " {:<name_w$}{:>9}{:>9}{:>9}{:>7}{:>8}{:>4}",
                fmt::clip(name, name_w),
                cells[0],
                cells[1],
                cells[2],
                cells[3],
                cells[4],
                cells[5]
            ),
            style,
        )
    };
    let mut lines = vec![row(
        "table",
        [
            "read".into(),
            "written".into(),
            "verified".into(),
            "errors".into(),
            "time".into(),
            "sum".into(),
        ],
        theme::label(),
    )];
    let files: Vec<&str> =
        d.results
            .iter()
            .map(|r| r.item.as_str())
            .fold(Vec::new(), |mut v, i| {
                if !v.contains(&i) {
                    v.push(i);
                }
                v
            });
    let mut total = TableRow::default();
    for file in &files {
        if files.len() > 1 {
            lines.push(Line::styled(format!(" {file}"), theme::dim()));
        }
        for r in d.results.iter().filter(|r| r.item == *file) {
            let sum = match r.checksum_equal {
                Some(true) => "=",
                Some(false) => "*",
                None => "-",
            };
            let style = if r.ok() { Style::new() } else { theme::bad() };
            lines.push(row(
                &r.table,
                [
                    fmt::count(r.read),
                    fmt::count(r.written),
                    fmt::count(r.verified),
                    fmt::count(r.errors),
                    format!("{:.3}s", r.elapsed_s),
                    sum.to_string(),
                ],
                style,
            ));
            total.read += r.read;
            total.written += r.written;
            total.verified += r.verified;
            total.errors += r.errors;
            total.elapsed_s += r.elapsed_s;
        }
    }
    let style = if total.errors == 0 && d.results.iter().all(TableRow::ok) {
        theme::strong()
    } else {
        theme::bad()
    };
    lines.push(row(
        "total",
        [
            fmt::count(total.read),
            fmt::count(total.written),
            fmt::count(total.verified),
            fmt::count(total.errors),
            format!("{:.3}s", total.elapsed_s),
            String::new(),
        ],
        style,
    ));
    lines
}

fn discovered(d: &RedbDetail, width: usize) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    for f in &d.files {
        let format = match f.format {
            Some(v) => format!("format v{v}"),
            None => "format unknown".to_string(),
        };
        lines.push(Line::from(vec![
            Span::styled(format!(" {}", f.name), theme::strong()),
            Span::styled(
                format!(" · {format} · {}", fmt::bytes(f.size)),
                theme::dim(),
            ),
        ]));
        let name_w = f
            .tables
            .iter()
            .map(|t| t.name.chars().count())
            .max()
            .unwrap_or(5)
            .clamp(5, 16);
        lines.push(Line::styled(
            format!(
                " {:<name_w$} {:<8} {:>8}  key → value",
                "table", "kind", "entries"
            ),
            theme::label(),
        ));
        for t in &f.tables {
            let types = format!("{} → {}", t.key_type, t.value_type);
            let room = width.saturating_sub(name_w + 21);
            let mut spans = vec![Span::raw(format!(
                " {:<name_w$} {:<8} {:>8}  ",
                fmt::clip(&t.name, name_w),
                t.kind,
                fmt::count(t.entries)
            ))];
            match &t.problem {
                Some(p) => spans.push(Span::styled(fmt::clip(p, room), theme::bad())),
                None => spans.push(Span::styled(fmt::clip(&types, room), theme::dim())),
            }
            lines.push(Line::from(spans));
        }
    }
    lines
}

/// Draw the tables section for the redb node `src`.
pub fn render(frame: &mut Frame, area: Rect, src: &SourceView, d: &RedbDetail, focused: bool) {
    let title = if d.results.is_empty() {
        format!("Tables · {}", src.name)
    } else {
        format!("Tables · {} · last job", src.name)
    };
    let block = theme::pane_block(title, focused);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = inner.width as usize;
    let mut lines = Vec::new();
    if let Some(p) = &src.problem {
        lines.push(Line::styled(
            format!("✗ cannot be migrated: {p}"),
            theme::bad(),
        ));
    }
    lines.extend(if d.results.is_empty() {
        discovered(d, width)
    } else {
        summary(d, width)
    });
    if lines.is_empty() {
        lines.push(Line::styled("No redb files.", theme::dim()));
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::time::Instant;

    use crate::ui::app::{update, Msg};
    use crate::ui::panes::details;
    use crate::ui::panes::testing::{multi, redb_done, screen};

    #[test]
    fn tables_discovered_before_a_job() {
        let mut state = multi(Instant::now());
        for _ in 0..2 {
            update(&mut state, Msg::ch('j'));
        }
        let wide = screen(80, 24, |f, a| details::render(f, a, &state));
        let narrow = screen(56, 8, |f, a| details::render(f, a, &state));
        update(&mut state, Msg::ch('G'));
        let broken = screen(56, 8, |f, a| details::render(f, a, &state));
        insta::assert_snapshot!(format!("{wide}\n{narrow}\n{broken}"));
    }

    #[test]
    fn tables_summary_after_the_job_80x24_and_120x40() {
        let state = redb_done(Instant::now());
        let small = screen(80, 24, |f, a| details::render(f, a, &state));
        let large = screen(120, 40, |f, a| details::render(f, a, &state));
        let slot = screen(58, 8, |f, a| details::render(f, a, &state));
        insta::assert_snapshot!(format!("{small}\n{large}\n{slot}"));
    }
}
