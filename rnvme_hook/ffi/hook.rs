// SPDX-License-Identifier: GPL-2.0

//! The module's side of the kernel's rnvme hook: the translation the NVMe
//! driver asks for when a function wants another read, and its
//! registration.
//!
//! The logic above provides what a chain reads by implementing
//! [`Translate`]; the C callbacks are generic over it.
//!
//! C header: [`include/linux/rnvme.h`](srctree/include/linux/rnvme.h).

use core::marker::PhantomData;
use kernel::{bindings, error::to_result, ffi::c_int, prelude::*};

use super::{
    bpf::Prog,
    chain_io::{end_io, ChainIo},
    file::LiveFile,
};

/// Where a read lies on its device: `bytes` bytes (whole logical blocks)
/// from `sector` (partition-relative), of which the function sees the
/// bytes asked for, from `data_off` on.
#[derive(Clone, Copy)]
pub(crate) struct Window {
    pub(crate) sector: u64,
    pub(crate) bytes: u32,
    pub(crate) data_off: u32,
}

/// How the driver may issue a read a function asked for.
pub(crate) enum Route {
    /// Resubmitted at once, if the request can carry the window.
    Driver(Window),
    /// Issued from process context, for this `enum rnvme_fallback` reason.
    Process(u32),
}

/// What a chain reads: a tag set of files, with the function to run on
/// them, and the translation of their file offsets to sectors.
///
/// The kernel admits one translation at a time: the module registers a
/// [`HookRegistration`] and builds its chains ([`ChainIo`]) with one and the
/// same implementation of this trait.
pub(crate) trait Translate: Send + Sync + 'static {
    /// File number `index` of the set.
    fn file(&self, index: u32) -> Option<&LiveFile>;

    /// The function the chain runs.
    fn prog(&self) -> &Prog;

    /// The chain's hop limit (the kernel's `RNVME_MAX_HOPS` bounds it too).
    fn max_hops(&self) -> u32;

    /// Translation from completion context (no sleeping, no allocation) of
    /// a read of `len` bytes at `offset` of file `file`, asked for after a
    /// read of `keep` bytes of file `from`: where the driver reads it, or
    /// why only process context can, or the error that ends the chain. The
    /// chain holds a direct I/O count on `file` already.
    fn translate(&self, from: u32, file: u32, offset: u64, len: u32, keep: u32) -> Result<Route>;
}

/// The operations of the kernel's rnvme hook for chains on `T`.
struct OpsTable<T>(PhantomData<T>);

impl<T: Translate> OpsTable<T> {
    const OPS: bindings::rnvme_ops = bindings::rnvme_ops {
        translate: Some(translate_callback::<T>),
        end_io: Some(end_io::<T>),
    };
}

/// Registration of the translation of `T` with the kernel's rnvme hook.
///
/// # Invariants
///
/// `ops` is registered with the hook for the whole life of `self`.
pub(crate) struct HookRegistration<T: Translate> {
    ops: &'static bindings::rnvme_ops,
    _translate: PhantomData<T>,
}

impl<T: Translate> HookRegistration<T> {
    pub(crate) fn register() -> Result<Self> {
        let ops: &'static bindings::rnvme_ops = &OpsTable::<T>::OPS;
        // SAFETY: `ops` is static.
        to_result(unsafe { bindings::rnvme_register_ops(ops) })?;
        // INVARIANT: Registered just now; `drop` unregisters the same `ops`.
        Ok(Self {
            ops,
            _translate: PhantomData,
        })
    }
}

impl<T: Translate> Drop for HookRegistration<T> {
    fn drop(&mut self) {
        // SAFETY: Registered in `register` (type invariant); this waits until
        // no hook runs `translate_callback` any more.
        unsafe { bindings::rnvme_unregister_ops(self.ops) };
    }
}

/// # Safety
///
/// Called by the hook for a chain of ours: `chain` is the first field of a
/// live [`ChainIo<T>`] (its bio is in flight, and the bio holds a reference;
/// the module builds its chains with the `T` it registered, see
/// [`Translate`]).
unsafe extern "C" fn translate_callback<T: Translate>(
    chain: *mut bindings::rnvme_chain,
    win: *mut bindings::rnvme_window,
) -> c_int {
    // SAFETY: See the function's safety section; `ChainIo` is `repr(C)`.
    let io = unsafe { &*(chain as *const ChainIo<T>) };
    // SAFETY: The hook owns the chain while its bio completes.
    let c = unsafe { &mut *chain };
    io.hold_resubmitted(c.next_file);
    match io
        .source()
        .translate(c.file, c.next_file, c.next_offset, c.next_len, c.win_bytes)
    {
        Ok(Route::Driver(w)) => {
            // SAFETY: The hook passes a valid out pointer.
            unsafe {
                (*win).sector = w.sector;
                (*win).bytes = w.bytes;
                (*win).data_off = w.data_off;
            }
            0
        }
        Ok(Route::Process(reason)) => {
            c.fallback = reason;
            EAGAIN.to_errno()
        }
        Err(e) => e.to_errno(),
    }
}
