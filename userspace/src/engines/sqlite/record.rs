// SPDX-License-Identifier: GPL-2.0 OR MIT

//! SQLite's record format: varints, serial types and the values they
//! encode, the order SQLite sorts values in, and column affinity.

use std::cmp::Ordering;

/// A value of a column, as SQLite stores it.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Integer(i64),
    Real(f64),
    /// Text (stored as UTF-8; bytes that are not are replaced).
    Text(String),
    Blob(Vec<u8>),
}

/// A column of a record, borrowed from its bytes: what comparisons see.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Field<'a> {
    Null,
    Integer(i64),
    Real(f64),
    Text(&'a [u8]),
    Blob(&'a [u8]),
}

/// The varint at the start of `b` (1 to 9 bytes, big-endian, 7 bits a
/// byte but all 8 of the ninth) and its length; `None` if `b` ends first.
pub(crate) fn varint(b: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for i in 0..8 {
        let x = *b.get(i)?;
        v = (v << 7) | u64::from(x & 0x7f);
        if x < 0x80 {
            return Some((v, i + 1));
        }
    }
    Some(((v << 8) | u64::from(*b.get(8)?), 9))
}

/// Bytes of the body of a column of serial type `t`; `None` for the
/// reserved types 10 and 11.
pub(crate) fn serial_size(t: u64) -> Option<u64> {
    Some(match t {
        0 | 8 | 9 => 0,
        1..=4 => t,
        5 => 6,
        6 | 7 => 8,
        10 | 11 => return None,
        _ => (t - 12) / 2,
    })
}

/// The big-endian two's complement integer of 1 to 8 bytes.
pub(crate) fn be_int(b: &[u8]) -> i64 {
    let v = b.iter().fold(0u64, |v, &x| (v << 8) | u64::from(x));
    let shift = 64 - 8 * b.len() as u32;
    ((v << shift) as i64) >> shift
}

fn field(t: u64, b: &[u8]) -> Field<'_> {
    match t {
        0 => Field::Null,
        1..=6 => Field::Integer(be_int(b)),
        7 => Field::Real(f64::from_bits(be_int(b) as u64)),
        8 => Field::Integer(0),
        9 => Field::Integer(1),
        t if t % 2 == 0 => Field::Blob(b),
        _ => Field::Text(b),
    }
}

/// The columns of the record `rec`; `None` if it is malformed.
pub(crate) fn fields(rec: &[u8]) -> Option<Vec<Field<'_>>> {
    let (hlen, mut pos) = varint(rec)?;
    let hlen = usize::try_from(hlen).ok()?;
    if hlen < pos || hlen > rec.len() {
        return None;
    }
    let mut body = hlen;
    let mut out = Vec::new();
    while pos < hlen {
        let (t, n) = varint(&rec[pos..hlen])?;
        pos += n;
        let size = usize::try_from(serial_size(t)?).ok()?;
        let end = body.checked_add(size)?;
        out.push(field(t, rec.get(body..end)?));
        body = end;
    }
    Some(out)
}

impl Field<'_> {
    pub(crate) fn to_value(self) -> Value {
        match self {
            Field::Null => Value::Null,
            Field::Integer(i) => Value::Integer(i),
            Field::Real(r) => Value::Real(r),
            Field::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
            Field::Blob(b) => Value::Blob(b.to_vec()),
        }
    }
}

impl Value {
    pub(crate) fn as_field(&self) -> Field<'_> {
        match self {
            Value::Null => Field::Null,
            Value::Integer(i) => Field::Integer(*i),
            Value::Real(r) => Field::Real(*r),
            Value::Text(t) => Field::Text(t.as_bytes()),
            Value::Blob(b) => Field::Blob(b),
        }
    }
}

/// 2^63, exactly: the first real past every i64.
const TWO_63: f64 = -(i64::MIN as f64);

/// An integer against a real, exactly (SQLite's sqlite3IntFloatCompare).
fn int_real(i: i64, r: f64) -> Ordering {
    if r.is_nan() || r >= TWO_63 {
        return Ordering::Less;
    }
    if r < -TWO_63 {
        return Ordering::Greater;
    }
    let t = r as i64; // towards zero, exact for |r| < 2^63
    i.cmp(&t)
        .then_with(|| (t as f64).partial_cmp(&r).unwrap_or(Ordering::Equal))
}

/// SQLite's order of values with the BINARY collation: NULL, then numbers
/// by value, then text bytewise, then blobs bytewise.
pub(crate) fn compare(a: Field<'_>, b: Field<'_>) -> Ordering {
    use Field::*;
    let class = |f: &Field<'_>| match f {
        Null => 0,
        Integer(_) | Real(_) => 1,
        Text(_) => 2,
        Blob(_) => 3,
    };
    match (a, b) {
        (Integer(x), Integer(y)) => x.cmp(&y),
        (Real(x), Real(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        (Integer(x), Real(y)) => int_real(x, y),
        (Real(x), Integer(y)) => int_real(y, x).reverse(),
        (Text(x), Text(y)) | (Blob(x), Blob(y)) => x.cmp(y),
        _ => class(&a).cmp(&class(&b)),
    }
}

/// A column's affinity, from its declared type (SQLite's rules, in order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Affinity {
    Integer,
    Text,
    Blob,
    Real,
    Numeric,
}

impl Affinity {
    pub fn of(decl_type: &str) -> Self {
        let t = decl_type.to_ascii_uppercase();
        if t.contains("INT") {
            Affinity::Integer
        } else if t.contains("CHAR") || t.contains("CLOB") || t.contains("TEXT") {
            Affinity::Text
        } else if t.contains("BLOB") || t.trim().is_empty() {
            Affinity::Blob
        } else if t.contains("REAL") || t.contains("FLOA") || t.contains("DOUB") {
            Affinity::Real
        } else {
            Affinity::Numeric
        }
    }

    /// `v` as a comparison with a column of this affinity sees it: a bound
    /// value has no affinity, so it takes the column's.
    pub fn apply(self, v: Value) -> Value {
        match (self, v) {
            (Affinity::Text, Value::Integer(i)) => Value::Text(i.to_string()),
            (Affinity::Text, Value::Real(r)) => Value::Text(real_text(r)),
            (Affinity::Integer | Affinity::Real | Affinity::Numeric, Value::Text(t)) => {
                numeric(&t).unwrap_or(Value::Text(t))
            }
            (_, v) => v,
        }
    }
}

/// A real as SQLite renders it in text (`%!.15g`), for the common cases.
fn real_text(r: f64) -> String {
    if r.fract() == 0.0 && r.abs() < 1e15 {
        format!("{r:.1}")
    } else {
        format!("{r}")
    }
}

/// Text that reads as a number: an integer if it is one (or a real with an
/// integer value), else a real; `None` if it is not a number.
fn numeric(t: &str) -> Option<Value> {
    let s = t.trim_matches(|c: char| c.is_ascii_whitespace());
    if let Ok(i) = s.parse::<i64>() {
        return Some(Value::Integer(i));
    }
    let looks_numeric = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | '.' | 'e' | 'E'));
    let r: f64 = s.parse().ok().filter(|_| looks_numeric)?;
    if r.fract() == 0.0 && r.abs() < 9.2e18 {
        return Some(Value::Integer(r as i64));
    }
    Some(Value::Real(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_decode_like_sqlite() {
        assert_eq!(varint(&[0x00]), Some((0, 1)));
        assert_eq!(varint(&[0x7f]), Some((127, 1)));
        assert_eq!(varint(&[0x81, 0x00]), Some((128, 2)));
        assert_eq!(varint(&[0x82, 0x80, 0x01]), Some((0x8001, 3)));
        assert_eq!(varint(&[0xff; 9]), Some((u64::MAX, 9)));
        assert_eq!(varint(&[0x80, 0x80]), None);
        let mut neg = [0xffu8; 9];
        neg[8] = 0xfe;
        assert_eq!(varint(&neg).map(|(v, n)| (v as i64, n)), Some((-2, 9)));
    }

    #[test]
    fn records_decode_every_serial_type() {
        // Header: size 11, then NULL, int8 -2, int16, int24 neg, int48,
        // int64, float, 0, 1, text "hi", blob [7].
        let mut rec = vec![12, 0, 1, 2, 3, 5, 6, 7, 8, 9, 17, 14];
        rec.extend([0xfe, 0x01, 0x00, 0xff, 0xff, 0xfe]);
        rec.extend([0, 0, 0, 0, 1, 0]);
        rec.extend(i64::MIN.to_be_bytes());
        rec.extend(1.5f64.to_bits().to_be_bytes());
        rec.extend(b"hi");
        rec.push(7);
        let v: Vec<Value> = fields(&rec)
            .unwrap()
            .into_iter()
            .map(|f| f.to_value())
            .collect();
        assert_eq!(
            v,
            [
                Value::Null,
                Value::Integer(-2),
                Value::Integer(256),
                Value::Integer(-2),
                Value::Integer(256),
                Value::Integer(i64::MIN),
                Value::Real(1.5),
                Value::Integer(0),
                Value::Integer(1),
                Value::Text("hi".into()),
                Value::Blob(vec![7]),
            ]
        );
        // A body shorter than the header says, a reserved type.
        assert_eq!(fields(&rec[..rec.len() - 1]), None);
        assert_eq!(fields(&[2, 10]), None);
    }

    #[test]
    fn values_sort_in_sqlite_order() {
        use Field::*;
        let order = [
            Null,
            Integer(i64::MIN),
            Real(-1.5),
            Integer(-1),
            Real(0.5),
            Integer(1),
            Real(1e19),
            Text(b""),
            Text(b"a"),
            Text(b"ab"),
            Text(b"b"),
            Blob(b""),
            Blob(b"\x00"),
        ];
        for (i, a) in order.iter().enumerate() {
            for (j, b) in order.iter().enumerate() {
                assert_eq!(compare(*a, *b), i.cmp(&j), "{a:?} vs {b:?}");
            }
        }
        assert_eq!(compare(Integer(3), Real(3.0)), Ordering::Equal);
        assert_eq!(compare(Integer(i64::MAX), Real(9.2e18)), Ordering::Greater);
    }

    #[test]
    fn affinity_follows_the_declared_type() {
        assert_eq!(Affinity::of("INTEGER"), Affinity::Integer);
        assert_eq!(Affinity::of("varchar(20)"), Affinity::Text);
        assert_eq!(Affinity::of(""), Affinity::Blob);
        assert_eq!(Affinity::of("DOUBLE"), Affinity::Real);
        assert_eq!(Affinity::of("DECIMAL(5)"), Affinity::Numeric);
        let int = Affinity::Integer;
        assert_eq!(int.apply(Value::Text(" 42 ".into())), Value::Integer(42));
        assert_eq!(int.apply(Value::Text("4.0".into())), Value::Integer(4));
        assert_eq!(int.apply(Value::Text("4.5".into())), Value::Real(4.5));
        assert_eq!(
            int.apply(Value::Text("x1".into())),
            Value::Text("x1".into())
        );
        let text = Affinity::Text;
        assert_eq!(text.apply(Value::Integer(-7)), Value::Text("-7".into()));
        assert_eq!(text.apply(Value::Real(2.0)), Value::Text("2.0".into()));
        assert_eq!(Affinity::Blob.apply(Value::Integer(1)), Value::Integer(1));
    }
}
