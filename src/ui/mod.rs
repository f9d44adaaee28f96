//! The console: a ratatui front end over the engine's event stream.
//!
//! - [`app`]: the [`State`](app::State) and [`update`](app::update), the only
//!   function that changes it (messages in, commands out);
//! - [`model`]: the data shown (sources, jobs, item stream, metrics);
//! - [`keymap`] / [`action`]: the one key map, from which the help overlay,
//!   the footer hints and the operator guide's key table are drawn;
//! - [`panes`]: one file per pane, each a pure `render(frame, area, &State)`;
//! - [`view`]: the layout (all panes, or compact tabs at 80x24);
//! - [`runner`]: the terminal, the event loop and the coupling to the engine
//!   and the journal; [`kinds`]: what each kind of source offers, and the
//!   migration each run of it starts. Nothing else here knows them.

pub mod action;
pub mod app;
pub use crate::fmt;
pub mod keymap;
pub mod kinds;
pub mod model;
pub mod panes;
pub mod runner;
pub mod sources;
pub mod theme;
pub mod view;

pub use app::{update, Command, Msg, State, StateConfig};
pub use runner::{run_console, ConsoleConfig};
pub use view::render;
