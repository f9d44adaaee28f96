//! Colours and styles. Sixteen basic colours only: the console runs on
//! whatever terminal an SSH session offers.

use ratatui::style::{Color, Modifier, Style};
use ratatui::widgets::{Block, BorderType, Borders};

/// Border of the focused pane.
pub fn focused_border() -> Style {
    Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD)
}

/// Border of the other panes.
pub fn border() -> Style {
    Style::new().fg(Color::DarkGray)
}

/// The row under the cursor in the focused pane.
pub fn cursor() -> Style {
    Style::new().add_modifier(Modifier::REVERSED)
}

/// The row under the cursor in a pane without focus.
pub fn cursor_unfocused() -> Style {
    Style::new().add_modifier(Modifier::UNDERLINED)
}

/// Verified, completed, healthy.
pub fn ok() -> Style {
    Style::new().fg(Color::Green)
}

/// Failed, unusable, differs.
pub fn bad() -> Style {
    Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
}

/// Warnings and things that need attention.
pub fn warn() -> Style {
    Style::new().fg(Color::Yellow)
}

/// Health warnings that need the operator's attention now.
pub fn alert() -> Style {
    Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD)
}

/// Secondary text (paths, hints, units).
pub fn dim() -> Style {
    Style::new().fg(Color::DarkGray)
}

/// Labels in the metrics pane.
pub fn label() -> Style {
    Style::new().fg(Color::Cyan)
}

/// Emphasis (titles, key names).
pub fn strong() -> Style {
    Style::new().add_modifier(Modifier::BOLD)
}

/// The header and footer bars.
pub fn bar() -> Style {
    Style::new().fg(Color::Black).bg(Color::Gray)
}

/// A bordered pane block with its title, styled by focus.
pub fn pane_block(title: String, focused: bool) -> Block<'static> {
    let (style, kind) = if focused {
        (focused_border(), BorderType::Thick)
    } else {
        (border(), BorderType::Plain)
    };
    Block::new()
        .borders(Borders::ALL)
        .border_type(kind)
        .border_style(style)
        .title(format!(" {title} "))
}
