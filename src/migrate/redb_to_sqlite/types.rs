//! The stored type names of redb tables, parsed into a type tree, and the
//! SQLite columns each type becomes.
//!
//! redb stores, for every table, the name of its key and value types (`u64`,
//! `&str`, `(u32,&[u8])`, `Option<u64>`, `myapp::Membership`…), whether the
//! name is built-in or user-defined, and the fixed width of the encoding.
//! Built-in names are decoded to natural SQLite types; user-defined types (and
//! composites holding one) are carried as BLOBs of their exact bytes; a
//! built-in name cutover cannot decode makes the table unreadable, and the
//! migration refuses it.

use std::fmt;

/// How redb classified a stored type name (the byte before the name on disk).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Built-in, as every redb version before 3.0 wrote it (and later for leaves).
    Internal,
    /// Built-in variable-width tuple, written by redb 3.0 and later.
    Internal2,
    /// Built-in composite, written by redb 4.2 and later.
    Internal3,
    /// Defined by the application (`TypeName::new`).
    UserDefined,
}

impl Class {
    /// Read the classification from a redb `TypeName`'s `Debug` text (the
    /// field is private; the text is checked by tests for both redb versions).
    pub fn from_debug(debug: &str) -> Option<Class> {
        let rest = debug.split("classification:").nth(1)?.trim_start();
        let word: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        match word.as_str() {
            "Internal" => Some(Class::Internal),
            "Internal2" => Some(Class::Internal2),
            "Internal3" => Some(Class::Internal3),
            "UserDefined" => Some(Class::UserDefined),
            _ => None,
        }
    }
}

/// The name from a redb `TypeName`'s `Debug` text (`name: "…"`, escaped as
/// Rust escapes strings).
pub fn name_from_debug(debug: &str) -> Option<String> {
    let rest = debug.split("name: \"").nth(1)?;
    let mut out = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                '0' => out.push('\0'),
                'u' => {
                    let hex: String = chars.by_ref().skip(1).take_while(|c| *c != '}').collect();
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

/// Integer kinds redb stores little-endian.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Int {
    U8,
    U16,
    U32,
    U64,
    U128,
    I8,
    I16,
    I32,
    I64,
    I128,
}

impl Int {
    /// Bytes of the encoding.
    pub fn width(self) -> usize {
        match self {
            Int::U8 | Int::I8 => 1,
            Int::U16 | Int::I16 => 2,
            Int::U32 | Int::I32 => 4,
            Int::U64 | Int::I64 => 8,
            Int::U128 | Int::I128 => 16,
        }
    }

    /// Whether the kind is signed.
    pub fn signed(self) -> bool {
        matches!(self, Int::I8 | Int::I16 | Int::I32 | Int::I64 | Int::I128)
    }

    fn parse(name: &str) -> Option<Int> {
        Some(match name {
            "u8" => Int::U8,
            "u16" => Int::U16,
            "u32" => Int::U32,
            "u64" => Int::U64,
            "u128" => Int::U128,
            "i8" => Int::I8,
            "i16" => Int::I16,
            "i32" => Int::I32,
            "i64" => Int::I64,
            "i128" => Int::I128,
            _ => return None,
        })
    }
}

/// A built-in leaf type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leaf {
    /// `()`: no bytes; one INTEGER column holding 0.
    Unit,
    Bool,
    Char,
    /// An integer; `nonzero` for `NonZeroU32` and friends (same encoding).
    Int {
        kind: Int,
        nonzero: bool,
    },
    F32,
    F64,
    /// `&str` or `String`.
    Str,
    /// `&[u8]`: the bytes as they are.
    Bytes,
    /// `Vec<u8>`: a varint count, then the bytes.
    VecU8,
    /// `[u8;N]`.
    ByteArray(usize),
}

impl Leaf {
    /// Fixed width of the encoding, or `None` for variable width.
    pub fn width(self) -> Option<usize> {
        match self {
            Leaf::Unit => Some(0),
            Leaf::Bool => Some(1),
            Leaf::Char => Some(3),
            Leaf::Int { kind, .. } => Some(kind.width()),
            Leaf::F32 => Some(4),
            Leaf::F64 => Some(8),
            Leaf::Str | Leaf::Bytes | Leaf::VecU8 => None,
            Leaf::ByteArray(n) => Some(n),
        }
    }

    /// The SQLite column type.
    pub fn sql_type(self) -> &'static str {
        match self {
            Leaf::Unit | Leaf::Bool => "INTEGER",
            Leaf::Int { kind, .. } if kind.width() == 16 => "TEXT",
            Leaf::Int { .. } => "INTEGER",
            Leaf::F32 | Leaf::F64 => "REAL",
            Leaf::Char | Leaf::Str => "TEXT",
            Leaf::Bytes | Leaf::VecU8 | Leaf::ByteArray(_) => "BLOB",
        }
    }

    /// The encoding `Option` uses for `None` when the type declares a niche.
    pub fn niche(self) -> Option<Vec<u8>> {
        match self {
            Leaf::Int {
                kind,
                nonzero: true,
            } => Some(vec![0; kind.width()]),
            Leaf::Bool | Leaf::Str => Some(vec![0xff]),
            Leaf::Char => Some(vec![0xff; 3]),
            _ => None,
        }
    }

    fn parse(name: &str) -> Option<Leaf> {
        if let Some(kind) = Int::parse(name) {
            return Some(Leaf::Int {
                kind,
                nonzero: false,
            });
        }
        if let Some(rest) = name.strip_prefix("NonZero") {
            let kind = Int::parse(&rest.to_ascii_lowercase())?;
            return Some(Leaf::Int {
                kind,
                nonzero: true,
            });
        }
        Some(match name {
            "()" => Leaf::Unit,
            "bool" => Leaf::Bool,
            "char" => Leaf::Char,
            "f32" => Leaf::F32,
            "f64" => Leaf::F64,
            "&str" | "String" => Leaf::Str,
            "&[u8]" => Leaf::Bytes,
            "Vec<u8>" => Leaf::VecU8,
            _ => return None,
        })
    }
}

/// How a variable-width tuple lays out its elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TupleLayout {
    /// redb 2.x: the lengths of all but the last element as u32 LE, then the data.
    LegacyU32,
    /// redb 3.0 and later: varint lengths of the variable-width elements but
    /// the last, then the data.
    Varint,
}

/// A decodable type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ty {
    Leaf(Leaf),
    /// `Option<T>`: a tag byte (0 None, 1 Some) then `T`; a fixed-width `None`
    /// is padded with zeros.
    Option(Box<Ty>),
    /// `niche::Option<T>`: `None` is `T`'s niche, `Some` is `T` as it is.
    NicheOption(Box<Ty>),
    /// A tuple of one or more elements.
    Tuple(Vec<Ty>, TupleLayout),
}

impl Ty {
    /// Fixed width of the encoding, or `None` for variable width.
    pub fn width(&self) -> Option<usize> {
        match self {
            Ty::Leaf(l) => l.width(),
            Ty::Option(t) => t.width().map(|w| w + 1),
            Ty::NicheOption(t) => t.width(),
            Ty::Tuple(elems, _) => elems.iter().map(Ty::width).sum(),
        }
    }

    /// Number of SQLite columns.
    pub fn columns(&self) -> usize {
        match self {
            Ty::Leaf(_) => 1,
            Ty::Option(t) | Ty::NicheOption(t) => t.columns(),
            Ty::Tuple(elems, _) => elems.iter().map(Ty::columns).sum(),
        }
    }

    fn has_option(&self) -> bool {
        match self {
            Ty::Leaf(_) => false,
            Ty::Option(_) | Ty::NicheOption(_) => true,
            Ty::Tuple(elems, _) => elems.iter().any(Ty::has_option),
        }
    }

    /// The columns of this type: (name suffix, SQL type, nullable).
    fn push_columns(&self, prefix: &str, nullable: bool, out: &mut Vec<Column>) {
        match self {
            Ty::Leaf(l) => out.push(Column {
                name: prefix.to_string(),
                sql_type: l.sql_type(),
                nullable,
            }),
            Ty::Option(t) | Ty::NicheOption(t) => t.push_columns(prefix, true, out),
            Ty::Tuple(elems, _) => {
                for (i, e) in elems.iter().enumerate() {
                    e.push_columns(&format!("{prefix}_{i}"), nullable, out);
                }
            }
        }
    }
}

/// One SQLite column of a key or value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub sql_type: &'static str,
    pub nullable: bool,
}

/// How a stored key or value type is carried into SQLite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mapping {
    /// Decoded into natural columns.
    Natural(Ty),
    /// User-defined: one BLOB column of the exact bytes.
    Opaque,
}

impl Mapping {
    /// The SQLite columns, named after `prefix` (`key`, `value`).
    pub fn columns(&self, prefix: &str) -> Vec<Column> {
        match self {
            Mapping::Natural(ty) => {
                let mut out = Vec::new();
                ty.push_columns(prefix, false, &mut out);
                out
            }
            Mapping::Opaque => vec![Column {
                name: prefix.to_string(),
                sql_type: "BLOB",
                nullable: false,
            }],
        }
    }

    /// Number of SQLite columns.
    pub fn width_in_columns(&self) -> usize {
        match self {
            Mapping::Natural(ty) => ty.columns(),
            Mapping::Opaque => 1,
        }
    }

    /// The integer kind when this is one integer of at most 64 bits (such a
    /// key can be the table's rowid).
    pub fn single_integer(&self) -> Option<Int> {
        match self {
            Mapping::Natural(Ty::Leaf(Leaf::Int { kind, .. })) if kind.width() <= 8 => Some(*kind),
            _ => None,
        }
    }
}

/// Why a stored type cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported(pub String);

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A parsed name: built-in types, and leaves cutover does not know (which
/// can only be user-defined types nested in a composite).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Parsed {
    Leaf(Leaf),
    Unknown(String),
    Option(Box<Parsed>),
    NicheOption(Box<Parsed>),
    Tuple(Vec<Parsed>),
    /// A built-in composite cutover does not decode (`Vec<u64>`, `[u32;4]`).
    Other(String),
}

impl Parsed {
    fn has_unknown(&self) -> bool {
        match self {
            Parsed::Unknown(_) => true,
            Parsed::Leaf(_) | Parsed::Other(_) => false,
            Parsed::Option(t) | Parsed::NicheOption(t) => t.has_unknown(),
            Parsed::Tuple(e) => e.iter().any(Parsed::has_unknown),
        }
    }
}

/// Split `s` at top-level commas (outside `()`, `<>`, `[]`).
fn split_top(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' | '<' | '[' => depth += 1,
            ')' | '>' | ']' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// Whether the brackets of `s` are balanced and the outer pair spans it all.
fn wrapped(s: &str, open: char, close: char) -> Option<&str> {
    let inner = s.strip_prefix(open)?.strip_suffix(close)?;
    let mut depth = 0i32;
    for c in inner.chars() {
        match c {
            '(' | '<' | '[' => depth += 1,
            ')' | '>' | ']' => depth -= 1,
            _ => {}
        }
        if depth < 0 {
            return None;
        }
    }
    (depth == 0).then_some(inner)
}

fn parse(name: &str) -> Parsed {
    let name = name.trim();
    if let Some(leaf) = Leaf::parse(name) {
        return Parsed::Leaf(leaf);
    }
    if let Some(inner) = name
        .strip_prefix("niche::Option<")
        .and_then(|r| r.strip_suffix('>'))
    {
        return Parsed::NicheOption(Box::new(parse(inner)));
    }
    if let Some(inner) = name
        .strip_prefix("Option")
        .and_then(|r| wrapped(r, '<', '>'))
    {
        return Parsed::Option(Box::new(parse(inner)));
    }
    if let Some(inner) = wrapped(name, '[', ']') {
        let parts: Vec<&str> = inner.rsplitn(2, ';').collect();
        if let [n, elem] = parts.as_slice() {
            if let (
                Parsed::Leaf(Leaf::Int {
                    kind: Int::U8,
                    nonzero: false,
                }),
                Ok(n),
            ) = (parse(elem), n.trim().parse::<usize>())
            {
                return Parsed::Leaf(Leaf::ByteArray(n));
            }
        }
        return Parsed::Other(name.to_string());
    }
    if let Some(inner) = wrapped(name, '(', ')') {
        let mut parts = split_top(inner);
        if parts.len() >= 2 && parts.last().is_some_and(|p| p.is_empty()) {
            // `(T,)`: a one-element tuple.
            parts.pop();
        }
        if parts.iter().all(|p| !p.trim().is_empty()) {
            return Parsed::Tuple(parts.into_iter().map(parse).collect());
        }
        return Parsed::Other(name.to_string());
    }
    if name.starts_with("Vec<") {
        return Parsed::Other(name.to_string());
    }
    Parsed::Unknown(name.to_string())
}

fn to_ty(p: &Parsed, layout: TupleLayout) -> Result<Ty, Unsupported> {
    match p {
        Parsed::Leaf(l) => Ok(Ty::Leaf(*l)),
        Parsed::Option(inner) => {
            let t = to_ty(inner, layout)?;
            if t.has_option() {
                return Err(Unsupported(
                    "an Option holding an Option has no unambiguous SQLite form".into(),
                ));
            }
            Ok(Ty::Option(Box::new(t)))
        }
        Parsed::NicheOption(inner) => {
            let t = to_ty(inner, layout)?;
            match t {
                Ty::Leaf(l) if l.niche().is_some() => Ok(Ty::NicheOption(Box::new(t))),
                _ => Err(Unsupported(
                    "niche::Option of a type without a known niche".into(),
                )),
            }
        }
        Parsed::Tuple(elems) => Ok(Ty::Tuple(
            elems
                .iter()
                .map(|e| to_ty(e, layout))
                .collect::<Result<_, _>>()?,
            layout,
        )),
        Parsed::Other(name) => Err(Unsupported(format!(
            "{name} is a redb composite cutover does not decode"
        ))),
        Parsed::Unknown(name) => Err(Unsupported(format!("{name} is not a redb built-in type"))),
    }
}

/// Decide how a stored type is carried, from its name, its classification,
/// its stored fixed width, and the file format it was read from.
pub fn mapping(
    name: &str,
    class: Class,
    width: Option<usize>,
    format_v2: bool,
) -> Result<Mapping, Unsupported> {
    if class == Class::UserDefined {
        return Ok(Mapping::Opaque);
    }
    let parsed = parse(name);
    if parsed.has_unknown() {
        // A built-in composite of a user-defined type, as redb before 4.2
        // classified it: carried whole, as exact bytes.
        return Ok(Mapping::Opaque);
    }
    // Variable-width tuples: redb 2.x wrote u32 lengths; 3.0 and later varints
    // (and marked the new encoding with a new classification).
    let top_variable_tuple = matches!(parsed, Parsed::Tuple(_)) && width.is_none();
    let layout = if format_v2 || (top_variable_tuple && class == Class::Internal) {
        TupleLayout::LegacyU32
    } else {
        TupleLayout::Varint
    };
    let ty = to_ty(&parsed, layout)?;
    if ty.width() != width {
        return Err(Unsupported(format!(
            "{name} is stored with width {}, but its encoding has width {}",
            show_width(width),
            show_width(ty.width())
        )));
    }
    Ok(Mapping::Natural(ty))
}

fn show_width(w: Option<usize>) -> String {
    match w {
        Some(w) => w.to_string(),
        None => "variable".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn natural(name: &str, width: Option<usize>) -> Ty {
        match mapping(name, Class::Internal3, width, false) {
            Ok(Mapping::Natural(t)) => t,
            other => panic!("{name}: {other:?}"),
        }
    }

    #[test]
    fn parses_built_in_names() {
        assert_eq!(
            natural("u64", Some(8)),
            Ty::Leaf(Leaf::Int {
                kind: Int::U64,
                nonzero: false
            })
        );
        assert_eq!(natural("[u8;16]", Some(16)), Ty::Leaf(Leaf::ByteArray(16)));
        assert_eq!(natural("Option<&str>", None).columns(), 1);
        let t = natural("(u64,Option<&[u8]>)", None);
        assert_eq!(t.columns(), 2);
        assert_eq!(
            Mapping::Natural(t).columns("key"),
            vec![
                Column {
                    name: "key_0".into(),
                    sql_type: "INTEGER",
                    nullable: false
                },
                Column {
                    name: "key_1".into(),
                    sql_type: "BLOB",
                    nullable: true
                }
            ]
        );
        assert_eq!(natural("(u32,)", Some(4)).columns(), 1);
        assert_eq!(natural("((u8,u16),char)", Some(6)).columns(), 3);
        assert_eq!(natural("niche::Option<NonZeroU32>", Some(4)).columns(), 1);
        assert_eq!(natural("Option<u64>", Some(9)).width(), Some(9));
    }

    #[test]
    fn user_defined_and_unknown_are_opaque_unsupported_refused() {
        assert_eq!(
            mapping("myapp::Membership", Class::UserDefined, None, false),
            Ok(Mapping::Opaque)
        );
        assert_eq!(
            mapping("Option<myapp::X>", Class::Internal, Some(5), false),
            Ok(Mapping::Opaque)
        );
        assert!(mapping("Vec<u64>", Class::Internal3, None, false).is_err());
        assert!(mapping("[u32;4]", Class::Internal3, Some(16), false).is_err());
        assert!(mapping("Option<Option<u8>>", Class::Internal3, Some(3), false).is_err());
        // A width that disagrees with the name.
        assert!(mapping("u64", Class::Internal, Some(4), false).is_err());
    }

    #[test]
    fn tuple_layout_follows_format_and_class() {
        let layout = |class, v2| match mapping("(u32,&str)", class, None, v2) {
            Ok(Mapping::Natural(Ty::Tuple(_, l))) => l,
            other => panic!("{other:?}"),
        };
        assert_eq!(layout(Class::Internal, true), TupleLayout::LegacyU32);
        assert_eq!(layout(Class::Internal, false), TupleLayout::LegacyU32);
        assert_eq!(layout(Class::Internal2, false), TupleLayout::Varint);
        assert_eq!(layout(Class::Internal3, false), TupleLayout::Varint);
    }

    #[test]
    fn class_from_debug_text() {
        assert_eq!(
            Class::from_debug(r#"TypeName { classification: Internal2, name: "x" }"#),
            Some(Class::Internal2)
        );
        assert_eq!(
            Class::from_debug(r#"TypeName { classification: UserDefined, name: "x" }"#),
            Some(Class::UserDefined)
        );
        assert_eq!(Class::from_debug("nothing"), None);
        assert_eq!(
            name_from_debug(r#"TypeName { classification: Internal, name: "a\"b\\c\u{0}" }"#),
            Some("a\"b\\c\u{0}".to_string())
        );
    }
}
