// SPDX-License-Identifier: GPL-2.0 OR MIT

//! rnvme: load, attach and run storage functions — BPF programs that run in
//! the NVMe completion path and chain dependent reads inside the kernel.
//!
//! This crate is the library behind the `rnvme` command. It talks to the
//! `rnvme_hook` kernel module through its control device ([`Control`]).

#[path = "../../rnvme_hook/abi.rs"]
pub mod abi;

mod control;
mod error;
mod sys;

pub use control::{bpf_probe, BpfSupport, Control, DEFAULT_DEVICE};
pub use error::{Error, Result};
