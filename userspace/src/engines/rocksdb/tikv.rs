// SPDX-License-Identifier: GPL-2.0 OR MIT

//! TiKV's key encoding, to look up TiKV-shaped keys: raw keys are
//! memcomparable-encoded (groups of 8 bytes, each followed by a marker
//! `0xff - padding`, the last group zero-padded) and MVCC versions append
//! the big-endian complement of the timestamp, so newer versions sort
//! first.

/// The memcomparable encoding of `raw`.
pub fn encode_key(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity((raw.len() / 8 + 1) * 9);
    // A key whose length is a multiple of 8 ends with an empty group.
    for chunk in raw
        .chunks(8)
        .chain(raw.len().is_multiple_of(8).then_some(&[][..]))
    {
        let pad = 8 - chunk.len();
        out.extend_from_slice(chunk);
        out.resize(out.len() + pad, 0);
        out.push(0xff - pad as u8);
    }
    out
}

/// The key to seek to for the newest version of `raw` visible at
/// timestamp `ts`: `encode_key(raw) ‖ be64(u64::MAX - ts)`.
pub fn seek_key(raw: &[u8], ts: u64) -> Vec<u8> {
    let mut k = encode_key(raw);
    k.extend_from_slice(&(u64::MAX - ts).to_be_bytes());
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_of_eight_with_markers() {
        assert_eq!(encode_key(b""), [0, 0, 0, 0, 0, 0, 0, 0, 0xf7]);
        assert_eq!(encode_key(b"abc"), [b'a', b'b', b'c', 0, 0, 0, 0, 0, 0xfa]);
        let eight = encode_key(b"12345678");
        assert_eq!(eight.len(), 18);
        assert_eq!(eight[8], 0xff);
        assert_eq!(&eight[9..], &[0, 0, 0, 0, 0, 0, 0, 0, 0xf7]);
        let nine = encode_key(b"123456789");
        assert_eq!(&nine[9..], &[b'9', 0, 0, 0, 0, 0, 0, 0, 0xf8]);
    }

    #[test]
    fn the_encoding_keeps_order_and_newer_versions_sort_first() {
        let raws: [&[u8]; 6] = [b"", b"\x00", b"a", b"a\x00", b"abcdefgh", b"abcdefgh\x00"];
        for w in raws.windows(2) {
            assert!(encode_key(w[0]) < encode_key(w[1]), "{w:?}");
        }
        assert!(seek_key(b"k", 200) < seek_key(b"k", 100));
        assert_eq!(&seek_key(b"k", 0)[9..], &[0xff; 8]);
    }
}
