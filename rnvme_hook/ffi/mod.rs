// SPDX-License-Identifier: GPL-2.0

//! Safe abstractions over the C APIs the module uses, one concern a file.
//!
//! Every raw `bindings::` call and every `unsafe` block of the module is
//! under this folder. Its files import only `kernel`, `abi.rs`, `extent.rs`
//! and each other; the logic above them (`counters.rs`, `registry.rs`,
//! `tag.rs`, `chain.rs`, `control.rs`) is safe Rust.
//!
//! - `file.rs`: a tagged file: its block map, page cache and direct I/O count.
//! - `rcu.rs`: a value replaced whole and read without a lock.
//! - `watch.rs`: the kernel's notification of direct I/O drains.
//! - `bpf.rs`: a storage-function program.
//! - `hook.rs`: what a chain reads and the hook's translation of its next
//!   read ([`hook::Translate`]), registered with the kernel.
//! - `chain_io.rs`: chain read bios and their completion.
//! - `chain_hold.rs`: the direct I/O counts a chain holds.
//! - `chain_buf.rs`: a chain's scratch and read buffers.
//! - `poller.rs`: polled waits that share one poller.
//! - `miscdev.rs`: the control device `/dev/rnvme`.
//! - `uring.rs`: io_uring commands on it, parked while their I/O runs.
//! - `debugfs.rs`: counters under `/sys/kernel/debug/rnvme/`.
//! - `task.rs`: the calling task's id and rights.
//! - `errno.rs`: errnos the kernel crate does not name.
//! - `uaccess.rs`: the ABI structures as bytes to copy from and to user space.

pub(crate) mod bpf;
mod chain_buf;
mod chain_hold;
pub(crate) mod chain_io;
pub(crate) mod debugfs;
pub(crate) mod errno;
pub(crate) mod file;
pub(crate) mod hook;
pub(crate) mod miscdev;
mod poller;
pub(crate) mod rcu;
pub(crate) mod task;
mod uaccess;
pub(crate) mod uring;
pub(crate) mod watch;
