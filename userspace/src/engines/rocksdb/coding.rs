// SPDX-License-Identifier: GPL-2.0 OR MIT

//! RocksDB's integer encodings (`util/coding.h`): little-endian fixed32,
//! LEB128 varints, zigzag varsigned64 and length-prefixed slices, read
//! through a cursor over a byte slice. A read past the end is `None`.

/// A cursor over `bytes`: each read consumes what it decodes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Input<'a> {
    bytes: &'a [u8],
}

impl<'a> Input<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    /// What is left to read.
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.bytes
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The next `n` bytes.
    pub(crate) fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.bytes.len() {
            return None;
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Some(head)
    }

    pub(crate) fn fixed32(&mut self) -> Option<u32> {
        self.bytes(4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
    }

    /// A varint of at most `max_bytes` bytes (5 for 32 bits, 10 for 64).
    fn varint(&mut self, max_bytes: usize, bits: u32) -> Option<u64> {
        let mut v = 0u64;
        for i in 0..max_bytes {
            let b = *self.bytes.get(i)?;
            let shift = 7 * i as u32;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                self.bytes = &self.bytes[i + 1..];
                return (bits == 64 || v >> bits == 0).then_some(v);
            }
        }
        None
    }

    pub(crate) fn varint32(&mut self) -> Option<u32> {
        self.varint(5, 32).map(|v| v as u32)
    }

    pub(crate) fn varint64(&mut self) -> Option<u64> {
        self.varint(10, 64)
    }

    /// A zigzag-encoded signed varint64 (`GetVarsignedint64`).
    pub(crate) fn varsigned64(&mut self) -> Option<i64> {
        self.varint64()
            .map(|v| ((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    /// A varint32 length, then that many bytes.
    pub(crate) fn length_prefixed(&mut self) -> Option<&'a [u8]> {
        let n = self.varint32()?;
        self.bytes(n as usize)
    }
}

/// `v` as a varint (for tests and for building keys).
#[cfg(test)]
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_and_refuse_overlong_or_short_input() {
        for v in [0u64, 1, 127, 128, 300, 1 << 21, u32::MAX as u64, u64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            assert_eq!(Input::new(&b).varint64(), Some(v));
            let v32 = Input::new(&b).varint32();
            assert_eq!(v32, u32::try_from(v).ok(), "{v}");
            // Cut short: nothing.
            assert_eq!(Input::new(&b[..b.len() - 1]).varint64(), None);
        }
        // Eleven continuation bytes are no varint64.
        assert_eq!(Input::new(&[0x80; 11]).varint64(), None);
        let mut i = Input::new(&[0xac, 0x02, 0x05]);
        assert_eq!(i.varint32(), Some(300));
        assert_eq!(i.rest(), &[0x05]);
    }

    #[test]
    fn zigzag_and_fixed_and_length_prefixed() {
        for (enc, v) in [(0u64, 0i64), (1, -1), (2, 1), (3, -2), (4000, 2000)] {
            let mut b = Vec::new();
            put_varint(&mut b, enc);
            assert_eq!(Input::new(&b).varsigned64(), Some(v));
        }
        let mut i = Input::new(&[1, 0, 0, 0, 3, b'a', b'b', b'c']);
        assert_eq!(i.fixed32(), Some(1));
        assert_eq!(i.length_prefixed(), Some(&b"abc"[..]));
        assert!(i.is_empty());
        assert_eq!(Input::new(&[4, b'a']).length_prefixed(), None);
    }
}
