// SPDX-License-Identifier: GPL-2.0 OR MIT

//! `rnvme rocksdb`: placeholder, to be written.

use anyhow::{bail, Result};
use clap::Args;

#[derive(Debug, Args)]
pub struct RocksdbArgs {}

pub fn run(_device: &std::path::Path, _args: &RocksdbArgs) -> Result<()> {
    bail!("not yet")
}
