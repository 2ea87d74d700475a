// SPDX-License-Identifier: GPL-2.0 OR MIT

//! On-disk B+-trees, read by `bpf/bptree.bpf.c`; layout in
//! `bpf/include/bptree_format.h`. Block 0 is a superblock; then the nodes (in
//! shuffled order, as a tree grown over time would be); then, with a value
//! log, the value records, 64 bytes each. [`Writer`] updates a tree by
//! copy-on-write, appending new nodes and records after all of that.

mod check;
mod lookup;
mod write;

pub use check::check;
pub use lookup::{lookup, lookup_current, parse_query, query, record, step, Found, Step};
pub use write::{sample, Appended, NewValue, Options, WriteError, Writer};

use super::{le_u32, le_u64, put_u16, put_u32, put_u64, Rng};

pub const SUPER_MAGIC: u32 = u32::from_le_bytes(*b"BPTS");
pub const NODE_MAGIC: u32 = u32::from_le_bytes(*b"BPTN");
pub const VALUE_MAGIC: u32 = u32::from_le_bytes(*b"BPTV");
const INTERNAL: u16 = 0;
const LEAF: u16 = 1;
const LEAF_LOG: u16 = 2;
const HEADER: usize = 16;
/// Bytes of a value record in the value log.
pub const RECORD: usize = 64;
/// Bytes of data in a value record.
pub const VALUE_DATA: usize = 48;

/// How wide or how deep the tree is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// At most this many children per internal node and entries per leaf.
    Fanout(u32),
    /// Exactly this many levels (leaves included); the fanout follows.
    Depth(u32),
}

/// What to build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TreeSpec {
    pub keys: u64,
    /// 512 or 4096.
    pub node_size: u32,
    pub shape: Shape,
    /// Leaves point to records in a value log (one more read per lookup).
    pub value_log: bool,
    pub seed: u64,
}

/// The superblock: where lookups start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Super {
    pub node_size: u32,
    pub root: u64,
    pub keys: u64,
    pub depth: u32,
    pub value_log: bool,
}

/// A built tree.
#[derive(Clone, Debug)]
pub struct TreeFile {
    pub bytes: Vec<u8>,
    pub sup: Super,
}

/// The largest fanout a node of `node_size` bytes holds: an internal node
/// with n keys uses 2n + 1 slots, a leaf 2n.
pub fn max_fanout(node_size: u32) -> u32 {
    let slots = (node_size as usize - HEADER) / 8;
    ((slots - 1) / 2 + 1).min(slots / 2).min(255) as u32
}

/// The key of index `i`: keys are 4i + 1..=4i + 3, so multiples of 4 are
/// never in a tree (handy absent keys).
fn key_at(i: u64, rng: &mut Rng) -> u64 {
    4 * i + 1 + rng.below(3)
}

/// Builds the tree `spec` describes, or says why it cannot.
pub fn build(spec: &TreeSpec) -> Result<TreeFile, String> {
    let ns = spec.node_size;
    if ns != 512 && ns != 4096 {
        return Err(format!("node size {ns}: must be 512 or 4096"));
    }
    if spec.keys == 0 || spec.keys > 1 << 28 {
        return Err(format!("{} keys: must be 1..=2^28", spec.keys));
    }
    let cap = max_fanout(ns);
    let fanout = match spec.shape {
        Shape::Fanout(f) if (2..=cap).contains(&f) => f,
        Shape::Fanout(f) => {
            return Err(format!("fanout {f}: must be 2..={cap} for {ns}-byte nodes"))
        }
        Shape::Depth(d) if (1..=16).contains(&d) => {
            // The smallest fanout whose d levels hold all keys.
            (2..=cap)
                .find(|&f| (f as f64).powi(d as i32) >= spec.keys as f64)
                .ok_or(format!(
                    "{} keys do not fit in {d} levels of {ns}-byte nodes",
                    spec.keys
                ))?
        }
        Shape::Depth(d) => return Err(format!("depth {d}: must be 1..=16")),
    };
    let f = fanout as usize;
    let mut rng = Rng::new(spec.seed);
    let keys: Vec<u64> = (0..spec.keys).map(|i| key_at(i, &mut rng)).collect();
    let values: Vec<u64> = keys.iter().map(|_| rng.next() >> 1).collect();

    // Levels bottom-up: each node is (first key, slots, kind).
    struct Node {
        first: u64,
        kind: u16,
        slots: Vec<u64>,
    }
    let leaf_kind = if spec.value_log { LEAF_LOG } else { LEAF };
    let mut levels: Vec<Vec<Node>> = vec![keys
        .chunks(f)
        .zip(values.chunks(f))
        .map(|(k, v)| Node {
            first: k[0],
            kind: leaf_kind,
            slots: k.iter().zip(v).flat_map(|(&k, &v)| [k, v]).collect(),
        })
        .collect()];
    while levels.last().unwrap().len() > 1 {
        let below = levels.last().unwrap();
        let level = (0..below.len())
            .step_by(f)
            .map(|start| {
                let group = start..(start + f).min(below.len());
                // Children are filled in with offsets once placed.
                let mut slots = vec![group.start as u64];
                for c in group.clone().skip(1) {
                    slots.push(below[c].first);
                    slots.push(c as u64);
                }
                Node {
                    first: below[group.start].first,
                    kind: INTERNAL,
                    slots,
                }
            })
            .collect();
        levels.push(level);
    }
    let depth = levels.len() as u32;
    if let Shape::Depth(d) = spec.shape {
        if d != depth {
            return Err(format!(
                "{} keys give {depth} levels, not {d}, at the smallest fanout",
                spec.keys
            ));
        }
    }

    // Place every node in a shuffled block (block 0 is the superblock).
    let total: usize = levels.iter().map(Vec::len).sum();
    let mut blocks: Vec<u64> = (1..=total as u64).collect();
    rng.shuffle(&mut blocks);
    let mut offset_of: Vec<Vec<u64>> = Vec::new();
    let mut next = blocks.iter();
    for level in &levels {
        offset_of.push(
            level
                .iter()
                .map(|_| next.next().unwrap() * u64::from(ns))
                .collect(),
        );
    }
    let records_per_block = ns as usize / RECORD;
    let log_start = (total as u64 + 1) * u64::from(ns);
    let log_blocks = if spec.value_log {
        keys.len().div_ceil(records_per_block)
    } else {
        0
    };
    let mut bytes = vec![0u8; (1 + total + log_blocks) * ns as usize];

    for (li, level) in levels.iter().enumerate() {
        for (ni, node) in level.iter().enumerate() {
            let at = offset_of[li][ni] as usize;
            let b = &mut bytes[at..at + ns as usize];
            put_u32(b, 0, NODE_MAGIC);
            put_u16(b, 4, node.kind);
            put_u16(b, 6, (node.slots.len() / 2) as u16);
            for (si, &slot) in node.slots.iter().enumerate() {
                let v = match node.kind {
                    // Even slots of internal nodes are child indexes.
                    INTERNAL if si % 2 == 0 => offset_of[li - 1][slot as usize],
                    LEAF_LOG if si % 2 == 1 => {
                        let i = ni * f + si / 2;
                        log_start
                            + (i / records_per_block * ns as usize + i % records_per_block * RECORD)
                                as u64
                    }
                    _ => slot,
                };
                put_u64(b, HEADER + si * 8, v);
            }
        }
    }
    if spec.value_log {
        for (i, (&k, &v)) in keys.iter().zip(&values).enumerate() {
            let at = log_start as usize
                + i / records_per_block * ns as usize
                + i % records_per_block * RECORD;
            let r = &mut bytes[at..at + RECORD];
            put_u32(r, 0, VALUE_MAGIC);
            put_u64(r, 8, k);
            for (j, chunk) in r[16..].chunks_mut(8).enumerate() {
                chunk.copy_from_slice(&(v ^ (j as u64 * 0x0101_0101_0101_0101)).to_le_bytes());
            }
        }
    }
    let sup = Super {
        node_size: ns,
        root: offset_of[levels.len() - 1][0],
        keys: spec.keys,
        depth,
        value_log: spec.value_log,
    };
    sup.encode(&mut bytes);
    Ok(TreeFile { bytes, sup })
}

impl Super {
    /// Parses a superblock.
    pub fn parse(b: &[u8]) -> Result<Self, String> {
        if b.len() < 32 || le_u32(b, 0) != SUPER_MAGIC {
            return Err("not an rnvme B+-tree (no superblock magic)".into());
        }
        let node_size = le_u32(b, 4);
        if node_size != 512 && node_size != 4096 {
            return Err(format!("bad node size {node_size}"));
        }
        Ok(Self {
            node_size,
            root: le_u64(b, 8),
            keys: le_u64(b, 16),
            depth: le_u32(b, 24),
            value_log: le_u32(b, 28) == 1,
        })
    }

    /// Writes the superblock's fields into the first 32 bytes of `b` (the
    /// rest of block 0 is left as it is).
    pub fn encode(&self, b: &mut [u8]) {
        put_u32(b, 0, SUPER_MAGIC);
        put_u32(b, 4, self.node_size);
        put_u64(b, 8, self.root);
        put_u64(b, 16, self.keys);
        put_u32(b, 24, self.depth);
        put_u32(b, 28, u32::from(self.value_log));
    }
}

/// The key `i`-th present key of a tree built from `spec` (for tests and
/// benchmarks that look up keys known to be there).
pub fn present_keys(spec: &TreeSpec) -> Vec<u64> {
    let mut rng = Rng::new(spec.seed);
    (0..spec.keys).map(|i| key_at(i, &mut rng)).collect()
}

/// Checks `bytes` against the tree `spec` describes: the same bytes as a
/// fresh build, and every key found by the reference lookup.
pub fn verify(bytes: &[u8], spec: &TreeSpec) -> Result<(), String> {
    let want = build(spec)?;
    if bytes.len() != want.bytes.len() {
        return Err(format!(
            "{} bytes, the description gives {}",
            bytes.len(),
            want.bytes.len()
        ));
    }
    if let Some(i) = bytes.iter().zip(&want.bytes).position(|(a, b)| a != b) {
        return Err(format!("differs from the description at byte {i}"));
    }
    let sup = Super::parse(bytes)?;
    let mut read = super::memory_reader(bytes);
    for key in present_keys(spec) {
        let f = lookup(&mut read, &sup, key)?;
        if !f.found || f.depth != sup.depth {
            return Err(format!("key {key}: {f:?}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::memory_reader as reader;

    #[test]
    fn fanout_limits_match_the_c_layout() {
        assert_eq!(max_fanout(512), 31);
        assert_eq!(max_fanout(4096), 255);
    }

    #[test]
    fn depths_come_out_as_asked_and_verify() {
        for (keys, ns, d, log) in [
            (1, 512, 1, false),
            (100, 512, 2, true),
            (5000, 512, 3, false),
            (20_000, 4096, 2, true),
            (3000, 512, 5, false),
        ] {
            let spec = TreeSpec {
                keys,
                node_size: ns,
                shape: Shape::Depth(d),
                value_log: log,
                seed: 9,
            };
            let t = build(&spec).unwrap();
            assert_eq!(t.sup.depth, d, "{spec:?}");
            verify(&t.bytes, &spec).unwrap();
        }
    }

    #[test]
    fn absent_keys_are_not_found_present_ones_are() {
        let spec = TreeSpec {
            keys: 700,
            node_size: 512,
            shape: Shape::Fanout(8),
            value_log: true,
            seed: 4,
        };
        let t = build(&spec).unwrap();
        for (i, key) in present_keys(&spec).into_iter().enumerate().step_by(7) {
            let f = lookup(reader(&t.bytes), &t.sup, key).unwrap();
            assert!(f.found, "key {key}");
            assert_eq!(f.depth, t.sup.depth);
            assert_ne!(f.data, [0; VALUE_DATA]);
            let absent = lookup(reader(&t.bytes), &t.sup, 4 * i as u64).unwrap();
            assert!(!absent.found);
        }
        assert!(!lookup(reader(&t.bytes), &t.sup, u64::MAX).unwrap().found);
    }

    #[test]
    fn verify_catches_a_changed_byte_and_bad_specs_are_refused() {
        let spec = TreeSpec {
            keys: 300,
            node_size: 512,
            shape: Shape::Fanout(10),
            value_log: false,
            seed: 1,
        };
        let mut t = build(&spec).unwrap();
        t.bytes[600] ^= 1;
        assert!(verify(&t.bytes, &spec).is_err());
        assert!(build(&TreeSpec {
            node_size: 1000,
            ..spec
        })
        .is_err());
        assert!(build(&TreeSpec {
            shape: Shape::Fanout(40),
            ..spec
        })
        .is_err());
        assert!(build(&TreeSpec {
            shape: Shape::Depth(1),
            ..spec
        })
        .is_err());
    }
}
