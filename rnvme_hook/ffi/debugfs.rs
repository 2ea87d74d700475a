// SPDX-License-Identifier: GPL-2.0

//! A debugfs directory of read-only counters and root-only test switches.
//!
//! C header: [`include/linux/debugfs.h`](srctree/include/linux/debugfs.h).

use core::sync::atomic::{AtomicBool, AtomicU64};
use kernel::{bindings, str::CStr};

/// `/sys/kernel/debug/<name>/`, one read-only file per counter and one
/// read-write (root only) file per switch.
///
/// # Invariants
///
/// `dir` is a debugfs directory we created (or an error pointer, which
/// debugfs accepts and ignores).
pub(crate) struct DebugfsCounters {
    dir: *mut bindings::dentry,
}

// SAFETY: Debugfs entries may be removed from any thread.
unsafe impl Send for DebugfsCounters {}
// SAFETY: `&DebugfsCounters` exposes nothing.
unsafe impl Sync for DebugfsCounters {}

impl DebugfsCounters {
    /// Creates directory `name` with a file for each of `counters` and of
    /// `switches`.
    pub(crate) fn create(
        name: &CStr,
        counters: impl IntoIterator<Item = (&'static CStr, &'static AtomicU64)>,
        switches: impl IntoIterator<Item = (&'static CStr, &'static AtomicBool)>,
    ) -> Self {
        // SAFETY: Creates a top-level directory; failure yields an error
        // pointer that the other debugfs calls accept.
        let dir =
            unsafe { bindings::debugfs_create_dir(name.as_char_ptr(), core::ptr::null_mut()) };
        for (file, counter) in counters {
            // SAFETY: `counter` is static; debugfs reads it as a `u64`, which
            // has the layout of `AtomicU64`, with an atomic 64-bit load.
            unsafe {
                bindings::debugfs_create_u64(file.as_char_ptr(), 0o444, dir, counter.as_ptr())
            };
        }
        for (file, switch) in switches {
            // SAFETY: `switch` is static; debugfs reads and writes it as a
            // `bool`, which has the layout of `AtomicBool`, one byte at a
            // time.
            unsafe {
                bindings::debugfs_create_bool(file.as_char_ptr(), 0o600, dir, switch.as_ptr())
            };
        }
        // INVARIANT: `dir` came from `debugfs_create_dir`.
        Self { dir }
    }
}

impl Drop for DebugfsCounters {
    fn drop(&mut self) {
        // SAFETY: `dir` came from `debugfs_create_dir` (type invariant).
        unsafe { bindings::debugfs_remove(self.dir) };
    }
}
