//! What a job is, below both the engine and the kinds: the [`Migration`]
//! trait a kind implements, its items and plan, the events a job emits, and
//! the [`Kind`] description through which the command line, headless output
//! and the console know a kind. Neither the engine nor a kind imports the
//! other; both import this.

pub mod console;
pub mod details;
pub mod event;
pub mod kind;
pub mod migration;
pub mod token;

pub use event::{Event, ItemReport, JobId, Summary};
pub use kind::{Kind, RunDefaults, Units};
pub use migration::{
    journalled_params, Change, Earlier, Item, ItemCtx, ItemError, Memo, Migration, Plan, Preview,
    Progress, Written,
};
