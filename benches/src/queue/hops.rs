// SPDX-License-Identifier: GPL-2.0 OR MIT

//! The baseline of the queue-depth workload: the chain walk as a per-hop
//! io_uring state machine, N lookups in flight from one thread.

use std::{fs::File, os::fd::AsRawFd, time::Instant};

use anyhow::{ensure, Context, Result};
use io_uring::{opcode, types, IoUring};
use rnvme::format::chain::{self, ChainResult};

use crate::{
    paths::Workload,
    readers::{open_direct, Aligned},
};

/// A lookup of the per-hop state machine, between its reads.
#[derive(Clone, Copy)]
struct Walk {
    result: ChainResult,
    offset: u64,
    len: u32,
    started: Instant,
}

/// The per-hop state machine: a ring, the file, and a buffer per lookup in
/// flight (registered on a polled ring).
pub struct HopRing<'w> {
    w: &'w Workload,
    ring: IoUring,
    file: File,
    bufs: Vec<Aligned>,
    walks: Vec<Option<Walk>>,
    fixed: bool,
}

impl<'w> HopRing<'w> {
    pub fn new(w: &'w Workload, depth: u32, polled: bool) -> Result<Self> {
        let mut builder = IoUring::builder();
        if polled {
            builder.setup_iopoll();
        }
        let ring = builder
            .build(depth.next_power_of_two())
            .context("io_uring setup")?;
        let file = open_direct(&w.path)?;
        let mut bufs: Vec<Aligned> = (0..depth).map(|_| Aligned::new()).collect();
        if polled {
            let submitter = ring.submitter();
            submitter
                .register_files(&[file.as_raw_fd()])
                .context("IORING_REGISTER_FILES")?;
            let iovs: Vec<libc::iovec> = bufs
                .iter_mut()
                .map(|b| {
                    let whole = b.get(b.capacity());
                    libc::iovec {
                        iov_base: whole.as_mut_ptr().cast(),
                        iov_len: whole.len(),
                    }
                })
                .collect();
            // SAFETY: The registered ranges are the buffers of `bufs`, heap
            // blocks that live as long as the ring (fields of one struct,
            // the ring dropped first) and do not move.
            unsafe { submitter.register_buffers(&iovs) }.context("IORING_REGISTER_BUFFERS")?;
        }
        Ok(Self {
            w,
            ring,
            file,
            bufs,
            walks: vec![None; depth as usize],
            fixed: polled,
        })
    }

    /// Queues the read of walk `slot`.
    fn issue(&mut self, slot: usize) -> Result<()> {
        let walk = self.walks[slot].as_ref().context("no walk")?;
        let b = self.bufs[slot].get(walk.len as usize);
        let sqe = if self.fixed {
            opcode::ReadFixed::new(types::Fixed(0), b.as_mut_ptr(), walk.len, slot as u16)
                .offset(walk.offset)
                .build()
        } else {
            opcode::Read::new(types::Fd(self.file.as_raw_fd()), b.as_mut_ptr(), walk.len)
                .offset(walk.offset)
                .build()
        };
        // SAFETY: The buffer of `slot` is not touched until this read's
        // completion is reaped (`run`), and lives as long as the ring.
        unsafe { self.ring.submission().push(&sqe.user_data(slot as u64)) }
            .context("submission queue full")
    }

    /// `n` lookups, the ring's depth in flight; their latencies.
    pub fn run(&mut self, n: usize, want: &ChainResult) -> Result<Vec<u64>> {
        let mut lat = Vec::with_capacity(n);
        let mut next = 0;
        while lat.len() < n {
            for slot in 0..self.walks.len() {
                if next < n && self.walks[slot].is_none() {
                    self.walks[slot] = Some(Walk {
                        result: ChainResult::default(),
                        offset: self.w.chain_start(),
                        len: self.w.block_size,
                        started: Instant::now(),
                    });
                    self.issue(slot)?;
                    next += 1;
                }
            }
            self.ring.submit_and_wait(1).context("io_uring_enter")?;
            let done: Vec<(u64, i32)> = self
                .ring
                .completion()
                .map(|c| (c.user_data(), c.result()))
                .collect();
            for (slot, res) in done {
                let slot = slot as usize;
                let mut walk = self.walks[slot].take().context("a completion of no walk")?;
                ensure!(
                    res == walk.len as i32,
                    "read of {} B at {}: {res}",
                    walk.len,
                    walk.offset
                );
                let block = self.bufs[slot].get(walk.len as usize);
                match chain::step(&mut walk.result, walk.offset, block)
                    .map_err(|e| anyhow::anyhow!("{e:?}"))?
                {
                    Some((offset, len)) => {
                        (walk.offset, walk.len) = (offset, len);
                        self.walks[slot] = Some(walk);
                        self.issue(slot)?;
                    }
                    None => {
                        lat.push(walk.started.elapsed().as_nanos() as u64);
                        ensure!(
                            walk.result == *want,
                            "walk gave {:?}, want {want:?}",
                            walk.result
                        );
                    }
                }
            }
        }
        Ok(lat)
    }
}
