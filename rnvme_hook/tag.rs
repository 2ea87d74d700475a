// SPDX-License-Identifier: GPL-2.0

//! fd-tagging: a file, frozen against block-map changes, bound to a storage
//! function, with its extent map.
//!
//! A tag is what its chains read: it implements [`Translate`] for the
//! driver's hook.

use core::sync::atomic::Ordering;
use kernel::{prelude::*, sync::Arc};

use crate::{
    abi,
    counters::{TagStats, COUNTERS},
    extent::{self, Extent, Lookup, Piece},
    ffi::{
        bpf::Prog,
        chain_io::{Translate, MAX_BLOCK, MAX_HOPS},
        errno,
        file::{FileLayout, FrozenFile},
        task::current_tgid,
    },
};

/// Files larger than this many blocks are refused at attach (the extent map
/// is built block by block with `bmap()`): 4 GiB of 4 KiB blocks.
const MAX_BLOCKS: u64 = 1 << 20;

/// A tagged file.
///
/// # Invariants
///
/// `extents` is the block map of `file` at attach time; it stays exact
/// because `file` denies writers for as long as the tag lives.
pub(crate) struct Tag {
    pub(crate) id: u32,
    file: FrozenFile,
    prog: Prog,
    layout: FileLayout,
    extents: KVec<Extent>,
    max_hops: u32,
    stats: Arc<TagStats>,
}

impl Tag {
    /// Tags file `args.file_fd` with program `args.prog_fd` (see
    /// [`abi::Attach`] for the rules and errors).
    pub(crate) fn attach(args: &abi::Attach, id: u32) -> Result<Self> {
        if args.flags != 0 || args.extents != 0 || args.max_hops > MAX_HOPS {
            return Err(EINVAL);
        }
        let max_hops = match args.max_hops {
            0 => abi::DEFAULT_MAX_HOPS,
            n => n,
        };
        let prog = Prog::get(args.prog_fd)?;
        let file = FrozenFile::get(args.file_fd)?;
        let layout = file.layout();
        if layout.blkbits < 9
            || layout.blkbits > 16
            || !layout.lba_size.is_power_of_two()
            || layout.lba_size < 512
            || layout.lba_size > MAX_BLOCK
        {
            return Err(errno::eopnotsupp());
        }
        let blocks = layout.size.div_ceil(1 << layout.blkbits);
        if blocks > MAX_BLOCKS {
            return Err(EFBIG);
        }
        let mut extents = KVec::new();
        for lblk in 0..blocks {
            let pblk = file.bmap(lblk)?;
            if let Some(e) = extent::extend(extents.last_mut(), lblk, pblk) {
                extents.push(e, GFP_KERNEL_ACCOUNT)?;
            }
        }
        let (prog_id, function) = prog.id_and_name();
        let stats = TagStats::new(abi::TagInfo {
            prog_id,
            pid: current_tgid(),
            extents: extents.len() as u32,
            max_hops,
            ino: file.ino(),
            size: layout.size,
            function,
            // A label only: a path that cannot be had (too long, no
            // memory) must not fail the attach.
            file: file
                .with_path(file_label)
                .unwrap_or_else(|_| file_label(b"(path unavailable)")),
            ..Default::default()
        });
        let stats = Arc::new(stats, GFP_KERNEL_ACCOUNT)?;
        COUNTERS.tags.fetch_add(1, Ordering::Relaxed);
        COUNTERS.extent_maps.fetch_add(1, Ordering::Relaxed);
        Ok(Self {
            id,
            file,
            prog,
            layout,
            extents,
            max_hops,
            stats,
        })
    }

    /// This tag's counters.
    pub(crate) fn stats(&self) -> &Arc<TagStats> {
        &self.stats
    }

    /// Extents in the file's block map.
    pub(crate) fn extent_count(&self) -> u32 {
        self.extents.len() as u32
    }

    /// Checks a read of `len` bytes at `offset` against the file: EINVAL
    /// when unaligned, empty, too long or negative; ENXIO past the end.
    fn check(&self, offset: u64, len: u32) -> Result {
        // A power of two (checked at attach).
        let lba_mask = u64::from(self.layout.lba_size) - 1;
        if len == 0 || len > MAX_BLOCK || offset > i64::MAX as u64 {
            return Err(EINVAL);
        }
        if offset & lba_mask != 0 || u64::from(len) & lba_mask != 0 {
            return Err(EINVAL);
        }
        if offset
            .checked_add(u64::from(len))
            .map_or(true, |end| end > self.layout.size)
        {
            return Err(ENXIO);
        }
        Ok(())
    }

    /// How to read `len` bytes at `offset` from process context.
    pub(crate) fn plan(&self, offset: u64, len: u32) -> Result<Plan> {
        self.check(offset, len)?;
        match self.lookup(offset, len)? {
            Lookup::Sector(s) => Ok(Plan::Whole(s)),
            Lookup::Split => Ok(Plan::Pieces),
            Lookup::Hole => Err(errno::enodata()),
        }
    }

    /// The pieces of a read [`Tag::plan`] called [`Plan::Pieces`].
    pub(crate) fn pieces(&self, offset: u64, len: u32) -> impl Iterator<Item = Piece> + '_ {
        extent::pieces(&self.extents, self.layout.blkbits, offset, u64::from(len))
    }

    fn lookup(&self, offset: u64, len: u32) -> Result<Lookup> {
        Ok(extent::lookup(
            &self.extents,
            self.layout.blkbits,
            offset,
            u64::from(len),
        ))
    }
}

impl Translate for Tag {
    fn file(&self) -> &FrozenFile {
        &self.file
    }

    fn prog(&self) -> &Prog {
        &self.prog
    }

    fn max_hops(&self) -> u32 {
        self.max_hops
    }

    /// The read's first sector, `EAGAIN` when it must be read in pieces
    /// (process context), or the error that ends the chain.
    fn translate(&self, offset: u64, len: u32) -> Result<u64> {
        let found = self
            .check(offset, len)
            .and_then(|()| self.lookup(offset, len));
        match found {
            Ok(Lookup::Sector(s)) => {
                COUNTERS.cache_hits.fetch_add(1, Ordering::Relaxed);
                Ok(s)
            }
            Ok(Lookup::Split) => {
                COUNTERS.cache_misses.fetch_add(1, Ordering::Relaxed);
                Err(EAGAIN)
            }
            Ok(Lookup::Hole) => Err(errno::enodata()),
            Err(e) => Err(e),
        }
    }
}

impl Drop for Tag {
    fn drop(&mut self) {
        COUNTERS.tags.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A read planned in process context.
pub(crate) enum Plan {
    /// One read from this sector; the hook sees it.
    Whole(u64),
    /// Several reads ([`Tag::pieces`]); the function runs in process context.
    Pieces,
}

/// [`abi::TagInfo::file`] for `path`: the path, NUL-padded, or "..." and its
/// tail when it does not fit.
fn file_label(path: &[u8]) -> [u8; abi::FILE_LABEL_LEN] {
    let mut label = [0u8; abi::FILE_LABEL_LEN];
    let room = abi::FILE_LABEL_LEN - 1;
    if path.len() <= room {
        label[..path.len()].copy_from_slice(path);
    } else {
        label[..3].copy_from_slice(b"...");
        label[3..room].copy_from_slice(&path[path.len() - (room - 3)..]);
    }
    label
}
