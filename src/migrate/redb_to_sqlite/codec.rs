//! redb bytes ⇄ SQLite values. `decode` turns the exact bytes of a key or
//! value into column values; `encode` is its inverse and is what verification
//! uses: every target row is encoded back and must give the source's bytes.
//!
//! A value with no exact SQLite form (NaN, -0.0, a u64 above i64::MAX, a
//! string that is not UTF-8, a bool byte that is neither 0 nor 1) is stored
//! as a BLOB of its exact redb bytes in its column, and counted, so nothing
//! is rounded or dropped.

use std::borrow::Cow;

use rusqlite::types::{ToSql, ToSqlOutput, ValueRef};

use super::types::{Int, Leaf, Mapping, TupleLayout, Ty};

/// One column value to bind.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(Cow<'a, str>),
    Blob(Cow<'a, [u8]>),
}

impl ToSql for Cell<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Cell::Null => ValueRef::Null,
            Cell::Int(i) => ValueRef::Integer(*i),
            Cell::Real(f) => ValueRef::Real(*f),
            Cell::Text(s) => ValueRef::Text(s.as_bytes()),
            Cell::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

/// Decoding state of one table: values that had to be stored as exact bytes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Inexact(pub u64);

/// Decode `bytes` of `mapping` into `out` (one cell per column).
pub fn decode<'a>(
    mapping: &Mapping,
    bytes: &'a [u8],
    out: &mut Vec<Cell<'a>>,
    inexact: &mut Inexact,
) -> Result<(), String> {
    match mapping {
        Mapping::Opaque => {
            out.push(Cell::Blob(Cow::Borrowed(bytes)));
            Ok(())
        }
        Mapping::Natural(ty) => decode_ty(ty, bytes, out, inexact),
    }
}

fn nulls(n: usize, out: &mut Vec<Cell<'_>>) {
    out.extend(std::iter::repeat_n(Cell::Null, n));
}

fn decode_ty<'a>(
    ty: &Ty,
    bytes: &'a [u8],
    out: &mut Vec<Cell<'a>>,
    inexact: &mut Inexact,
) -> Result<(), String> {
    match ty {
        Ty::Leaf(leaf) => decode_leaf(*leaf, bytes, out, inexact),
        Ty::Option(inner) => {
            let (&tag, rest) = bytes.split_first().ok_or("an Option with no tag byte")?;
            match (tag, inner.width()) {
                (0, Some(w)) if rest.len() == w => {
                    nulls(inner.columns(), out);
                    Ok(())
                }
                (0, None) if rest.is_empty() => {
                    nulls(inner.columns(), out);
                    Ok(())
                }
                (1, _) => decode_ty(inner, rest, out, inexact),
                _ => Err(format!(
                    "an Option with tag byte {tag} and {} bytes",
                    rest.len()
                )),
            }
        }
        Ty::NicheOption(inner) => {
            let niche = match inner.as_ref() {
                Ty::Leaf(l) => l.niche(),
                _ => None,
            };
            if niche.as_deref() == Some(bytes) {
                nulls(inner.columns(), out);
                Ok(())
            } else {
                decode_ty(inner, bytes, out, inexact)
            }
        }
        Ty::Tuple(elems, layout) => {
            for (elem, part) in elems.iter().zip(split_tuple(elems, *layout, bytes)?) {
                decode_ty(elem, part, out, inexact)?;
            }
            Ok(())
        }
    }
}

/// The encoded elements of a tuple.
fn split_tuple<'a>(
    elems: &[Ty],
    layout: TupleLayout,
    data: &'a [u8],
) -> Result<Vec<&'a [u8]>, String> {
    let n = elems.len();
    let short = || format!("a {n}-tuple cut short ({} bytes)", data.len());
    if n == 1 {
        return Ok(vec![data]);
    }
    let mut lens: Vec<Option<usize>> = elems.iter().map(Ty::width).collect();
    let mut offset = 0usize;
    let all_fixed = lens.iter().all(Option::is_some);
    if !all_fixed {
        match layout {
            TupleLayout::LegacyU32 => {
                for len in lens.iter_mut().take(n - 1) {
                    let b = data.get(offset..offset + 4).ok_or_else(short)?;
                    *len = Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
                    offset += 4;
                }
            }
            TupleLayout::Varint => {
                for len in lens.iter_mut().take(n - 1) {
                    if len.is_none() {
                        let (l, used) =
                            read_varint(data.get(offset..).ok_or_else(short)?).ok_or_else(short)?;
                        *len = Some(l);
                        offset += used;
                    }
                }
            }
        }
    }
    let mut parts = Vec::with_capacity(n);
    for (i, len) in lens.iter().enumerate() {
        let end = if i == n - 1 && !all_fixed {
            data.len()
        } else {
            offset.checked_add(len.unwrap_or(0)).ok_or_else(short)?
        };
        parts.push(data.get(offset..end).ok_or_else(short)?);
        offset = end;
    }
    if offset != data.len() {
        return Err(format!(
            "a {n}-tuple of {} bytes has {} bytes left over",
            data.len(),
            data.len() - offset
        ));
    }
    Ok(parts)
}

/// redb's length varint: < 254 in one byte, 254 + u16, 255 + u32.
pub fn read_varint(data: &[u8]) -> Option<(usize, usize)> {
    match *data.first()? {
        b @ 0..=253 => Some((b as usize, 1)),
        254 => {
            let b = data.get(1..3)?;
            Some((u16::from_le_bytes([b[0], b[1]]) as usize, 3))
        }
        255 => {
            let b = data.get(1..5)?;
            Some((u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize, 5))
        }
    }
}

/// Append redb's length varint.
pub fn write_varint(len: usize, out: &mut Vec<u8>) {
    if len < 254 {
        out.push(len as u8);
    } else if len <= u16::MAX as usize {
        out.push(254);
        out.extend_from_slice(&(len as u16).to_le_bytes());
    } else {
        out.push(255);
        out.extend_from_slice(&(len as u32).to_le_bytes());
    }
}

fn exact<'a>(bytes: &'a [u8], out: &mut Vec<Cell<'a>>, inexact: &mut Inexact) {
    inexact.0 += 1;
    out.push(Cell::Blob(Cow::Borrowed(bytes)));
}

fn le_u128(bytes: &[u8]) -> u128 {
    let mut buf = [0u8; 16];
    buf[..bytes.len()].copy_from_slice(bytes);
    u128::from_le_bytes(buf)
}

fn decode_leaf<'a>(
    leaf: Leaf,
    bytes: &'a [u8],
    out: &mut Vec<Cell<'a>>,
    inexact: &mut Inexact,
) -> Result<(), String> {
    if let Some(w) = leaf.width() {
        if bytes.len() != w {
            return Err(format!("{} bytes where {w} were expected", bytes.len()));
        }
    }
    match leaf {
        Leaf::Unit => out.push(Cell::Int(0)),
        Leaf::Bool => match bytes[0] {
            0 | 1 => out.push(Cell::Int(i64::from(bytes[0]))),
            _ => exact(bytes, out, inexact),
        },
        Leaf::Char => match char::from_u32(le_u128(bytes) as u32) {
            Some(c) => out.push(Cell::Text(Cow::Owned(c.to_string()))),
            None => exact(bytes, out, inexact),
        },
        Leaf::Int { kind, .. } => {
            let raw = le_u128(bytes);
            let bits = 8 * kind.width() as u32;
            match kind {
                Int::U128 => out.push(Cell::Text(Cow::Owned(raw.to_string()))),
                Int::I128 => out.push(Cell::Text(Cow::Owned((raw as i128).to_string()))),
                Int::U64 if raw > i64::MAX as u128 => exact(bytes, out, inexact),
                k if k.signed() => {
                    // Sign-extend from `bits`.
                    let shift = 128 - bits;
                    out.push(Cell::Int((((raw << shift) as i128) >> shift) as i64));
                }
                _ => out.push(Cell::Int(raw as i64)),
            }
        }
        Leaf::F32 => {
            let f = f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
            if f.is_nan() || (f == 0.0 && f.is_sign_negative()) {
                exact(bytes, out, inexact);
            } else {
                out.push(Cell::Real(f64::from(f)));
            }
        }
        Leaf::F64 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(bytes);
            let f = f64::from_le_bytes(b);
            if f.is_nan() || (f == 0.0 && f.is_sign_negative()) {
                exact(bytes, out, inexact);
            } else {
                out.push(Cell::Real(f));
            }
        }
        Leaf::Str => match std::str::from_utf8(bytes) {
            Ok(s) => out.push(Cell::Text(Cow::Borrowed(s))),
            Err(_) => exact(bytes, out, inexact),
        },
        Leaf::Bytes | Leaf::ByteArray(_) => out.push(Cell::Blob(Cow::Borrowed(bytes))),
        Leaf::VecU8 => {
            let (n, used) = read_varint(bytes).ok_or("a Vec<u8> with no length")?;
            if used + n != bytes.len() {
                return Err(format!(
                    "a Vec<u8> of {n} elements in {} bytes",
                    bytes.len() - used
                ));
            }
            out.push(Cell::Blob(Cow::Borrowed(&bytes[used..])));
        }
    }
    Ok(())
}

/// Encode the target's column values back into redb bytes (the inverse of
/// [`decode`]). `vals` holds exactly the mapping's columns.
pub fn encode(mapping: &Mapping, vals: &[ValueRef<'_>], out: &mut Vec<u8>) -> Result<(), String> {
    out.clear();
    match mapping {
        Mapping::Opaque => match vals.first() {
            Some(ValueRef::Blob(b)) => {
                out.extend_from_slice(b);
                Ok(())
            }
            other => Err(format!("{} where a BLOB was expected", kind_of(other))),
        },
        Mapping::Natural(ty) => {
            let mut pos = 0;
            encode_ty(ty, vals, &mut pos, out)?;
            if pos != vals.len() {
                return Err(format!("{} columns left over", vals.len() - pos));
            }
            Ok(())
        }
    }
}

fn kind_of(v: Option<&ValueRef<'_>>) -> &'static str {
    match v {
        None => "no value",
        Some(ValueRef::Null) => "NULL",
        Some(ValueRef::Integer(_)) => "an INTEGER",
        Some(ValueRef::Real(_)) => "a REAL",
        Some(ValueRef::Text(_)) => "TEXT",
        Some(ValueRef::Blob(_)) => "a BLOB",
    }
}

fn encode_ty(
    ty: &Ty,
    vals: &[ValueRef<'_>],
    pos: &mut usize,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    match ty {
        Ty::Leaf(leaf) => {
            let v = vals.get(*pos);
            *pos += 1;
            encode_leaf(*leaf, v, out)
        }
        Ty::Option(inner) | Ty::NicheOption(inner) => {
            let k = inner.columns();
            let cols = vals
                .get(*pos..*pos + k)
                .ok_or("fewer columns than the type has")?;
            let nulls = cols.iter().filter(|v| matches!(v, ValueRef::Null)).count();
            if nulls == k {
                *pos += k;
                if let Ty::NicheOption(_) = ty {
                    if let Ty::Leaf(l) = inner.as_ref() {
                        out.extend_from_slice(&l.niche().unwrap_or_default());
                    }
                } else {
                    out.push(0);
                    if let Some(w) = inner.width() {
                        out.resize(out.len() + w, 0);
                    }
                }
                Ok(())
            } else if nulls == 0 {
                if let Ty::Option(_) = ty {
                    out.push(1);
                }
                encode_ty(inner, vals, pos, out)
            } else {
                Err("an Option whose columns are partly NULL".into())
            }
        }
        Ty::Tuple(elems, layout) => {
            let n = elems.len();
            let all_fixed = elems.iter().all(|e| e.width().is_some());
            if n == 1 || all_fixed {
                for e in elems {
                    encode_ty(e, vals, pos, out)?;
                }
                return Ok(());
            }
            let mut parts = Vec::with_capacity(n);
            for e in elems {
                let mut part = Vec::new();
                encode_ty(e, vals, pos, &mut part)?;
                parts.push(part);
            }
            for (e, part) in elems.iter().zip(&parts).take(n - 1) {
                match layout {
                    TupleLayout::LegacyU32 => {
                        let len =
                            u32::try_from(part.len()).map_err(|_| "a tuple element over 4 GiB")?;
                        out.extend_from_slice(&len.to_le_bytes());
                    }
                    TupleLayout::Varint if e.width().is_none() => write_varint(part.len(), out),
                    TupleLayout::Varint => {}
                }
            }
            for part in parts {
                out.extend_from_slice(&part);
            }
            Ok(())
        }
    }
}

fn encode_leaf(leaf: Leaf, v: Option<&ValueRef<'_>>, out: &mut Vec<u8>) -> Result<(), String> {
    let wrong = || format!("{} in a {} column", kind_of(v), leaf.sql_type());
    // A BLOB in a non-BLOB column holds the exact redb bytes.
    if let (Some(ValueRef::Blob(b)), false) = (v, leaf.sql_type() == "BLOB") {
        if leaf.width().is_some_and(|w| w != b.len()) {
            return Err(format!("a BLOB of {} bytes for {leaf:?}", b.len()));
        }
        out.extend_from_slice(b);
        return Ok(());
    }
    match (leaf, v) {
        (Leaf::Unit, Some(ValueRef::Integer(0))) => {}
        (Leaf::Bool, Some(ValueRef::Integer(i @ (0 | 1)))) => out.push(*i as u8),
        (Leaf::Char, Some(ValueRef::Text(t))) => {
            let s = std::str::from_utf8(t).map_err(|_| "TEXT that is not UTF-8".to_string())?;
            let mut chars = s.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => out.extend_from_slice(&u32::from(c).to_le_bytes()[..3]),
                _ => return Err(format!("{s:?} is not one char")),
            }
        }
        (Leaf::Int { kind, .. }, Some(ValueRef::Integer(i))) if kind.width() <= 8 => {
            let i = *i;
            let bits = 8 * kind.width() as u32;
            let fits = if kind.signed() {
                bits == 64 || (i >= -(1i64 << (bits - 1)) && i < (1i64 << (bits - 1)))
            } else {
                i >= 0 && (bits == 64 || i < (1i64 << bits))
            };
            if !fits {
                return Err(format!("{i} does not fit {kind:?}"));
            }
            out.extend_from_slice(&i.to_le_bytes()[..kind.width()]);
        }
        (Leaf::Int { kind, .. }, Some(ValueRef::Text(t))) if kind.width() == 16 => {
            let s = std::str::from_utf8(t).map_err(|_| "TEXT that is not UTF-8".to_string())?;
            let bytes = if kind.signed() {
                s.parse::<i128>().map(i128::to_le_bytes)
            } else {
                s.parse::<u128>().map(u128::to_le_bytes)
            }
            .map_err(|_| format!("{s:?} is not a {kind:?}"))?;
            out.extend_from_slice(&bytes);
        }
        (Leaf::F32, Some(ValueRef::Real(f))) => {
            let g = *f as f32;
            if f64::from(g) != *f {
                return Err(format!("{f} is not an f32"));
            }
            out.extend_from_slice(&g.to_le_bytes());
        }
        (Leaf::F64, Some(ValueRef::Real(f))) => out.extend_from_slice(&f.to_le_bytes()),
        (Leaf::Str, Some(ValueRef::Text(t))) => out.extend_from_slice(t),
        (Leaf::Bytes, Some(ValueRef::Blob(b))) => out.extend_from_slice(b),
        (Leaf::ByteArray(n), Some(ValueRef::Blob(b))) if b.len() == n => out.extend_from_slice(b),
        (Leaf::VecU8, Some(ValueRef::Blob(b))) => {
            write_varint(b.len(), out);
            out.extend_from_slice(b);
        }
        _ => return Err(wrong()),
    }
    Ok(())
}

/// A key or value as an operator reads it in a message: decoded when
/// possible, hex otherwise; long values are cut.
pub fn show(mapping: &Mapping, bytes: &[u8]) -> String {
    let mut cells = Vec::new();
    let mut inexact = Inexact::default();
    if decode(mapping, bytes, &mut cells, &mut inexact).is_err() {
        return hex(bytes);
    }
    let shown: Vec<String> = cells.iter().map(show_cell).collect();
    if shown.len() == 1 {
        shown.into_iter().next().unwrap_or_default()
    } else {
        format!("({})", shown.join(", "))
    }
}

fn show_cell(cell: &Cell<'_>) -> String {
    match cell {
        Cell::Null => "NULL".into(),
        Cell::Int(i) => i.to_string(),
        Cell::Real(f) => f.to_string(),
        Cell::Text(s) => {
            let cut: String = s.chars().take(48).collect();
            let more = if cut.len() < s.len() { "…" } else { "" };
            format!("{:?}{more}", cut)
        }
        Cell::Blob(b) => hex(b),
    }
}

/// `0x…` of up to 24 bytes, with the full length when cut.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::from("0x");
    for b in bytes.iter().take(24) {
        s.push_str(&format!("{b:02x}"));
    }
    if bytes.len() > 24 {
        s.push_str(&format!("… ({} bytes)", bytes.len()));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrate::redb_to_sqlite::types::{mapping, Class};

    fn roundtrip(name: &str, width: Option<usize>, bytes: &[u8]) -> Vec<Cell<'static>> {
        let m = mapping(name, Class::Internal3, width, false).expect("mapping");
        let mut cells = Vec::new();
        let mut inexact = Inexact::default();
        decode(&m, bytes, &mut cells, &mut inexact).expect("decode");
        let owned: Vec<Cell<'static>> = cells
            .iter()
            .map(|c| match c {
                Cell::Null => Cell::Null,
                Cell::Int(i) => Cell::Int(*i),
                Cell::Real(f) => Cell::Real(*f),
                Cell::Text(t) => Cell::Text(Cow::Owned(t.to_string())),
                Cell::Blob(b) => Cell::Blob(Cow::Owned(b.to_vec())),
            })
            .collect();
        let vals: Vec<ValueRef<'_>> = owned
            .iter()
            .map(|c| match c {
                Cell::Null => ValueRef::Null,
                Cell::Int(i) => ValueRef::Integer(*i),
                Cell::Real(f) => ValueRef::Real(*f),
                Cell::Text(t) => ValueRef::Text(t.as_bytes()),
                Cell::Blob(b) => ValueRef::Blob(b),
            })
            .collect();
        let mut back = Vec::new();
        encode(&m, &vals, &mut back).expect("encode");
        assert_eq!(back, bytes, "{name} round trip");
        owned
    }

    #[test]
    fn leaves_round_trip() {
        assert_eq!(
            roundtrip("u64", Some(8), &7u64.to_le_bytes()),
            vec![Cell::Int(7)]
        );
        assert_eq!(
            roundtrip("u64", Some(8), &u64::MAX.to_le_bytes()),
            vec![Cell::Blob(Cow::Owned(u64::MAX.to_le_bytes().to_vec()))]
        );
        assert_eq!(
            roundtrip("i16", Some(2), &(-3i16).to_le_bytes()),
            vec![Cell::Int(-3)]
        );
        assert_eq!(
            roundtrip("i64", Some(8), &i64::MIN.to_le_bytes()),
            vec![Cell::Int(i64::MIN)]
        );
        assert_eq!(
            roundtrip("i128", Some(16), &(-5i128).to_le_bytes()),
            vec![Cell::Text(Cow::Owned("-5".into()))]
        );
        assert_eq!(
            roundtrip("f64", Some(8), &1.5f64.to_le_bytes()),
            vec![Cell::Real(1.5)]
        );
        roundtrip("f64", Some(8), &f64::NAN.to_le_bytes());
        roundtrip("f64", Some(8), &(-0.0f64).to_le_bytes());
        assert_eq!(
            roundtrip("f32", Some(4), &0.1f32.to_le_bytes()),
            vec![Cell::Real(f64::from(0.1f32))]
        );
        assert_eq!(roundtrip("bool", Some(1), &[1]), vec![Cell::Int(1)]);
        assert_eq!(
            roundtrip("char", Some(3), &[0x13, 0x27, 0x00]),
            vec![Cell::Text(Cow::Owned("✓".into()))]
        );
        roundtrip("&str", None, "héllo".as_bytes());
        roundtrip("&str", None, b"\xff\xfe not utf8");
        roundtrip("&[u8]", None, b"");
        roundtrip("Vec<u8>", None, &[3, 1, 2, 3]);
        roundtrip("[u8;4]", Some(4), &[9, 8, 7, 6]);
        roundtrip("()", Some(0), &[]);
    }

    #[test]
    fn composites_round_trip() {
        roundtrip("Option<u32>", Some(5), &[0, 0, 0, 0, 0]);
        assert_eq!(
            roundtrip("Option<u32>", Some(5), &[1, 5, 0, 0, 0]),
            vec![Cell::Int(5)]
        );
        roundtrip("Option<&str>", None, &[0]);
        roundtrip("Option<&str>", None, b"\x01abc");
        roundtrip("niche::Option<NonZeroU16>", Some(2), &[0, 0]);
        roundtrip("niche::Option<NonZeroU16>", Some(2), &[4, 0]);
        roundtrip("(u32,u8)", Some(5), &[1, 0, 0, 0, 2]);
        // Modern layout: varint length of the variable first element only.
        let cells = roundtrip("(&str,u16,&[u8])", None, b"\x02hi\x07\x00xyz");
        assert_eq!(cells.len(), 3);
        // Legacy (redb 2.x) layout: u32 lengths of all but the last.
        let m = mapping("(&str,u16,&[u8])", Class::Internal, None, true).expect("map");
        let bytes = b"\x02\x00\x00\x00\x02\x00\x00\x00hi\x07\x00xyz";
        let mut cells = Vec::new();
        decode(&m, bytes, &mut cells, &mut Inexact::default()).expect("decode");
        assert_eq!(cells[0], Cell::Text(Cow::Borrowed("hi")));
        assert_eq!(cells[1], Cell::Int(7));
        roundtrip("(Option<u8>,&str)", None, b"\x00\x00rest");
        roundtrip("Option<(u8,&str)>", None, b"\x01\x05s");
    }

    #[test]
    fn damaged_bytes_are_errors() {
        let m = mapping("Option<u32>", Class::Internal3, Some(5), false).expect("map");
        let mut cells = Vec::new();
        assert!(decode(&m, &[7, 0, 0, 0, 0], &mut cells, &mut Inexact::default()).is_err());
        let m = mapping("(u8,&str,&str)", Class::Internal3, None, false).expect("map");
        assert!(decode(&m, &[5, 1], &mut cells, &mut Inexact::default()).is_err());
        assert_eq!(show(&m, &[5, 1]), "0x0501");
    }
}
