// SPDX-License-Identifier: GPL-2.0 OR MIT

//! The 53-byte footer at the end of a block-based table (`table/format.cc`,
//! `Footer::DecodeFrom`):
//!
//! | bytes | format_version ≤ 5 | format_version ≥ 6 |
//! | --- | --- | --- |
//! | 0 | checksum type | checksum type |
//! | 1..41 | metaindex handle, index handle, zero padding | extended magic `3e 00 7a 00`, footer checksum, base context checksum, metaindex size (fixed32 each), 24 bytes of zeros |
//! | 41..45 | format_version | format_version |
//! | 45..53 | magic | magic |
//!
//! From format_version 6 on the metaindex ends right before the footer's
//! trailer-sized gap, and the index handle is in the metaindex
//! (`rocksdb.index`).

use super::{block::Handle, block::TRAILER, checksum, checksum::ChecksumType, coding::Input};

/// Bytes of the footer.
pub(crate) const FOOTER_LEN: u64 = 53;
/// The block-based table magic number.
const MAGIC: u64 = 0x88e2_41b7_85f4_cff7;
/// The legacy (format_version 0) block-based table magic number.
const LEGACY_MAGIC: u64 = 0xdb47_7524_8b80_fb57;
/// Plain and cuckoo tables (other table formats).
const PLAIN_MAGIC: u64 = 0x8242_2296_63bf_9564;
const LEGACY_PLAIN_MAGIC: u64 = 0x4f34_18eb_7a8f_13b8;
const CUCKOO_MAGIC: u64 = 0x9267_89d0_c5f1_7873;
const EXTENDED_MAGIC: [u8; 4] = [0x3e, 0x00, 0x7a, 0x00];

/// A decoded footer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Footer {
    /// The block-based table format version, 2..=7.
    pub format_version: u32,
    /// How every block of the file is checksummed.
    pub checksum: ChecksumType,
    /// 0 before format_version 6.
    pub base_context_checksum: u32,
    /// The metaindex block (names the properties and other meta blocks).
    pub metaindex: Handle,
    /// `None` from format_version 6 on: it is in the metaindex.
    pub index: Option<Handle>,
}

impl Footer {
    /// Decodes the last [`FOOTER_LEN`] bytes of a file, which start at
    /// `footer_offset`. The error says what is wrong or unsupported
    /// (`unsupported:` first).
    pub(crate) fn decode(
        b: &[u8; FOOTER_LEN as usize],
        footer_offset: u64,
    ) -> Result<Self, String> {
        let magic = u64::from_le_bytes(b[45..53].try_into().unwrap());
        match magic {
            MAGIC => {}
            LEGACY_MAGIC => {
                return Err(
                    "unsupported: legacy block-based table (format_version 0/1); \
                    RocksDB itself no longer reads it: compact it with an older RocksDB"
                        .into(),
                )
            }
            PLAIN_MAGIC | LEGACY_PLAIN_MAGIC => {
                return Err("unsupported: a PlainTable SST, not a block-based table".into())
            }
            CUCKOO_MAGIC => {
                return Err("unsupported: a CuckooTable SST, not a block-based table".into())
            }
            m => return Err(format!("not an SST file (magic 0x{m:016x})")),
        }
        let format_version = u32::from_le_bytes(b[41..45].try_into().unwrap());
        if !(2..=7).contains(&format_version) {
            return Err(format!(
                "unsupported: format_version {format_version} (this reader knows 2..=7)"
            ));
        }
        let checksum = ChecksumType::from_byte(b[0])
            .ok_or_else(|| format!("unknown checksum type {} in the footer", b[0]))?;
        if format_version <= 5 {
            let mut input = Input::new(&b[1..41]);
            let metaindex = Handle::decode(&mut input).ok_or("bad metaindex handle")?;
            let index = Handle::decode(&mut input).ok_or("bad index handle")?;
            return Ok(Self {
                format_version,
                checksum,
                base_context_checksum: 0,
                metaindex,
                index: Some(index),
            });
        }
        if b[1..5] != EXTENDED_MAGIC {
            return Err(format!("bad extended magic {:02x?}", &b[1..5]));
        }
        let field = |at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
        let (stored, base, metaindex_size) = (field(5), field(9), field(13));
        if b[45 - 12..41].iter().any(|&x| x != 0) {
            return Err(
                "unsupported: the footer uses a future feature (reserved bytes set)".into(),
            );
        }
        if checksum != ChecksumType::None {
            if checksum::context_modifier(base, 0) == 0 {
                return Err("invalid base context checksum 0".into());
            }
            let mut copy = *b;
            copy[5..9].fill(0);
            let computed = checksum
                .compute(&copy)
                .wrapping_add(checksum::context_modifier(base, footer_offset));
            if computed != stored {
                return Err(format!(
                    "footer checksum mismatch: stored 0x{stored:08x}, computed 0x{computed:08x}"
                ));
            }
        }
        let metaindex_end = footer_offset
            .checked_sub(TRAILER)
            .ok_or("file too short for its metaindex")?;
        let offset = metaindex_end
            .checked_sub(u64::from(metaindex_size))
            .ok_or("metaindex larger than the file")?;
        Ok(Self {
            format_version,
            checksum,
            base_context_checksum: base,
            metaindex: Handle {
                offset,
                size: u64::from(metaindex_size),
            },
            index: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engines::rocksdb::coding::put_varint;

    fn v5(checksum: u8, meta: Handle, index: Handle) -> [u8; 53] {
        let mut b = [0u8; 53];
        b[0] = checksum;
        let mut h = Vec::new();
        for v in [meta.offset, meta.size, index.offset, index.size] {
            put_varint(&mut h, v);
        }
        b[1..1 + h.len()].copy_from_slice(&h);
        b[41..45].copy_from_slice(&5u32.to_le_bytes());
        b[45..].copy_from_slice(&MAGIC.to_le_bytes());
        b
    }

    fn v6(base: u32, metaindex_size: u32, footer_offset: u64) -> [u8; 53] {
        let mut b = [0u8; 53];
        b[0] = 4;
        b[1..5].copy_from_slice(&EXTENDED_MAGIC);
        b[9..13].copy_from_slice(&base.to_le_bytes());
        b[13..17].copy_from_slice(&metaindex_size.to_le_bytes());
        b[41..45].copy_from_slice(&6u32.to_le_bytes());
        b[45..].copy_from_slice(&MAGIC.to_le_bytes());
        let sum = ChecksumType::Xxh3
            .compute(&b)
            .wrapping_add(checksum::context_modifier(base, footer_offset));
        b[5..9].copy_from_slice(&sum.to_le_bytes());
        b
    }

    #[test]
    fn version_5_footers_carry_both_handles() {
        let meta = Handle {
            offset: 9000,
            size: 120,
        };
        let index = Handle {
            offset: 8000,
            size: 995,
        };
        let f = Footer::decode(&v5(1, meta, index), 9125).unwrap();
        assert_eq!(f.format_version, 5);
        assert_eq!(f.checksum, ChecksumType::Crc32c);
        assert_eq!((f.metaindex, f.index), (meta, Some(index)));
    }

    #[test]
    fn version_6_footers_are_checksummed_and_place_the_metaindex() {
        let b = v6(0xdead_beef, 100, 5000);
        let f = Footer::decode(&b, 5000).unwrap();
        assert_eq!(f.checksum, ChecksumType::Xxh3);
        assert_eq!(
            f.metaindex,
            Handle {
                offset: 4895,
                size: 100
            }
        );
        assert_eq!(f.index, None);
        // The same footer at another offset fails its checksum.
        assert!(Footer::decode(&b, 5001)
            .unwrap_err()
            .contains("checksum mismatch"));
        let mut bad = b;
        bad[20] = 1;
        assert!(Footer::decode(&bad, 5000).is_err());
    }

    #[test]
    fn other_magics_and_versions_are_refused_by_name() {
        let mut b = v5(1, Handle::default(), Handle::default());
        b[45..].copy_from_slice(&LEGACY_MAGIC.to_le_bytes());
        assert!(Footer::decode(&b, 0).unwrap_err().contains("legacy"));
        b[45..].copy_from_slice(&PLAIN_MAGIC.to_le_bytes());
        assert!(Footer::decode(&b, 0).unwrap_err().contains("PlainTable"));
        b[45..].copy_from_slice(&MAGIC.to_le_bytes());
        b[41..45].copy_from_slice(&8u32.to_le_bytes());
        assert!(Footer::decode(&b, 0)
            .unwrap_err()
            .contains("format_version 8"));
        b[41..45].copy_from_slice(&1u32.to_le_bytes());
        assert!(Footer::decode(&b, 0)
            .unwrap_err()
            .contains("format_version 1"));
    }
}
