//! Colours and styles. Sixteen basic colours only: the console runs on
//! whatever terminal an SSH session offers. No text is drawn in dark grey
//! (palette colour 8 is the background in Solarized and others): secondary
//! text is the terminal's own colour, faint. `NO_COLOR` (any value) drops
//! every colour and keeps bold, faint, reversed and underlined.

use std::sync::atomic::{AtomicBool, Ordering};

use ratatui::style::{Color, Modifier, Style};
use ratatui::widgets::{Block, BorderType, Borders};

static NO_COLOR: AtomicBool = AtomicBool::new(false);

/// Draw without colours from now on (`NO_COLOR`).
pub fn set_no_color(off: bool) {
    NO_COLOR.store(off, Ordering::Relaxed);
}

/// Whether the environment asks for no colour (`NO_COLOR` set, non-empty).
pub fn no_color_in_env() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// `style` without its colours when colour is off.
fn paint(style: Style) -> Style {
    if NO_COLOR.load(Ordering::Relaxed) {
        strip(style)
    } else {
        style
    }
}

/// `style` without colours.
pub fn strip(mut style: Style) -> Style {
    style.fg = None;
    style.bg = None;
    style
}

/// Border of the focused pane.
pub fn focused_border() -> Style {
    paint(Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD))
}

/// Border of the other panes.
pub fn border() -> Style {
    Style::new().add_modifier(Modifier::DIM)
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
    paint(Style::new().fg(Color::Green))
}

/// Failed, unusable, differs.
pub fn bad() -> Style {
    paint(Style::new().fg(Color::Red).add_modifier(Modifier::BOLD))
}

/// Warnings and things that need attention.
pub fn warn() -> Style {
    paint(Style::new().fg(Color::Yellow))
}

/// Health warnings that need the operator's attention now.
pub fn alert() -> Style {
    paint(Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD))
}

/// Text with no emphasis.
pub fn plain() -> Style {
    Style::default()
}

/// Secondary text (paths, hints, units).
pub fn dim() -> Style {
    Style::new().add_modifier(Modifier::DIM)
}

/// Labels in the metrics pane.
pub fn label() -> Style {
    paint(Style::new().fg(Color::Cyan))
}

/// Emphasis (titles, key names).
pub fn strong() -> Style {
    Style::new().add_modifier(Modifier::BOLD)
}

/// The header and footer bars.
pub fn bar() -> Style {
    if NO_COLOR.load(Ordering::Relaxed) {
        return Style::new().add_modifier(Modifier::REVERSED);
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_text_in_dark_grey_and_no_colour_keeps_emphasis() {
        for style in [
            dim(),
            border(),
            label(),
            ok(),
            bad(),
            warn(),
            alert(),
            bar(),
        ] {
            assert_ne!(style.fg, Some(Color::DarkGray), "{style:?}");
        }
        let stripped = strip(bad());
        assert_eq!((stripped.fg, stripped.bg), (None, None));
        assert!(stripped.add_modifier.contains(Modifier::BOLD));
    }
}
