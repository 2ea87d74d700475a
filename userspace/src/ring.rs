// SPDX-License-Identifier: GPL-2.0 OR MIT

//! Many chain reads in flight from one thread: an io_uring ring of
//! [`abi::URING_CHAIN_READ`] commands on the control device.
//!
//! This file and `sys.rs` hold the crate's `unsafe` code: an SQE names the
//! caller's `ChainRead` and buffers by address, so the ring owns them (each
//! chain's [`Slot`]) until the kernel has posted the chain's CQE.

use std::{io, os::fd::AsRawFd};

use io_uring::{opcode, types, IoUring};

use crate::{abi, chain::ChainOutcome, Control, Error, Result, Window};

/// A chain for a [`ChainRing`]: its first read on tag `tag`, its scratch
/// (at most 4096 bytes, given to the function and handed back), and room
/// for the bytes of its last read (`out_len`, 0 for none).
#[derive(Clone, Debug, Default)]
pub struct ChainRequest {
    pub tag: u32,
    pub first: Window,
    pub scratch: Vec<u8>,
    pub out_len: u32,
}

/// A chain that ended, with the caller's `id` for it.
#[derive(Debug)]
pub struct ChainCompletion {
    pub id: u64,
    pub result: Result<ChainOutcome>,
    /// The scratch as the function left it.
    pub scratch: Vec<u8>,
    /// The bytes of the last read (empty if they were not asked for, or
    /// did not fit: ENOSPC).
    pub out: Vec<u8>,
}

/// What the kernel may read and write for one chain in flight: boxed, so
/// that its address does not move while the ring holds it.
struct Slot {
    id: u64,
    args: Box<abi::ChainRead>,
    scratch: Vec<u8>,
    out: Vec<u8>,
}

/// An io_uring ring of chain reads on a control device: up to `depth`
/// chains in flight, issued and reaped by the calling thread.
///
/// On a polled ring (`IORING_SETUP_IOPOLL`), the chains' reads go to the
/// namespace's poll queues and [`ChainRing::reap`] polls for them.
pub struct ChainRing<'c> {
    control: &'c Control,
    ring: IoUring,
    polled: bool,
    /// One per possible chain in flight; `None` when free.
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    /// Pushed to the submission queue but not yet submitted.
    queued: usize,
}

impl<'c> ChainRing<'c> {
    /// A ring for up to `depth` (1..=4096) chains in flight on `control`.
    pub fn new(control: &'c Control, depth: u32, polled: bool) -> Result<Self> {
        let depth = depth.clamp(1, 4096);
        let mut builder = IoUring::builder();
        if polled {
            builder.setup_iopoll();
        }
        let ring = builder.build(depth).map_err(|cause| Error::Ioctl {
            what: "io_uring setup",
            cause,
        })?;
        Ok(Self {
            control,
            ring,
            polled,
            slots: (0..depth).map(|_| None).collect(),
            free: (0..depth as usize).rev().collect(),
            queued: 0,
        })
    }

    /// Chains the ring can hold in flight.
    pub fn depth(&self) -> usize {
        self.slots.len()
    }

    /// Chains queued or in flight.
    pub fn in_flight(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// Whether the ring polls.
    pub fn polled(&self) -> bool {
        self.polled
    }

    /// Queues chain `req` under the caller's `id`; it starts at the next
    /// [`ChainRing::submit`] or [`ChainRing::reap`]. Fails with EBUSY when
    /// `depth` chains are already in flight.
    pub fn push(&mut self, id: u64, req: ChainRequest) -> Result<()> {
        let Some(index) = self.free.pop() else {
            return Err(ring_error("chain ring full", libc::EBUSY));
        };
        let mut slot = Slot {
            id,
            args: Box::new(abi::ChainRead {
                tag: req.tag,
                flags: 0,
                offset: req.first.offset,
                len: req.first.len,
                file: req.first.file,
                ..Default::default()
            }),
            scratch: req.scratch,
            out: vec![0; req.out_len as usize],
        };
        slot.args.scratch = slot.scratch.as_mut_ptr() as u64;
        slot.args.scratch_len = u32::try_from(slot.scratch.len()).unwrap_or(u32::MAX);
        if !slot.out.is_empty() {
            slot.args.out = slot.out.as_mut_ptr() as u64;
            slot.args.out_len = req.out_len;
        }
        let cmd = abi::UringChainRead {
            args: &mut *slot.args as *mut abi::ChainRead as u64,
            ..Default::default()
        };
        let sqe = opcode::UringCmd16::new(
            types::Fd(self.control.file().as_raw_fd()),
            abi::URING_CHAIN_READ,
        )
        .cmd(cmd.to_bytes())
        .build()
        .user_data(index as u64);
        if self.ring.submission().is_full() {
            self.submit()?;
        }
        // SAFETY: The SQE names `slot.args` (boxed) and, through it, the
        // heap buffers of `slot.scratch` and `slot.out`; the slot is stored
        // below and stays in place, untouched, until `reap` takes this
        // SQE's CQE, which the kernel posts after its last write to them.
        // `Drop` reaps every chain in flight before the slots go.
        let pushed = unsafe { self.ring.submission().push(&sqe) };
        if pushed.is_err() {
            self.free.push(index);
            return Err(ring_error("io_uring submission queue full", libc::EBUSY));
        }
        self.slots[index] = Some(slot);
        self.queued += 1;
        Ok(())
    }

    /// Submits the chains queued so far; returns how many.
    pub fn submit(&mut self) -> Result<usize> {
        let n = self
            .ring
            .submit()
            .map_err(|c| ring_io("io_uring_enter", c))?;
        self.queued = self.queued.saturating_sub(n);
        Ok(n)
    }

    /// Submits what is queued and waits until at least `min` chains (capped
    /// at those in flight) have ended; returns every chain that has.
    pub fn reap(&mut self, min: usize) -> Result<Vec<ChainCompletion>> {
        let want = min.min(self.in_flight());
        let n = self
            .ring
            .submit_and_wait(want)
            .map_err(|c| ring_io("io_uring_enter", c))?;
        self.queued = self.queued.saturating_sub(n);
        let mut done = Vec::new();
        let cqes: Vec<(u64, i32)> = self
            .ring
            .completion()
            .map(|c| (c.user_data(), c.result()))
            .collect();
        for (index, res) in cqes {
            let Some(slot) = self.slots.get_mut(index as usize).and_then(Option::take) else {
                continue;
            };
            self.free.push(index as usize);
            done.push(completion(slot, res));
        }
        Ok(done)
    }

    /// Runs every chain of `reqs` with up to `depth` in flight; returns
    /// their completions in the order of `reqs` (ids are positions).
    pub fn run_all(
        &mut self,
        reqs: impl IntoIterator<Item = ChainRequest>,
    ) -> Result<Vec<ChainCompletion>> {
        let mut out: Vec<Option<ChainCompletion>> = Vec::new();
        let mut reqs = reqs.into_iter().peekable();
        let mut next = 0u64;
        while reqs.peek().is_some() || self.in_flight() > 0 {
            while self.in_flight() < self.depth() {
                let Some(r) = reqs.next() else { break };
                self.push(next, r)?;
                out.push(None);
                next += 1;
            }
            for c in self.reap(1)? {
                let i = c.id as usize;
                out[i] = Some(c);
            }
        }
        Ok(out.into_iter().flatten().collect())
    }
}

impl Drop for ChainRing<'_> {
    fn drop(&mut self) {
        // The kernel writes into the slots until each chain's CQE.
        while self.in_flight() > 0 {
            if self.reap(1).is_err() {
                // The ring no longer works: keep the slots alive rather
                // than free memory the kernel may still write.
                std::mem::forget(std::mem::take(&mut self.slots));
                return;
            }
        }
    }
}

fn completion(slot: Slot, res: i32) -> ChainCompletion {
    let Slot {
        id,
        args,
        scratch,
        mut out,
    } = slot;
    let result = if res == 0 {
        Ok(ChainOutcome::of(&args))
    } else {
        Err(Error::Chain {
            hops: args.hops,
            cause: io::Error::from_raw_os_error(-res),
        })
    };
    out.truncate(if res == 0 { args.last_len as usize } else { 0 });
    ChainCompletion {
        id,
        result,
        scratch,
        out,
    }
}

fn ring_error(what: &'static str, errno: i32) -> Error {
    ring_io(what, io::Error::from_raw_os_error(errno))
}

fn ring_io(what: &'static str, cause: io::Error) -> Error {
    Error::Ioctl { what, cause }
}
