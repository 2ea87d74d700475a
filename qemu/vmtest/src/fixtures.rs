// SPDX-License-Identifier: GPL-2.0 OR MIT

//! The `bpf/tests` fixture programs and the blocks and scratches they read
//! (the `jump` and `windows` fixtures' scratch layouts mirrored here),
//! test files written one way or the other, and the host's settings on the
//! kernel command line.

use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};
use rnvme::{
    format::chain::{self, ChainSpec},
    uapi::RNVME_SCRATCH_SIZE,
    StorageFunction, Window,
};

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

/// Windows the scratch of the `windows` fixture (`bpf/tests/windows.h`)
/// lists at most (`WINDOWS_MAX`): a header of `count` and `visited` (u32
/// each), then per window its `offset` (u64), `len` and `file` (u32 each)
/// and the fixture's `head` and `tail` samples (8 bytes each).
pub const WINDOWS_MAX: usize = 127;
const WINDOWS_HEADER: usize = 8;
const WINDOWS_ENTRY: usize = 32;
const _: () = assert!(WINDOWS_HEADER + WINDOWS_MAX * WINDOWS_ENTRY <= RNVME_SCRATCH_SIZE as usize);
/// What a sample holds before the fixture writes it, and `out` before the
/// kernel does.
pub const UNWRITTEN: u8 = 0xee;

/// Where in a window of `len` bytes the fixture takes its tail sample: 8
/// bytes from the end, but at most `WINDOWS_TAIL_MAX` (0xfff0) bytes in.
pub fn windows_tail(len: u32) -> usize {
    len.saturating_sub(8).min(0xfff0) as usize
}

/// The scratch of a chain of the `windows` fixture that visits `list`.
pub fn windows_scratch(list: &[Window]) -> Vec<u8> {
    assert!((1..=WINDOWS_MAX).contains(&list.len()), "1 to 127 windows");
    let mut s = vec![UNWRITTEN; WINDOWS_HEADER + list.len() * WINDOWS_ENTRY];
    s[0..4].copy_from_slice(&(list.len() as u32).to_le_bytes());
    s[4..8].fill(0);
    for (w, e) in list
        .iter()
        .zip(s[WINDOWS_HEADER..].chunks_mut(WINDOWS_ENTRY))
    {
        e[0..8].copy_from_slice(&w.offset.to_le_bytes());
        e[8..12].copy_from_slice(&w.len.to_le_bytes());
        e[12..16].copy_from_slice(&w.file.to_le_bytes());
    }
    s
}

/// The scratch as the `windows` fixture leaves it once it has seen the
/// first `visited` windows of `list`, whose bytes `bytes` gives.
pub fn windows_seen<'a>(
    list: &[Window],
    visited: usize,
    bytes: impl Fn(&Window) -> &'a [u8],
) -> Vec<u8> {
    let mut s = windows_scratch(list);
    s[4..8].copy_from_slice(&(visited as u32).to_le_bytes());
    for (w, e) in list[..visited]
        .iter()
        .zip(s[WINDOWS_HEADER..].chunks_mut(WINDOWS_ENTRY))
    {
        let b = bytes(w);
        let head = &b[..b.len().min(8)];
        let tail = &b[windows_tail(w.len)..][..head.len()];
        e[16..16 + head.len()].copy_from_slice(head);
        e[24..24 + tail.len()].copy_from_slice(tail);
    }
    s
}

/// How many windows the `windows` fixture says it saw.
pub fn windows_visited(scratch: &[u8]) -> u32 {
    u32::from_le_bytes(scratch[4..8].try_into().unwrap())
}

/// Entry `i` of a `windows` scratch.
pub fn windows_entry(scratch: &[u8], i: usize) -> &[u8] {
    &scratch[WINDOWS_HEADER + i * WINDOWS_ENTRY..][..WINDOWS_ENTRY]
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

/// A chain of `spec` written contiguously to a fresh `name` under
/// `mount`: its path and first block's offset.
pub fn write_chain(mount: &str, name: &str, spec: &ChainSpec) -> Result<(PathBuf, u64)> {
    let file = chain::build(spec);
    let path = files::fresh(mount, name);
    files::write_contiguous(&path, &file.bytes)?;
    Ok((path, file.start))
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
