// SPDX-License-Identifier: GPL-2.0 OR MIT

//! The user-space reference lookup: the walk `bptree.bpf.c` takes, one
//! node at a time, on blocks a caller reads.

use super::{Super, HEADER, INTERNAL, LEAF_LOG, NODE_MAGIC, RECORD, VALUE_DATA, VALUE_MAGIC};
use crate::format::{le_u16, le_u32, le_u64, put_u64};

/// What a lookup found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Found {
    pub found: bool,
    /// The value (inline), or the record's file offset (value log).
    pub value: u64,
    /// Nodes visited.
    pub depth: u32,
    /// The record's data (value log).
    pub data: [u8; VALUE_DATA],
}

/// The scratch of a lookup of `key` (`struct bpt_query`).
pub fn query(key: u64) -> Vec<u8> {
    let mut s = vec![0u8; 80];
    put_u64(&mut s, 0, key);
    s
}

/// The result a lookup left in its scratch.
pub fn parse_query(s: &[u8]) -> Found {
    Found {
        found: le_u32(s, 8) == 1,
        depth: le_u32(s, 12),
        value: le_u64(s, 16),
        data: s[32..32 + VALUE_DATA].try_into().unwrap(),
    }
}

/// One step of a lookup of `key` on the block just read, the way
/// `bptree.bpf.c` takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Read the node (or value-log block) at this offset next.
    Next(u64),
    /// The key is not in the tree.
    NotFound,
    /// The key's value (inline).
    Found(u64),
    /// The key's record is in the value-log block at `block`, `rec_off`
    /// bytes in; `value` is the record's offset.
    Record {
        value: u64,
        block: u64,
        rec_off: usize,
    },
}

/// The slot of a node a lookup of some key reads, by index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Slot {
    /// An internal node's pointer to the child that holds the key.
    Child(usize),
    /// A leaf's value of the key: inline, or the offset of its record in
    /// the value log (`log`).
    Value { index: usize, log: bool },
    /// A leaf without the key.
    Absent,
}

/// The byte offset of slot `i` in a node.
pub(super) fn slot_at(i: usize) -> usize {
    HEADER + i * 8
}

/// The kind and key count of `node`, checked to fit in it.
pub(super) fn header(node: &[u8]) -> Result<(u16, usize), String> {
    if le_u32(node, 0) != NODE_MAGIC {
        return Err("not a node".into());
    }
    let kind = le_u16(node, 4);
    let n = le_u16(node, 6) as usize;
    // An internal node has 2n + 1 slots, a leaf 2n.
    let slots = if kind == INTERNAL { 2 * n + 1 } else { 2 * n };
    if slot_at(slots) > node.len() {
        return Err(format!("{n} keys do not fit"));
    }
    Ok((kind, n))
}

/// The slot of `node` a lookup of `key` reads.
pub(super) fn locate(node: &[u8], key: u64) -> Result<Slot, String> {
    let (kind, n) = header(node)?;
    let slot = |i: usize| le_u64(node, slot_at(i));
    if kind == INTERNAL {
        let child = (0..n).take_while(|&i| slot(2 * i + 1) <= key).count();
        return Ok(Slot::Child(2 * child));
    }
    Ok(match (0..n).find(|&i| slot(2 * i) == key) {
        Some(i) => Slot::Value {
            index: 2 * i + 1,
            log: kind == LEAF_LOG,
        },
        None => Slot::Absent,
    })
}

/// Takes one step on `node` (a node-size block).
pub fn step(node: &[u8], key: u64) -> Result<Step, String> {
    let slot = |i: usize| le_u64(node, slot_at(i));
    Ok(match locate(node, key)? {
        Slot::Child(i) => Step::Next(slot(i)),
        Slot::Absent => Step::NotFound,
        Slot::Value { index, log: false } => Step::Found(slot(index)),
        Slot::Value { index, log: true } => {
            let value = slot(index);
            let rec_off = value as usize & (node.len() - 1);
            Step::Record {
                value,
                block: value - rec_off as u64,
                rec_off,
            }
        }
    })
}

/// Checks the value record `rec_off` bytes into a value-log block and
/// returns its data.
pub fn record(block: &[u8], rec_off: usize, key: u64) -> Result<[u8; VALUE_DATA], String> {
    let r = block
        .get(rec_off..rec_off + RECORD)
        .ok_or("record past the block")?;
    if le_u32(r, 0) != VALUE_MAGIC || le_u64(r, 8) != key {
        return Err(format!("bad value record for key {key}"));
    }
    Ok(r[16..].try_into().unwrap())
}

/// Looks `key` up the way `bptree.bpf.c` does, reading blocks with
/// `read(offset, buf)`: the user-space reference.
pub fn lookup(
    mut read: impl FnMut(u64, &mut [u8]) -> bool,
    sup: &Super,
    key: u64,
) -> Result<Found, String> {
    let mut buf = vec![0u8; sup.node_size as usize];
    let mut at = sup.root;
    let mut depth = 0;
    loop {
        if !read(at, &mut buf) {
            return Err(format!("read at {at} failed"));
        }
        depth += 1;
        if depth > 64 {
            return Err("tree deeper than 64".into());
        }
        let none = [0; VALUE_DATA];
        match step(&buf, key).map_err(|e| format!("at {at}: {e}"))? {
            Step::Next(next) => at = next,
            Step::NotFound => {
                return Ok(Found {
                    found: false,
                    value: 0,
                    depth,
                    data: none,
                })
            }
            Step::Found(value) => {
                return Ok(Found {
                    found: true,
                    value,
                    depth,
                    data: none,
                })
            }
            Step::Record {
                value,
                block,
                rec_off,
            } => {
                if !read(block, &mut buf) {
                    return Err(format!("value read at {value} failed"));
                }
                let data = record(&buf, rec_off, key)?;
                return Ok(Found {
                    found: true,
                    value,
                    depth,
                    data,
                });
            }
        }
    }
}

/// [`lookup`] on the tree as it is now: reads the superblock first, so a
/// lookup racing a [`super::Writer`] walks either the old tree or the new
/// one, whole (old nodes are never overwritten).
pub fn lookup_current(
    mut read: impl FnMut(u64, &mut [u8]) -> bool,
    key: u64,
) -> Result<Found, String> {
    // Block 0 is at least 512 bytes, whatever the node size.
    let mut head = [0u8; 512];
    if !read(0, &mut head) {
        return Err("superblock read failed".into());
    }
    lookup(read, &Super::parse(&head)?, key)
}
