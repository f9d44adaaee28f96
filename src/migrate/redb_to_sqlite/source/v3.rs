//! Files in format v3 (redb 2.6 opt-in, 3.x, 4.x), read with redb 4.

super::raw::raw_reader!(redb);

/// The type names' classification and user-defined test for this version.
pub fn describe(name: &TypeName) -> (String, Option<super::super::types::Class>) {
    let class = if *name == TypeName::new(name.name()) {
        Some(super::super::types::Class::UserDefined)
    } else {
        super::super::types::Class::from_debug(&format!("{name:?}"))
    };
    (name.name().to_string(), class)
}
