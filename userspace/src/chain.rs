// SPDX-License-Identifier: GPL-2.0 OR MIT

//! Chain reads: the first read of a chain (a [`Window`]) and how the chain
//! ended ([`ChainOutcome`]).

use crate::{abi, sys, Control, Error, Result, Verdict};

/// One read of a chain: `len` bytes (1..=[`abi::MAX_WINDOW`]) at byte
/// `offset` (no alignment asked) of file number `file` of the tag set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Window {
    /// Index of the file in the tag set (0 for a tag of one file).
    pub file: u32,
    /// File offset of the first byte.
    pub offset: u64,
    /// Bytes to read.
    pub len: u32,
}

impl Window {
    /// `len` bytes at `offset` of file 0 (the only file of a one-file tag).
    pub fn first(offset: u64, len: u32) -> Self {
        Self {
            file: 0,
            offset,
            len,
        }
    }
}

/// How a successful chain read ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainOutcome {
    /// The function's last verdict ([`Verdict::Done`]).
    pub verdict: Verdict,
    /// Reads done.
    pub hops: u32,
    /// Of those, reads the NVMe driver resubmitted itself.
    pub driver_hops: u32,
    /// File offset of the last read.
    pub last_offset: u64,
    /// Bytes of the last read.
    pub last_len: u32,
    /// Index in the tag set of the file of the last read.
    pub last_file: u32,
}

impl ChainOutcome {
    pub(crate) fn of(args: &abi::ChainRead) -> Self {
        Self {
            verdict: Verdict::from_raw(args.verdict).unwrap_or(Verdict::Abort),
            hops: args.hops,
            driver_hops: args.driver_hops,
            last_offset: args.last_offset,
            last_len: args.last_len,
            last_file: args.last_file,
        }
    }
}

impl Control {
    /// Runs a chain on tag number `tag` of this control device, starting
    /// with the read `first`. `scratch` (at most 4096 bytes) goes to the
    /// function and comes back as it left it; `out`, if given, receives the
    /// bytes of the last read (ENOSPC if they do not fit). With `polled`,
    /// the reads go to the namespace's poll queues and the caller's thread
    /// polls for their completions (see [`abi::CHAIN_POLLED`]).
    pub fn chain(
        &self,
        tag: u32,
        first: Window,
        scratch: &mut [u8],
        out: Option<&mut [u8]>,
        polled: bool,
    ) -> Result<ChainOutcome> {
        let mut args = abi::ChainRead {
            tag,
            flags: if polled { abi::CHAIN_POLLED } else { 0 },
            offset: first.offset,
            len: first.len,
            file: first.file,
            ..Default::default()
        };
        match sys::ioc_chain_read(self.file(), &mut args, scratch, out) {
            Ok(()) => Ok(ChainOutcome::of(&args)),
            Err(cause) => Err(Error::Chain {
                hops: args.hops,
                cause,
            }),
        }
    }

    /// [`Control::chain`] from `len` bytes at `offset` of file 0 of the
    /// set, with interrupts.
    pub fn chain_read(
        &self,
        tag: u32,
        offset: u64,
        len: u32,
        scratch: &mut [u8],
        out: Option<&mut [u8]>,
    ) -> Result<ChainOutcome> {
        self.chain(tag, Window::first(offset, len), scratch, out, false)
    }

    /// [`Control::chain_read`] with polled I/O.
    pub fn chain_read_polled(
        &self,
        tag: u32,
        offset: u64,
        len: u32,
        scratch: &mut [u8],
        out: Option<&mut [u8]>,
    ) -> Result<ChainOutcome> {
        self.chain(tag, Window::first(offset, len), scratch, out, true)
    }
}
