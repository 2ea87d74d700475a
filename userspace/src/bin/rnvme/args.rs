// SPDX-License-Identifier: GPL-2.0 OR MIT

//! What the arguments of several commands name, parsed: a block size, a
//! scratch in hex, a storage function, a file to read, files to tag.

use std::{
    fs::File,
    io::Read,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};
use clap::Args;
use rnvme::{format::bptree, Control, StorageFunction, Tag};

/// Which storage function to use.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct FunctionArg {
    /// A built-in function (chain, bptree, scan) or a BPF object file.
    #[arg(long)]
    pub function: Option<String>,
    /// A function pinned with `rnvme load --pin`.
    #[arg(long)]
    pub pinned: Option<PathBuf>,
}

/// The files to tag and how: the arguments of `run` and `attach`.
#[derive(Debug, Args)]
pub struct TagSetArgs {
    /// The file to tag (ext4 on NVMe, no writers), or up to 64 files to tag
    /// together as a tag set: file index i of the set is the i-th given.
    #[arg(required = true, num_args = 1..=64, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub function: FunctionArg,
    /// Reads per chain at most (1..=256; default 32).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=256))]
    pub max_hops: u32,
}

/// Tags `files` (opened from `paths`, in order) with `f`: one file alone,
/// several as a tag set. A file the module refuses is named by its path.
pub fn attach<'c>(
    control: &'c Control,
    paths: &[PathBuf],
    files: &[File],
    f: &StorageFunction,
    max_hops: u32,
) -> Result<Tag<'c>> {
    if let [file] = files {
        return Ok(control.attach(file, f, max_hops)?);
    }
    let set: Vec<&File> = files.iter().collect();
    control.attach_set(&set, f, max_hops).map_err(|e| {
        let refused = match &e {
            rnvme::Error::AttachSet { failed, .. } => paths.get(*failed as usize),
            _ => None,
        };
        match refused {
            Some(path) => anyhow::Error::new(e).context(path.display().to_string()),
            None => e.into(),
        }
    })
}

/// `--block-size`, `--node-size`: 512 or 4096.
pub fn block_size(s: &str) -> Result<u32, String> {
    match s.parse() {
        Ok(b @ (512 | 4096)) => Ok(b),
        _ => Err("must be 512 or 4096".into()),
    }
}

/// A scratch given as hex bytes.
pub fn parse_hex(s: &str) -> Result<Vec<u8>> {
    let s = s.trim();
    if !s.len().is_multiple_of(2) || s.len() > 8192 {
        bail!("scratch must be an even number of hex digits, at most 4096 bytes");
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&s[i..i + 2], 16)
                .with_context(|| format!("bad hex {:?} in the scratch", &s[i..i + 2]))
        })
        .collect()
}

/// Bytes as hex, the way a scratch is printed.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The function `--function` or `--pinned` names.
pub fn function(arg: &FunctionArg) -> Result<StorageFunction> {
    match (&arg.function, &arg.pinned) {
        (Some(f), _) => load(f),
        (None, Some(p)) => Ok(StorageFunction::from_pinned(p)?),
        (None, None) => bail!("give --function NAME or --pinned PATH"),
    }
}

/// Loads a built-in function by name, or a BPF object file.
pub fn load(name: &str) -> Result<StorageFunction> {
    if rnvme::builtin_functions().any(|b| b == name) {
        return Ok(StorageFunction::builtin(name)?);
    }
    let path = Path::new(name);
    if !path.exists() {
        bail!(
            "{name}: neither a built-in function ({}) nor a file",
            rnvme::builtin_functions().collect::<Vec<_>>().join(", ")
        );
    }
    Ok(StorageFunction::from_file(path)?)
}

pub fn open_ro(path: &Path) -> Result<File> {
    File::open(path).with_context(|| format!("cannot open {}", path.display()))
}

/// Opens every file of `paths` for reading, in order.
pub fn open_all(paths: &[PathBuf]) -> Result<Vec<File>> {
    paths.iter().map(|p| open_ro(p)).collect()
}

/// The superblock of a B+-tree file.
pub fn read_super(path: &Path) -> Result<bptree::Super> {
    let mut head = [0u8; 32];
    open_ro(path)?
        .read_exact(&mut head)
        .with_context(|| format!("{}: too short for a B+-tree", path.display()))?;
    bptree::Super::parse(&head).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_scratch_round_trips_and_rejects_garbage() {
        assert_eq!(parse_hex("00ff10").unwrap(), vec![0, 255, 16]);
        assert_eq!(hex(&[0, 255, 16]), "00ff10");
        assert!(parse_hex("abc").is_err());
        assert!(parse_hex("zz").is_err());
    }
}
