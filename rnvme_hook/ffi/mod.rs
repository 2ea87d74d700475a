// SPDX-License-Identifier: GPL-2.0

//! Safe abstractions over the C APIs the module uses, one concern a file.
//!
//! Every raw `bindings::` call and every `unsafe` block of the module is
//! under this folder. Its files import only `kernel`, `abi.rs`, `extent.rs`
//! and each other; the logic above them (`counters.rs`, `registry.rs`,
//! `tag.rs`, `chain.rs`, `control.rs`) is safe Rust.
//!
//! - `file.rs`: a frozen file and its block map.
//! - `bpf.rs`: a storage-function program.
//! - `chain_io.rs`: chain read bios, their completion, and the hook's
//!   translation ([`chain_io::Translate`]).
//! - `miscdev.rs`: the control device `/dev/rnvme`.
//! - `debugfs.rs`: counters under `/sys/kernel/debug/rnvme/`.
//! - `task.rs`: the calling task's id and rights.
//! - `errno.rs`: errnos the kernel crate does not name.
//! - `uaccess.rs`: the ABI structures as bytes to copy from and to user space.

pub(crate) mod bpf;
pub(crate) mod chain_io;
pub(crate) mod debugfs;
pub(crate) mod errno;
pub(crate) mod file;
pub(crate) mod miscdev;
pub(crate) mod task;
mod uaccess;
