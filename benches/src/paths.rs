// SPDX-License-Identifier: GPL-2.0 OR MIT

//! The ways to do one lookup, and the workloads they run on.
//!
//! The user-space paths run the very reference walks of the library
//! (`format::bptree::lookup`, `format::chain::walk`) with a read backend
//! (`readers`): `pread(O_DIRECT)` or one io_uring SQE per hop (submit, wait,
//! like XRP's baseline). The storage-function paths do the same lookup with
//! one ioctl.

use std::{
    fs::File,
    path::{Path, PathBuf},
    sync::atomic::{AtomicU64, Ordering},
};

use anyhow::{bail, ensure, Result};
use rnvme::{
    format::{
        bptree::{self, Found, Shape, TreeSpec},
        chain::{self, ChainFile, ChainResult, ChainSpec},
        memory_reader, write_file, Layout,
    },
    ChainOutcome, Control, StorageFunction, Tag, Window,
};
use serde::{Deserialize, Serialize};

use crate::readers::Reader;

/// How a lookup is done.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Way {
    /// `pread` with O_DIRECT per hop, from user space.
    Pread,
    /// One io_uring read per hop, submitted and waited for, from user space.
    IoUring,
    /// The same on a polled ring (IOPOLL) with the file and the buffer
    /// registered: io_uring's fastest path for one read at a time.
    IoUringFixed,
    /// One NVMe Read command per hop through io_uring on the namespace's
    /// character device (`/dev/ngXnY`), polled: no file system, no bio.
    NvmePassthru,
    /// The storage function: one ioctl, hops resubmitted in the driver.
    Rnvme,
    /// The same with polled reads on the NVMe poll queues.
    RnvmePolled,
}

impl Way {
    pub const ALL: [Way; 6] = [
        Way::Pread,
        Way::IoUring,
        Way::IoUringFixed,
        Way::NvmePassthru,
        Way::Rnvme,
        Way::RnvmePolled,
    ];

    /// System calls per lookup of `reads` reads (counted: what the path
    /// itself calls, per lookup; a polled ring may enter the kernel again
    /// to reap a completion, not counted).
    pub fn syscalls(self, reads: u32) -> u32 {
        match self {
            Way::Pread | Way::IoUring | Way::IoUringFixed | Way::NvmePassthru => reads,
            Way::Rnvme | Way::RnvmePolled => 1,
        }
    }
}

/// The on-disk structure a workload walks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A B+-tree lookup of a uniformly random present key, with the final
    /// value read from a value log (BPF-KV style).
    Bptree,
    /// A walk of a chain of linked blocks.
    Chain,
    /// A chain of 4101-byte records (a 4 KiB block and its 5-byte trailer,
    /// like a RocksDB data block) packed back to back: unaligned windows.
    Records,
    /// A chain of 16 KiB pages at 16 KiB-aligned offsets.
    Pages16k,
    /// A chain of 16 KiB pages each 5 bytes past a 16 KiB boundary.
    Pages16kUnaligned,
}

impl Kind {
    /// Every workload, in the order they run.
    pub const ALL: [Kind; 5] = [
        Kind::Bptree,
        Kind::Chain,
        Kind::Records,
        Kind::Pages16k,
        Kind::Pages16kUnaligned,
    ];

    /// The name in the JSON and on the command line.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Bptree => "bptree",
            Kind::Chain => "chain",
            Kind::Records => "records",
            Kind::Pages16k => "pages16k",
            Kind::Pages16kUnaligned => "pages16k_unaligned",
        }
    }

    /// A chain whose reads are windows of a size of their own (the
    /// storage function is asked for a [`Window`]).
    pub fn windowed(self) -> bool {
        matches!(
            self,
            Kind::Records | Kind::Pages16k | Kind::Pages16kUnaligned
        )
    }
}

/// What the storage-function lookups of a workload did, summed over
/// threads: chains, their reads, and the reads the driver resubmitted.
#[derive(Debug, Default)]
pub struct HopCounts {
    chains: AtomicU64,
    hops: AtomicU64,
    driver_hops: AtomicU64,
}

impl HopCounts {
    fn add(&self, o: &ChainOutcome) {
        self.chains.fetch_add(1, Ordering::Relaxed);
        self.hops.fetch_add(u64::from(o.hops), Ordering::Relaxed);
        self.driver_hops
            .fetch_add(u64::from(o.driver_hops), Ordering::Relaxed);
    }

    /// The counts so far as (chains, hops, driver hops), starting again
    /// from zero.
    pub fn take(&self) -> (u64, u64, u64) {
        (
            self.chains.swap(0, Ordering::Relaxed),
            self.hops.swap(0, Ordering::Relaxed),
            self.driver_hops.swap(0, Ordering::Relaxed),
        )
    }
}

/// What one lookup returns, to check that all ways agree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    Tree(Found),
    Chain(ChainResult),
}

/// A workload: a file on the VM's ext4 and the lookups to do on it.
pub struct Workload {
    pub kind: Kind,
    pub block_size: u32,
    /// Device reads per lookup.
    pub reads: u32,
    pub path: PathBuf,
    sup: Option<bptree::Super>,
    chain_start: u64,
    /// The keys to look up, and the right answers (from the in-memory file).
    pub keys: Vec<u64>,
    pub answers: Vec<Answer>,
    /// Bytes of the file (for the floor's random reads).
    pub file_len: u64,
    /// The user-space ways read whole blocks of this many bytes (1: the
    /// reads are aligned as they are).
    pub align: u64,
    /// What the storage-function lookups did.
    pub counts: HopCounts,
}

impl Workload {
    /// Builds the file for `kind` at `depth` with `block_size` blocks in
    /// `dir`, and `lookups` keys with their answers.
    pub fn create(
        dir: &Path,
        kind: Kind,
        block_size: u32,
        depth: u32,
        lookups: usize,
        seed: u64,
    ) -> Result<Self> {
        let path = dir.join(format!("bench-{kind:?}-{block_size}-{depth}").to_lowercase());
        let mut rng = seed | 1;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        match kind {
            Kind::Bptree => {
                // Fanout 4: depth d holds 4^d keys; every lookup is d node
                // reads and one value-log read.
                let spec = TreeSpec {
                    keys: 4u64.pow(depth),
                    node_size: block_size,
                    shape: Shape::Fanout(4),
                    value_log: true,
                    seed,
                };
                let tree = bptree::build(&spec).map_err(anyhow::Error::msg)?;
                ensure!(
                    tree.sup.depth == depth,
                    "tree of depth {} for {depth}",
                    tree.sup.depth
                );
                let present = bptree::present_keys(&spec);
                let keys: Vec<u64> = (0..lookups)
                    .map(|_| present[(next() % present.len() as u64) as usize])
                    .collect();
                let mut read = memory_reader(&tree.bytes);
                let answers = keys
                    .iter()
                    .map(|&k| bptree::lookup(&mut read, &tree.sup, k).map(Answer::Tree))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(anyhow::Error::msg)?;
                write_file(&path, &tree.bytes, Layout::Contiguous)?;
                Ok(Self {
                    kind,
                    block_size,
                    reads: depth + 1,
                    path,
                    sup: Some(tree.sup),
                    chain_start: 0,
                    keys,
                    answers,
                    file_len: tree.bytes.len() as u64,
                    align: 1,
                    counts: HopCounts::default(),
                })
            }
            Kind::Chain => {
                let spec = ChainSpec {
                    hops: depth,
                    block_size,
                    file_blocks: depth * 64,
                    seed,
                };
                Self::chain(kind, path, &chain::build(&spec), depth, lookups, 1)
            }
            _ => bail!("{kind:?} is built from a slot layout"),
        }
    }

    /// A workload walking the chain of `c` (`depth` blocks), written to
    /// `path` and padded to whole 4 KiB blocks so that the covering reads
    /// of the user-space ways (blocks of `align` bytes) stay in the file.
    pub fn chain(
        kind: Kind,
        path: PathBuf,
        c: &ChainFile,
        depth: u32,
        lookups: usize,
        align: u64,
    ) -> Result<Self> {
        let answer = chain::walk(memory_reader(&c.bytes), c.start, c.block_size, 256)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        ensure!(
            answer.count == u64::from(depth),
            "chain of {} blocks for {depth}",
            answer.count
        );
        let mut bytes = c.bytes.clone();
        bytes.resize(bytes.len().next_multiple_of(4096), 0);
        write_file(&path, &bytes, Layout::Contiguous)?;
        Ok(Self {
            kind,
            block_size: c.block_size,
            reads: depth,
            path,
            sup: None,
            chain_start: c.start,
            keys: vec![0; lookups],
            answers: vec![Answer::Chain(answer); lookups],
            file_len: bytes.len() as u64,
            align,
            counts: HopCounts::default(),
        })
    }

    /// File offset of a chain workload's first block.
    pub fn chain_start(&self) -> u64 {
        self.chain_start
    }

    /// One lookup from user space.
    pub fn lookup_user(&self, reader: &mut dyn Reader, key: u64) -> Result<Answer> {
        let read = |off: u64, buf: &mut [u8]| reader.read(off, buf);
        match self.kind {
            Kind::Bptree => bptree::lookup(read, self.sup.as_ref().unwrap(), key)
                .map(Answer::Tree)
                .map_err(anyhow::Error::msg),
            _ => chain::walk(read, self.chain_start, self.block_size, 256)
                .map(Answer::Chain)
                .map_err(|e| anyhow::anyhow!("{e:?}")),
        }
    }

    /// One lookup with the storage function.
    pub fn lookup_rnvme(&self, tag: &Tag, key: u64, polled: bool) -> Result<Answer> {
        if self.kind == Kind::Bptree {
            let (found, outcome) = tag.lookup(self.sup.as_ref().unwrap(), key, polled)?;
            self.counts.add(&outcome);
            return Ok(Answer::Tree(found));
        }
        let mut scratch = vec![0u8; ChainResult::SIZE];
        let outcome = if self.kind.windowed() {
            let first = Window {
                file: 0,
                offset: self.chain_start,
                len: self.block_size,
            };
            tag.chain(first, &mut scratch, None, polled)?
        } else if polled {
            tag.chain_read_polled(self.chain_start, self.block_size, &mut scratch, None)?
        } else {
            tag.chain_read(self.chain_start, self.block_size, &mut scratch, None)?
        };
        self.counts.add(&outcome);
        Ok(Answer::Chain(ChainResult::from_scratch(&scratch)))
    }

    /// The storage function for this workload.
    pub fn function(&self) -> Result<StorageFunction> {
        Ok(StorageFunction::builtin(match self.kind {
            Kind::Bptree => "bptree",
            _ => "chain",
        })?)
    }

    /// Tags the workload's file with its function.
    pub fn attach<'c>(&self, control: &'c Control, f: &StorageFunction) -> Result<Tag<'c>> {
        let file = File::open(&self.path)?;
        let tag = control.attach(&file, f, 0)?;
        if tag.max_hops() < self.reads {
            bail!("{} reads per lookup exceed the hop limit", self.reads);
        }
        Ok(tag)
    }
}
