// SPDX-License-Identifier: GPL-2.0

//! A tagged file and its block map, kept right while the file is written,
//! truncated and remapped under its chains.
//!
//! The map is built from the file system's extents and published whole
//! ([`RcuArc`]): completion context reads it without a lock. It records the
//! file's [`Watch`] generation it was built under; a read may use it while
//! no bump since then named a range the read touches, checked after the
//! read counted itself as direct I/O in flight. Since file systems drain
//! direct I/O (and so bump the generation, naming the range) before they
//! free or remap a file's blocks, a read either saw the bump and goes to
//! process context, which builds a new map, or is waited for by the
//! operation, so its blocks are still the file's when it reads them.

use kernel::{new_mutex, prelude::*, sync::Arc, sync::Mutex};

use crate::{
    counters::COUNTERS,
    extent::{self, Extent},
    ffi::{
        errno,
        file::{DioHold, FileLayout, LiveFile},
        rcu::RcuArc,
    },
    watch::{Watched, Watches},
};
use core::sync::atomic::Ordering;

/// Files with more extents than this are refused (`EFBIG`): the map takes
/// 24 bytes per extent, in one allocation.
const MAX_EXTENTS: usize = 1 << 16;

/// Tries at building a map while the file keeps changing, before a chain
/// gives up with `EAGAIN`.
const BUILD_TRIES: u32 = 8;

/// A file's block map as of generation `gen`, when it was `size` bytes long.
pub(crate) struct Map {
    pub(crate) gen: u64,
    pub(crate) size: u64,
    pub(crate) extents: KVec<Extent>,
}

/// A tagged file, its geometry, its generation and its current map.
#[pin_data]
pub(crate) struct FileMap {
    pub(crate) file: LiveFile,
    pub(crate) layout: FileLayout,
    watched: Watched,
    map: RcuArc<Map>,
    /// Held while building a map: one builder at a time.
    #[pin]
    building: Mutex<()>,
}

impl FileMap {
    /// Tags the open file `fd` (see [`LiveFile::get`] for the errors) and
    /// builds its map: also `EOPNOTSUPP` for an odd geometry or a file
    /// whose blocks may move without a drain (see [`build`]), `EFBIG` past
    /// [`MAX_EXTENTS`].
    pub(crate) fn open(fd: i32, watches: &Arc<Watches>) -> Result<Arc<Self>> {
        let file = LiveFile::get(fd)?;
        let layout = file.layout();
        if layout.blkbits < 9
            || layout.blkbits > 16
            || !layout.lba_size.is_power_of_two()
            || layout.lba_size < 512
            || layout.lba_size > crate::ffi::chain_io::MAX_LBA
        {
            return Err(errno::eopnotsupp());
        }
        let watched = watches.watch(file.inode_key())?;
        let map = Arc::new(build(&file, &layout, &watched)?, GFP_KERNEL_ACCOUNT)?;
        Arc::pin_init(
            pin_init!(Self {
                file,
                layout,
                watched,
                map: RcuArc::new(map),
                building <- new_mutex!(()),
            }),
            GFP_KERNEL_ACCOUNT,
        )
    }

    /// The extents of the current map.
    pub(crate) fn extent_count(&self) -> usize {
        self.map.get().extents.len()
    }

    /// Calls `f` with the map (any context, `f` must not sleep); `None`
    /// when the mapping of the bytes `f` says it used may have changed since
    /// the map was built. `f` gives its result and those bytes (`None`: no
    /// block, as for an error). The caller counts the read as direct I/O in
    /// flight first ([`LiveFile::dio_begin`]).
    pub(crate) fn with_current<R>(
        &self,
        f: impl FnOnce(&Map) -> (R, Option<(u64, u64)>),
    ) -> Option<R> {
        self.map.read(|m| {
            let (r, used) = f(m);
            match used {
                Some((start, len)) if !self.unchanged(m, start, len) => None,
                _ => Some(r),
            }
        })
    }

    /// Whether the mapping of the file-system blocks holding `len` bytes at
    /// `start` is still what `map` says.
    fn unchanged(&self, map: &Map, start: u64, len: u64) -> bool {
        let mask = (1u64 << self.layout.blkbits) - 1;
        let end = start.saturating_add(len.max(1) - 1) | mask;
        self.watched
            .watch()
            .unchanged_since(map.gen, start & !mask, end)
    }

    /// Counts a read of `len` bytes at `start` as direct I/O in flight on
    /// the file and gives the current map, building a new one first when
    /// the range's mapping may have changed since the map was built (process
    /// context: sleeps). `EAGAIN` when it kept changing.
    pub(crate) fn hold(&self, start: u64, len: u64) -> Result<(DioHold<'_>, Arc<Map>)> {
        for _ in 0..BUILD_TRIES {
            let map = self.map.get();
            let hold = self.file.dio_hold();
            if self.unchanged(&map, start, len) {
                return Ok((hold, map));
            }
            // Building waits for the operation that bumped the generation:
            // it must not hold it up.
            drop(hold);
            self.rebuild(&map)?;
        }
        Err(EAGAIN)
    }

    /// Builds and publishes a new map unless someone replaced `seen`
    /// meanwhile (also when `seen` is current: blocks may have been
    /// allocated since, or the file grown).
    pub(crate) fn rebuild(&self, seen: &Arc<Map>) -> Result {
        let _building = self.building.lock();
        if !Arc::ptr_eq(&self.map.get(), seen) {
            return Ok(());
        }
        let map = Arc::new(
            build(&self.file, &self.layout, &self.watched)?,
            GFP_KERNEL_ACCOUNT,
        )?;
        self.map.replace(map);
        Ok(())
    }
}

/// Builds the map of `file` as of the generation when it starts: an
/// operation that changes a range's mapping during the walk bumps the
/// generation first, so reads of that range find the map out of date, and
/// reads of the other ranges may use it.
///
/// The map holds the file's written extents (`->fiemap`, extent by extent;
/// delayed, unwritten, inline and encrypted ones are holes to it).
/// `EOPNOTSUPP` for a file whose blocks a write may move without draining
/// direct I/O: one with shared extents, or one whose file system refuses to
/// give block numbers for it (`bmap()` of its first block is 0: XFS does so
/// for files that copy on write — reflinked ones, even once nothing is
/// shared any more — and for realtime files, whose blocks are on another
/// device).
fn build(file: &LiveFile, layout: &FileLayout, watched: &Watched) -> Result<Map> {
    // An operation under way holds the inode's lock: once we have had it,
    // any operation that changes the mapping after this bumps the
    // generation first.
    let (gen, size) = file.quiesced(|| (watched.watch().generation(), file.size()));
    // Delayed allocation: give dirty pages blocks first.
    if size > 0 && file.needs_write_back(0, size - 1) {
        file.write_back(0, size - 1)?;
    }
    let bits = layout.blkbits;
    let mask = (1u64 << bits) - 1;
    let blocks = size.div_ceil(1 << bits);
    let mut extents = KVec::new();
    file.extents(size, |fe| {
        if fe.is_shared() {
            return Err(errno::eopnotsupp());
        }
        if !fe.is_written()
            || fe.physical == 0
            || (fe.logical | fe.physical | fe.length) & mask != 0
        {
            return Ok(());
        }
        let lblk = fe.logical >> bits;
        let len = (fe.length >> bits).min(blocks.saturating_sub(lblk));
        if len == 0 {
            return Ok(());
        }
        let e = Extent {
            lblk,
            pblk: fe.physical >> bits,
            len,
        };
        if let Some(e) = extent::append(extents.last_mut(), e) {
            if extents.len() >= MAX_EXTENTS {
                return Err(EFBIG);
            }
            extents.push(e, GFP_KERNEL_ACCOUNT)?;
        }
        Ok(())
    })?;
    if let Some(first) = extents.first() {
        if file.bmap(first.lblk)? == 0 {
            return Err(errno::eopnotsupp());
        }
    }
    COUNTERS.extent_maps.fetch_add(1, Ordering::Relaxed);
    Ok(Map { gen, size, extents })
}
