// SPDX-License-Identifier: GPL-2.0 OR MIT

//! `run`, `lookup`, `scan`: tag a file (or, for `run`, a tag set), do one
//! chain read (or a lookup per key, or a scan), print, detach.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use clap::Args;
use rnvme::{Control, StorageFunction, Window};

use crate::{
    args::{attach, block_size, function, open_all, open_ro, read_super, TagSetArgs},
    output,
};

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub set: TagSetArgs,
    #[command(flatten)]
    pub read: ReadArgs,
}

/// The first read of a chain and what to print.
#[derive(Debug, Args, Clone)]
pub struct ReadArgs {
    /// Index in the tag set of the file of the first read.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..64))]
    pub file_index: u32,
    /// File offset of the first read (any byte offset).
    #[arg(long)]
    pub offset: u64,
    /// Bytes of the first read (1..=65536).
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub len: u32,
    /// The scratch to start with, as hex bytes (the rest is zero).
    #[arg(long, default_value = "")]
    pub scratch: String,
    /// Bytes of scratch to print afterwards.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(0..=4096))]
    pub show: u32,
    /// Submit polled reads (needs NVMe poll queues).
    #[arg(long)]
    pub polled: bool,
}

#[derive(Debug, Args)]
pub struct LookupArgs {
    /// A B+-tree file built by `rnvme mkdb bptree`.
    pub file: PathBuf,
    /// Keys to look up.
    #[arg(required = true)]
    pub keys: Vec<u64>,
    /// Use a pinned function instead of the built-in bptree.
    #[arg(long)]
    pub pinned: Option<PathBuf>,
    /// Submit polled reads (needs NVMe poll queues).
    #[arg(long)]
    pub polled: bool,
    /// Lookups in flight at once: N > 1 runs the keys' chains through one
    /// io_uring ring, N at a time, from one thread (1: a blocking call per
    /// key).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub queue_depth: u32,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// A record file built by `rnvme mkdb records`.
    file: PathBuf,
    /// Block size the file was built with.
    #[arg(long, value_parser = block_size)]
    block_size: u32,
    /// First block to scan.
    #[arg(long, default_value_t = 0)]
    first: u64,
    /// Blocks to scan (default: to the end of the file).
    #[arg(long)]
    blocks: Option<u64>,
    /// Smallest matching key.
    #[arg(long, default_value_t = 0)]
    lo: u64,
    /// Largest matching key.
    #[arg(long, default_value_t = u64::MAX)]
    hi: u64,
}

/// `rnvme run`: one chain read.
pub fn run(device: &Path, a: &RunArgs) -> Result<()> {
    let control = Control::open(device)?;
    let f = function(&a.set.function)?;
    let files = open_all(&a.set.files)?;
    let tag = attach(&control, &a.set.files, &files, &f, a.set.max_hops)?;
    let r = &a.read;
    let first = Window {
        file: r.file_index,
        offset: r.offset,
        len: r.len,
    };
    output::chain_read(&tag, first, &r.scratch, r.show, r.polled)
}

/// `rnvme lookup`: B+-tree lookups with the built-in or a pinned function.
pub fn lookup(device: &Path, a: &LookupArgs) -> Result<()> {
    let control = Control::open(device)?;
    let sup = read_super(&a.file)?;
    let f = match &a.pinned {
        Some(p) => StorageFunction::from_pinned(p)?,
        None => StorageFunction::builtin("bptree")?,
    };
    let file = open_ro(&a.file)?;
    let tag = control.attach(&file, &f, 0)?;
    output::lookup(&tag, &sup, &a.keys, a.polled, a.queue_depth)
}

/// `rnvme scan`: aggregate records in the kernel.
pub fn scan(device: &Path, a: &ScanArgs) -> Result<()> {
    let control = Control::open(device)?;
    let file = open_ro(&a.file)?;
    let size = file.metadata()?.len();
    let b = u64::from(a.block_size);
    let blocks = a.blocks.unwrap_or((size / b).saturating_sub(a.first));
    if blocks == 0 || (a.first + blocks) * b > size {
        bail!(
            "{}: blocks {}..{} are not all in the file",
            a.file.display(),
            a.first,
            a.first + blocks
        );
    }
    let tag = control.attach(&file, &StorageFunction::builtin("scan")?, 0)?;
    output::scan(&tag, a.block_size, a.first, blocks, a.lo, a.hi)
}
