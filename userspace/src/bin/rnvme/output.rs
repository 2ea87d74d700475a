// SPDX-License-Identifier: GPL-2.0 OR MIT

//! A chain read, a B+-tree lookup, a scan and the module's counters, done
//! on a tag and printed: the same lines for a one-shot command and for an
//! `attach` session.

use anyhow::Result;
use clap::ValueEnum;
use rnvme::{format::bptree, ChainOutcome, Control, Tag};

use crate::args::{hex, parse_hex};

/// How counters are printed.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

fn print_outcome(out: &ChainOutcome) {
    println!(
        "verdict {:?}, {} reads ({} resubmitted by the driver), last read {} B at {}",
        out.verdict, out.hops, out.driver_hops, out.last_len, out.last_offset
    );
}

/// One chain read from `offset`, starting with the scratch `scratch_hex`;
/// prints the outcome and the first `show` bytes of the scratch.
pub fn chain_read(
    tag: &Tag,
    offset: u64,
    len: u32,
    scratch_hex: &str,
    show: u32,
    polled: bool,
) -> Result<()> {
    let mut scratch = parse_hex(scratch_hex)?;
    scratch.resize(scratch.len().max(show as usize), 0);
    let out = if polled {
        tag.chain_read_polled(offset, len, &mut scratch, None)?
    } else {
        tag.chain_read(offset, len, &mut scratch, None)?
    };
    print_outcome(&out);
    println!("scratch {}", hex(&scratch[..show as usize]));
    Ok(())
}

/// One B+-tree lookup per key, a line each.
pub fn lookup(tag: &Tag, sup: &bptree::Super, keys: &[u64], polled: bool) -> Result<()> {
    for &key in keys {
        let (found, out) = tag.lookup(sup, key, polled)?;
        if found.found {
            print!("key {key}: value {} ", found.value);
            if sup.value_log {
                print!("data {} ", hex(&found.data[..16]));
            }
        } else {
            print!("key {key}: not found ");
        }
        println!(
            "({} nodes, {} reads, {} in the driver)",
            found.depth, out.hops, out.driver_hops
        );
    }
    Ok(())
}

/// Aggregates the records with keys in `lo..=hi` of `blocks` blocks from
/// block `first`.
pub fn scan(tag: &Tag, block_size: u32, first: u64, blocks: u64, lo: u64, hi: u64) -> Result<()> {
    let b = u64::from(block_size);
    let a = tag.scan(block_size, first * b, (first + blocks) * b, lo, hi)?;
    println!(
        "{} matching records in {} blocks: sum {}, min {}, max {}",
        a.count, a.blocks, a.sum, a.min, a.max
    );
    Ok(())
}

/// The module's counters.
pub fn stats(control: &Control, format: Format) -> Result<()> {
    let s = control.stats()?;
    let rows = [
        ("chains", s.chains),
        ("done", s.done),
        ("aborts", s.aborts),
        ("errors", s.errors),
        ("hops", s.hops),
        ("driver_hops", s.driver_hops),
        ("process_hops", s.process_hops),
        ("cache_hits", s.cache_hits),
        ("cache_misses", s.cache_misses),
        ("tags", s.tags),
    ];
    match format {
        Format::Table => {
            for (name, v) in rows {
                println!("{name:<14} {v}");
            }
        }
        Format::Json => {
            let map: serde_json::Map<String, serde_json::Value> = rows
                .iter()
                .map(|(k, v)| (k.to_string(), (*v).into()))
                .collect();
            println!("{}", serde_json::Value::Object(map));
        }
    }
    Ok(())
}
