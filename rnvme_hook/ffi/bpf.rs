// SPDX-License-Identifier: GPL-2.0

//! Storage functions: BPF programs of type `BPF_PROG_TYPE_RNVME`.
//!
//! C header: [`include/linux/bpf.h`](srctree/include/linux/bpf.h).

use core::ptr::NonNull;
use kernel::{bindings, error::from_err_ptr, prelude::*};

use crate::abi;

/// A loaded storage function.
///
/// # Invariants
///
/// `ptr` is a `BPF_PROG_TYPE_RNVME` program we hold a reference on.
pub(crate) struct Prog {
    ptr: NonNull<bindings::bpf_prog>,
}

// SAFETY: Program references may be used and dropped on any thread.
unsafe impl Send for Prog {}
// SAFETY: See `Send`.
unsafe impl Sync for Prog {}

impl Prog {
    /// Takes program fd `fd`: `EBADF` if it is no fd, `EINVAL` if it is not
    /// a storage function.
    pub(crate) fn get(fd: i32) -> Result<Self> {
        let fd = u32::try_from(fd).map_err(|_| EBADF)?;
        // SAFETY: Returns a referenced program of the type asked for, or an
        // error pointer.
        let ptr = from_err_ptr(unsafe {
            bindings::bpf_prog_get_type_dev(fd, bindings::bpf_prog_type_BPF_PROG_TYPE_RNVME, false)
        })?;
        // INVARIANT: `bpf_prog_get_type_dev` succeeded, so `ptr` is a
        // storage function with a reference for us.
        Ok(Self {
            ptr: NonNull::new(ptr).ok_or(EINVAL)?,
        })
    }

    /// The program, for a chain that runs it while `self` lives.
    pub(super) fn as_ptr(&self) -> *mut bindings::bpf_prog {
        self.ptr.as_ptr()
    }

    /// The program's id and name, as `bpftool prog` shows them.
    pub(crate) fn id_and_name(&self) -> (u32, [u8; abi::FUNCTION_NAME_LEN]) {
        // SAFETY: We hold a reference (type invariant); a loaded program's
        // `aux`, id and name do not change.
        unsafe {
            let aux = (*self.ptr.as_ptr()).aux;
            ((*aux).id, (*aux).name.map(|c| c as u8))
        }
    }
}

impl Drop for Prog {
    fn drop(&mut self) {
        // SAFETY: We hold a reference (type invariant); safe in any context.
        unsafe { bindings::bpf_prog_put(self.ptr.as_ptr()) };
    }
}
