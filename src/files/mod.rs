//! What a file carries beyond its bytes, shared by every kind that copies
//! files: extended attributes and POSIX ACLs ([`xattr`]) and holes
//! ([`sparse`]).

pub mod sparse;
pub mod xattr;
