// SPDX-License-Identifier: GPL-2.0 OR MIT

//! A ring for what the library would never send: `URING_CHAIN_READ`
//! commands with any op and payload, and `IORING_OP_ASYNC_CANCEL` of them.

use std::os::fd::RawFd;

use anyhow::{Context, Result};
use io_uring::{opcode, types, IoUring};

/// A raw io_uring ring.
pub struct RawRing {
    ring: IoUring,
}

impl RawRing {
    pub fn new(entries: u32, iopoll: bool) -> Result<Self> {
        let mut b = IoUring::builder();
        if iopoll {
            b.setup_iopoll();
        }
        Ok(Self {
            ring: b.build(entries).context("io_uring setup")?,
        })
    }

    /// Queues an `IORING_OP_URING_CMD` on `fd` with `op` and `payload`,
    /// submitting first if the queue is full.
    ///
    /// # Safety
    ///
    /// Whatever user memory `payload` names (a `ChainRead` and its buffers)
    /// stays valid until this command's CQE is reaped; addresses that name
    /// no memory of ours (unmapped, a guard page, kernel addresses) are fine:
    /// the kernel copies through them with fault checks.
    pub unsafe fn push_cmd(
        &mut self,
        fd: RawFd,
        op: u32,
        payload: [u8; 16],
        user_data: u64,
    ) -> Result<()> {
        let sqe = opcode::UringCmd16::new(types::Fd(fd), op)
            .cmd(payload)
            .build()
            .user_data(user_data);
        self.push(&sqe)
    }

    /// Queues a cancel of the command whose user data is `target`.
    pub fn push_cancel(&mut self, target: u64, user_data: u64) -> Result<()> {
        let sqe = opcode::AsyncCancel::new(target)
            .build()
            .user_data(user_data);
        // SAFETY: A cancel names no memory.
        unsafe { self.push(&sqe) }
    }

    /// # Safety
    ///
    /// As [`RawRing::push_cmd`] for the memory `sqe` names.
    unsafe fn push(&mut self, sqe: &io_uring::squeue::Entry) -> Result<()> {
        if self.ring.submission().is_full() {
            self.ring.submit().context("io_uring_enter")?;
        }
        // SAFETY: Given by the caller.
        unsafe { self.ring.submission().push(sqe) }.context("submission queue full")
    }

    /// Submits and waits for `want` CQEs; returns (user data, result) of
    /// every CQE there is.
    pub fn reap(&mut self, want: usize) -> Result<Vec<(u64, i32)>> {
        let mut out = Vec::new();
        while out.len() < want {
            self.ring.submit_and_wait(1).context("io_uring_enter")?;
            out.extend(self.ring.completion().map(|c| (c.user_data(), c.result())));
        }
        Ok(out)
    }
}
