// SPDX-License-Identifier: GPL-2.0 OR MIT

//! `mkdb`: build, or with `--verify` check, a file of a built-in format.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use rnvme::format::{
    bptree::{self, Shape, TreeSpec},
    chain::{self, ChainSpec},
    records::{self, RecordSpec},
    verify::{verify_file, Description},
    write_file, Layout,
};

use crate::args::block_size;

#[derive(Debug, Args)]
pub struct MkdbArgs {
    #[command(subcommand)]
    kind: MkdbKind,
    /// Check the file against the description instead of writing it.
    #[arg(long, global = true)]
    verify: bool,
    /// Seed of the contents.
    #[arg(long, global = true, default_value_t = 1)]
    seed: u64,
    /// Lay the file out in many extents on purpose.
    #[arg(long, global = true)]
    fragmented: bool,
}

#[derive(Debug, Subcommand)]
enum MkdbKind {
    /// A chain of linked blocks (for the chain function).
    Chain {
        file: PathBuf,
        /// Blocks in the chain.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=65536))]
        hops: u32,
        #[arg(long, default_value_t = 4096, value_parser = block_size)]
        block_size: u32,
        /// Blocks in the file (default: 4 × hops).
        #[arg(long)]
        file_blocks: Option<u32>,
    },
    /// A B+-tree (for the bptree function).
    Bptree {
        file: PathBuf,
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=(1 << 28)))]
        keys: u64,
        #[arg(long, default_value_t = 4096, value_parser = block_size)]
        node_size: u32,
        /// Levels, leaves included (the fanout follows).
        #[arg(long, conflicts_with = "fanout", value_parser = clap::value_parser!(u32).range(1..=16))]
        depth: Option<u32>,
        /// Children per node (the depth follows).
        #[arg(long)]
        fanout: Option<u32>,
        /// Keep values in a value log (one more read per lookup).
        #[arg(long)]
        value_log: bool,
    },
    /// A record file (for the scan function).
    Records {
        file: PathBuf,
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=(1 << 20)))]
        blocks: u32,
        #[arg(long, default_value_t = 4096, value_parser = block_size)]
        block_size: u32,
        /// Keys are drawn from 0..key-space.
        #[arg(long, default_value_t = 1_000_000)]
        key_space: u64,
    },
}

/// `rnvme mkdb`: writes the described file, or checks it with `--verify`.
pub fn mkdb(args: &MkdbArgs) -> Result<()> {
    let (path, description) = describe(args)?;
    if args.verify {
        verify_file(path, &description)?;
        println!("{}: matches the description", path.display());
        return Ok(());
    }
    let (bytes, what) = build(&description)?;
    let layout = if args.fragmented {
        Layout::Fragmented
    } else {
        Layout::Contiguous
    };
    write_file(path, &bytes, layout).with_context(|| format!("cannot write {}", path.display()))?;
    println!("{}: {what}", path.display());
    Ok(())
}

/// The file the arguments name and what it should hold.
fn describe(args: &MkdbArgs) -> Result<(&Path, Description)> {
    Ok(match &args.kind {
        MkdbKind::Chain {
            file,
            hops,
            block_size,
            file_blocks,
        } => {
            let spec = ChainSpec {
                hops: *hops,
                block_size: *block_size,
                file_blocks: file_blocks.unwrap_or(hops.saturating_mul(4)),
                seed: args.seed,
            };
            if spec.file_blocks < spec.hops {
                bail!("--file-blocks must be at least --hops");
            }
            (file, Description::Chain(spec))
        }
        MkdbKind::Bptree {
            file,
            keys,
            node_size,
            depth,
            fanout,
            value_log,
        } => {
            let shape = match (depth, fanout) {
                (Some(d), None) => Shape::Depth(*d),
                (None, Some(f)) => Shape::Fanout(*f),
                _ => bail!("give --depth or --fanout"),
            };
            let spec = TreeSpec {
                keys: *keys,
                node_size: *node_size,
                shape,
                value_log: *value_log,
                seed: args.seed,
            };
            (file, Description::Bptree(spec))
        }
        MkdbKind::Records {
            file,
            blocks,
            block_size,
            key_space,
        } => {
            let spec = RecordSpec {
                blocks: *blocks,
                block_size: *block_size,
                key_space: *key_space,
                seed: args.seed,
            };
            (file, Description::Records(spec))
        }
    })
}

/// The bytes of the described file, and a line that says what they are.
fn build(description: &Description) -> Result<(Vec<u8>, String)> {
    Ok(match description {
        Description::Chain(spec) => {
            let c = chain::build(spec);
            let what = format!(
                "chain of {} blocks of {} B starting at offset {}",
                spec.hops, spec.block_size, c.start
            );
            (c.bytes, what)
        }
        Description::Bptree(spec) => {
            let t = bptree::build(spec).map_err(anyhow::Error::msg)?;
            let what = format!(
                "B+-tree of {} keys, {} levels, {} B nodes, root at {}",
                t.sup.keys, t.sup.depth, t.sup.node_size, t.sup.root
            );
            (t.bytes, what)
        }
        Description::Records(spec) => {
            let bytes = records::build(spec).map_err(anyhow::Error::msg)?;
            let what = format!("{} record blocks of {} B", spec.blocks, spec.block_size);
            (bytes, what)
        }
    })
}
