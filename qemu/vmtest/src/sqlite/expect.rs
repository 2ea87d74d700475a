// SPDX-License-Identifier: GPL-2.0 OR MIT

//! SQLite values as the fixtures' `.expect` files write them
//! (`scripts/fixtures/sqlite_gen.py`): `n`, `i:DEC`, `r:xHEX` (the
//! big-endian bits), `t:xHEX`, `b:xHEX`, and a text or blob longer than 256
//! bytes as `t:#LEN:FNV` (FNV-1a 64). The VM scenario and the host test
//! (`userspace/tests/sqlite_fixtures.rs`, which includes this file by path)
//! share it.

use rnvme::engines::sqlite::Value;

fn fnv1a64(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325, |h, &x| {
        (h ^ u64::from(x)).wrapping_mul(0x100_0000_01b3)
    })
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    let h = s.strip_prefix('x')?;
    if h.len() % 2 != 0 {
        return None;
    }
    (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(h.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The text of `v`.
pub fn enc(v: &Value) -> String {
    let (tag, b) = match v {
        Value::Null => return "n".into(),
        Value::Integer(i) => return format!("i:{i}"),
        Value::Real(r) => return format!("r:x{}", hex(&r.to_bits().to_be_bytes())),
        Value::Text(t) => ("t", t.as_bytes()),
        Value::Blob(b) => ("b", b.as_slice()),
    };
    if b.len() > 256 {
        format!("{tag}:#{}:{:016x}", b.len(), fnv1a64(b))
    } else {
        format!("{tag}:x{}", hex(b))
    }
}

/// The value a query's word names (queries never hash their values);
/// `None` if it is not one.
pub fn dec(word: &str) -> Option<Value> {
    Some(match word.split_once(':') {
        None if word == "n" => Value::Null,
        Some(("i", i)) => Value::Integer(i.parse().ok()?),
        Some(("r", x)) => Value::Real(f64::from_be_bytes(unhex(x)?.try_into().ok()?)),
        Some(("t", x)) => Value::Text(String::from_utf8(unhex(x)?).ok()?),
        Some(("b", x)) => Value::Blob(unhex(x)?),
        _ => return None,
    })
}
