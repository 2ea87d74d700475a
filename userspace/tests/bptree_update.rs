// SPDX-License-Identifier: GPL-2.0 OR MIT

//! Copy-on-write updates of B+-tree files (`format::bptree::Writer`), on
//! files in /tmp:
//! - `updates_keep_trees_well_formed_and_equal_to_a_model`: node sizes 512
//!   and 4096, with and without a value log, depths 2 to 4, single updates
//!   and batches, O_DIRECT and buffered;
//! - `a_batch_copies_each_node_once`;
//! - `bad_updates_write_nothing`;
//! - `readers_racing_updates_see_old_or_new_values`: a writer thread and
//!   reader threads on their own file descriptors.

use std::{
    collections::{HashMap, HashSet},
    fs,
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        RwLock,
    },
};

use rnvme::format::{
    bptree::{self, sample, NewValue, Options, Shape, TreeSpec, WriteError, Writer},
    memory_reader,
    verify::check_tree_file,
    write_file, Layout,
};

/// A tree file in /tmp, removed when dropped.
struct TempTree {
    path: PathBuf,
    spec: TreeSpec,
}

impl TempTree {
    fn new(name: &str, keys: u64, node_size: u32, depth: u32, value_log: bool) -> Self {
        let spec = TreeSpec {
            keys,
            node_size,
            shape: Shape::Depth(depth),
            value_log,
            seed: u64::from(depth) * 31 + u64::from(node_size),
        };
        let path = std::env::temp_dir().join(format!(
            "rnvme-update-{}-{name}-{node_size}-{depth}-{value_log}.db",
            std::process::id()
        ));
        let tree = bptree::build(&spec).unwrap();
        write_file(&path, &tree.bytes, Layout::Contiguous).unwrap();
        Self { path, spec }
    }

    /// A writer: with O_DIRECT if asked and the file system allows it.
    fn writer(&self, direct: bool) -> Writer {
        match Writer::open(&self.path, Options { direct }) {
            Err(WriteError::Io { cause, .. })
                if direct && cause.raw_os_error() == Some(libc::EINVAL) =>
            {
                eprintln!("no O_DIRECT on {}: buffered", self.path.display());
                Writer::open(&self.path, Options { direct: false }).unwrap()
            }
            w => w.unwrap(),
        }
    }

    /// Every key's value as the reference lookup finds it now.
    fn values(&self) -> HashMap<u64, NewValue> {
        let bytes = fs::read(&self.path).unwrap();
        bptree::present_keys(&self.spec)
            .into_iter()
            .map(|k| {
                let f = bptree::lookup_current(memory_reader(&bytes), k).unwrap();
                (k, as_value(&f, self.spec.value_log))
            })
            .collect()
    }

    /// Checks the structure and that every key has the model's value.
    fn assert_equals(&self, model: &HashMap<u64, NewValue>) {
        let keys = check_tree_file(&self.path).unwrap();
        assert_eq!(keys, bptree::present_keys(&self.spec), "{:?}", self.spec);
        let bytes = fs::read(&self.path).unwrap();
        for (&key, value) in model {
            let f = bptree::lookup_current(memory_reader(&bytes), key).unwrap();
            assert!(value.matches(&f), "{:?} key {key}: {f:?}", self.spec);
        }
    }

    fn len(&self) -> u64 {
        fs::metadata(&self.path).unwrap().len()
    }
}

impl Drop for TempTree {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// The value a lookup found, as a [`NewValue`].
fn as_value(f: &bptree::Found, value_log: bool) -> NewValue {
    assert!(f.found);
    match value_log {
        true => NewValue::Record(f.data),
        false => NewValue::Inline(f.value),
    }
}

#[test]
fn updates_keep_trees_well_formed_and_equal_to_a_model() {
    for node_size in [512, 4096] {
        for value_log in [false, true] {
            for depth in 2..=4 {
                let t = TempTree::new("model", 600, node_size, depth, value_log);
                let mut w = t.writer(depth != 3);
                let before = *w.superblock();
                let mut model = t.values();
                let keys = bptree::present_keys(&t.spec);
                for (round, key) in sample(&keys, 15, 7).into_iter().enumerate() {
                    let value = NewValue::seeded(value_log, key, round as u64);
                    let len = t.len();
                    let a = w.update(key, value).unwrap();
                    assert_eq!((a.nodes, a.log_blocks), (depth.into(), value_log.into()));
                    assert_eq!(a.bytes, (a.nodes + a.log_blocks) * u64::from(node_size));
                    assert_eq!(t.len(), len + a.bytes);
                    model.insert(key, value);
                    t.assert_equals(&model);
                }
                for round in 0..8u64 {
                    let batch: Vec<(u64, NewValue)> = sample(&keys, 1 + round as usize * 3, round)
                        .into_iter()
                        .map(|k| (k, NewValue::seeded(value_log, k, 100 + round)))
                        .collect();
                    w.update_many(&batch).unwrap();
                    model.extend(batch.iter().copied());
                    t.assert_equals(&model);
                }
                let after = bptree::Super::parse(&fs::read(&t.path).unwrap()).unwrap();
                assert_eq!(after, *w.superblock());
                assert_eq!(
                    after,
                    bptree::Super {
                        root: after.root,
                        ..before
                    }
                );
                assert_eq!(w.appended().switches, 15 + 8);
            }
        }
    }
}

#[test]
fn a_batch_copies_each_node_once() {
    for (node_size, value_log) in [(512, true), (4096, false)] {
        let t = TempTree::new("once", 900, node_size, 3, value_log);
        let ns = u64::from(node_size);
        let log_blocks = if value_log {
            (900 * 64u64).div_ceil(ns)
        } else {
            0
        };
        let tree_nodes = t.len() / ns - 1 - log_blocks;
        let keys = bptree::present_keys(&t.spec);
        let mut w = t.writer(true);
        // Every key at once: every node copied once.
        let all: Vec<_> = keys
            .iter()
            .map(|&k| (k, NewValue::seeded(value_log, k, 5)))
            .collect();
        let a = w.update_many(&all).unwrap();
        assert_eq!(
            (a.nodes, a.log_blocks, a.updates),
            (tree_nodes, log_blocks, 900)
        );
        let mut model: HashMap<_, _> = all.into_iter().collect();
        t.assert_equals(&model);
        // One key twice: the last value wins, one path, one record.
        let k = keys[450];
        let (v1, v2) = (
            NewValue::seeded(value_log, k, 6),
            NewValue::seeded(value_log, k, 7),
        );
        let a = w.update_many(&[(k, v1), (k, v2)]).unwrap();
        assert_eq!((a.nodes, a.log_blocks), (3, u64::from(value_log)));
        model.insert(k, v2);
        t.assert_equals(&model);
    }
}

#[test]
fn bad_updates_write_nothing() {
    let t = TempTree::new("bad", 300, 512, 2, true);
    let bytes = fs::read(&t.path).unwrap();
    let key = bptree::present_keys(&t.spec)[10];
    let mut w = t.writer(true);
    let good = NewValue::seeded(true, key, 1);
    // Keys that are multiples of 4 are never in a tree.
    let e = w.update_many(&[(key, good), (8, good)]).unwrap_err();
    assert!(matches!(e, WriteError::Absent(8)), "{e}");
    let e = w.update(key, NewValue::Inline(1)).unwrap_err();
    assert!(
        matches!(e, WriteError::ValueKind { key: k, .. } if k == key),
        "{e}"
    );
    assert_eq!(w.update_many(&[]).unwrap(), Default::default());
    assert_eq!(fs::read(&t.path).unwrap(), bytes);

    let junk = t.path.with_extension("junk");
    fs::write(&junk, [0u8; 4096]).unwrap();
    let e = Writer::open(&junk, Options { direct: false })
        .err()
        .unwrap();
    assert!(matches!(e, WriteError::Format(_)), "{e}");
    fs::remove_file(&junk).unwrap();
}

#[test]
fn readers_racing_updates_see_old_or_new_values() {
    for (node_size, depth, value_log) in [(512, 3, true), (4096, 2, false), (512, 4, false)] {
        let t = TempTree::new("race", 2000, node_size, depth, value_log);
        let keys = bptree::present_keys(&t.spec);
        let mut model = t.values();
        let race = Race {
            seen: RwLock::new(
                model
                    .iter()
                    .map(|(&k, &v)| (k, HashSet::from([v])))
                    .collect(),
            ),
            original: model.clone(),
            value_log,
            done: AtomicBool::new(false),
            lookups: AtomicU64::new(0),
            new_seen: AtomicU64::new(0),
        };
        std::thread::scope(|s| {
            for r in 0..3 {
                let (race, keys, path) = (&race, &keys, &t.path);
                s.spawn(move || race.read_until(path, &sample(keys, 500, r)));
            }
            let mut w = t.writer(true);
            for round in 0..150u64 {
                let picked = sample(&keys, 1 + (round % 3 * 4) as usize, 1000 + round);
                let batch: Vec<_> = picked
                    .iter()
                    .map(|&k| (k, NewValue::seeded(value_log, k, round + 1)))
                    .collect();
                let mut seen = race.seen.write().unwrap();
                for (k, v) in &batch {
                    seen.get_mut(k).unwrap().insert(*v);
                }
                drop(seen);
                w.update_many(&batch).unwrap();
                model.extend(batch);
            }
            race.done.store(true, Ordering::Release);
        });
        let lookups = race.lookups.load(Ordering::Relaxed);
        assert!(lookups > 0);
        eprintln!(
            "{node_size} B, depth {depth}, log {value_log}: {lookups} lookups raced 150 \
             batches, {} found a new value",
            race.new_seen.load(Ordering::Relaxed)
        );
        t.assert_equals(&model);
    }
}

/// What reader threads racing a writer share.
struct Race {
    /// Every value each key ever had (the writer adds a value before it
    /// writes it): a reader must find one of them.
    seen: RwLock<HashMap<u64, HashSet<NewValue>>>,
    original: HashMap<u64, NewValue>,
    value_log: bool,
    done: AtomicBool,
    lookups: AtomicU64,
    /// Lookups that found a value other than the original.
    new_seen: AtomicU64,
}

impl Race {
    /// Looks `keys` up in turn, with positional reads on a file descriptor
    /// of its own, until the writer is done.
    fn read_until(&self, path: &Path, keys: &[u64]) {
        let file = fs::File::open(path).unwrap();
        let read = |off: u64, buf: &mut [u8]| file.read_exact_at(buf, off).is_ok();
        while !self.done.load(Ordering::Acquire) {
            for &key in keys {
                let f =
                    bptree::lookup_current(read, key).unwrap_or_else(|e| panic!("key {key}: {e}"));
                let v = as_value(&f, self.value_log);
                let known = self.seen.read().unwrap()[&key].contains(&v);
                assert!(known, "key {key}: {f:?} was never written");
                self.lookups.fetch_add(1, Ordering::Relaxed);
                if v != self.original[&key] {
                    self.new_seen.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}
