//! cutover: storage and state migrations, verified item by item.
//!
//! The library does migrations and knows nothing of terminals; the console
//! ([`ui`]) and the plain commands ([`headless`]) are two front ends over the
//! same stream of [`engine::Event`]s. See `docs/architecture.md`.

pub mod cli;
pub mod demo;
pub mod demo_redb;
pub mod demo_repo;
pub mod discover;
pub mod engine;
pub mod error;
pub mod files;
pub mod fmt;
pub mod headless;
pub mod inventory;
pub mod job;
pub mod journal;
pub mod kinds;
pub mod launch;
pub mod migrate;
pub mod names;
pub mod nodes;
pub mod out;
pub mod report;
pub mod runbook;
pub mod state_dir;
pub mod sys;

pub mod target;
pub mod ui;
pub mod verify;

/// A path shown on one line in a message (control bytes escaped).
pub fn display_path(path: &std::path::Path) -> String {
    names::display(path)
}
