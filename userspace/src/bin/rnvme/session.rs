// SPDX-License-Identifier: GPL-2.0 OR MIT

//! `attach`: a tag kept for a session that reads commands from standard
//! input until `detach` or end of input.

use std::{
    io::BufRead,
    path::{Path, PathBuf},
};

use anyhow::Result;
use clap::{Args, Parser};
use rnvme::{Control, Tag};

use crate::{
    args::{function, open_ro, read_super, FunctionArg},
    output::{self, Format},
};

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// The file to tag (ext4 on NVMe, no writers).
    file: PathBuf,
    #[command(flatten)]
    function: FunctionArg,
    /// Reads per chain at most (1..=256; default 32).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=256))]
    max_hops: u32,
}

/// Commands of an `attach` session, one per line.
#[derive(Debug, Parser)]
#[command(
    no_binary_name = true,
    disable_help_flag = true,
    disable_version_flag = true
)]
enum SessionCommand {
    /// run OFFSET LEN [SCRATCH-HEX]: one chain read.
    Run {
        offset: u64,
        len: u32,
        #[arg(default_value = "")]
        scratch: String,
    },
    /// lookup KEY...: B+-tree lookups (the file must be a tree).
    Lookup { keys: Vec<u64> },
    /// scan BLOCK-SIZE FIRST BLOCKS LO HI: aggregate records.
    Scan {
        block_size: u32,
        first: u64,
        blocks: u64,
        lo: u64,
        hi: u64,
    },
    /// stats: the module's counters.
    Stats,
    /// detach: end the session.
    Detach,
}

/// `rnvme attach`: tags the file, then runs the session.
pub fn attach(device: &Path, a: &AttachArgs) -> Result<()> {
    let control = Control::open(device)?;
    let f = function(&a.function)?;
    let file = open_ro(&a.file)?;
    let tag = control.attach(&file, &f, a.max_hops)?;
    session(&control, &tag, &a.file)
}

fn session(control: &Control, tag: &Tag, file: &Path) -> Result<()> {
    println!(
        "tag {} on {} ({} extents); commands: run OFFSET LEN [SCRATCH-HEX] | lookup KEY... | scan BS FIRST BLOCKS LO HI | stats | detach",
        tag.id(),
        file.display(),
        tag.extents()
    );
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.is_empty() || words[0].starts_with('#') {
            continue;
        }
        let cmd = match SessionCommand::try_parse_from(&words) {
            Ok(c) => c,
            Err(e) => {
                eprintln!(
                    "rnvme: {}",
                    e.render()
                        .to_string()
                        .lines()
                        .next()
                        .unwrap_or("bad command")
                );
                continue;
            }
        };
        let r = match cmd {
            SessionCommand::Run {
                offset,
                len,
                scratch,
            } => output::chain_read(tag, offset, len, &scratch, 32, false),
            SessionCommand::Lookup { keys } => {
                read_super(file).and_then(|sup| output::lookup(tag, &sup, &keys, false))
            }
            SessionCommand::Scan {
                block_size,
                first,
                blocks,
                lo,
                hi,
            } => output::scan(tag, block_size, first, blocks, lo, hi),
            SessionCommand::Stats => output::stats(control, Format::Table),
            SessionCommand::Detach => break,
        };
        if let Err(e) = r {
            eprintln!("rnvme: {e:#}");
        }
    }
    println!("detached tag {}", tag.id());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn session_command_is_well_formed() {
        SessionCommand::command().debug_assert();
    }

    #[test]
    fn session_commands_parse() {
        assert!(matches!(
            SessionCommand::try_parse_from(["lookup", "1", "2"]),
            Ok(SessionCommand::Lookup { .. })
        ));
        assert!(matches!(
            SessionCommand::try_parse_from(["detach"]),
            Ok(SessionCommand::Detach)
        ));
        assert!(SessionCommand::try_parse_from(["run", "x"]).is_err());
    }
}
