// SPDX-License-Identifier: GPL-2.0 OR MIT

//! `rnvme`: the command-line front end of the rnvme library.

use std::{path::PathBuf, process::ExitCode};

use anyhow::Result;
use clap::{Parser, Subcommand};

/// Load, attach and run rnvme storage functions.
#[derive(Debug, Parser)]
#[command(version, about, propagate_version = true)]
struct Cli {
    /// The rnvme control device.
    #[arg(long, global = true, default_value = rnvme::DEFAULT_DEVICE)]
    device: PathBuf,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Report the loaded module's ABI version and whether BPF works here.
    ///
    /// Example: rnvme status
    Status,
}

fn status(cli: &Cli) -> Result<()> {
    let control = rnvme::Control::open(&cli.device)?;
    let v = control.version();
    println!(
        "module: rnvme_hook ABI {}.{} at {} (this rnvme: ABI {}.{})",
        v.major,
        v.minor,
        cli.device.display(),
        rnvme::abi::ABI_MAJOR,
        rnvme::abi::ABI_MINOR
    );
    match rnvme::bpf_probe() {
        Ok(bpf) => println!(
            "bpf: available, JIT {}",
            match bpf.jit_enabled {
                Some(true) => "on",
                Some(false) => "off",
                None => "unknown",
            }
        ),
        Err(e) => println!("bpf: unavailable: {e}"),
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Status => status(&cli),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rnvme: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn status_parses_with_default_and_custom_device() {
        let cli = Cli::try_parse_from(["rnvme", "status"]).unwrap();
        assert_eq!(cli.device, PathBuf::from("/dev/rnvme"));
        assert!(matches!(cli.command, Command::Status));
        let cli = Cli::try_parse_from(["rnvme", "--device", "/tmp/x", "status"]).unwrap();
        assert_eq!(cli.device, PathBuf::from("/tmp/x"));
    }

    #[test]
    fn unknown_subcommand_is_rejected() {
        assert!(Cli::try_parse_from(["rnvme", "frobnicate"]).is_err());
    }
}
