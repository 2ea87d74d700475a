// SPDX-License-Identifier: GPL-2.0

//! The kernel's `dio_wait_notify` callback: told when a file system is
//! about to drain direct I/O of an inode (before truncation, hole punching,
//! extent moves, reflink and the like change its block mapping).
//!
//! C header: [`include/linux/dio_notify.h`](srctree/include/linux/dio_notify.h).

use core::{
    marker::PhantomData,
    sync::atomic::{AtomicPtr, Ordering},
};
use kernel::{bindings, error::to_result, prelude::*, sync::Arc};

/// Who hears of drains: `key` names the inode (its address), `[start,
/// end]` the bytes whose mapping may change (never empty: drains that
/// change no mapping are not passed on).
pub(crate) trait Notify: Send + Sync + 'static {
    /// Process context, inside an RCU read-side critical section, with the
    /// file system's locks held: must not sleep.
    fn notify(&self, key: usize, start: u64, end: u64);
}

/// The registered listener: an `Arc<T>` made raw, or NULL.
static LISTENER: AtomicPtr<core::ffi::c_void> = AtomicPtr::new(core::ptr::null_mut());

/// # Safety
///
/// Called by `inode_dio_wait()` while [`Registration<T>`] is registered:
/// `LISTENER` holds an `Arc<T>` until after unregistering, which waits for
/// every call to return.
unsafe extern "C" fn notify_callback<T: Notify>(
    inode: *mut bindings::inode,
    start: bindings::loff_t,
    end: bindings::loff_t,
) {
    // An empty range: the operation changes no mapping.
    if end < 0 || start > end {
        return;
    }
    let p = LISTENER.load(Ordering::Acquire).cast::<T>();
    if !p.is_null() {
        // SAFETY: See the function's safety section.
        unsafe { (*p).notify(inode as usize, start.max(0) as u64, end as u64) };
    }
}

/// Registration of `T` as the kernel's one `dio_wait_notify` callback.
///
/// # Invariants
///
/// While this lives, `notify_callback::<T>` is registered and `LISTENER`
/// holds the reference to `T` that `register` made raw.
pub(crate) struct Registration<T: Notify> {
    _listener: PhantomData<Arc<T>>,
}

impl<T: Notify> Registration<T> {
    /// `EBUSY` when another callback is registered.
    pub(crate) fn register(listener: Arc<T>) -> Result<Self> {
        let raw = Arc::into_raw(listener).cast_mut().cast();
        if LISTENER
            .compare_exchange(
                core::ptr::null_mut(),
                raw,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_err()
        {
            // SAFETY: Made raw just above and not published.
            drop(unsafe { Arc::from_raw(raw.cast::<T>()) });
            return Err(EBUSY);
        }
        // SAFETY: The callback is a function of this module, which outlives
        // the registration (unregistered in `drop`).
        let r =
            to_result(unsafe { bindings::dio_wait_notify_register(Some(notify_callback::<T>)) });
        if let Err(e) = r {
            let raw = LISTENER.swap(core::ptr::null_mut(), Ordering::AcqRel);
            // SAFETY: Published just above; the callback was not registered.
            drop(unsafe { Arc::from_raw(raw.cast::<T>()) });
            return Err(e);
        }
        // INVARIANT: Registered, and `LISTENER` holds the reference.
        Ok(Self {
            _listener: PhantomData,
        })
    }
}

impl<T: Notify> Drop for Registration<T> {
    fn drop(&mut self) {
        // SAFETY: Registered in `register` (type invariant); this returns
        // once no call of the callback runs any more.
        unsafe { bindings::dio_wait_notify_unregister(Some(notify_callback::<T>)) };
        let raw = LISTENER.swap(core::ptr::null_mut(), Ordering::AcqRel);
        if !raw.is_null() {
            // SAFETY: The reference `register` made raw; no callback uses it.
            drop(unsafe { Arc::from_raw(raw.cast::<T>()) });
        }
    }
}
