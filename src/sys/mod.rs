//! The external commands cutover drives, each behind a small typed API:
//! [`cmd`] (running a program from an argument list, errors that name the
//! command line and its stderr), [`zfs`] (datasets, snapshots, clones, the
//! dialect of the installed ZFS) and [`btrfs`] (subvolumes and read-only
//! snapshots). Parsers are pure functions, unit-tested on captured output.

pub mod btrfs;
pub mod cmd;
pub mod zfs;
