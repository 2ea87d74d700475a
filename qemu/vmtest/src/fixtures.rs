// SPDX-License-Identifier: GPL-2.0 OR MIT

//! The `bpf/tests` fixture programs and the blocks and scratches they read,
//! test files written one way or the other, and the host's settings on the
//! kernel command line.

use std::{fs, path::Path};

use anyhow::{Context, Result};
use rnvme::StorageFunction;

use crate::files;

/// The scratch of the `jump` fixture (`bpf/tests/jump.bpf.c`): on every hop
/// below `hops` read `len` bytes at `target`; it records the first 8 bytes
/// of each block it sees from byte 16 on.
pub fn jump_scratch(target: u64, len: u32, hops: u32) -> Vec<u8> {
    let mut s = vec![0u8; 16 + 64 * 8];
    s[0..8].copy_from_slice(&target.to_le_bytes());
    s[8..12].copy_from_slice(&len.to_le_bytes());
    s[12..16].copy_from_slice(&hops.to_le_bytes());
    s
}

/// Loads the fixture program `name` (`bpf/tests/NAME.bpf.c`).
pub fn fixture(name: &str) -> Result<StorageFunction> {
    let object = rnvme::fixture(name).with_context(|| format!("no fixture {name}"))?;
    Ok(StorageFunction::from_object(name, object)?)
}

/// A 512 B block of the `chain` format (`rnvme::format::chain`).
pub fn chain_block(magic: u64, next: u64, value: u64, index: u32) -> Vec<u8> {
    let mut b = vec![0u8; 512];
    b[0..8].copy_from_slice(&magic.to_le_bytes());
    b[8..16].copy_from_slice(&next.to_le_bytes());
    b[16..24].copy_from_slice(&value.to_le_bytes());
    b[24..28].copy_from_slice(&index.to_le_bytes());
    b[28..32].copy_from_slice(&512u32.to_le_bytes());
    b
}

/// Writes `bytes` contiguously or fragmented.
pub fn write_test_file(path: &Path, bytes: &[u8], fragmented: bool) -> Result<()> {
    if fragmented {
        files::write_fragmented(path, bytes)
    } else {
        files::write_contiguous(path, bytes)
    }
}

/// The value of `NAME=` on the kernel command line (the host passes the
/// test setup there, e.g. `rnvme.fault_sector`).
pub fn cmdline(name: &str) -> Option<String> {
    let c = fs::read_to_string("/proc/cmdline").ok()?;
    c.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{name}=")).map(str::to_string))
}
