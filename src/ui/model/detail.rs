//! Details a source's kind reads again while the console runs (a store's
//! numbers, from its `store.db`): the last reading and when it was asked for.

use std::time::Instant;

use super::Details;

/// A source whose details are read again: the last reading, and the
/// request on its way.
#[derive(Debug, Clone, PartialEq)]
pub struct Live {
    /// The last reading.
    pub reading: Reading,
    /// When the console last asked for a reading.
    pub asked_at: Option<Instant>,
    /// A reading was asked for and has not arrived yet.
    pub in_flight: bool,
}

impl Default for Live {
    /// Not read yet.
    fn default() -> Self {
        Live {
            reading: Reading::Unread,
            asked_at: None,
            in_flight: false,
        }
    }
}

/// What reading a source's details gave.
#[derive(Debug, Clone, PartialEq)]
pub enum Reading {
    /// Not read yet.
    Unread,
    /// The details.
    Read(Details),
    /// They could not be read; why.
    Failed(String),
}
