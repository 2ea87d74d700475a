// SPDX-License-Identifier: GPL-2.0

//! The direct I/O counts a chain holds on its files while its reads are in
//! flight, so that truncation and remapping wait for them as they wait for
//! direct I/O (`inode_dio_wait()`).
//!
//! A bio the submitter issues holds one count on its file, from just before
//! submission to its completion. When the driver's hook resubmits a chain's
//! request for another read, the hook first takes a count on the next
//! read's file (once per file and bio), before the translation checks that
//! the file's map is current; the completion ends them all.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::{
    chain_io::{ChainIo, MAX_FILES},
    hook::Translate,
};

const _: () = assert!(MAX_FILES <= 64);

/// The counts one chain holds.
pub(crate) struct Holds {
    /// The file of the bio in flight (`u32::MAX`: none).
    submitted: AtomicU32,
    /// Files the hook took a count on, one bit each.
    resubmitted: AtomicU64,
}

impl Holds {
    pub(super) const fn new() -> Self {
        Self {
            submitted: AtomicU32::new(u32::MAX),
            resubmitted: AtomicU64::new(0),
        }
    }
}

impl<T: Translate> ChainIo<T> {
    /// Counts the bio about to be submitted for file `file`.
    pub(super) fn hold_submitted(&self, file: u32) {
        if let Some(f) = self.source().file(file) {
            f.dio_begin();
            self.holds.submitted.store(file, Ordering::Relaxed);
        }
    }

    /// The hook's count on file `file` before it translates a read of it
    /// (completion context, or whichever task polls the request).
    pub(super) fn hold_resubmitted(&self, file: u32) {
        let Some(f) = self.source().file(file) else {
            return;
        };
        let bit = 1u64 << (file % 64);
        if self.holds.resubmitted.fetch_or(bit, Ordering::AcqRel) & bit == 0 {
            f.dio_begin();
        }
    }

    /// Ends every count of the bio that completed (its completion).
    pub(super) fn release_holds(&self) {
        let file = self.holds.submitted.swap(u32::MAX, Ordering::AcqRel);
        if let Some(f) = self.source().file(file) {
            f.dio_end();
        }
        let mut bits = self.holds.resubmitted.swap(0, Ordering::AcqRel);
        while bits != 0 {
            let file = bits.trailing_zeros();
            bits &= bits - 1;
            if let Some(f) = self.source().file(file) {
                f.dio_end();
            }
        }
    }
}
