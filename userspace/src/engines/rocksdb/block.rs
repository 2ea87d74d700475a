// SPDX-License-Identifier: GPL-2.0 OR MIT

//! The contents of one (decompressed) block (`table/block_based/block.cc`,
//! `block_builder.cc`, `data_block_footer.cc`): prefix-compressed entries,
//! then the restart array, then a packed 32-bit footer.
//!
//! Entry: `shared: varint32, non_shared: varint32, value_len: varint32,
//! key[non_shared], value[value_len]`; index blocks written with
//! `index.value.is.delta.encoded` omit `value_len`, and their value is a
//! block handle (`offset: varint64, size: varint64`) when `shared == 0`,
//! else a zigzag varint64 size delta from the previous handle, the offset
//! following the previous block and its trailer.
//!
//! Footer: bits 0–27 the number of restarts, bit 31 a data-block hash index
//! (`num_buckets` one-byte buckets and a fixed16 `num_buckets` between the
//! restart array and the footer), bit 29 "uniform keys" (a hint, layout
//! unchanged), bit 28 separated keys and values (refused), bit 30 reserved.

use super::coding::Input;

/// Footer bit: a data-block hash index follows the restart array.
const HASH_INDEX: u32 = 1 << 31;
/// Footer bit: keys are of uniform length (a search hint only).
const UNIFORM_KEYS: u32 = 1 << 29;
/// Footer bit: values in a section of their own (`separate_key_value_in_data_block`).
const SEPARATED_KV: u32 = 1 << 28;
/// The restart count's bits.
const MAX_RESTARTS: u32 = (1 << 28) - 1;
/// The block trailer: compression type and checksum.
pub(crate) const TRAILER: u64 = 5;

/// Where a block is: `size` bytes (trailer excluded) at `offset`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Handle {
    /// File offset of the block.
    pub offset: u64,
    /// Bytes of the block, its 5-byte trailer excluded.
    pub size: u64,
}

impl Handle {
    pub(crate) fn decode(input: &mut Input<'_>) -> Option<Self> {
        Some(Self {
            offset: input.varint64()?,
            size: input.varint64()?,
        })
    }
}

/// One entry: its full key and its value bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    /// Offset of the value in the block.
    pub value_at: usize,
    /// Key bytes shared with the previous entry (0 at restart points).
    pub shared: usize,
}

/// How a block's entries are encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Keys with value lengths: data, metaindex, properties blocks, and
    /// index blocks without delta-encoded values.
    Plain,
    /// Index blocks with `index.value.is.delta.encoded`: no value lengths;
    /// with `first_key` (index type 3) a length-prefixed first key follows
    /// each handle.
    IndexDelta { first_key: bool },
}

/// A parsed block: its bytes and where its entries end.
#[derive(Debug)]
pub(crate) struct Block {
    data: Vec<u8>,
    /// End of the entries (start of the restart array).
    entries_end: usize,
}

impl Block {
    /// Parses the tail of `data`; the error says what is wrong.
    pub(crate) fn parse(data: Vec<u8>) -> Result<Self, String> {
        let len = data.len();
        if len < 4 {
            return Err(format!("block of {len} bytes has no footer"));
        }
        let packed = u32::from_le_bytes(data[len - 4..].try_into().unwrap());
        if packed & SEPARATED_KV != 0 {
            return Err("unsupported: separated key/value data blocks \
                (separate_key_value_in_data_block)"
                .into());
        }
        let num = packed & !(HASH_INDEX | UNIFORM_KEYS);
        if num > MAX_RESTARTS {
            return Err(format!("reserved bits set in block footer 0x{packed:08x}"));
        }
        let mut end = len - 4;
        if packed & HASH_INDEX != 0 {
            // The hash index: buckets, then their number (fixed16).
            if end < 2 {
                return Err("hash index without its bucket count".into());
            }
            let buckets = u16::from_le_bytes([data[end - 2], data[end - 1]]) as usize;
            if buckets == 0 || buckets + 2 > end {
                return Err(format!("hash index of {buckets} buckets"));
            }
            end -= buckets + 2;
        }
        let restart_bytes = num as usize * 4;
        if num == 0 || restart_bytes > end {
            return Err(format!("{num} restarts in a block of {len} bytes"));
        }
        let entries_end = end - restart_bytes;
        // An empty block has the one restart point 0.
        let bad_restart = data[entries_end..end]
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().unwrap()) as usize)
            .any(|r| r >= entries_end && !(r == 0 && entries_end == 0));
        if bad_restart {
            return Err("restart point past the entries".into());
        }
        Ok(Self { data, entries_end })
    }

    /// All entries, in order. For [`Kind::IndexDelta`] the value is the
    /// encoded handle (or size delta) and first key as found (use
    /// [`Block::index_entries`]).
    pub(crate) fn entries(&self, kind: Kind) -> Result<Vec<Entry>, String> {
        let mut out: Vec<Entry> = Vec::new();
        let mut at = 0;
        while at < self.entries_end {
            let area = &self.data[..self.entries_end];
            let mut input = Input::new(&area[at..]);
            let bad = || format!("bad entry at {at}");
            let shared = input.varint32().ok_or_else(bad)? as usize;
            let non_shared = input.varint32().ok_or_else(bad)? as usize;
            let value_len = match kind {
                Kind::Plain => Some(input.varint32().ok_or_else(bad)? as usize),
                Kind::IndexDelta { .. } => None,
            };
            let prev = out.last().map_or(&[][..], |e| &e.key[..]);
            if shared > prev.len() {
                return Err(format!(
                    "entry at {at} shares {shared} bytes of a shorter key"
                ));
            }
            let mut key = prev[..shared].to_vec();
            key.extend_from_slice(input.bytes(non_shared).ok_or_else(bad)?);
            let value_at = self.entries_end - input.rest().len();
            let value = match value_len {
                Some(n) => input.bytes(n).ok_or_else(bad)?.to_vec(),
                None => {
                    let before = input.rest().len();
                    if shared == 0 {
                        Handle::decode(&mut input).ok_or_else(bad)?;
                    } else {
                        input.varsigned64().ok_or_else(bad)?;
                    }
                    if kind == (Kind::IndexDelta { first_key: true }) {
                        input.length_prefixed().ok_or_else(bad)?;
                    }
                    area[value_at..value_at + before - input.rest().len()].to_vec()
                }
            };
            at = self.entries_end - input.rest().len();
            out.push(Entry {
                key,
                value,
                value_at,
                shared,
            });
        }
        Ok(out)
    }

    /// The entries of an index block as (separator, block handle): `delta`
    /// for `index.value.is.delta.encoded`, `first_key` for index type 3.
    pub(crate) fn index_entries(
        &self,
        delta: bool,
        first_key: bool,
    ) -> Result<Vec<(Vec<u8>, Handle)>, String> {
        let kind = if delta {
            Kind::IndexDelta { first_key }
        } else {
            Kind::Plain
        };
        let mut out: Vec<(Vec<u8>, Handle)> = Vec::new();
        for (i, e) in self.entries(kind)?.into_iter().enumerate() {
            let bad = || format!("bad block handle in index entry {i}");
            let mut input = Input::new(&e.value);
            let handle = match out.last() {
                // A delta entry is one that shares key bytes.
                Some(&(_, p)) if delta && e.shared != 0 => {
                    let d = input.varsigned64().ok_or_else(bad)?;
                    Handle {
                        offset: p
                            .offset
                            .checked_add(p.size)
                            .and_then(|o| o.checked_add(TRAILER))
                            .ok_or_else(bad)?,
                        size: p.size.checked_add_signed(d).ok_or_else(bad)?,
                    }
                }
                _ => Handle::decode(&mut input).ok_or_else(bad)?,
            };
            out.push((e.key, handle));
        }
        Ok(out)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::engines::rocksdb::coding::put_varint;

    /// Builds a block as RocksDB's BlockBuilder does: a restart point every
    /// `interval` entries; `delta_index` omits value lengths (the values
    /// are then encoded handles or deltas, given as is).
    pub(crate) fn build(
        entries: &[(&[u8], Vec<u8>)],
        interval: usize,
        delta_index: bool,
    ) -> Vec<u8> {
        let mut b = Vec::new();
        let mut restarts = vec![];
        let mut prev: &[u8] = &[];
        for (i, (k, v)) in entries.iter().enumerate() {
            let shared = if i % interval == 0 {
                restarts.push(b.len() as u32);
                0
            } else {
                k.iter().zip(prev).take_while(|(a, b)| a == b).count()
            };
            put_varint(&mut b, shared as u64);
            put_varint(&mut b, (k.len() - shared) as u64);
            if !delta_index {
                put_varint(&mut b, v.len() as u64);
            }
            b.extend_from_slice(&k[shared..]);
            b.extend_from_slice(v);
            prev = k;
        }
        if restarts.is_empty() {
            restarts.push(0);
        }
        for r in &restarts {
            b.extend_from_slice(&r.to_le_bytes());
        }
        b.extend_from_slice(&(restarts.len() as u32).to_le_bytes());
        b
    }

    fn handle(offset: u64, size: u64) -> Vec<u8> {
        let mut v = Vec::new();
        put_varint(&mut v, offset);
        put_varint(&mut v, size);
        v
    }

    fn zigzag(d: i64) -> Vec<u8> {
        let mut v = Vec::new();
        put_varint(&mut v, ((d << 1) ^ (d >> 63)) as u64);
        v
    }

    #[test]
    fn prefix_compressed_entries_decode_in_order() {
        let keys: [&[u8]; 5] = [b"apple", b"applesauce", b"apply", b"banana", b"band"];
        let entries: Vec<(&[u8], Vec<u8>)> =
            keys.iter().map(|k| (*k, k.to_ascii_uppercase())).collect();
        for interval in [1, 2, 16] {
            let block = Block::parse(build(&entries, interval, false)).unwrap();
            let got = block.entries(Kind::Plain).unwrap();
            assert_eq!(got.len(), 5);
            for (e, k) in got.iter().zip(keys) {
                assert_eq!(e.key, k);
                assert_eq!(e.value, k.to_ascii_uppercase());
            }
            assert_eq!(got[1].shared, if interval == 1 { 0 } else { 5 });
        }
        let empty = Block::parse(build(&[], 16, false)).unwrap();
        assert!(empty.entries(Kind::Plain).unwrap().is_empty());
    }

    #[test]
    fn delta_encoded_index_values_follow_the_previous_handle() {
        // Restart interval 3: handles at entries 0 and 3, size deltas else.
        let entries: Vec<(&[u8], Vec<u8>)> = vec![
            (b"k1", handle(0, 4000)),
            (b"k2", zigzag(96)),
            (b"k3", zigzag(-1000)),
            (b"k4", handle(9000, 10)),
            (b"k5", zigzag(5)),
        ];
        let block = Block::parse(build(&entries, 3, true)).unwrap();
        let got = block.index_entries(true, false).unwrap();
        let handles: Vec<(u64, u64)> = got.iter().map(|(_, h)| (h.offset, h.size)).collect();
        assert_eq!(
            handles,
            [
                (0, 4000),
                (4005, 4096),
                (8106, 3096),
                (9000, 10),
                (9015, 15)
            ]
        );
        assert_eq!(got[4].0, b"k5");
        // Value lengths present: plain handles.
        let plain: Vec<(&[u8], Vec<u8>)> = vec![(b"a", handle(0, 7)), (b"b", handle(12, 9))];
        let block = Block::parse(build(&plain, 1, false)).unwrap();
        assert_eq!(
            block.index_entries(false, false).unwrap()[1].1,
            Handle {
                offset: 12,
                size: 9
            }
        );
    }

    #[test]
    fn hash_index_and_uniform_bits_are_stripped_separated_kv_refused() {
        let entries: Vec<(&[u8], Vec<u8>)> = vec![(b"a", b"1".to_vec()), (b"b", b"2".to_vec())];
        let mut plain = build(&entries, 16, false);
        let n = plain.len();
        let footer = u32::from_le_bytes(plain[n - 4..].try_into().unwrap());
        plain.truncate(n - 4);
        // Three buckets and their count, then the footer with bit 31.
        let mut hashed = plain.clone();
        hashed.extend_from_slice(&[0, 255, 254, 3, 0]);
        hashed.extend_from_slice(&(footer | HASH_INDEX | UNIFORM_KEYS).to_le_bytes());
        let block = Block::parse(hashed).unwrap();
        assert_eq!(block.entries(Kind::Plain).unwrap().len(), 2);
        let mut separated = plain;
        separated.extend_from_slice(&(footer | SEPARATED_KV).to_le_bytes());
        assert!(Block::parse(separated).unwrap_err().contains("separated"));
        assert!(Block::parse(vec![9, 0, 0, 0]).is_err());
        assert!(Block::parse(vec![1, 2]).is_err());
    }
}
