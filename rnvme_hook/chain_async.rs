// SPDX-License-Identifier: GPL-2.0

//! Chain reads started by io_uring commands ([`abi::URING_CHAIN_READ`]):
//! the same steps as the ioctl's (`chain.rs`), but no task waits. The
//! command is parked with its chain while a read is in flight; the read's
//! completion wakes it, and the next step runs as io_uring task work in the
//! submitting task: it runs the function if the hook did not, issues the
//! read the driver left to process context, or ends the chain, writes what
//! it left to the caller's memory and completes the command with its CQE.
//!
//! Reads the hook cannot see (a window split across extents) are waited for
//! in that task work, as the ioctl waits for them.

use core::sync::atomic::Ordering;
use kernel::{
    new_mutex,
    prelude::*,
    sync::{Arc, Mutex},
    time::Ktime,
    uaccess::UserSlice,
};

use crate::{
    abi,
    budget::Permit,
    chain::{self, Next, Step},
    counters::COUNTERS,
    ffi::{
        chain_io::ChainIo,
        errno,
        uring::{Command, Issued, Pending, PollBatch, Waker},
    },
    tag::Tag,
};

/// A chain read in flight for an io_uring command.
#[pin_data]
pub(crate) struct AsyncChain {
    /// Held by each step, and by the ring's polling of the read in flight,
    /// so that a step never releases the bio being polled.
    #[pin]
    state: Mutex<State>,
}

struct State {
    tag: Arc<Tag>,
    io: Arc<ChainIo<Tag>>,
    /// The caller's `ChainRead`, and where to write it back.
    args: abi::ChainRead,
    user_args: u64,
    next: Next,
    start: Ktime,
    /// The command's wake-up, for each read left in flight.
    waker: Option<Waker>,
    /// Its place among the tag's chains in flight, once it has one.
    permit: Option<Permit>,
    /// It waits for a place (`Budget::enter`).
    waiting: bool,
}

/// Starts the chain the `ChainRead` at `user_args` asks for, on `tag`.
pub(crate) fn start(
    tag: Arc<Tag>,
    args: abi::ChainRead,
    user_args: u64,
    cmd: &Command,
) -> Result<Issued> {
    // Nothing would poll the reads of a chain on a ring that does not poll.
    if args.flags & abi::CHAIN_POLLED != 0 && !cmd.iopoll() {
        return Err(EINVAL);
    }
    let s = chain::prepare(&tag, &args, cmd.iopoll())?;
    let stats = tag.stats().clone();
    let state = State {
        tag,
        io: s.io,
        args,
        user_args,
        next: s.first,
        start: s.start,
        waker: None,
        permit: None,
        waiting: false,
    };
    let chain = match Arc::pin_init(
        pin_init!(AsyncChain {
            state <- new_mutex!(state),
        }),
        GFP_KERNEL_ACCOUNT,
    ) {
        Ok(chain) => chain,
        Err(e) => {
            // `prepare` counted it as started.
            let e = Error::from(e);
            COUNTERS.chain_ended(&stats.chain, &Err(e), 0, 0, 0);
            return Err(e);
        }
    };
    COUNTERS.uring_chains.fetch_add(1, Ordering::Relaxed);
    COUNTERS.uring_in_flight.fetch_add(1, Ordering::Relaxed);
    Ok(cmd.park(chain, |c, waker| {
        let mut s = c.state.lock();
        s.waker = Some(waker);
        // Woken before the lock is ours again, `resume` finds `waiting`.
        match s.tag.budget().enter(Some(waker)) {
            Ok(Some(permit)) => {
                s.permit = Some(permit);
                s.advance()
            }
            Ok(None) => {
                s.waiting = true;
                None
            }
            Err(e) => Some(s.end(Err(e))),
        }
    }))
}

impl State {
    /// Issues reads until one is in flight (`None`: the waker will come) or
    /// the chain ends (the CQE result).
    fn advance(&mut self) -> Option<i32> {
        loop {
            match chain::issue(&self.tag, &self.io, &self.next, self.waker) {
                Ok(true) => return None,
                Ok(false) => (),
                Err(e) => return Some(self.end(Err(e))),
            }
            match chain::after_read(&self.io) {
                Step::Read(n) => self.next = n,
                Step::End(result) => return Some(self.end(result)),
            }
        }
    }

    /// Ends the chain with `result`: writes the caller's `ChainRead` and
    /// buffers, and gives the CQE result.
    fn end(&mut self, result: Result) -> i32 {
        COUNTERS.uring_in_flight.fetch_sub(1, Ordering::Relaxed);
        // The next waiting chain of the tag may start.
        self.permit = None;
        let mut r = chain::finish(&self.tag, &self.io, &mut self.args, result, self.start);
        if r != Err(EFAULT) {
            let written = UserSlice::new(self.user_args as usize, size_of::<abi::ChainRead>())
                .writer()
                .write(&self.args);
            if written.is_err() {
                r = Err(EFAULT);
            }
        }
        match r {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        }
    }

    /// Ends the chain without touching user memory (the task or the ring
    /// is going away).
    fn abandon(&mut self) -> i32 {
        COUNTERS.uring_in_flight.fetch_sub(1, Ordering::Relaxed);
        self.permit = None;
        let e = errno::ecanceled();
        chain::abandoned(&self.tag, &self.io, e, self.start);
        e.to_errno()
    }
}

impl Pending for AsyncChain {
    fn poll(&self, batch: &PollBatch) -> i32 {
        self.state.lock().io.poll(batch)
    }

    fn resume(&self, live: bool) -> Option<i32> {
        let mut s = self.state.lock();
        if s.waiting {
            // Its turn came: the place was counted for it.
            s.waiting = false;
            s.permit = Some(s.tag.budget().granted());
            if !live {
                return Some(s.abandon());
            }
            return s.advance();
        }
        let read = s.io.reap();
        if !live {
            return Some(s.abandon());
        }
        if let Err(e) = read {
            return Some(s.end(Err(e)));
        }
        match chain::after_read(&s.io) {
            Step::Read(n) => {
                s.next = n;
                s.advance()
            }
            Step::End(result) => Some(s.end(result)),
        }
    }
}
