// SPDX-License-Identifier: GPL-2.0 OR MIT

//! Tags: files bound to a storage function, and chain reads on them.

use std::{
    fs::File,
    io,
    os::fd::{AsFd, AsRawFd, BorrowedFd},
};

use crate::{
    abi,
    format::{bptree, records},
    sys, Control, Error, Result, StorageFunction, Verdict,
};

/// A file tagged with a storage function through a [`Control`]. Detaches on
/// drop. While it lives, the file cannot be written, truncated or otherwise
/// changed (ETXTBSY).
#[derive(Debug)]
pub struct Tag<'c> {
    control: &'c Control,
    id: u32,
    extents: u32,
    max_hops: u32,
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
}

impl Control {
    /// Tags `file` (open for reading, no writers anywhere) with `function`;
    /// its chains may have at most `max_hops` reads (0: the module's default).
    pub fn attach(
        &self,
        file: &File,
        function: &StorageFunction,
        max_hops: u32,
    ) -> Result<Tag<'_>> {
        self.attach_fds(file.as_fd(), function.as_fd(), max_hops)
    }

    /// [`Control::attach`] with raw descriptors: `prog` may be any program fd
    /// (a pinned one, say); the module checks that it is a storage function.
    pub fn attach_fds(
        &self,
        file: BorrowedFd<'_>,
        prog: BorrowedFd<'_>,
        max_hops: u32,
    ) -> Result<Tag<'_>> {
        let mut args = abi::Attach {
            file_fd: file.as_raw_fd(),
            prog_fd: prog.as_raw_fd(),
            max_hops,
            ..Default::default()
        };
        sys::ioc_attach(self.file(), &mut args).map_err(|cause| Error::Ioctl {
            what: "attach",
            cause,
        })?;
        Ok(Tag {
            control: self,
            id: args.tag,
            extents: args.extents,
            max_hops: if max_hops == 0 {
                abi::DEFAULT_MAX_HOPS
            } else {
                max_hops
            },
        })
    }

    /// Runs a chain on tag number `tag` of this control device: the first read
    /// is `len` bytes at `offset`. `scratch` goes to the function and comes
    /// back as it left it; `out`, if given, receives the last block.
    pub fn chain_read(
        &self,
        tag: u32,
        offset: u64,
        len: u32,
        scratch: &mut [u8],
        out: Option<&mut [u8]>,
    ) -> Result<ChainOutcome> {
        self.chain_read_flags(tag, offset, len, scratch, out, 0)
    }

    /// [`Control::chain_read`] with polled I/O: the reads go to the
    /// namespace's poll queues and the caller's thread polls for their
    /// completions, running the function (see `abi::CHAIN_POLLED`).
    pub fn chain_read_polled(
        &self,
        tag: u32,
        offset: u64,
        len: u32,
        scratch: &mut [u8],
        out: Option<&mut [u8]>,
    ) -> Result<ChainOutcome> {
        self.chain_read_flags(tag, offset, len, scratch, out, abi::CHAIN_POLLED)
    }

    fn chain_read_flags(
        &self,
        tag: u32,
        offset: u64,
        len: u32,
        scratch: &mut [u8],
        out: Option<&mut [u8]>,
        flags: u32,
    ) -> Result<ChainOutcome> {
        let (out_ptr, out_len) = match out {
            Some(o) => (o.as_mut_ptr() as u64, o.len() as u32),
            None => (0, 0),
        };
        let mut args = abi::ChainRead {
            tag,
            flags,
            offset,
            len,
            scratch_len: scratch.len() as u32,
            scratch: scratch.as_mut_ptr() as u64,
            out: out_ptr,
            out_len,
            ..Default::default()
        };
        match sys::ioc_chain_read(self.file(), &mut args) {
            Ok(()) => Ok(ChainOutcome {
                verdict: Verdict::from_raw(args.verdict).unwrap_or(Verdict::Abort),
                hops: args.hops,
                driver_hops: args.driver_hops,
                last_offset: args.last_offset,
                last_len: args.last_len,
            }),
            Err(cause) => Err(Error::Chain {
                hops: args.hops,
                cause,
            }),
        }
    }

    /// The module's counters.
    pub fn stats(&self) -> Result<abi::Stats> {
        sys::ioc_stats(self.file()).map_err(|cause| Error::Ioctl {
            what: "stats",
            cause,
        })
    }

    fn detach(&self, tag: u32) -> io::Result<()> {
        sys::ioc_detach(self.file(), abi::Detach { tag, reserved: 0 })
    }
}

impl Tag<'_> {
    /// The tag's number, valid through its control device only.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Extents in the tagged file's block map (1 for a contiguous file).
    pub fn extents(&self) -> u32 {
        self.extents
    }

    /// See [`Control::chain_read`].
    pub fn chain_read(
        &self,
        offset: u64,
        len: u32,
        scratch: &mut [u8],
        out: Option<&mut [u8]>,
    ) -> Result<ChainOutcome> {
        self.control.chain_read(self.id, offset, len, scratch, out)
    }

    /// See [`Control::chain_read_polled`].
    pub fn chain_read_polled(
        &self,
        offset: u64,
        len: u32,
        scratch: &mut [u8],
        out: Option<&mut [u8]>,
    ) -> Result<ChainOutcome> {
        self.control
            .chain_read_polled(self.id, offset, len, scratch, out)
    }

    /// Reads per chain at most.
    pub fn max_hops(&self) -> u32 {
        self.max_hops
    }

    /// Looks `key` up in the B+-tree `sup` describes (the file must be
    /// tagged with the `bptree` function).
    pub fn lookup(
        &self,
        sup: &bptree::Super,
        key: u64,
        polled: bool,
    ) -> Result<(bptree::Found, ChainOutcome)> {
        let mut scratch = bptree::query(key);
        let read = if polled {
            Control::chain_read_polled
        } else {
            Control::chain_read
        };
        let out = read(
            self.control,
            self.id,
            sup.root,
            sup.node_size,
            &mut scratch,
            None,
        )?;
        Ok((bptree::parse_query(&scratch), out))
    }

    /// Aggregates the records with keys `lo..=hi` in blocks `start..end` of
    /// a record file (tagged with the `scan` function), in chains of at most
    /// [`Tag::max_hops`] blocks; only the aggregate leaves the kernel.
    pub fn scan(
        &self,
        block_size: u32,
        start: u64,
        end: u64,
        lo: u64,
        hi: u64,
    ) -> Result<records::Aggregate> {
        let mut total = records::Aggregate::default();
        let step = u64::from(block_size) * u64::from(self.max_hops);
        let mut at = start;
        while at < end {
            let part_end = end.min(at + step);
            let mut scratch = records::query(lo, hi, part_end);
            self.chain_read(at, block_size, &mut scratch, None)?;
            total.merge(&records::parse_query(&scratch));
            at = part_end;
        }
        Ok(total)
    }

    /// Detaches now, reporting errors (dropping the tag detaches silently).
    pub fn detach(self) -> Result<()> {
        let r = self.control.detach(self.id);
        std::mem::forget(self);
        r.map_err(|cause| Error::Ioctl {
            what: "detach",
            cause,
        })
    }
}

impl Drop for Tag<'_> {
    fn drop(&mut self) {
        let _ = self.control.detach(self.id);
    }
}
