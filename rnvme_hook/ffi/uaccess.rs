// SPDX-License-Identifier: GPL-2.0

//! The ioctl structures of [`abi`] as plain bytes, so that `UserSlice` can
//! copy them from and to user space.

use kernel::types::{AsBytes, FromBytes};

use crate::abi;

/// Implements `$trait` for each of the types that follow it; the invocation
/// carries the safety argument (as the kernel's `impl_asbytes!`).
macro_rules! impl_bytes {
    ($($trait:ident for $($t:ty),+;)*) => {
        // SAFETY: Safety comments written in the macro invocation.
        $($(unsafe impl $trait for $t {})+)*
    };
}

impl_bytes! {
    // SAFETY: These ABI structures are `#[repr(C)]` with only integer fields
    // and arrays of integers, and no padding (sizes asserted in `abi.rs`):
    // every byte is initialised, and every bit pattern is a valid value.
    AsBytes for abi::Version, abi::Attach, abi::AttachSet, abi::ChainRead, abi::Stats, abi::Metrics,
        abi::TagInfo, abi::TagList, abi::Budgets;
    FromBytes for abi::Attach, abi::AttachSet, abi::Detach, abi::ChainRead, abi::TagList,
        abi::Budgets;
}
