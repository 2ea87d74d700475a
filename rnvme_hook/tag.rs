// SPDX-License-Identifier: GPL-2.0

//! fd-tagging: a tag set of files, frozen against block-map changes, bound
//! to a storage function, with their extent maps.
//!
//! A tag is what its chains read: it implements [`Translate`] for the
//! driver's hook. Every read is a window: any bytes of one file of the set.

use core::sync::atomic::Ordering;
use kernel::{prelude::*, sync::Arc};

use crate::{
    abi,
    budget::Budget,
    counters::{TagStats, COUNTERS},
    extent::{self, Extent, Lookup, Piece},
    ffi::{
        bpf::Prog,
        chain_io::{
            Read, Route, Translate, Window, FALLBACK_BUDGET, FALLBACK_DEVICE, FALLBACK_EXTENTS,
            MAX_FILES, MAX_HOPS, MAX_LBA, MAX_READ, MAX_WINDOW,
        },
        errno,
        file::{FileLayout, FrozenFile},
        task::current_tgid,
    },
};

/// Files larger than this many blocks are refused at attach (the extent map
/// is built block by block with `bmap()`): 4 GiB of 4 KiB blocks.
const MAX_BLOCKS: u64 = 1 << 20;

/// One file of a tag set, with its extent map.
///
/// # Invariants
///
/// `extents` is the block map of `file` at attach time; it stays exact
/// because `file` denies writers for as long as the tag lives.
struct TaggedFile {
    file: FrozenFile,
    layout: FileLayout,
    extents: KVec<Extent>,
}

impl TaggedFile {
    fn get(fd: i32) -> Result<Self> {
        let file = FrozenFile::get(fd)?;
        let layout = file.layout();
        if layout.blkbits < 9
            || layout.blkbits > 16
            || !layout.lba_size.is_power_of_two()
            || layout.lba_size < 512
            || layout.lba_size > MAX_LBA
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
        COUNTERS.extent_maps.fetch_add(1, Ordering::Relaxed);
        // INVARIANT: The map was built after `FrozenFile::get` denied writers.
        Ok(Self {
            file,
            layout,
            extents,
        })
    }

    /// The window of a read of `len` bytes at `offset`, and whether it is
    /// contiguous on disk (else it is read in pieces): EINVAL when empty,
    /// longer than [`MAX_WINDOW`] or at a negative offset, ENXIO when a
    /// byte is past EOF, ENODATA over a hole.
    ///
    /// The window is the covering logical blocks, or, when `keep` (the
    /// bytes of the chain's read before) is more and the longer window is
    /// still contiguous file blocks on disk, `keep` bytes from the same
    /// start: the driver resubmits a read only at its request's length, so
    /// a chain of windows of one size at varying offsets keeps its reads in
    /// the driver. The extra bytes are the file's own blocks (inside its
    /// last file-system block at most), never shown to the function.
    fn window(&self, offset: u64, len: u32, keep: u32) -> Result<(Window, bool)> {
        if len == 0 || len > MAX_WINDOW || offset > i64::MAX as u64 {
            return Err(EINVAL);
        }
        if offset
            .checked_add(u64::from(len))
            .map_or(true, |end| end > self.layout.size)
        {
            return Err(ENXIO);
        }
        // A power of two (checked at attach). The covering blocks end at
        // most at the end of the file's last file-system block, which is
        // the file's (a logical block is never larger than it).
        // No overflow: offset <= i64::MAX and len <= MAX_WINDOW.
        let mask = u64::from(self.layout.lba_size) - 1;
        let start = offset & !mask;
        let end = offset.wrapping_add(u64::from(len)).wrapping_add(mask) & !mask;
        let mut win = Window {
            sector: 0,
            bytes: end.wrapping_sub(start) as u32,
            data_off: (offset & mask) as u32,
        };
        let blocks_end = self.layout.size.next_multiple_of(1 << self.layout.blkbits);
        if keep > win.bytes
            && keep as usize <= MAX_READ
            && u64::from(keep) & mask == 0
            && start + u64::from(keep) <= blocks_end
        {
            let longer = extent::lookup(&self.extents, self.layout.blkbits, start, keep.into());
            if let Lookup::Sector(s) = longer {
                win.sector = s;
                win.bytes = keep;
                return Ok((win, true));
            }
        }
        match extent::lookup(
            &self.extents,
            self.layout.blkbits,
            start,
            end.wrapping_sub(start),
        ) {
            Lookup::Sector(s) => {
                win.sector = s;
                Ok((win, true))
            }
            Lookup::Split => Ok((win, false)),
            Lookup::Hole => Err(errno::enodata()),
        }
    }
}

/// A tag set: files frozen against block-map changes, bound to a storage
/// function.
pub(crate) struct Tag {
    pub(crate) id: u32,
    files: KVec<TaggedFile>,
    prog: Prog,
    max_hops: u32,
    extents: u32,
    stats: Arc<TagStats>,
    budget: Arc<Budget>,
}

impl Tag {
    /// Tags the files `fds` with program `prog_fd` (see [`abi::AttachSet`]
    /// for the rules and errors); on a refusal, the index of the refused
    /// file (`u32::MAX` when the refusal is not one file's).
    pub(crate) fn attach(
        prog_fd: i32,
        fds: &[i32],
        flags: u32,
        max_hops: u32,
        id: u32,
    ) -> core::result::Result<Self, (u32, Error)> {
        let whole = |e| (u32::MAX, e);
        if flags != 0 || max_hops > MAX_HOPS || fds.is_empty() || fds.len() > MAX_FILES as usize {
            return Err(whole(EINVAL));
        }
        let max_hops = match max_hops {
            0 => abi::DEFAULT_MAX_HOPS,
            n => n,
        };
        let prog = Prog::get(prog_fd).map_err(whole)?;
        let mut files =
            KVec::with_capacity(fds.len(), GFP_KERNEL_ACCOUNT).map_err(|e| whole(e.into()))?;
        for (i, &fd) in fds.iter().enumerate() {
            let f = TaggedFile::get(fd).map_err(|e| (i as u32, e))?;
            files
                .push(f, GFP_KERNEL_ACCOUNT)
                .map_err(|e| whole(e.into()))?;
        }
        let first = &files[0];
        let (prog_id, function) = prog.id_and_name();
        let extents = files.iter().map(|f| f.extents.len() as u32).sum();
        let stats = TagStats::new(abi::TagInfo {
            prog_id,
            pid: current_tgid(),
            extents,
            max_hops,
            ino: first.file.ino(),
            size: first.layout.size,
            function,
            // A label only: a path that cannot be had (too long, no
            // memory) must not fail the attach.
            file: first
                .file
                .with_path(file_label)
                .unwrap_or_else(|_| file_label(b"(path unavailable)")),
            ..Default::default()
        });
        let stats = Arc::new(stats, GFP_KERNEL_ACCOUNT).map_err(|e| whole(e.into()))?;
        let budget = Budget::new().map_err(whole)?;
        COUNTERS.tags.fetch_add(1, Ordering::Relaxed);
        Ok(Self {
            id,
            files,
            prog,
            max_hops,
            extents,
            stats,
            budget,
        })
    }

    /// This tag's budgets.
    pub(crate) fn budget(&self) -> &Arc<Budget> {
        &self.budget
    }

    /// This tag's counters.
    pub(crate) fn stats(&self) -> &Arc<TagStats> {
        &self.stats
    }

    /// Extents in the files' block maps.
    pub(crate) fn extent_count(&self) -> u32 {
        self.extents
    }

    /// Checks, as for a new chain, that every file's raw blocks are still
    /// its contents (fs-verity may have been enabled since it was tagged).
    pub(crate) fn raw_reads_ok(&self) -> Result {
        self.files.iter().try_for_each(|f| f.file.raw_reads_ok())
    }

    /// How to read `len` bytes at `offset` of file `file` (read number
    /// `hop`, after a read of `keep` bytes) from process context, and
    /// whether in one piece.
    pub(crate) fn plan(
        &self,
        file: u32,
        offset: u64,
        len: u32,
        hop: u32,
        keep: u32,
    ) -> Result<(Read, bool)> {
        let f = self.files.get(file as usize).ok_or(EINVAL)?;
        let (win, whole) = f.window(offset, len, keep)?;
        Ok((
            Read {
                file,
                offset,
                len,
                hop,
                win,
            },
            whole,
        ))
    }

    /// The pieces of a read [`Tag::plan`] did not find whole, each at its
    /// offset from the start of the read's window.
    pub(crate) fn pieces<'a>(&'a self, read: &'a Read) -> impl Iterator<Item = Piece> + 'a {
        let start = read.offset - u64::from(read.win.data_off);
        let bytes = u64::from(read.win.bytes);
        self.files
            .get(read.file as usize)
            .into_iter()
            .flat_map(move |f| extent::pieces(&f.extents, f.layout.blkbits, start, bytes))
    }
}

impl Translate for Tag {
    fn file(&self, index: u32) -> Option<&FrozenFile> {
        self.files.get(index as usize).map(|f| &f.file)
    }

    fn prog(&self) -> &Prog {
        &self.prog
    }

    fn max_hops(&self) -> u32 {
        self.max_hops
    }

    fn translate(&self, from: u32, file: u32, offset: u64, len: u32, keep: u32) -> Result<Route> {
        let f = self.files.get(file as usize).ok_or(EINVAL)?;
        let (win, whole) = f.window(offset, len, keep)?;
        let same = self
            .files
            .get(from as usize)
            .is_some_and(|g| g.file.same_device(&f.file));
        if !same {
            return Ok(Route::Process(FALLBACK_DEVICE));
        }
        if !whole {
            COUNTERS.cache_misses.fetch_add(1, Ordering::Relaxed);
            return Ok(Route::Process(FALLBACK_EXTENTS));
        }
        COUNTERS.cache_hits.fetch_add(1, Ordering::Relaxed);
        if !self.budget.driver_hop() {
            return Ok(Route::Process(FALLBACK_BUDGET));
        }
        Ok(Route::Driver(win))
    }
}

impl Drop for Tag {
    fn drop(&mut self) {
        COUNTERS.tags.fetch_sub(1, Ordering::Relaxed);
    }
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
