// SPDX-License-Identifier: GPL-2.0 OR MIT

//! Tags: files bound to a storage function (alone, or several together as a
//! tag set), and chain reads on them.

use std::{
    fs::File,
    io,
    os::fd::{AsFd, AsRawFd, BorrowedFd},
};

use crate::{
    abi,
    format::{bptree, records},
    sys, ChainOutcome, ChainRequest, ChainRing, Control, Error, Result, StorageFunction, Window,
};

/// A file, or a set of files, tagged with a storage function through a
/// [`Control`]. Detaches on drop. Its files may be written, truncated and
/// remapped meanwhile: each read of a chain returns what an O_DIRECT read
/// of its range would at that moment.
#[derive(Debug)]
pub struct Tag<'c> {
    control: &'c Control,
    id: u32,
    extents: u32,
    files: u32,
    max_hops: u32,
}

impl Control {
    /// Tags `file` (open for reading, no writers anywhere) with `function`,
    /// as a tag set of one file; its chains may have at most `max_hops`
    /// reads (0: the module's default).
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
        Ok(Tag::new(self, args.tag, args.extents, 1, max_hops))
    }

    /// Tags `files` (1..=[`abi::MAX_FILES`], each as [`Control::attach`]
    /// asks) together with `function`, as one tag: a chain names a file by
    /// its index in `files`. A refusal of one file refuses the set
    /// ([`Error::AttachSet`] names it).
    pub fn attach_set(
        &self,
        files: &[&File],
        function: &StorageFunction,
        max_hops: u32,
    ) -> Result<Tag<'_>> {
        let fds: Vec<BorrowedFd<'_>> = files.iter().map(|f| f.as_fd()).collect();
        self.attach_set_fds(&fds, function.as_fd(), max_hops)
    }

    /// [`Control::attach_set`] with raw descriptors (see
    /// [`Control::attach_fds`]).
    pub fn attach_set_fds(
        &self,
        files: &[BorrowedFd<'_>],
        prog: BorrowedFd<'_>,
        max_hops: u32,
    ) -> Result<Tag<'_>> {
        let fds: Vec<i32> = files.iter().map(|f| f.as_raw_fd()).collect();
        let mut args = abi::AttachSet {
            prog_fd: prog.as_raw_fd(),
            max_hops,
            // Stays so unless the module names a file it refused.
            failed: u32::MAX,
            ..Default::default()
        };
        sys::ioc_attach_set(self.file(), &mut args, &fds).map_err(|cause| {
            if args.failed < args.nr_files {
                Error::AttachSet {
                    failed: args.failed,
                    cause,
                }
            } else {
                Error::Ioctl {
                    what: "attach set",
                    cause,
                }
            }
        })?;
        Ok(Tag::new(
            self,
            args.tag,
            args.extents,
            args.nr_files,
            max_hops,
        ))
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

impl<'c> Tag<'c> {
    fn new(control: &'c Control, id: u32, extents: u32, files: u32, max_hops: u32) -> Self {
        Self {
            control,
            id,
            extents,
            files,
            max_hops: if max_hops == 0 {
                abi::DEFAULT_MAX_HOPS
            } else {
                max_hops
            },
        }
    }

    /// The control device the tag belongs to.
    pub fn control(&self) -> &'c Control {
        self.control
    }

    /// The tag's number, valid through its control device only.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Extents in the tagged files' block maps, summed (1 for one
    /// contiguous file).
    pub fn extents(&self) -> u32 {
        self.extents
    }

    /// Files in the tag set.
    pub fn files(&self) -> u32 {
        self.files
    }

    /// See [`Control::chain`].
    pub fn chain(
        &self,
        first: Window,
        scratch: &mut [u8],
        out: Option<&mut [u8]>,
        polled: bool,
    ) -> Result<ChainOutcome> {
        self.control.chain(self.id, first, scratch, out, polled)
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

    /// Looks `key` up in the B+-tree `sup` describes (file 0 of the set
    /// must be the tree, tagged with the `bptree` function).
    pub fn lookup(
        &self,
        sup: &bptree::Super,
        key: u64,
        polled: bool,
    ) -> Result<(bptree::Found, ChainOutcome)> {
        let mut scratch = bptree::query(key);
        let root = Window::first(sup.root, sup.node_size);
        let out = self.chain(root, &mut scratch, None, polled)?;
        Ok((bptree::parse_query(&scratch), out))
    }

    /// [`Tag::lookup`] of each of `keys`, with up to `depth` chains in
    /// flight on an io_uring ring ([`ChainRing`]) from this thread; in
    /// order. The first failed lookup is the error.
    pub fn lookup_many(
        &self,
        sup: &bptree::Super,
        keys: &[u64],
        depth: u32,
        polled: bool,
    ) -> Result<Vec<(bptree::Found, ChainOutcome)>> {
        let mut ring = ChainRing::new(self.control, depth, polled)?;
        let requests = keys.iter().map(|&key| ChainRequest {
            tag: self.id,
            first: Window::first(sup.root, sup.node_size),
            scratch: bptree::query(key),
            out_len: 0,
        });
        ring.run_all(requests)?
            .into_iter()
            .map(|c| c.result.map(|o| (bptree::parse_query(&c.scratch), o)))
            .collect()
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
