//! Discovery: the sources the console offers. Each kind finds its own
//! ([`crate::job::Kind::sources`]) and says why one is not usable;
//! discovery never writes. What they are is [`Source`], of any kind.

pub use crate::job::console::Source;
