//! Discovery: find the sources the console offers and say why one is not
//! usable. Discovery never writes.

pub mod redb;
pub mod tree;

pub use tree::TreeSource;
