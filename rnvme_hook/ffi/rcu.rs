// SPDX-License-Identifier: GPL-2.0

//! A value replaced as a whole and read without a lock: readers in any
//! context borrow it inside an RCU read-side critical section, process
//! context may also take a reference; a replacement frees the old value
//! after a grace period.
//!
//! C header: [`include/linux/rcupdate.h`](srctree/include/linux/rcupdate.h).

use core::sync::atomic::{AtomicPtr, Ordering};
use kernel::{bindings, new_mutex, prelude::*, sync::Arc, sync::Mutex};

/// An `Arc<T>` published for lockless readers.
///
/// # Invariants
///
/// `ptr` is always the pointer of the `Arc` held by `owner` (the address of its value); an `Arc` that `ptr` pointed to is dropped only after a
/// grace period that started once `ptr` no longer pointed to it.
#[pin_data]
pub(crate) struct RcuArc<T: Send + Sync> {
    ptr: AtomicPtr<T>,
    #[pin]
    owner: Mutex<Arc<T>>,
}

impl<T: Send + Sync> RcuArc<T> {
    pub(crate) fn new(value: Arc<T>) -> impl PinInit<Self> {
        let ptr = AtomicPtr::new(core::ptr::from_ref::<T>(&value).cast_mut());
        // INVARIANT: `ptr` points to `value`, which `owner` holds.
        pin_init!(Self {
            ptr,
            owner <- new_mutex!(value),
        })
    }

    /// Calls `f` with the current value, inside an RCU read-side critical
    /// section (any context; `f` must not sleep).
    pub(crate) fn read<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        // SAFETY: Any context may enter an RCU read-side critical section.
        unsafe { bindings::rcu_read_lock() };
        let p = self.ptr.load(Ordering::Acquire);
        // SAFETY: `p` is the value of an `Arc` that is not dropped before a
        // grace period ends (type invariant), which cannot happen before we
        // leave the critical section.
        let r = f(unsafe { &*p });
        // SAFETY: Entered above.
        unsafe { bindings::rcu_read_unlock() };
        r
    }

    /// A reference to the current value (process context).
    pub(crate) fn get(&self) -> Arc<T> {
        self.owner.lock().clone()
    }

    /// Publishes `value`, then waits for a grace period and drops the old
    /// one (process context: sleeps).
    pub(crate) fn replace(&self, value: Arc<T>) {
        let old = {
            let mut owner = self.owner.lock();
            self.ptr.store(
                core::ptr::from_ref::<T>(&value).cast_mut(),
                Ordering::Release,
            );
            core::mem::replace(&mut *owner, value)
        };
        // INVARIANT: Readers that may still see `old` are in critical
        // sections that began before the store; wait for them.
        // SAFETY: Process context.
        unsafe { bindings::synchronize_rcu() };
        drop(old);
    }
}
