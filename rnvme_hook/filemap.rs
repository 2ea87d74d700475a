// SPDX-License-Identifier: GPL-2.0

//! A tagged file and its block map, kept right while the file is written,
//! truncated and remapped under its chains.
//!
//! The map is built with `bmap()` block by block and published whole
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

/// Files larger than this many blocks are refused (the extent map is built
/// block by block with `bmap()`): 4 GiB of 4 KiB blocks.
const MAX_BLOCKS: u64 = 1 << 20;

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
    /// whose blocks `bmap()` does not show (XFS reflinked or realtime
    /// files), `EFBIG` past [`MAX_BLOCKS`].
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
fn build(file: &LiveFile, layout: &FileLayout, watched: &Watched) -> Result<Map> {
    // An operation under way holds the inode's lock: once we have had it,
    // any operation that changes the mapping after this bumps the
    // generation first.
    let (gen, size) = file.quiesced(|| (watched.watch().generation(), file.size()));
    let blocks = size.div_ceil(1 << layout.blkbits);
    if blocks > MAX_BLOCKS {
        return Err(EFBIG);
    }
    // Delayed allocation: give dirty pages blocks first.
    if size > 0 && file.needs_write_back(0, size - 1) {
        file.write_back(0, size - 1)?;
    }
    let mut extents = KVec::new();
    for lblk in 0..blocks {
        let pblk = file.bmap(lblk)?;
        if let Some(e) = extent::extend(extents.last_mut(), lblk, pblk) {
            extents.push(e, GFP_KERNEL_ACCOUNT)?;
        }
    }
    // XFS's bmap() shows no block of a reflinked or realtime file.
    if extents.is_empty() && size > 0 && file.has_blocks() {
        return Err(errno::eopnotsupp());
    }
    COUNTERS.extent_maps.fetch_add(1, Ordering::Relaxed);
    Ok(Map { gen, size, extents })
}
