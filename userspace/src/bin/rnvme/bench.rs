// SPDX-License-Identifier: GPL-2.0 OR MIT

//! `bench`: run `rnvme-bench` beside this binary.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

/// Runs the benchmark with `args`.
pub fn run(args: &[String]) -> Result<()> {
    // The benchmark is its own program (it measures this library from
    // the outside); look for it beside this binary, then on PATH.
    let beside = std::env::current_exe()?.with_file_name("rnvme-bench");
    let program = if beside.exists() {
        beside
    } else {
        PathBuf::from("rnvme-bench")
    };
    let status = std::process::Command::new(&program)
        .args(args)
        .status()
        .with_context(|| {
            format!(
                "cannot run {} (build it with `cargo build --release -p rnvme-bench`)",
                program.display()
            )
        })?;
    if !status.success() {
        bail!("rnvme-bench failed ({status})");
    }
    Ok(())
}
