// SPDX-License-Identifier: GPL-2.0 OR MIT

//! Checking the structure of a B+-tree file, updated or fresh: what holds
//! of every tree, without the description it was built from.

use super::{
    lookup::{header, slot_at},
    record, Super, INTERNAL, LEAF, LEAF_LOG, RECORD,
};
use crate::format::le_u64;

/// A subtree still to check: its node's offset and level (the root is 1),
/// and the bounds its keys must be in, `lo..hi` (`None`: no upper bound).
struct Pending {
    at: u64,
    level: u32,
    lo: u64,
    hi: Option<u64>,
}

/// Checks the tree in `bytes` from its superblock: every node reachable
/// from the root is whole and in the file, with a node's magic and a kind
/// the superblock allows (leaves only at its depth, inline or value-log as
/// it says); keys increase within each node and stay within the bounds the
/// parent gives; the leaves hold the superblock's number of keys; with a
/// value log, every key's record is whole and names the key. Returns the
/// keys in order.
pub fn check(bytes: &[u8]) -> Result<Vec<u64>, String> {
    let sup = Super::parse(bytes)?;
    let ns = sup.node_size as usize;
    let leaf_kind = if sup.value_log { LEAF_LOG } else { LEAF };
    let mut keys = Vec::new();
    let mut nodes = 0;
    let mut stack = vec![Pending {
        at: sup.root,
        level: 1,
        lo: 0,
        hi: None,
    }];
    while let Some(p) = stack.pop() {
        nodes += 1;
        if nodes > bytes.len() / ns {
            return Err("more nodes reachable than blocks: a cycle".into());
        }
        let at = p.at;
        let node = block(bytes, at, ns).ok_or(format!("node offset {at}"))?;
        let (kind, n) = header(node).map_err(|e| format!("node at {at}: {e}"))?;
        let slot = |i: usize| le_u64(node, slot_at(i));
        let (first_key, leaf) = match kind {
            INTERNAL if p.level < sup.depth => (1, false),
            k if k == leaf_kind && p.level == sup.depth => (0, true),
            _ => return Err(format!("node at {at}: kind {kind} at level {}", p.level)),
        };
        let node_keys: Vec<u64> = (0..n).map(|i| slot(2 * i + first_key)).collect();
        let in_bounds = |&k: &u64| k >= p.lo && p.hi.is_none_or(|hi| k < hi);
        if !node_keys.is_sorted_by(|a, b| a < b) || !node_keys.iter().all(in_bounds) {
            return Err(format!("node at {at}: keys out of order or bounds"));
        }
        if !leaf {
            // Children right to left, so the leftmost is checked first.
            for i in (0..=n).rev() {
                stack.push(Pending {
                    at: slot(2 * i),
                    level: p.level + 1,
                    lo: if i == 0 { p.lo } else { node_keys[i - 1] },
                    hi: node_keys.get(i).copied().or(p.hi),
                });
            }
            continue;
        }
        if sup.value_log {
            for (i, &key) in node_keys.iter().enumerate() {
                let value = slot(2 * i + 1);
                let rec_off = value as usize % ns;
                let rec = block(bytes, value - rec_off as u64, ns)
                    .filter(|_| rec_off.is_multiple_of(RECORD))
                    .ok_or(format!("key {key}: record offset {value}"))?;
                record(rec, rec_off, key)?;
            }
        }
        keys.extend(node_keys);
    }
    if keys.len() as u64 != sup.keys {
        return Err(format!(
            "{} keys in the leaves, the superblock says {}",
            keys.len(),
            sup.keys
        ));
    }
    Ok(keys)
}

/// The node-size block at `at`, if it is a whole aligned block of `bytes`
/// other than the superblock.
fn block(bytes: &[u8], at: u64, ns: usize) -> Option<&[u8]> {
    let at = usize::try_from(at).ok()?;
    if at == 0 || !at.is_multiple_of(ns) {
        return None;
    }
    bytes.get(at..at.checked_add(ns)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{
        bptree::{build, present_keys, Shape, TreeSpec},
        put_u64,
    };

    #[test]
    fn fresh_trees_pass_and_broken_ones_do_not() {
        for (keys, ns, d, log) in [
            (200, 4096, 1, false),
            (900, 512, 3, true),
            (900, 4096, 2, false),
        ] {
            let spec = TreeSpec {
                keys,
                node_size: ns,
                shape: Shape::Depth(d),
                value_log: log,
                seed: 3,
            };
            let t = build(&spec).unwrap();
            assert_eq!(check(&t.bytes).unwrap(), present_keys(&spec), "{spec:?}");
            let ns = ns as usize;
            let mut bad = t.bytes.clone();
            put_u64(&mut bad, 8, t.bytes.len() as u64);
            assert!(check(&bad).is_err(), "root past the end");
            // The first key of the first leaf made the largest.
            let leaf = (1..).find(|b| t.bytes[b * ns + 4] != 0).unwrap();
            let mut bad = t.bytes.clone();
            put_u64(&mut bad, leaf * ns + slot_at(0), u64::MAX);
            assert!(check(&bad).is_err(), "{spec:?}");
        }
    }
}
