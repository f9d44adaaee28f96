//! A kind's table as lines of the details pane: aligned columns (numbers to
//! the right), the first column clipped before anything else when the pane
//! is narrow, rows coloured by their health, and a total row where every
//! cell of a number column is a number (pgloader's summary).

use ratatui::style::Style;
use ratatui::text::Line;

use crate::ui::fmt;
use crate::ui::model::{Column, Health, Table, TableRow};
use crate::ui::theme;

/// The style of a value of `health`.
pub fn health_style(health: Health) -> Style {
    match health {
        Health::Plain => Style::new(),
        Health::Good => theme::ok(),
        Health::Warn => theme::warn(),
        Health::Bad => theme::bad(),
    }
}

/// A number cell's value (`1,024` → 1024, `0.250s` → 0.25), if it is one.
fn number(cell: &str) -> Option<f64> {
    let plain: String = cell.chars().filter(|c| *c != ',').collect();
    plain.strip_suffix('s').unwrap_or(&plain).parse().ok()
}

/// The total row: sums of the number columns whose every cell is a number.
fn total(columns: &[Column], rows: &[&TableRow]) -> Option<TableRow> {
    if rows.len() < 2 {
        return None;
    }
    let mut cells = vec!["total".to_string()];
    let mut any = false;
    for (i, c) in columns.iter().enumerate().skip(1) {
        let values: Option<Vec<f64>> = rows
            .iter()
            .map(|r| r.cells.get(i).and_then(|v| number(v)))
            .collect();
        match values.filter(|_| c.right) {
            Some(v) => {
                any = true;
                let sum: f64 = v.iter().sum();
                let timed = rows
                    .iter()
                    .any(|r| r.cells.get(i).is_some_and(|v| v.ends_with('s')));
                cells.push(if timed {
                    format!("{sum:.3}s")
                } else {
                    fmt::count(sum as u64)
                });
            }
            None => cells.push(String::new()),
        }
    }
    let health = if rows.iter().any(|r| r.health == Health::Bad) {
        Health::Bad
    } else {
        Health::Plain
    };
    any.then_some(TableRow { cells, health })
}

/// Column widths fitting `width`: the first column gives way first, then the last.
fn widths(columns: &[Column], rows: &[&TableRow], width: usize) -> Vec<usize> {
    let mut w: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            rows.iter()
                .filter_map(|r| r.cells.get(i))
                .map(|v| v.chars().count())
                .chain([c.name.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let used = |w: &[usize]| w.iter().sum::<usize>() + w.len();
    if let Some(first) = w.first_mut() {
        *first = (*first).min(24);
    }
    while used(&w) > width {
        match w.first_mut() {
            Some(first) if *first > 6 => *first -= 1,
            _ => break,
        }
    }
    let over = used(&w).saturating_sub(width);
    if over > 0 && w.len() > 1 {
        if let Some(last) = w.last_mut() {
            *last = last.saturating_sub(over).max(1);
        }
    }
    w
}

fn line(columns: &[Column], widths: &[usize], cells: &[String], style: Style) -> Line<'static> {
    let mut out = String::new();
    for (i, c) in columns.iter().enumerate() {
        let w = widths.get(i).copied().unwrap_or(0);
        let cell = fmt::clip(cells.get(i).map_or("", String::as_str), w);
        out.push(' ');
        if c.right {
            out.push_str(&format!("{cell:>w$}"));
        } else {
            out.push_str(&format!("{cell:<w$}"));
        }
    }
    Line::styled(out.trim_end().to_string(), style)
}

/// The lines of `table` in `width` columns, its rows grouped under a dim
/// line per group when `groups` name more than one (a job's items), except
/// a group of one row whose first cell is the group's name.
pub fn lines(table: &Table, groups: &[&str], width: usize) -> Vec<Line<'static>> {
    let rows: Vec<&TableRow> = table.rows.iter().collect();
    let mut out = Vec::new();
    if !table.title.is_empty() {
        out.push(Line::styled(format!(" {}", table.title), theme::strong()));
    }
    let mut all = rows.clone();
    let total = total(&table.columns, &rows);
    if let Some(t) = &total {
        all.push(t);
    }
    let w = widths(&table.columns, &all, width);
    let header: Vec<String> = table.columns.iter().map(|c| c.name.clone()).collect();
    out.push(line(&table.columns, &w, &header, theme::label()));
    let mut group = None;
    for (i, r) in rows.iter().enumerate() {
        let g = groups.get(i).copied();
        // A group of one row that names itself (a snapshot) needs no heading.
        let names_itself = g.is_some_and(|name| {
            r.cells.first().map(String::as_str) == Some(name) && groups.get(i + 1).copied() != g
        });
        if g != group && !names_itself && groups.iter().any(|x| Some(*x) != groups.first().copied())
        {
            if let Some(name) = g {
                out.push(Line::styled(format!(" {name}"), theme::dim()));
            }
        }
        group = g;
        out.push(line(&table.columns, &w, &r.cells, health_style(r.health)));
    }
    if let Some(t) = total {
        let style = if t.health == Health::Bad {
            theme::bad()
        } else {
            theme::strong()
        };
        out.push(line(&table.columns, &w, &t.cells, style));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cells: &[&str], health: Health) -> TableRow {
        TableRow {
            cells: cells.iter().map(|c| c.to_string()).collect(),
            health,
        }
    }

    #[test]
    fn numbers_align_right_and_total_when_every_cell_is_one() {
        let table = Table {
            title: String::new(),
            columns: vec![
                Column::text("table"),
                Column::number("read"),
                Column::number("time"),
                Column::text("sum"),
            ],
            rows: vec![
                row(&["kv", "1,200", "0.500s", "="], Health::Plain),
                row(&["log", "7", "0.250s", "*"], Health::Bad),
            ],
        };
        let text: Vec<String> = lines(&table, &[], 40)
            .iter()
            .map(|l| l.to_string())
            .collect();
        assert_eq!(
            text,
            vec![
                " table  read   time sum",
                " kv    1,200 0.500s =",
                " log       7 0.250s *",
                " total 1,207 0.750s",
            ]
        );
        // A narrow pane clips the first column first.
        let mut long = table.clone();
        long.rows[0].cells[0] = "a_table_with_a_long_name".into();
        let narrow: Vec<String> = lines(&long, &[], 24)
            .iter()
            .map(|l| l.to_string())
            .collect();
        assert_eq!(narrow[1], " a_tab… 1,200 0.500s =");
    }
}
