// SPDX-License-Identifier: GPL-2.0 OR MIT

//! rnvme: load, attach and run storage functions — BPF programs that run in
//! the NVMe completion path and chain dependent reads inside the kernel.
//!
//! This crate is the library behind the `rnvme` command. It loads storage
//! functions ([`StorageFunction`]), talks to the `rnvme_hook` module through
//! its control device ([`Control`]), tags files, alone or several as a tag
//! set ([`Tag`]), and runs chain reads on them, each read a byte window of
//! a file of the set ([`Window`]): one at a time with a blocking call, or
//! many in flight from one thread through io_uring ([`ChainRing`]).

#[path = "../../rnvme_hook/abi.rs"]
pub mod abi;
pub mod engines;
#[doc(hidden)]
#[path = "../../rnvme_hook/extent.rs"]
pub mod extent;
pub mod format;
pub mod metrics;
pub mod uapi;

mod chain;
mod control;
mod error;
mod function;
mod ring;
mod sys;
mod tag;

pub use chain::{ChainOutcome, Window};
pub use control::{bpf_probe, BpfSupport, Control, DEFAULT_DEVICE};
pub use error::{Error, Result};
pub use function::{builtin_functions, StorageFunction, TestRun};
pub use ring::{ChainCompletion, ChainRequest, ChainRing};
pub use tag::Tag;
pub use uapi::Verdict;

#[cfg(feature = "test-fixtures")]
mod objects {
    include!(concat!(env!("OUT_DIR"), "/functions.rs"));
}

mod skeletons {
    include!(concat!(env!("OUT_DIR"), "/skeletons.rs"));
}

/// The headers a storage function is compiled against, as (relative path,
/// contents): `linux/rnvme.h` (the kernel's UAPI, taken from the patch
/// series at build time) and `rnvme_bpf.h`. Write them to a directory and
/// pass it to clang with `-I`.
pub fn headers() -> [(&'static str, &'static str); 2] {
    [
        (
            "linux/rnvme.h",
            include_str!(concat!(env!("OUT_DIR"), "/include/linux/rnvme.h")),
        ),
        ("rnvme_bpf.h", include_str!("../../bpf/include/rnvme_bpf.h")),
    ]
}

/// The fixture programs of `bpf/tests/` (for the in-VM tests).
#[cfg(feature = "test-fixtures")]
pub fn fixture(name: &str) -> Option<&'static [u8]> {
    objects::FIXTURES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, o)| *o)
}
