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
    init::pin_init_array_from_fn,
    new_spinlock,
    prelude::*,
    sync::{Arc, SpinLock},
};

use crate::{counters::COUNTERS, ffi::watch::Notify};

/// How many of a file's last bumps keep their range: a map older than
/// that is out of date for every read.
const RING: usize = 16;

/// Buckets of [`Watches`], by inode: a drain of any file on the system
/// looks through one bucket, which holds one entry per tagged inode
/// (however many tags it has) that hashes there.
const BUCKETS: usize = 64;

/// The range of bytes bump number `gen` named: `[start, end]`. Written
/// under the lock of the file's bucket in [`Watches`]; read locklessly,
/// seqlock-fashion: `gen` is 0 while the range is being written.
#[derive(Default)]
struct Bump {
    gen: AtomicU64,
    start: AtomicU64,
    end: AtomicU64,
}

/// One tagged inode's generation, shared by every tag of the inode.
/// `users` counts their [`Watched`]; `inode` is 0 once it fell to 0.
pub(crate) struct Watch {
    inode: AtomicUsize,
    users: AtomicUsize,
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

/// Every tagged inode's [`Watch`], for the callback to find by inode.
///
/// Untagging only drops a [`Watched`] (it may happen in a completion
/// interrupt, where the buckets' locks may not be taken): the last one of
/// an inode clears the entry's `inode`, and [`Watches::watch`] reuses
/// cleared entries.
#[pin_data]
pub(crate) struct Watches {
    #[pin]
    buckets: [SpinLock<KVec<Option<Arc<Watch>>>>; BUCKETS],
    live: AtomicUsize,
}

/// The bucket of the inode at address `key` (Fibonacci hashing; inodes are
/// slab objects, so the low bits say little).
fn bucket(key: usize) -> usize {
    let h = (key as u64 >> 6).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (h >> (64 - BUCKETS.trailing_zeros())) as usize
}

impl Watches {
    pub(crate) fn new() -> Result<Arc<Self>> {
        Arc::pin_init(
            pin_init!(Self {
                buckets <- pin_init_array_from_fn(|_| new_spinlock!(KVec::new())),
                live: AtomicUsize::new(0),
            }),
            GFP_KERNEL,
        )
    }

    /// Starts watching the inode `key` (process context): joins the
    /// inode's entry if it has users, else takes a cleared entry or a new
    /// one.
    pub(crate) fn watch(self: &Arc<Self>, key: usize) -> Result<Watched> {
        let fresh = Arc::new(
            Watch {
                inode: AtomicUsize::new(key),
                users: AtomicUsize::new(1),
                gen: AtomicU64::new(0),
                bumps: Default::default(),
            },
            GFP_KERNEL_ACCOUNT,
        )?;
        let mut entries = self.buckets[bucket(key)].lock();
        // A user count that fell to 0 is final, even while `inode` is not
        // yet cleared: such an entry is neither joined nor reused.
        let joined = entries.as_slice().iter().flatten().find(|w| {
            w.inode.load(Ordering::Relaxed) == key
                && w.users
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |u| {
                        (u > 0).then_some(u + 1)
                    })
                    .is_ok()
        });
        let watch = match joined {
            Some(w) => w.clone(),
            None => {
                let free = entries.as_mut_slice().iter_mut().find(|e| {
                    e.as_ref()
                        .map_or(true, |w| w.inode.load(Ordering::Relaxed) == 0)
                });
                match free {
                    Some(e) => *e = Some(fresh.clone()),
                    None => entries.push(Some(fresh.clone()), GFP_ATOMIC)?,
                }
                fresh
            }
        };
        drop(entries);
        self.live.fetch_add(1, Ordering::SeqCst);
        Ok(Watched {
            watches: self.clone(),
            watch,
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
        let entries = self.buckets[bucket(key)].lock();
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

/// A tag's hold on its file's entry in [`Watches`]; the last one of an
/// inode clears the entry when dropped (in any context).
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
        if self.watch.users.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.watch.inode.store(0, Ordering::Relaxed);
        }
        self.watches.live.fetch_sub(1, Ordering::SeqCst);
    }
}
