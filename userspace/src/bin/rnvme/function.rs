// SPDX-License-Identifier: GPL-2.0 OR MIT

//! `load`, `test-run`, `headers`: a storage function on its own, without a
//! file tagged.

use std::{
    io::{Read, Seek, SeekFrom},
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};
use clap::Args;

use crate::args::{hex, load, open_ro, parse_hex};

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// A built-in function (chain, bptree, scan) or a BPF object file.
    function: String,
    /// Pin it at this path in a BPF file system.
    #[arg(long)]
    pin: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct TestRunArgs {
    /// A built-in function (chain, bptree, scan) or a BPF object file.
    function: String,
    /// The file to take the block from (read normally).
    #[arg(long)]
    block_file: PathBuf,
    /// Offset of the block in that file; also the function's file offset.
    #[arg(long, default_value_t = 0)]
    offset: u64,
    /// Bytes of the block (1..=65536).
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..=65536))]
    len: u32,
    /// The hop number the function sees.
    #[arg(long, default_value_t = 0)]
    hop: u32,
    /// The scratch to start with, as hex bytes.
    #[arg(long, default_value = "")]
    scratch: String,
    /// Bytes of scratch to print afterwards.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(0..=4096))]
    show: u32,
}

/// `rnvme load`: through the verifier, and pinned if asked.
pub fn run_load(args: &LoadArgs) -> Result<()> {
    let f = load(&args.function)?;
    match &args.pin {
        Some(p) => {
            f.pin(p)?;
            println!("{}: loaded, pinned at {}", f.name(), p.display());
        }
        None => println!(
            "{}: loaded (the verifier accepted it); unloaded again without --pin",
            f.name()
        ),
    }
    Ok(())
}

/// `rnvme test-run`: the function once on a block read from a file.
pub fn test_run(args: &TestRunArgs) -> Result<()> {
    let f = load(&args.function)?;
    let mut file = open_ro(&args.block_file)?;
    let mut block = vec![0u8; args.len as usize];
    file.seek(SeekFrom::Start(args.offset))?;
    file.read_exact(&mut block).with_context(|| {
        format!(
            "{}: no {} bytes at {}",
            args.block_file.display(),
            args.len,
            args.offset
        )
    })?;
    let mut scratch = parse_hex(&args.scratch)?;
    scratch.resize(scratch.len().max(args.show as usize), 0);
    let r = f.test_run(&block, args.offset, args.hop, &mut scratch)?;
    match r.verdict {
        Some(rnvme::Verdict::Next) => {
            println!(
                "verdict Next: read {} B at {} of file {}",
                r.next_len, r.next_offset, r.next_file
            )
        }
        Some(v) => println!("verdict {v:?}"),
        None => println!("return value {} (not a verdict)", r.retval),
    }
    println!("scratch {}", hex(&scratch[..args.show as usize]));
    Ok(())
}

/// `rnvme headers`: the headers to compile a function against, under `out`.
pub fn headers(out: &Path) -> Result<()> {
    for (rel, text) in rnvme::headers() {
        let path = out.join(rel);
        std::fs::create_dir_all(path.parent().unwrap())
            .and_then(|()| std::fs::write(&path, text))
            .with_context(|| format!("cannot write {}", path.display()))?;
        println!("{}", path.display());
    }
    Ok(())
}
