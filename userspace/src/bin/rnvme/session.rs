// SPDX-License-Identifier: GPL-2.0 OR MIT

//! `attach`: a tag kept for a session that reads commands from standard
//! input until `detach` or end of input.

use std::{
    io::BufRead,
    path::{Path, PathBuf},
};

use anyhow::Result;
use clap::{Args, Parser};
use rnvme::{Control, Tag, Window};

use crate::{
    args::{self, function, open_all, read_super, TagSetArgs},
    output::{self, Format},
};

#[derive(Debug, Args)]
pub struct AttachArgs {
    #[command(flatten)]
    pub set: TagSetArgs,
}

/// Commands of an `attach` session, one per line.
#[derive(Debug, Parser)]
#[command(
    no_binary_name = true,
    disable_help_flag = true,
    disable_version_flag = true
)]
enum SessionCommand {
    /// run OFFSET LEN [SCRATCH-HEX] [--file-index N]: one chain read, from
    /// file N of the set (default 0).
    Run {
        offset: u64,
        #[arg(value_parser = clap::value_parser!(u32).range(1..=65536))]
        len: u32,
        #[arg(default_value = "")]
        scratch: String,
        #[arg(long, default_value_t = 0)]
        file_index: u32,
    },
    /// lookup KEY...: B+-tree lookups (file 0 of the set must be a tree).
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

/// `rnvme attach`: tags the file (or the files, as a tag set), then runs
/// the session.
pub fn attach(device: &Path, a: &AttachArgs) -> Result<()> {
    let control = Control::open(device)?;
    let f = function(&a.set.function)?;
    let files = open_all(&a.set.files)?;
    let tag = args::attach(&control, &a.set.files, &files, &f, a.set.max_hops)?;
    session(&control, &tag, &a.set.files)
}

fn session(control: &Control, tag: &Tag, files: &[PathBuf]) -> Result<()> {
    let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    println!(
        "tag {} on {} ({} files, {} extents); commands: run OFFSET LEN [SCRATCH-HEX] [--file-index N] | lookup KEY... | scan BS FIRST BLOCKS LO HI | stats | detach",
        tag.id(),
        names.join(", "),
        tag.files(),
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
                file_index,
            } => {
                let first = Window {
                    file: file_index,
                    offset,
                    len,
                };
                output::chain_read(tag, first, &scratch, 32, false)
            }
            SessionCommand::Lookup { keys } => {
                read_super(&files[0]).and_then(|sup| output::lookup(tag, &sup, &keys, false, 1))
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
        assert!(SessionCommand::try_parse_from(["run", "0", "0"]).is_err());
        assert!(SessionCommand::try_parse_from(["run", "0", "65537"]).is_err());
        assert!(matches!(
            SessionCommand::try_parse_from(["run", "7", "65536", "--file-index", "3"]),
            Ok(SessionCommand::Run {
                offset: 7,
                len: 65536,
                file_index: 3,
                ..
            })
        ));
    }
}
