// SPDX-License-Identifier: GPL-2.0

//! fd-tagging: a tag set of files bound to a storage function, with their
//! block maps (`filemap.rs`).
//!
//! A tag is what its chains read: it implements [`Translate`] for the
//! driver's hook. Every read is a window: any bytes of one file of the set.

use core::sync::atomic::Ordering;
use kernel::{prelude::*, sync::Arc};

use crate::{
    abi,
    budget::Budget,
    counters::{TagStats, COUNTERS},
    extent::{self, Lookup, Piece},
    ffi::{
        bpf::Prog,
        chain_io::{
            Read, Route, Translate, Window, FALLBACK_BUDGET, FALLBACK_DEVICE, FALLBACK_EXTENTS,
            FALLBACK_REMAPPED, MAX_FILES, MAX_HOPS, MAX_READ, MAX_WINDOW,
        },
        errno,
        file::{DioHold, FileLayout, LiveFile},
        task::current_tgid,
    },
    filemap::{FileMap, Map},
    watch::Watches,
};

/// The window of a read of `len` bytes at `offset` of a file with map
/// `map`, and whether it is contiguous on disk (else it is read in pieces):
/// EINVAL when empty, longer than [`MAX_WINDOW`] or at a negative offset,
/// ENXIO when a byte is past the map's end of file, ENODATA over a hole.
///
/// The window is the covering logical blocks, or, when `keep` (the bytes of
/// the chain's read before) is more and the longer window is still
/// contiguous file blocks on disk, `keep` bytes from the same start: the
/// driver resubmits a read only at its request's length, so a chain of
/// windows of one size at varying offsets keeps its reads in the driver.
/// The extra bytes are the file's own blocks (inside its last file-system
/// block at most), never shown to the function.
fn window(
    map: &Map,
    layout: &FileLayout,
    offset: u64,
    len: u32,
    keep: u32,
) -> Result<(Window, bool)> {
    check_range(offset, len)?;
    if offset
        .checked_add(u64::from(len))
        .map_or(true, |end| end > map.size)
    {
        return Err(ENXIO);
    }
    // A power of two (checked at attach). The covering blocks end at most
    // at the end of the file's last file-system block, which is the file's
    // (a logical block is never larger than it).
    // No overflow: offset <= i64::MAX and len <= MAX_WINDOW.
    let (start, end) = covering(layout, offset, len);
    let mut win = Window {
        sector: 0,
        bytes: end.wrapping_sub(start) as u32,
        data_off: (offset - start) as u32,
    };
    let mask = u64::from(layout.lba_size) - 1;
    let blocks_end = map.size.next_multiple_of(1 << layout.blkbits);
    if keep > win.bytes
        && keep as usize <= MAX_READ
        && u64::from(keep) & mask == 0
        && start + u64::from(keep) <= blocks_end
    {
        let longer = extent::lookup(&map.extents, layout.blkbits, start, keep.into());
        if let Lookup::Sector(s) = longer {
            win.sector = s;
            win.bytes = keep;
            return Ok((win, true));
        }
    }
    match extent::lookup(&map.extents, layout.blkbits, start, end.wrapping_sub(start)) {
        Lookup::Sector(s) => {
            win.sector = s;
            Ok((win, true))
        }
        Lookup::Split => Ok((win, false)),
        Lookup::Hole => Err(errno::enodata()),
    }
}

/// EINVAL for a read that is empty, longer than [`MAX_WINDOW`] or at a
/// negative offset; `offset + len` cannot overflow after this.
fn check_range(offset: u64, len: u32) -> Result {
    if len == 0 || len > MAX_WINDOW || offset > i64::MAX as u64 {
        return Err(EINVAL);
    }
    Ok(())
}

/// The file bytes `win` (a window of a read at `offset`) reads: its first
/// byte and its length.
fn span(offset: u64, win: &Window) -> (u64, u64) {
    (offset - u64::from(win.data_off), u64::from(win.bytes))
}

/// The logical blocks covering `len` bytes at `offset`: `[start, end)`.
fn covering(layout: &FileLayout, offset: u64, len: u32) -> (u64, u64) {
    let mask = u64::from(layout.lba_size) - 1;
    let start = offset & !mask;
    let end = offset.wrapping_add(u64::from(len)).wrapping_add(mask) & !mask;
    (start, end)
}

/// Whether `err` may only mean that `map` is older than the file: a read
/// past its end of file or over a hole (the file may have grown, or blocks
/// been allocated, since).
fn maybe_older(err: Error) -> bool {
    err == ENXIO || err == errno::enodata()
}

/// A read planned in process context: what to issue, its pieces when it is
/// not contiguous on disk, and the direct I/O count it holds until its bios
/// hold their own.
pub(crate) struct Planned<'a> {
    pub(crate) read: Read,
    pub(crate) pieces: Option<KVec<Piece>>,
    _hold: DioHold<'a>,
}

/// A tag set: files, with their block maps, bound to a storage function.
pub(crate) struct Tag {
    pub(crate) id: u32,
    files: KVec<Arc<FileMap>>,
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
        watches: &Arc<Watches>,
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
            let f = FileMap::open(fd, watches).map_err(|e| (i as u32, e))?;
            files
                .push(f, GFP_KERNEL_ACCOUNT)
                .map_err(|e| whole(e.into()))?;
        }
        let first = &files[0];
        let (prog_id, function) = prog.id_and_name();
        let extents = files.iter().map(|f| f.extent_count() as u32).sum();
        let stats = TagStats::new(abi::TagInfo {
            prog_id,
            pid: current_tgid(),
            extents,
            max_hops,
            ino: first.file.ino(),
            size: first.file.size(),
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
    /// `hop`, after a read of `keep` bytes) from process context: dirty page
    /// cache in the range is written back first, and the map built anew when
    /// it is out of date, or when it shows the range past the end of file or
    /// over a hole (the file may have grown, or blocks been allocated, since).
    pub(crate) fn plan(
        &self,
        file: u32,
        offset: u64,
        len: u32,
        hop: u32,
        keep: u32,
    ) -> Result<Planned<'_>> {
        let f = self.files.get(file as usize).ok_or(EINVAL)?;
        check_range(offset, len)?;
        // Past the end of file now: no map can help.
        if offset + u64::from(len) > f.file.size() {
            return Err(ENXIO);
        }
        let (start, end) = covering(&f.layout, offset, len);
        if f.file.needs_write_back(start, end - 1) {
            COUNTERS.write_backs.fetch_add(1, Ordering::Relaxed);
            f.file.write_back(start, end - 1)?;
        }
        // The window may grow to `keep` bytes from `start`.
        let used = (end - start).max(keep.into());
        let mut rebuilt = false;
        loop {
            let (hold, map) = f.hold(start, used)?;
            match window(&map, &f.layout, offset, len, keep) {
                Err(e) if maybe_older(e) && !rebuilt => {
                    drop(hold);
                    f.rebuild(&map)?;
                    rebuilt = true;
                }
                r => {
                    let (win, whole) = r?;
                    let pieces = if whole {
                        None
                    } else {
                        let (pos, bytes) = span(offset, &win);
                        let mut v = KVec::new();
                        for p in extent::pieces(&map.extents, f.layout.blkbits, pos, bytes) {
                            v.push(p, GFP_KERNEL)?;
                        }
                        Some(v)
                    };
                    let read = Read {
                        file,
                        offset,
                        len,
                        hop,
                        win,
                    };
                    return Ok(Planned {
                        read,
                        pieces,
                        _hold: hold,
                    });
                }
            }
        }
    }
}

impl Translate for Tag {
    fn file(&self, index: u32) -> Option<&LiveFile> {
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
        // The hook counted the read as direct I/O on `file` first.
        let Some(planned) = f.with_current(|m| {
            let r = window(m, &f.layout, offset, len, keep);
            let used = r.as_ref().ok().map(|(w, _)| span(offset, w));
            (r, used)
        }) else {
            return Ok(Route::Process(FALLBACK_REMAPPED));
        };
        let (win, whole) = match planned {
            Err(e) if maybe_older(e) => return Ok(Route::Process(FALLBACK_REMAPPED)),
            r => r?,
        };
        let (start, bytes) = span(offset, &win);
        if f.file.needs_write_back(start, start + bytes - 1) {
            return Ok(Route::Process(FALLBACK_REMAPPED));
        }
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
