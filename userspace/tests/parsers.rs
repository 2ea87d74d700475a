// SPDX-License-Identifier: GPL-2.0 OR MIT

//! Property tests of the on-disk format readers: whatever bytes a file holds,
//! they answer with a result or an error, never a panic or a hang.

use proptest::prelude::*;
use rnvme::format::{bptree, chain, memory_reader as reader, records};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn bptree_step_never_panics(node in prop::collection::vec(any::<u8>(), 512..=512), key: u64, magic: bool) {
        let mut node = node;
        if magic {
            node[0..4].copy_from_slice(&bptree::NODE_MAGIC.to_le_bytes());
        }
        let _ = bptree::step(&node, key);
    }

    #[test]
    fn bptree_lookup_on_garbage_ends(bytes in prop::collection::vec(any::<u8>(), 0..8192), key: u64) {
        if let Ok(sup) = bptree::Super::parse(&bytes) {
            let _ = bptree::lookup(reader(&bytes), &sup, key);
        }
    }

    #[test]
    fn corrupted_trees_give_errors_or_answers(flips in prop::collection::vec((0usize..40_000, any::<u8>()), 1..20), key: u64) {
        let spec = bptree::TreeSpec { keys: 500, node_size: 512, shape: bptree::Shape::Fanout(6), value_log: true, seed: 3 };
        let mut t = bptree::build(&spec).unwrap();
        for (at, v) in flips {
            let i = at % t.bytes.len();
            t.bytes[i] ^= v;
        }
        if let Ok(sup) = bptree::Super::parse(&t.bytes) {
            let _ = bptree::lookup(reader(&t.bytes), &sup, key);
        }
        let _ = bptree::check(&t.bytes);
        prop_assert!(bptree::verify(&t.bytes, &spec).is_err() || t.bytes == bptree::build(&spec).unwrap().bytes);
    }

    #[test]
    fn chain_walk_on_garbage_ends(bytes in prop::collection::vec(any::<u8>(), 0..16384), start: u64, bs in 0u32..5000) {
        let _ = chain::walk(reader(&bytes), start % 20_000, bs, 64);
    }

    #[test]
    fn chain_walk_with_forged_headers_ends(next: u64, len: u32, at in 0usize..8) {
        let mut bytes = vec![0u8; 8 * 512];
        let h = &mut bytes[at * 512..at * 512 + 32];
        h[0..8].copy_from_slice(&chain::MAGIC.to_le_bytes());
        h[8..16].copy_from_slice(&next.to_le_bytes());
        h[28..32].copy_from_slice(&len.to_le_bytes());
        let _ = chain::walk(reader(&bytes), (at * 512) as u64, 512, 64);
    }

    #[test]
    fn records_scan_on_garbage_ends(bytes in prop::collection::vec(any::<u8>(), 512..4096), lo: u64, hi: u64) {
        let blocks = bytes.len() / 512;
        let _ = records::scan(reader(&bytes), 512, 0, (blocks * 512) as u64, lo, hi);
    }
}
