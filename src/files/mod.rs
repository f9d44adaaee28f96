//! Files as every kind that reads or copies them sees them: their metadata
//! without following links ([`meta`]), what a tree holds ([`count`]),
//! extended attributes and POSIX ACLs ([`xattr`]) and holes ([`sparse`]).

pub mod count;
pub mod meta;
pub mod sparse;
pub mod xattr;
