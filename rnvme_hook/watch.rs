// SPDX-License-Identifier: GPL-2.0

//! Which tagged files' block maps may be out of date.
//!
//! Every tagged file has a [`Watch`]: a generation that the kernel's
//! `dio_wait_notify` callback ([`crate::ffi::watch`]) bumps whenever a file
//! system is about to drain direct I/O of the file's inode, which it does
//! before every operation that frees or remaps the file's blocks. A block
//! map records the generation it was built under; a read uses it only if
//! that is still the file's generation, checked after the read counted
//! itself as direct I/O in flight (see `docs/chain-reads.md`, "Files that
//! change under chains").

use core::sync::atomic::{fence, AtomicU64, AtomicUsize, Ordering};
use kernel::{
    new_spinlock,
    prelude::*,
    sync::{Arc, SpinLock},
};

use crate::{counters::COUNTERS, ffi::watch::Notify};

/// One tagged file's generation. `inode` is 0 once the file is untagged.
pub(crate) struct Watch {
    inode: AtomicUsize,
    gen: AtomicU64,
}

impl Watch {
    /// The file's generation now.
    pub(crate) fn generation(&self) -> u64 {
        self.gen.load(Ordering::SeqCst)
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
    /// The inode `key` may be about to change its block mapping.
    fn notify(&self, key: usize) {
        if self.live.load(Ordering::SeqCst) == 0 {
            return;
        }
        let entries = self.entries.lock();
        for w in entries.as_slice().iter().flatten() {
            if w.inode.load(Ordering::Relaxed) == key {
                w.gen.fetch_add(1, Ordering::SeqCst);
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
