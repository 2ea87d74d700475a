// SPDX-License-Identifier: GPL-2.0 OR MIT

//! `rnvme sqlite`: placeholder, to be written.

use anyhow::{bail, Result};
use clap::Args;

#[derive(Debug, Args)]
pub struct SqliteArgs {}

pub fn run(_device: &std::path::Path, _args: &SqliteArgs) -> Result<()> {
    bail!("not yet")
}
