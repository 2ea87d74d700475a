// SPDX-License-Identifier: GPL-2.0

//! A value replaced as a whole and read without a lock: readers in any
//! context borrow it inside an RCU read-side critical section, process
//! context may also take a reference; a replacement drops the old value's
//! reference after a grace period.
//!
//! C header: [`include/linux/rcupdate.h`](srctree/include/linux/rcupdate.h).

use core::sync::atomic::{AtomicPtr, Ordering};
use kernel::{
    bindings,
    sync::{Arc, ArcBorrow},
};

/// An `Arc<T>` published for lockless readers.
///
/// # Invariants
///
/// `ptr` comes from [`Arc::into_raw`] and owns that reference; a reference
/// `ptr` stopped owning is dropped only after a grace period that started
/// once `ptr` no longer pointed to it.
pub(crate) struct RcuArc<T: Send + Sync> {
    ptr: AtomicPtr<T>,
}

impl<T: Send + Sync> RcuArc<T> {
    pub(crate) fn new(value: Arc<T>) -> Self {
        // INVARIANT: `ptr` owns the reference `value` was.
        Self {
            ptr: AtomicPtr::new(Arc::into_raw(value).cast_mut()),
        }
    }

    /// Calls `f` with the current value, inside an RCU read-side critical
    /// section (any context; `f` must not sleep).
    pub(crate) fn read<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        self.borrow(|b| f(&b))
    }

    /// A reference to the current value (any context).
    pub(crate) fn get(&self) -> Arc<T> {
        self.borrow(|b| b.into())
    }

    /// [`Self::read`], lending the reference.
    fn borrow<R>(&self, f: impl FnOnce(ArcBorrow<'_, T>) -> R) -> R {
        // SAFETY: Any context may enter an RCU read-side critical section.
        unsafe { bindings::rcu_read_lock() };
        let p = self.ptr.load(Ordering::Acquire);
        // SAFETY: `p` comes from `Arc::into_raw`, and that reference is not
        // dropped before a grace period ends (type invariant), which cannot
        // happen before we leave the critical section.
        let r = f(unsafe { ArcBorrow::from_raw(p) });
        // SAFETY: Entered above.
        unsafe { bindings::rcu_read_unlock() };
        r
    }

    /// Publishes `value`, then waits for a grace period and drops the old
    /// reference (process context: sleeps).
    pub(crate) fn replace(&self, value: Arc<T>) {
        let old = self
            .ptr
            .swap(Arc::into_raw(value).cast_mut(), Ordering::AcqRel);
        // INVARIANT: Readers that may still see `old` are in critical
        // sections that began before the swap; wait for them.
        // SAFETY: Process context.
        unsafe { bindings::synchronize_rcu() };
        // SAFETY: `old` came from `Arc::into_raw` and `ptr` no longer owns
        // it; no reader borrows it any more.
        drop(unsafe { Arc::from_raw(old) });
    }
}

impl<T: Send + Sync> Drop for RcuArc<T> {
    fn drop(&mut self) {
        // SAFETY: `ptr` owns this reference (type invariant); with `&mut
        // self` nobody reads it any more.
        drop(unsafe { Arc::from_raw(*self.ptr.get_mut()) });
    }
}
