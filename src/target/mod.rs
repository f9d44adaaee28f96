//! What every kind does to its target, whatever it writes: one writer at a
//! time ([`lock`]) and flushing to stable storage before anything is called
//! verified ([`flush`]).

pub mod flush;
pub mod lock;

pub use flush::SyncGroup;
pub use lock::{LockMode, TargetLock};
