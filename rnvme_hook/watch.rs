// SPDX-License-Identifier: GPL-2.0

//! Which tagged files' block maps may be out of date, and where.
//!
//! Every tagged file has a [`Watch`]: a generation that the kernel's
//! `dio_wait_notify` callback ([`crate::ffi::watch`]) bumps whenever a file
//! system is about to drain direct I/O of the file's inode, which it does
//! before every operation that frees or remaps the file's blocks, and the
//! byte range each of the last [`RING`] bumps said may change. A block map
//! records the generation it was built under; a read may use it while no
//! bump since then names a range the read touches, checked after the read
//! counted itself as direct I/O in flight (see `docs/chain-reads.md`,
//! "Files that change under chains").

use core::sync::atomic::{fence, AtomicU64, AtomicUsize, Ordering};
use kernel::{
    new_spinlock,
    prelude::*,
    sync::{Arc, SpinLock},
};

use crate::{counters::COUNTERS, ffi::watch::Notify};

/// How many of a file's last bumps keep their range: a map older than
/// that is out of date for every read.
const RING: usize = 16;

/// The range of bytes bump number `gen` named: `[start, end]`. Written
/// under [`Watches::entries`]' lock; read locklessly, seqlock-fashion:
/// `gen` is 0 while the range is being written.
#[derive(Default)]
struct Bump {
    gen: AtomicU64,
    start: AtomicU64,
    end: AtomicU64,
}

/// One tagged file's generation. `inode` is 0 once the file is untagged.
pub(crate) struct Watch {
    inode: AtomicUsize,
    gen: AtomicU64,
    bumps: [Bump; RING],
}

impl Watch {
    /// The file's generation now.
    pub(crate) fn generation(&self) -> u64 {
        self.gen.load(Ordering::SeqCst)
    }

    /// Whether no bump after generation `since` named a byte of
    /// `[start, end]` (any context). False when a bump's range is no longer
    /// kept, or is being written.
    pub(crate) fn unchanged_since(&self, since: u64, start: u64, end: u64) -> bool {
        let now = self.generation();
        if now < since || now - since > RING as u64 {
            return false;
        }
        (since + 1..=now).all(|g| {
            let b = &self.bumps[g as usize % RING];
            if b.gen.load(Ordering::Acquire) != g {
                return false;
            }
            let (s, e) = (
                b.start.load(Ordering::Relaxed),
                b.end.load(Ordering::Relaxed),
            );
            fence(Ordering::Acquire);
            b.gen.load(Ordering::Relaxed) == g && (e < start || s > end)
        })
    }

    /// Records a bump for `[start, end]` (under the lock of [`Watches`]).
    fn bump(&self, start: u64, end: u64) {
        let g = self.gen.load(Ordering::Relaxed) + 1;
        let b = &self.bumps[g as usize % RING];
        b.gen.store(0, Ordering::Relaxed);
        fence(Ordering::Release);
        b.start.store(start, Ordering::Relaxed);
        b.end.store(end, Ordering::Relaxed);
        b.gen.store(g, Ordering::Release);
        self.gen.store(g, Ordering::SeqCst);
    }
}

/// Every tagged file's [`Watch`], for the callback to find by inode.
///
/// Untagging only clears the entry's `inode` (it may happen in a completion
/// interrupt); [`Watches::watch`] reuses cleared entries.
#[pin_data]
pub(crate) struct Watches {
    #[pin]
    entries: SpinLock<KVec<Option<Arc<Watch>>>>,
    live: AtomicUsize,
}

impl Watches {
    pub(crate) fn new() -> Result<Arc<Self>> {
        Arc::pin_init(
            pin_init!(Self {
                entries <- new_spinlock!(KVec::new()),
                live: AtomicUsize::new(0),
            }),
            GFP_KERNEL,
        )
    }

    /// Starts watching the inode `key` (process context).
    pub(crate) fn watch(self: &Arc<Self>, key: usize) -> Result<Watched> {
        let w = Arc::new(
            Watch {
                inode: AtomicUsize::new(key),
                gen: AtomicU64::new(0),
                bumps: Default::default(),
            },
            GFP_KERNEL_ACCOUNT,
        )?;
        let mut entries = self.entries.lock();
        let free = entries.as_mut_slice().iter_mut().find(|e| {
            e.as_ref()
                .map_or(true, |w| w.inode.load(Ordering::Relaxed) == 0)
        });
        match free {
            Some(e) => *e = Some(w.clone()),
            None => entries.push(Some(w.clone()), GFP_ATOMIC)?,
        }
        drop(entries);
        self.live.fetch_add(1, Ordering::SeqCst);
        Ok(Watched {
            watches: self.clone(),
            watch: w,
        })
    }
}

impl Notify for Watches {
    /// The inode `key` may be about to change the block mapping of its
    /// bytes `[start, end]`.
    fn notify(&self, key: usize, start: u64, end: u64) {
        if self.live.load(Ordering::SeqCst) == 0 {
            return;
        }
        let entries = self.entries.lock();
        for w in entries.as_slice().iter().flatten() {
            if w.inode.load(Ordering::Relaxed) == key {
                w.bump(start, end);
                COUNTERS.remaps.fetch_add(1, Ordering::Relaxed);
            }
        }
        drop(entries);
        // The caller reads the inode's direct I/O count next.
        fence(Ordering::SeqCst);
    }
}

/// A tagged file's entry in [`Watches`], cleared when this is dropped (in
/// any context).
pub(crate) struct Watched {
    watches: Arc<Watches>,
    watch: Arc<Watch>,
}

impl Watched {
    pub(crate) fn watch(&self) -> &Watch {
        &self.watch
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        self.watch.inode.store(0, Ordering::Relaxed);
        self.watches.live.fetch_sub(1, Ordering::SeqCst);
    }
}
