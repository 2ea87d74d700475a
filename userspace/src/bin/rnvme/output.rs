// SPDX-License-Identifier: GPL-2.0 OR MIT

//! A chain read, a B+-tree lookup, a scan and the module's counters, done
//! on a tag and printed: the same lines for a one-shot command and for an
//! `attach` session.

use anyhow::Result;
use clap::ValueEnum;
use rnvme::{format::bptree, ChainOutcome, Control, Tag, Window};

use crate::args::{hex, parse_hex};

/// How counters are printed.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

fn print_outcome(out: &ChainOutcome) {
    println!(
        "verdict {:?}, {} reads ({} resubmitted by the driver), last read {} B at {} of file {}",
        out.verdict, out.hops, out.driver_hops, out.last_len, out.last_offset, out.last_file
    );
}

/// One chain read from `first`, starting with the scratch `scratch_hex`;
/// prints the outcome and the first `show` bytes of the scratch.
pub fn chain_read(
    tag: &Tag,
    first: Window,
    scratch_hex: &str,
    show: u32,
    polled: bool,
) -> Result<()> {
    let mut scratch = parse_hex(scratch_hex)?;
    scratch.resize(scratch.len().max(show as usize), 0);
    let out = tag.chain(first, &mut scratch, None, polled)?;
    print_outcome(&out);
    println!("scratch {}", hex(&scratch[..show as usize]));
    Ok(())
}

/// One B+-tree lookup per key, a line each.
/// Looks `keys` up, `depth` at a time (1: a blocking call each).
pub fn lookup(
    tag: &Tag,
    sup: &bptree::Super,
    keys: &[u64],
    polled: bool,
    depth: u32,
) -> Result<()> {
    let answers = if depth > 1 {
        tag.lookup_many(sup, keys, depth, polled)?
    } else {
        keys.iter()
            .map(|&key| tag.lookup(sup, key, polled))
            .collect::<rnvme::Result<Vec<_>>>()?
    };
    for (&key, (found, out)) in keys.iter().zip(answers) {
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

/// The module's counters, and the reads the driver left to the module by
/// reason.
pub fn stats(control: &Control, format: Format) -> Result<()> {
    let m = control.metrics()?;
    let s = &m.stats;
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
    let fallbacks = rnvme::abi::FALLBACKS.iter().zip(m.fallbacks);
    match format {
        Format::Table => {
            for (name, v) in rows {
                println!("{name:<16} {v}");
            }
            for (reason, v) in fallbacks {
                println!("{:<16} {v}", format!("fallback_{reason}"));
            }
        }
        Format::Json => {
            let mut map: serde_json::Map<String, serde_json::Value> = rows
                .iter()
                .map(|(k, v)| (k.to_string(), (*v).into()))
                .collect();
            let by_reason: serde_json::Map<String, serde_json::Value> = fallbacks
                .map(|(reason, v)| (reason.to_string(), v.into()))
                .collect();
            map.insert("fallbacks".into(), by_reason.into());
            println!("{}", serde_json::Value::Object(map));
        }
    }
    Ok(())
}
