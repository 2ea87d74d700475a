// SPDX-License-Identifier: GPL-2.0 OR MIT

//! Chain files: blocks linked by file offset, read by `bpf/chain.bpf.c`.
//! The layout is `bpf/include/chain_format.h`: a 32-byte little-endian
//! header per block (magic, next offset, value, index, next length).
//!
//! [`build`] places blocks of 512 B to 4 KiB at block-aligned offsets;
//! [`build_slots`] places blocks of any size up to a read window
//! ([`MAX_WINDOW`]) at any byte offset, which chains of ABI 2.0 can follow.

use super::Rng;
use crate::abi::MAX_WINDOW;

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

/// Where the blocks of a chain file go: the file is `slots` equal slots,
/// slot `k` starting at byte `shift + k * stride`, each holding a block of
/// `block_size` bytes. Nothing needs to be aligned: with `stride` equal to
/// `block_size` the blocks are packed back to back (like a RocksDB data
/// block and its 5-byte trailer, 4101 bytes), with `shift` not a multiple of
/// the logical block size every block starts mid-sector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotLayout {
    /// Blocks in the chain (>= 1).
    pub hops: u32,
    /// Bytes per block, [`HEADER`]..=[`MAX_WINDOW`].
    pub block_size: u32,
    /// Bytes from one slot's start to the next (>= `block_size`).
    pub stride: u32,
    /// File offset of slot 0.
    pub shift: u64,
    /// Slots in the file (>= hops); the chain takes `hops` of them in a
    /// seeded random order, the others hold filler.
    pub slots: u32,
    /// Seeds the placement and the values.
    pub seed: u64,
}

impl SlotLayout {
    /// The file offset of slot `slot`.
    pub fn offset(&self, slot: u64) -> u64 {
        self.shift + slot * u64::from(self.stride)
    }

    /// Bytes of the file: up to the end of the last slot.
    pub fn file_len(&self) -> u64 {
        self.offset(u64::from(self.slots))
    }
}

impl From<&ChainSpec> for SlotLayout {
    /// The layout of [`build`]: one block per block-sized slot from offset 0.
    fn from(spec: &ChainSpec) -> Self {
        Self {
            hops: spec.hops,
            block_size: spec.block_size,
            stride: spec.block_size,
            shift: 0,
            slots: spec.file_blocks,
            seed: spec.seed,
        }
    }
}

/// Builds the chain file `spec` describes: the chain's blocks at shuffled
/// positions, filler blocks (never carrying the magic) elsewhere.
pub fn build(spec: &ChainSpec) -> ChainFile {
    assert!(
        spec.block_size as usize >= HEADER
            && spec.block_size.is_multiple_of(512)
            && spec.block_size <= 4096
    );
    build_slots(&SlotLayout::from(spec))
}

/// Builds a chain file laid out as `layout` says: the chain's blocks in
/// shuffled slots, filler elsewhere. The filler is 8-byte words whose upper
/// bytes are `00 00 5a 5a`, so no 8 bytes of it, at any offset, are the
/// magic.
pub fn build_slots(layout: &SlotLayout) -> ChainFile {
    let l = layout;
    assert!(l.hops >= 1 && l.slots >= l.hops);
    assert!((HEADER as u32..=MAX_WINDOW).contains(&l.block_size) && l.stride >= l.block_size);
    let mut rng = Rng::new(l.seed);
    let mut slots: Vec<u64> = (0..u64::from(l.slots)).collect();
    rng.shuffle(&mut slots);
    let len = usize::try_from(l.file_len()).expect("the file fits in memory");
    let mut bytes = vec![0u8; len];
    for (i, b) in bytes.chunks_mut(8).enumerate() {
        let word = (0x5a5a_0000_0000_0000 | i as u64).to_le_bytes();
        b.copy_from_slice(&word[..b.len()]);
    }
    for i in 0..l.hops as usize {
        let at = l.offset(slots[i]) as usize;
        let next = if i + 1 == l.hops as usize {
            END
        } else {
            l.offset(slots[i + 1])
        };
        let value = rng.next() >> 8;
        bytes[at..at + HEADER].copy_from_slice(&header(next, value, i as u32, l.block_size));
    }
    ChainFile {
        bytes,
        start: l.offset(slots[0]),
        block_size: l.block_size,
    }
}

/// The header of a chain block of `block_size` bytes: hop `index`, holding
/// `value`, whose next block is at `next` ([`END`] for the last).
pub fn header(next: u64, value: u64, index: u32, block_size: u32) -> [u8; HEADER] {
    let mut h = [0u8; HEADER];
    h[0..8].copy_from_slice(&MAGIC.to_le_bytes());
    h[8..16].copy_from_slice(&next.to_le_bytes());
    h[16..24].copy_from_slice(&value.to_le_bytes());
    h[24..28].copy_from_slice(&index.to_le_bytes());
    h[28..32].copy_from_slice(&block_size.to_le_bytes());
    h
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
    /// A block names a next length that is not 32..=[`MAX_WINDOW`] bytes.
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
    if !LENGTHS.contains(&block_size) {
        return Err(WalkError::BadLength { offset: start });
    }
    let mut buf = vec![0u8; block_size as usize];
    for _ in 0..limit {
        if buf.len() < len as usize {
            buf.resize(len as usize, 0);
        }
        let block = &mut buf[..len as usize];
        if !read(offset, block) {
            return Err(WalkError::Read { offset });
        }
        match step(&mut r, offset, block)? {
            None => return Ok(r),
            Some((next, next_len)) => (offset, len) = (next, next_len),
        }
    }
    Err(WalkError::TooLong)
}

/// Lengths a block of a chain may have.
const LENGTHS: std::ops::RangeInclusive<u32> = HEADER as u32..=MAX_WINDOW;

/// One step of a walk: folds `block`, read at `offset`, into `r`; returns
/// the next read (offset and length), or `None` at the chain's end. For
/// walks that are not one function call (many lookups in flight).
pub fn step(
    r: &mut ChainResult,
    offset: u64,
    block: &[u8],
) -> Result<Option<(u64, u32)>, WalkError> {
    if block.len() < HEADER {
        return Err(WalkError::BadLength { offset });
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
        return Ok(None);
    }
    let len = u32::from_le_bytes(block[28..32].try_into().unwrap());
    if !LENGTHS.contains(&len) {
        return Err(WalkError::BadLength { offset });
    }
    Ok(Some((next, len)))
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

    /// FNV-1a of a file, to pin the bytes [`build`] writes.
    fn fnv(bytes: &[u8]) -> u64 {
        bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        })
    }

    #[test]
    fn build_writes_the_same_bytes_as_before_slot_layouts() {
        // Files made by `rnvme mkdb` before `build_slots` existed still verify.
        let f = build(&ChainSpec {
            hops: 8,
            block_size: 512,
            file_blocks: 64,
            seed: 5,
        });
        assert_eq!((f.start, fnv(&f.bytes)), (13824, 0x900a_46fa_4e6a_36c2));
        let f = build(&ChainSpec {
            hops: 6,
            block_size: 4096,
            file_blocks: 384,
            seed: 51610,
        });
        assert_eq!((f.start, fnv(&f.bytes)), (102_400, 0x06f2_897b_b778_c00f));
    }

    /// The offsets of the blocks a walk visits, in order.
    fn visited(f: &ChainFile, limit: u32) -> Vec<u64> {
        let mut offsets = Vec::new();
        let mut read = read_from(&f.bytes);
        walk(
            |off, buf| {
                offsets.push(off);
                read(off, buf)
            },
            f.start,
            f.block_size,
            limit,
        )
        .unwrap();
        offsets
    }

    #[test]
    fn packed_records_sit_at_unaligned_slot_starts() {
        let layout = SlotLayout {
            hops: 40,
            block_size: 4101,
            stride: 4101,
            shift: 0,
            slots: 200,
            seed: 11,
        };
        let f = build_slots(&layout);
        assert_eq!(f.bytes.len() as u64, 200 * 4101);
        assert_eq!(f.bytes, build_slots(&layout).bytes);
        let r = walk(read_from(&f.bytes), f.start, 4101, 256).unwrap();
        assert_eq!((r.count, r.last_index), (40, 39));
        let offsets = visited(&f, 256);
        assert!(offsets.iter().all(|o| o % 4101 == 0));
        assert!(offsets.iter().filter(|o| *o % 512 != 0).count() > 30);
        let mut distinct = offsets.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), 40);
    }

    #[test]
    fn shifted_pages_start_past_every_boundary() {
        let f = build_slots(&SlotLayout {
            hops: 8,
            block_size: 16384,
            stride: 16384,
            shift: 5,
            slots: 32,
            seed: 3,
        });
        assert_eq!(f.bytes.len(), 5 + 32 * 16384);
        assert!(visited(&f, 256).iter().all(|o| o % 16384 == 5));
    }

    #[test]
    fn filler_of_slot_layouts_never_carries_the_magic_at_any_offset() {
        let f = build_slots(&SlotLayout {
            hops: 5,
            block_size: 4101,
            stride: 4103,
            shift: 3,
            slots: 20,
            seed: 8,
        });
        let magic = MAGIC.to_le_bytes();
        let at: Vec<u64> = f
            .bytes
            .windows(8)
            .enumerate()
            .filter(|(_, w)| *w == magic)
            .map(|(i, _)| i as u64)
            .collect();
        let mut want = visited(&f, 256);
        want.sort_unstable();
        assert_eq!(at, want);
    }

    #[test]
    fn walk_follows_windows_up_to_the_limit_and_no_further() {
        let mut f = build_slots(&SlotLayout {
            hops: 2,
            block_size: MAX_WINDOW,
            stride: MAX_WINDOW + 1,
            shift: 1,
            slots: 2,
            seed: 4,
        });
        assert_eq!(
            walk(read_from(&f.bytes), f.start, MAX_WINDOW, 8)
                .unwrap()
                .count,
            2
        );
        let at = f.start as usize + 28;
        f.bytes[at..at + 4].copy_from_slice(&(MAX_WINDOW + 1).to_le_bytes());
        assert_eq!(
            walk(read_from(&f.bytes), f.start, MAX_WINDOW, 8),
            Err(WalkError::BadLength { offset: f.start })
        );
        assert_eq!(
            walk(read_from(&f.bytes), f.start, MAX_WINDOW + 1, 8),
            Err(WalkError::BadLength { offset: f.start })
        );
    }

    #[test]
    #[should_panic]
    fn slots_smaller_than_their_blocks_are_refused() {
        build_slots(&SlotLayout {
            hops: 1,
            block_size: 4101,
            stride: 4096,
            shift: 0,
            slots: 4,
            seed: 1,
        });
    }
}
