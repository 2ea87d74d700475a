// SPDX-License-Identifier: GPL-2.0 OR MIT

//! Record files, scanned by `bpf/scan.bpf.c`; layout in
//! `bpf/include/records_format.h`: blocks of a header and 16-byte
//! (key, value) records.

use super::{le_u32, le_u64, put_u32, put_u64, Rng};

pub const BLOCK_MAGIC: u32 = u32::from_le_bytes(*b"RECB");
const HEADER: usize = 16;
const RECORD: usize = 16;

/// What to build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordSpec {
    pub blocks: u32,
    /// 512 or 4096.
    pub block_size: u32,
    /// Keys are drawn from 0..key_space.
    pub key_space: u64,
    pub seed: u64,
}

/// Records a block of `block_size` bytes holds at most.
pub fn per_block(block_size: u32) -> usize {
    (block_size as usize - HEADER) / RECORD
}

/// Builds the record file `spec` describes, or says why it cannot.
pub fn build(spec: &RecordSpec) -> Result<Vec<u8>, String> {
    let bs = spec.block_size as usize;
    if bs != 512 && bs != 4096 {
        return Err(format!("block size {bs}: must be 512 or 4096"));
    }
    if spec.blocks == 0 || spec.blocks > 1 << 20 || spec.key_space == 0 {
        return Err("blocks must be 1..=2^20 and the key space non-empty".into());
    }
    let cap = per_block(spec.block_size);
    let mut rng = Rng::new(spec.seed);
    let mut bytes = vec![0u8; bs * spec.blocks as usize];
    for b in bytes.chunks_mut(bs) {
        // Blocks are mostly, not always, full.
        let count = cap - rng.below(cap as u64 / 4) as usize;
        put_u32(b, 0, BLOCK_MAGIC);
        put_u32(b, 4, count as u32);
        for r in 0..count {
            put_u64(b, HEADER + r * RECORD, rng.below(spec.key_space));
            put_u64(b, HEADER + r * RECORD + 8, rng.below(1 << 32));
        }
    }
    Ok(bytes)
}

/// What a scan computes: over the records whose key is in `lo..=hi`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Aggregate {
    pub count: u64,
    pub sum: u64,
    /// Smallest and largest matching value (0 when nothing matched).
    pub min: u64,
    pub max: u64,
    /// Blocks scanned.
    pub blocks: u64,
}

impl Aggregate {
    /// Adds the aggregate of another part of the range.
    pub fn merge(&mut self, o: &Aggregate) {
        if o.count > 0 {
            self.min = if self.count > 0 {
                self.min.min(o.min)
            } else {
                o.min
            };
            self.max = self.max.max(o.max);
        }
        self.count += o.count;
        self.sum = self.sum.wrapping_add(o.sum);
        self.blocks += o.blocks;
    }
}

/// The scratch of a scan of the keys `lo..=hi` that stops at file offset
/// `end` (`struct scan_query`).
pub fn query(lo: u64, hi: u64, end: u64) -> Vec<u8> {
    let mut s = vec![0u8; 64];
    put_u64(&mut s, 0, lo);
    put_u64(&mut s, 8, hi);
    put_u64(&mut s, 16, end);
    s
}

/// The aggregate a scan left in its scratch.
pub fn parse_query(s: &[u8]) -> Aggregate {
    let a = Aggregate {
        count: le_u64(s, 24),
        sum: le_u64(s, 32),
        min: le_u64(s, 40),
        max: le_u64(s, 48),
        blocks: le_u64(s, 56),
    };
    if a.count == 0 {
        Aggregate {
            min: 0,
            max: 0,
            ..a
        }
    } else {
        a
    }
}

/// Scans blocks `start..end` (file offsets) the way `scan.bpf.c` does:
/// the user-space reference.
pub fn scan(
    mut read: impl FnMut(u64, &mut [u8]) -> bool,
    block_size: u32,
    start: u64,
    end: u64,
    lo: u64,
    hi: u64,
) -> Result<Aggregate, String> {
    let mut a = Aggregate::default();
    let mut buf = vec![0u8; block_size as usize];
    let mut at = start;
    while at < end {
        if !read(at, &mut buf) {
            return Err(format!("read at {at} failed"));
        }
        if le_u32(&buf, 0) != BLOCK_MAGIC {
            return Err(format!("no record block at {at}"));
        }
        let n = (le_u32(&buf, 4) as usize).min(per_block(block_size));
        let mut part = Aggregate::default();
        for r in 0..n {
            let (k, v) = (
                le_u64(&buf, HEADER + r * RECORD),
                le_u64(&buf, HEADER + r * RECORD + 8),
            );
            if (lo..=hi).contains(&k) {
                part.merge(&Aggregate {
                    count: 1,
                    sum: v,
                    min: v,
                    max: v,
                    blocks: 0,
                });
            }
        }
        part.blocks = 1;
        a.merge(&part);
        at += u64::from(block_size);
    }
    Ok(a)
}

/// Checks `bytes` against the record file `spec` describes.
pub fn verify(bytes: &[u8], spec: &RecordSpec) -> Result<(), String> {
    let want = build(spec)?;
    if bytes.len() != want.len() {
        return Err(format!(
            "{} bytes, the description gives {}",
            bytes.len(),
            want.len()
        ));
    }
    match bytes.iter().zip(&want).position(|(a, b)| a != b) {
        Some(i) => Err(format!("differs from the description at byte {i}")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::memory_reader;

    #[test]
    fn scan_matches_a_direct_count() {
        let spec = RecordSpec {
            blocks: 40,
            block_size: 512,
            key_space: 1000,
            seed: 2,
        };
        let bytes = build(&spec).unwrap();
        verify(&bytes, &spec).unwrap();
        let a = scan(memory_reader(&bytes), 512, 512 * 5, 512 * 30, 100, 199).unwrap();
        assert_eq!(a.blocks, 25);
        let mut want = Aggregate::default();
        for b in bytes[512 * 5..512 * 30].chunks(512) {
            for r in 0..le_u32(b, 4) as usize {
                let (k, v) = (le_u64(b, 16 + r * 16), le_u64(b, 24 + r * 16));
                if (100..=199).contains(&k) {
                    want.count += 1;
                    want.sum += v;
                }
            }
        }
        assert_eq!((a.count, a.sum), (want.count, want.sum));
        assert!(a.count > 0 && a.min <= a.max);
    }

    #[test]
    fn merging_parts_equals_the_whole() {
        let spec = RecordSpec {
            blocks: 20,
            block_size: 4096,
            key_space: 50,
            seed: 3,
        };
        let bytes = build(&spec).unwrap();
        let whole = scan(memory_reader(&bytes), 4096, 0, 20 * 4096, 10, 20).unwrap();
        let mut parts = scan(memory_reader(&bytes), 4096, 0, 7 * 4096, 10, 20).unwrap();
        parts.merge(&scan(memory_reader(&bytes), 4096, 7 * 4096, 20 * 4096, 10, 20).unwrap());
        assert_eq!(whole, parts);
    }
}
