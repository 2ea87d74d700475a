// SPDX-License-Identifier: GPL-2.0 OR MIT

//! Block checksums of block-based tables (`table/format.cc`,
//! `ComputeBuiltinChecksum`, `VerifyBlockChecksum`).
//!
//! A block is followed by its 5-byte trailer: the compression type, then a
//! 32-bit checksum of the block and that type byte. The footer names the
//! checksum type. From format_version 6 on, the stored checksum also has
//! `ChecksumModifierForContext(base_context_checksum, block offset)` added,
//! so a block copied elsewhere in the file, or from another file, fails.

/// The footer's checksum type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChecksumType {
    /// No checksums (nothing to verify).
    None,
    /// CRC32C, masked as LevelDB masks stored CRCs.
    Crc32c,
    /// xxHash32, seed 0.
    XxHash,
    /// The lower 32 bits of xxHash64, seed 0.
    XxHash64,
    /// The lower 32 bits of XXH3-64 of all bytes but the last, mixed with
    /// the last byte (RocksDB's default).
    Xxh3,
}

impl ChecksumType {
    /// The type of footer byte `b`, if it is one.
    pub fn from_byte(b: u8) -> Option<Self> {
        Some(match b {
            0 => Self::None,
            1 => Self::Crc32c,
            2 => Self::XxHash,
            3 => Self::XxHash64,
            4 => Self::Xxh3,
            _ => return None,
        })
    }

    /// The name RocksDB's options use.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "kNoChecksum",
            Self::Crc32c => "kCRC32c",
            Self::XxHash => "kxxHash",
            Self::XxHash64 => "kxxHash64",
            Self::Xxh3 => "kXXH3",
        }
    }

    /// The checksum of `data` (block and type byte, or a whole footer).
    pub(crate) fn compute(self, data: &[u8]) -> u32 {
        match self {
            Self::None => 0,
            Self::Crc32c => mask(crc32c::crc32c(data)),
            Self::XxHash => xxhash_rust::xxh32::xxh32(data, 0),
            Self::XxHash64 => xxhash_rust::xxh64::xxh64(data, 0) as u32,
            Self::Xxh3 => match data.split_last() {
                None => 0,
                Some((&last, body)) => {
                    let v = xxhash_rust::xxh3::xxh3_64(body) as u32;
                    v ^ u32::from(last).wrapping_mul(0x6b90_83d9)
                }
            },
        }
    }
}

/// LevelDB's CRC mask: rotate right by 15 bits, add a constant.
fn mask(crc: u32) -> u32 {
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// What format_version 6 and later add to a checksum stored at `offset`:
/// nothing when `base` is 0 (earlier versions).
pub(crate) fn context_modifier(base: u32, offset: u64) -> u32 {
    if base == 0 {
        return 0;
    }
    base ^ (offset as u32).wrapping_add((offset >> 32) as u32)
}

/// Checks the trailer of the block whose bytes and trailer are `raw`
/// (`size + 5` bytes), read at file offset `offset`. Returns whether a
/// checksum was verified (`false` for [`ChecksumType::None`]), or the
/// stored and computed values that differ.
pub(crate) fn verify_block(
    kind: ChecksumType,
    base: u32,
    offset: u64,
    raw: &[u8],
) -> Result<bool, (u32, u32)> {
    if kind == ChecksumType::None {
        return Ok(false);
    }
    let (covered, stored) = raw.split_at(raw.len() - 4);
    let stored = u32::from_le_bytes(stored.try_into().unwrap());
    let stored = stored.wrapping_sub(context_modifier(base, offset));
    let computed = kind.compute(covered);
    if stored == computed {
        Ok(true)
    } else {
        Err((stored, computed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A block and its trailer, the checksum computed as RocksDB does.
    fn sealed(kind: ChecksumType, base: u32, offset: u64, block: &[u8], ctype: u8) -> Vec<u8> {
        let mut raw = block.to_vec();
        raw.push(ctype);
        let sum = kind
            .compute(&raw)
            .wrapping_add(context_modifier(base, offset));
        raw.extend_from_slice(&sum.to_le_bytes());
        raw
    }

    #[test]
    fn crc32c_is_masked_like_leveldb() {
        // crc32c("123456789") = 0xe3069283 (the standard check value).
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(mask(0), 0xa282_ead8);
        assert_eq!(
            ChecksumType::Crc32c.compute(b"123456789"),
            0xe306_9283u32.rotate_right(15).wrapping_add(0xa282_ead8)
        );
    }

    #[test]
    fn xxh3_mixes_the_last_byte_in() {
        let a = ChecksumType::Xxh3.compute(b"block\x00");
        let b = ChecksumType::Xxh3.compute(b"block\x01");
        assert_eq!(a ^ b, 0x6b90_83d9);
        assert_eq!(a, xxhash_rust::xxh3::xxh3_64(b"block") as u32);
        assert_eq!(ChecksumType::Xxh3.compute(b""), 0);
    }

    #[test]
    fn every_type_verifies_its_own_trailer_and_catches_a_flip() {
        for kind in [
            ChecksumType::Crc32c,
            ChecksumType::XxHash,
            ChecksumType::XxHash64,
            ChecksumType::Xxh3,
        ] {
            for (base, offset) in [(0, 0), (0x1234_5678, 4096), (7, 1 << 33)] {
                let mut raw = sealed(kind, base, offset, b"some block bytes", 0);
                assert_eq!(verify_block(kind, base, offset, &raw), Ok(true));
                // Context: the same bytes elsewhere fail (from format 6 on).
                if base != 0 {
                    assert!(verify_block(kind, base, offset + 1, &raw).is_err());
                }
                raw[3] ^= 1;
                assert!(verify_block(kind, base, offset, &raw).is_err(), "{kind:?}");
            }
        }
        assert_eq!(verify_block(ChecksumType::None, 0, 0, &[0; 9]), Ok(false));
    }

    #[test]
    fn the_context_modifier_folds_both_halves_of_the_offset() {
        assert_eq!(context_modifier(0, 12345), 0);
        assert_eq!(context_modifier(1, 0), 1);
        assert_eq!(context_modifier(1, (1 << 32) | 2), 1 ^ 3);
    }
}
