// SPDX-License-Identifier: GPL-2.0 OR MIT

//! The ways to do one lookup, and the workloads they run on.
//!
//! The user-space paths run the very reference walks of the library
//! (`format::bptree::lookup`, `format::chain::walk`) with a read backend:
//! `pread(O_DIRECT)` or one io_uring SQE per hop (submit, wait, like XRP's
//! baseline). The storage-function paths do the same lookup with one ioctl.

use std::{
    fs::{File, OpenOptions},
    os::{
        fd::AsRawFd,
        unix::fs::{FileExt, OpenOptionsExt},
    },
    path::{Path, PathBuf},
};

use anyhow::{bail, ensure, Context, Result};
use io_uring::{opcode, types, IoUring};
use rnvme::{
    format::{
        bptree::{self, Found, Shape, TreeSpec},
        chain::{self, ChainResult, ChainSpec},
        memory_reader, write_file, Layout,
    },
    Control, StorageFunction, Tag,
};
use serde::{Deserialize, Serialize};

/// How a lookup is done.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Way {
    /// `pread` with O_DIRECT per hop, from user space.
    Pread,
    /// One io_uring read per hop, submitted and waited for, from user space.
    IoUring,
    /// The storage function: one ioctl, hops resubmitted in the driver.
    Rnvme,
    /// The same with polled reads on the NVMe poll queues.
    RnvmePolled,
}

impl Way {
    pub const ALL: [Way; 4] = [Way::Pread, Way::IoUring, Way::Rnvme, Way::RnvmePolled];

    /// System calls per lookup of `reads` reads (counted: what the path
    /// itself calls, per lookup).
    pub fn syscalls(self, reads: u32) -> u32 {
        match self {
            Way::Pread | Way::IoUring => reads,
            Way::Rnvme | Way::RnvmePolled => 1,
        }
    }
}

/// A 4 KiB-aligned buffer for O_DIRECT.
pub struct Aligned {
    buf: Vec<u8>,
    start: usize,
}

impl Aligned {
    pub fn new() -> Self {
        let buf = vec![0u8; 8192];
        let start = buf.as_ptr().align_offset(4096);
        Self { buf, start }
    }

    pub fn get(&mut self, len: usize) -> &mut [u8] {
        &mut self.buf[self.start..self.start + len]
    }
}

/// A user-space read backend.
pub trait Reader {
    /// Reads `buf.len()` bytes at `offset` (O_DIRECT).
    fn read(&mut self, offset: u64, buf: &mut [u8]) -> bool;
}

fn open_direct(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
        .with_context(|| format!("open {} O_DIRECT", path.display()))
}

pub struct PreadReader {
    file: File,
    buf: Aligned,
}

impl PreadReader {
    pub fn new(path: &Path) -> Result<Self> {
        Ok(Self {
            file: open_direct(path)?,
            buf: Aligned::new(),
        })
    }
}

impl Reader for PreadReader {
    fn read(&mut self, offset: u64, buf: &mut [u8]) -> bool {
        let b = self.buf.get(buf.len());
        if self.file.read_exact_at(b, offset).is_err() {
            return false;
        }
        buf.copy_from_slice(b);
        true
    }
}

/// io_uring, one SQE per read; `polled` sets up an IOPOLL ring (the device
/// floor: completions polled on an NVMe poll queue).
pub struct UringReader {
    ring: IoUring,
    file: File,
    buf: Aligned,
    /// Why the last failed read failed.
    pub last_error: Option<std::io::Error>,
}

impl UringReader {
    pub fn new(path: &Path, polled: bool) -> Result<Self> {
        let mut builder = IoUring::builder();
        if polled {
            builder.setup_iopoll();
        }
        Ok(Self {
            ring: builder.build(8).context("io_uring setup")?,
            file: open_direct(path)?,
            buf: Aligned::new(),
            last_error: None,
        })
    }
}

impl Reader for UringReader {
    /// Retries a read the kernel answered with EAGAIN (an IOPOLL read that
    /// could not be issued without blocking), a few times.
    fn read(&mut self, offset: u64, buf: &mut [u8]) -> bool {
        for _ in 0..8 {
            if self.read_once(offset, buf) {
                return true;
            }
            if self
                .last_error
                .as_ref()
                .and_then(std::io::Error::raw_os_error)
                != Some(libc::EAGAIN)
            {
                return false;
            }
        }
        false
    }
}

impl UringReader {
    fn read_once(&mut self, offset: u64, buf: &mut [u8]) -> bool {
        let b = self.buf.get(buf.len());
        let sqe = opcode::Read::new(
            types::Fd(self.file.as_raw_fd()),
            b.as_mut_ptr(),
            b.len() as u32,
        )
        .offset(offset)
        .build();
        // SAFETY: `b` stays valid and unused until the completion is reaped
        // below (we wait for it before touching the buffer again).
        if unsafe { self.ring.submission().push(&sqe) }.is_err() {
            return false;
        }
        if let Err(e) = self.ring.submit_and_wait(1) {
            self.last_error = Some(e);
            return false;
        }
        // A polled ring may return before the read completed (the kernel
        // stops polling when it should reschedule): wait again, as liburing
        // does.
        let mut waits = 0;
        let cqe = loop {
            if let Some(cqe) = self.ring.completion().next() {
                break cqe;
            }
            waits += 1;
            if waits > 100_000 {
                self.last_error = Some(std::io::Error::other("no completion"));
                return false;
            }
            if let Err(e) = self.ring.submit_and_wait(1) {
                self.last_error = Some(e);
                return false;
            }
        };
        if cqe.result() != buf.len() as i32 {
            self.last_error = Some(if cqe.result() < 0 {
                std::io::Error::from_raw_os_error(-cqe.result())
            } else {
                std::io::Error::other(format!("short read: {} bytes", cqe.result()))
            });
            return false;
        }
        buf.copy_from_slice(b);
        true
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
                })
            }
            Kind::Chain => {
                let spec = ChainSpec {
                    hops: depth,
                    block_size,
                    file_blocks: depth * 64,
                    seed,
                };
                let c = chain::build(&spec);
                let answer = chain::walk(memory_reader(&c.bytes), c.start, block_size, 256)
                    .map_err(|e| anyhow::anyhow!("{e:?}"))?;
                write_file(&path, &c.bytes, Layout::Contiguous)?;
                Ok(Self {
                    kind,
                    block_size,
                    reads: depth,
                    path,
                    sup: None,
                    chain_start: c.start,
                    keys: vec![0; lookups],
                    answers: vec![Answer::Chain(answer); lookups],
                    file_len: c.bytes.len() as u64,
                })
            }
        }
    }

    /// One lookup from user space.
    pub fn lookup_user(&self, reader: &mut dyn Reader, key: u64) -> Result<Answer> {
        let read = |off: u64, buf: &mut [u8]| reader.read(off, buf);
        match self.kind {
            Kind::Bptree => bptree::lookup(read, self.sup.as_ref().unwrap(), key)
                .map(Answer::Tree)
                .map_err(anyhow::Error::msg),
            Kind::Chain => chain::walk(read, self.chain_start, self.block_size, 256)
                .map(Answer::Chain)
                .map_err(|e| anyhow::anyhow!("{e:?}")),
        }
    }

    /// One lookup with the storage function.
    pub fn lookup_rnvme(&self, tag: &Tag, key: u64, polled: bool) -> Result<Answer> {
        match self.kind {
            Kind::Bptree => Ok(Answer::Tree(
                tag.lookup(self.sup.as_ref().unwrap(), key, polled)?.0,
            )),
            Kind::Chain => {
                let mut scratch = vec![0u8; ChainResult::SIZE];
                if polled {
                    tag.chain_read_polled(self.chain_start, self.block_size, &mut scratch, None)?;
                } else {
                    tag.chain_read(self.chain_start, self.block_size, &mut scratch, None)?;
                }
                Ok(Answer::Chain(ChainResult::from_scratch(&scratch)))
            }
        }
    }

    /// The storage function for this workload.
    pub fn function(&self) -> Result<StorageFunction> {
        Ok(StorageFunction::builtin(match self.kind {
            Kind::Bptree => "bptree",
            Kind::Chain => "chain",
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
