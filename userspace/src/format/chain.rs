// SPDX-License-Identifier: GPL-2.0 OR MIT

//! Chain files: blocks linked by file offset, read by `bpf/chain.bpf.c`.
//! The layout is `bpf/include/chain_format.h`: a 32-byte little-endian
//! header per block (magic, next offset, value, index, next length).

use super::Rng;

/// `"RNVMECHN"` as a little-endian `u64`.
pub const MAGIC: u64 = u64::from_le_bytes(*b"RNVMECHN");
/// `next` of the last block.
pub const END: u64 = u64::MAX;
/// Bytes of the block header.
pub const HEADER: usize = 32;

/// What to build.
#[derive(Clone, Copy, Debug)]
pub struct ChainSpec {
    /// Blocks in the chain (>= 1).
    pub hops: u32,
    /// Bytes per block (512 or 4096, or any multiple of 512 up to 4096).
    pub block_size: u32,
    /// Blocks in the file (>= hops); the others are filler.
    pub file_blocks: u32,
    /// Seeds the placement and the values.
    pub seed: u64,
}

/// A built chain file.
#[derive(Clone, Debug)]
pub struct ChainFile {
    pub bytes: Vec<u8>,
    /// File offset of the first block.
    pub start: u64,
    pub block_size: u32,
}

/// What a walk of the chain finds: the layout of `struct chain_result`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChainResult {
    pub sum: u64,
    pub count: u64,
    pub last_value: u64,
    pub last_index: u64,
}

impl ChainResult {
    /// Bytes of the result in the scratch.
    pub const SIZE: usize = 32;

    /// Reads the result from the first bytes of a scratch.
    pub fn from_scratch(s: &[u8]) -> Self {
        let at = |i: usize| u64::from_le_bytes(s[i * 8..i * 8 + 8].try_into().unwrap());
        Self {
            sum: at(0),
            count: at(1),
            last_value: at(2),
            last_index: at(3),
        }
    }
}

/// Builds the chain file `spec` describes: the chain's blocks at shuffled
/// positions, filler blocks (never carrying the magic) elsewhere.
pub fn build(spec: &ChainSpec) -> ChainFile {
    assert!(spec.hops >= 1 && spec.file_blocks >= spec.hops);
    assert!(
        spec.block_size as usize >= HEADER && spec.block_size % 512 == 0 && spec.block_size <= 4096
    );
    let bs = spec.block_size as usize;
    let mut rng = Rng::new(spec.seed);
    let mut slots: Vec<u64> = (0..u64::from(spec.file_blocks)).collect();
    rng.shuffle(&mut slots);
    let mut bytes = vec![0u8; bs * spec.file_blocks as usize];
    for (i, b) in bytes.chunks_mut(8).enumerate() {
        b.copy_from_slice(&(0x5a5a_0000_0000_0000 | i as u64).to_le_bytes());
    }
    for i in 0..spec.hops as usize {
        let at = slots[i] as usize * bs;
        let next = if i + 1 == spec.hops as usize {
            END
        } else {
            slots[i + 1] * bs as u64
        };
        let value = rng.next() >> 8;
        let h = &mut bytes[at..at + HEADER];
        h[0..8].copy_from_slice(&MAGIC.to_le_bytes());
        h[8..16].copy_from_slice(&next.to_le_bytes());
        h[16..24].copy_from_slice(&value.to_le_bytes());
        h[24..28].copy_from_slice(&(i as u32).to_le_bytes());
        h[28..32].copy_from_slice(&spec.block_size.to_le_bytes());
    }
    ChainFile {
        bytes,
        start: slots[0] * bs as u64,
        block_size: spec.block_size,
    }
}

/// Why a reference walk stopped early.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WalkError {
    /// A block without the magic (the function aborts there).
    BadMagic { offset: u64 },
    /// A read failed or went past the end.
    Read { offset: u64 },
    /// More than `limit` blocks.
    TooLong,
    /// A block names a next length that is not 32..=4096 bytes.
    BadLength { offset: u64 },
}

/// Walks the chain from `start` the way `chain.bpf.c` does, reading each
/// block with `read(offset, buf)`; returns what the function leaves in its
/// scratch.
pub fn walk(
    mut read: impl FnMut(u64, &mut [u8]) -> bool,
    start: u64,
    block_size: u32,
    limit: u32,
) -> Result<ChainResult, WalkError> {
    let mut r = ChainResult::default();
    let mut offset = start;
    let mut len = block_size;
    let mut buf = vec![0u8; 4096];
    if !(HEADER as u32..=4096).contains(&block_size) {
        return Err(WalkError::BadLength { offset: start });
    }
    for _ in 0..limit {
        let block = &mut buf[..len as usize];
        if !read(offset, block) {
            return Err(WalkError::Read { offset });
        }
        let at = |i: usize| u64::from_le_bytes(block[i..i + 8].try_into().unwrap());
        if at(0) != MAGIC {
            return Err(WalkError::BadMagic { offset });
        }
        r.sum = r.sum.wrapping_add(at(16));
        r.count += 1;
        r.last_value = at(16);
        r.last_index = u64::from(u32::from_le_bytes(block[24..28].try_into().unwrap()));
        let next = at(8);
        if next == END {
            return Ok(r);
        }
        len = u32::from_le_bytes(block[28..32].try_into().unwrap());
        if !(HEADER as u32..=4096).contains(&len) {
            return Err(WalkError::BadLength { offset });
        }
        offset = next;
    }
    Err(WalkError::TooLong)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::memory_reader as read_from;

    #[test]
    fn build_is_deterministic_and_walkable() {
        for (hops, bs) in [(1, 512), (2, 4096), (8, 512), (31, 4096)] {
            let spec = ChainSpec {
                hops,
                block_size: bs,
                file_blocks: hops * 3,
                seed: 7,
            };
            let a = build(&spec);
            let b = build(&spec);
            assert_eq!(a.bytes, b.bytes);
            assert_eq!(a.start, b.start);
            let r = walk(read_from(&a.bytes), a.start, bs, 256).unwrap();
            assert_eq!(r.count, u64::from(hops));
            assert_eq!(r.last_index, u64::from(hops - 1));
        }
    }

    #[test]
    fn different_seeds_give_different_files() {
        let spec = |seed| ChainSpec {
            hops: 8,
            block_size: 512,
            file_blocks: 16,
            seed,
        };
        assert_ne!(build(&spec(1)).bytes, build(&spec(2)).bytes);
    }

    #[test]
    fn filler_never_carries_the_magic() {
        let f = build(&ChainSpec {
            hops: 3,
            block_size: 512,
            file_blocks: 64,
            seed: 3,
        });
        let magics = f
            .bytes
            .chunks(512)
            .filter(|b| u64::from_le_bytes(b[..8].try_into().unwrap()) == MAGIC)
            .count();
        assert_eq!(magics, 3);
    }

    #[test]
    fn walk_reports_a_broken_chain() {
        let mut f = build(&ChainSpec {
            hops: 4,
            block_size: 512,
            file_blocks: 8,
            seed: 9,
        });
        let second = u64::from_le_bytes(
            f.bytes[f.start as usize + 8..f.start as usize + 16]
                .try_into()
                .unwrap(),
        );
        f.bytes[second as usize] ^= 1;
        assert_eq!(
            walk(read_from(&f.bytes), f.start, 512, 256),
            Err(WalkError::BadMagic { offset: second })
        );
    }
}
