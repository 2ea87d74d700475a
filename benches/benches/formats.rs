// SPDX-License-Identifier: GPL-2.0 OR MIT

//! Micro-benchmarks of the hot user-space pieces: a B+-tree node step (what
//! the pread/io_uring paths do per hop), reference walks, and the builders.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use rnvme::format::{
    bptree::{self, Shape, TreeSpec},
    chain::{self, ChainSpec},
    memory_reader as reader,
    records::{self, RecordSpec},
};

fn bench(c: &mut Criterion) {
    let spec = TreeSpec {
        keys: 60_000,
        node_size: 4096,
        shape: Shape::Depth(2),
        value_log: true,
        seed: 1,
    };
    let tree = bptree::build(&spec).unwrap();
    let keys = bptree::present_keys(&spec);
    let root = &tree.bytes[tree.sup.root as usize..tree.sup.root as usize + 4096];
    c.bench_function("bptree node step (4 KiB internal node)", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 7919) % keys.len();
            black_box(bptree::step(black_box(root), keys[i]).unwrap())
        })
    });
    c.bench_function(
        "bptree reference lookup (in memory, depth 2 + value)",
        |b| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 7919) % keys.len();
                black_box(bptree::lookup(reader(&tree.bytes), &tree.sup, keys[i]).unwrap())
            })
        },
    );
    let ch = chain::build(&ChainSpec {
        hops: 8,
        block_size: 4096,
        file_blocks: 64,
        seed: 2,
    });
    c.bench_function("chain reference walk (8 blocks, in memory)", |b| {
        b.iter(|| black_box(chain::walk(reader(&ch.bytes), ch.start, 4096, 64).unwrap()))
    });
    c.bench_function("build bptree (4096 keys, 512 B nodes)", |b| {
        let s = TreeSpec {
            keys: 4096,
            node_size: 512,
            shape: Shape::Fanout(8),
            value_log: false,
            seed: 3,
        };
        b.iter(|| black_box(bptree::build(black_box(&s)).unwrap()))
    });
    c.bench_function("build records (64 blocks of 4 KiB)", |b| {
        let s = RecordSpec {
            blocks: 64,
            block_size: 4096,
            key_space: 1000,
            seed: 4,
        };
        b.iter(|| black_box(records::build(black_box(&s)).unwrap()))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
