// SPDX-License-Identifier: GPL-2.0 OR MIT

//! `update`: new values for existing keys of a B+-tree file, written by
//! copy-on-write so that readers racing it see the old tree or the new one.

use std::{collections::HashMap, path::PathBuf};

use anyhow::{bail, Result};
use clap::Args;
use rnvme::format::{
    bptree::{self, Appended, NewValue, Options, Writer},
    memory_reader,
    verify::check_tree_file,
};

use crate::args::hex;

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// A B+-tree file built by `rnvme mkdb bptree` (it may be tagged: lookups
    /// racing the update find the old or the new value).
    file: PathBuf,
    /// A key to update (it must be in the tree); give it again for more.
    #[arg(long = "key", value_name = "KEY", required_unless_present_any = ["count", "verify"])]
    keys: Vec<u64>,
    /// Update this many keys drawn at random (repeats allowed) from the
    /// tree's keys, from --seed.
    #[arg(long, conflicts_with = "keys", value_parser = clap::value_parser!(u64).range(1..=(1 << 24)))]
    count: Option<u64>,
    /// Seed of the keys --count draws.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Seed of the new values: each a function of its key and this seed.
    #[arg(long, default_value_t = 1)]
    value_seed: u64,
    /// Keys per superblock switch (0: all in one).
    #[arg(long, default_value_t = 0)]
    batch: usize,
    /// Write through the page cache, not with O_DIRECT (for file systems
    /// that refuse O_DIRECT, such as tmpfs).
    #[arg(long)]
    buffered: bool,
    /// Afterwards, check the tree's structure and read each updated key
    /// back with the user-space reference lookup (alone: only check; `mkdb
    /// --verify` refuses an updated tree, which no longer equals a fresh
    /// build).
    #[arg(long)]
    verify: bool,
}

/// `rnvme update`: applies the updates in batches and says what it wrote.
pub fn update(a: &UpdateArgs) -> Result<()> {
    let keys = match a.count {
        Some(n) => bptree::sample(&check_tree_file(&a.file)?, n as usize, a.seed),
        None if a.keys.is_empty() => return read_back(a, &[]),
        None => a.keys.clone(),
    };
    let options = Options {
        direct: !a.buffered,
    };
    let mut writer = Writer::open(&a.file, options)?;
    let old_root = writer.superblock().root;
    let log = writer.superblock().value_log;
    let updates: Vec<(u64, NewValue)> = keys
        .iter()
        .map(|&k| (k, NewValue::seeded(log, k, a.value_seed)))
        .collect();
    let per_batch = if a.batch == 0 { updates.len() } else { a.batch };
    for batch in updates.chunks(per_batch) {
        writer.update_many(batch)?;
    }
    if a.count.is_none() {
        for (key, value) in &updates {
            match value {
                NewValue::Inline(v) => println!("key {key}: value {v}"),
                NewValue::Record(data) => println!("key {key}: data {}", hex(&data[..16])),
            }
        }
    }
    let Appended {
        switches,
        updates: n,
        nodes,
        log_blocks,
        bytes,
    } = writer.appended();
    println!(
        "{}: {n} updates in {switches} superblock switches: appended {nodes} nodes, \
         {log_blocks} value-log blocks, {bytes} B; root {old_root} -> {}",
        a.file.display(),
        writer.superblock().root
    );
    if a.verify {
        read_back(a, &updates)?;
    }
    Ok(())
}

/// Checks the file's structure and that each key has its last new value.
fn read_back(a: &UpdateArgs, updates: &[(u64, NewValue)]) -> Result<()> {
    let tree_keys = check_tree_file(&a.file)?.len();
    let bytes = std::fs::read(&a.file)?;
    // A key's last update is the one to read back.
    let last: HashMap<u64, NewValue> = updates.iter().copied().collect();
    for (key, value) in last {
        let found =
            bptree::lookup_current(memory_reader(&bytes), key).map_err(anyhow::Error::msg)?;
        if !value.matches(&found) {
            bail!("key {key}: read back {found:?}, not the new value");
        }
    }
    let read = if updates.is_empty() {
        ""
    } else {
        ", every update read back"
    };
    println!("{}: well-formed ({tree_keys} keys){read}", a.file.display());
    Ok(())
}
