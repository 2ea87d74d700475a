// SPDX-License-Identifier: GPL-2.0

//! A small safe abstraction over io_uring commands (`IORING_OP_URING_CMD`)
//! on the control device: what a command asks for, its state while its I/O
//! is in flight, the wake-up its I/O completion sends, the polling of that
//! I/O on `IORING_SETUP_IOPOLL` rings, and the completion of the command.
//!
//! A command's state lives in the command's private area (`pdu`) from the
//! moment it is parked until its CQE. io_uring runs the wake-up's task work
//! in the task that submitted the command (or, when that task or the ring
//! is going away, in a fallback worker: then the state must not touch user
//! memory or start new I/O).
//!
//! C header: [`include/linux/io_uring/cmd.h`](srctree/include/linux/io_uring/cmd.h).

use core::{marker::PhantomData, ptr::NonNull};
use kernel::{
    bindings,
    ffi::{c_int, c_uint},
    prelude::*,
    sync::Arc,
    types::ForeignOwnable,
};

/// The state a file keeps for one of its io_uring commands in flight.
pub(crate) trait Pending: Send + Sync + 'static {
    /// Polls the command's I/O for an `IORING_SETUP_IOPOLL` ring; returns
    /// the completions found (as `bio_poll`).
    fn poll(&self, batch: &PollBatch) -> i32;

    /// The command's I/O completed and woke it ([`Waker::wake`]); runs in
    /// the submitting task, which may sleep and touch its user memory,
    /// unless `live` is false: then the task or the ring is going away and
    /// the state should end without either. Returns the CQE result, or
    /// `None` when the state has handed its [`Waker`] on again (more I/O
    /// in flight).
    fn resume(&self, live: bool) -> Option<i32>;
}

/// An io_uring command being issued to a file (`->uring_cmd`).
///
/// # Invariants
///
/// `raw` is a valid command, not completed, and its SQE may be read: both
/// hold while the file's `uring_cmd` callback runs, which is the only place
/// a `Command` exists.
pub(crate) struct Command {
    raw: NonNull<bindings::io_uring_cmd>,
    issue_flags: u32,
}

/// What issuing a command gave: a result for its CQE now, or nothing yet.
pub(crate) enum Issued {
    /// Complete the command now with this result (0 or a negative errno).
    Now(i32),
    /// The command is parked; its task work completes it.
    Queued,
}

/// A command's CQE result (`Issued`) as the callback returns it.
fn issued_to_c(r: Result<Issued>) -> c_int {
    match r {
        Ok(Issued::Now(res)) => res,
        Ok(Issued::Queued) => -(bindings::EIOCBQUEUED as c_int),
        Err(e) => e.to_errno(),
    }
}

impl Command {
    /// # Safety
    ///
    /// `raw` and `issue_flags` are what io_uring passed to the file's
    /// `uring_cmd` callback, which runs for as long as the `Command` lives.
    pub(super) unsafe fn new(raw: *mut bindings::io_uring_cmd, issue_flags: c_uint) -> Self {
        // INVARIANT: Given by the caller: a command in issue.
        Self {
            // SAFETY: io_uring never passes a null command.
            raw: unsafe { NonNull::new_unchecked(raw) },
            issue_flags,
        }
    }

    /// The command's `cmd_op`.
    pub(crate) fn op(&self) -> u32 {
        // SAFETY: `raw` is valid (type invariant).
        unsafe { (*self.raw.as_ptr()).cmd_op }
    }

    /// The first 16 bytes of the command area of the SQE (all of it in a
    /// ring without `IORING_SETUP_SQE128`).
    pub(crate) fn payload(&self) -> [u8; 16] {
        let mut out = [0u8; 16];
        // SAFETY: The SQE is readable while the command is issued (type
        // invariant); its command area has at least 16 bytes.
        unsafe {
            let cmd = bindings::io_uring_sqe_cmd((*self.raw.as_ptr()).sqe).cast::<u8>();
            core::ptr::copy_nonoverlapping(cmd, out.as_mut_ptr(), out.len());
        }
        out
    }

    /// The ring polls its I/O (`IORING_SETUP_IOPOLL`).
    pub(crate) fn iopoll(&self) -> bool {
        self.issue_flags & bindings::io_uring_cmd_flags_IO_URING_F_IOPOLL as u32 != 0
    }

    /// Parks `state` in the command and runs `start` with a [`Waker`] for
    /// the I/O it submits. If `start` returns `None`, something will wake
    /// the command (its I/O in flight, or whatever it waits for): it
    /// completes later, by `P::resume`, and this returns
    /// [`Issued::Queued`]. Otherwise nothing is in flight and the command
    /// completes now with `start`'s result.
    pub(crate) fn park<P: Pending>(
        &self,
        state: Arc<P>,
        start: impl FnOnce(&P, Waker) -> Option<i32>,
    ) -> Issued {
        let keep = state.clone();
        let pdu = self.pdu();
        // SAFETY: `pdu` is the command's private area, free while it is
        // issued; it holds one reference until `task_callback` or the
        // unpark below takes it back.
        unsafe { pdu.write(state.into_foreign()) };
        let waker = Waker {
            raw: self.raw,
            callback: task_callback::<P>,
        };
        match start(&keep, waker) {
            None => Issued::Queued,
            Some(res) => {
                // SAFETY: Nothing is in flight, so no task work owns the
                // reference parked above: take it back.
                drop(unsafe { Arc::<P>::from_foreign(pdu.read()) });
                // SAFETY: As above.
                unsafe { pdu.write(core::ptr::null()) };
                Issued::Now(res)
            }
        }
    }

    fn pdu(&self) -> *mut *const core::ffi::c_void {
        pdu_of(self.raw.as_ptr())
    }
}

/// Where a command's state pointer lives: the start of its `pdu`.
fn pdu_of(raw: *mut bindings::io_uring_cmd) -> *mut *const core::ffi::c_void {
    // SAFETY: Computes an address inside the command; `pdu` is 32 bytes,
    // 8-aligned (it follows two `u32`s after three pointers).
    unsafe { core::ptr::addr_of_mut!((*raw).pdu).cast() }
}

/// The wake-up of a parked command: its I/O completion sends it, from any
/// context, once per piece of I/O the state put in flight.
///
/// # Invariants
///
/// `raw` is a parked command whose state is a `P` and `callback` is
/// `task_callback::<P>`.
#[derive(Clone, Copy)]
pub(crate) struct Waker {
    raw: NonNull<bindings::io_uring_cmd>,
    callback: unsafe extern "C" fn(*mut bindings::io_uring_cmd, c_uint),
}

// SAFETY: A waker only hands its command to io_uring's task work, which is
// allowed from any context and CPU.
unsafe impl Send for Waker {}
// SAFETY: See `Send`; `&Waker` has no methods.
unsafe impl Sync for Waker {}

impl Waker {
    /// Queues the command's task work, which resumes its state.
    pub(crate) fn wake(self) {
        // SAFETY: `raw` is a parked command (type invariant), alive until its
        // task work completes it; this is callable in any context.
        unsafe { bindings::io_uring_cmd_complete_in_task(self.raw.as_ptr(), Some(self.callback)) };
    }
}

/// The batch an IOPOLL ring polls with.
pub(crate) struct PollBatch {
    pub(super) iob: *mut bindings::io_comp_batch,
    pub(super) flags: c_uint,
}

/// # Safety
///
/// io_uring's task work for a command woken by a [`Waker`] of `P` (type
/// invariant of `Waker`), run once per wake-up.
unsafe extern "C" fn task_callback<P: Pending>(raw: *mut bindings::io_uring_cmd, flags: c_uint) {
    let pdu = pdu_of(raw);
    let live = flags & bindings::io_uring_cmd_flags_IO_URING_F_TASK_DEAD as u32 == 0;
    // SAFETY: The command is parked: its pdu holds a reference to a `P`.
    let state = unsafe { Arc::<P>::borrow(pdu.read()) };
    let Some(res) = state.resume(live) else {
        // More I/O is in flight; its wake-up comes back here.
        return;
    };
    // SAFETY: Nothing of the command is in flight any more (`resume` gave a
    // result): take the parked reference back, then complete the command,
    // after which it is no longer ours.
    unsafe {
        drop(Arc::<P>::from_foreign(pdu.read()));
        pdu.write(core::ptr::null());
        bindings::io_uring_cmd_done(raw, res as isize, 0, flags);
    }
}

/// The file operations for commands whose state is `P`.
pub(super) struct Callbacks<P>(PhantomData<P>);

impl<P: Pending> Callbacks<P> {
    /// `->uring_cmd_iopoll`.
    ///
    /// # Safety
    ///
    /// Called by io_uring, under the ring's lock, for a command of this file
    /// that was issued with `Issued::Queued` and is not completed: its pdu
    /// holds its state. Task work also runs under that lock, so the command
    /// cannot complete meanwhile.
    pub(super) unsafe extern "C" fn iopoll(
        raw: *mut bindings::io_uring_cmd,
        iob: *mut bindings::io_comp_batch,
        flags: c_uint,
    ) -> c_int {
        // SAFETY: See the function's safety section.
        let state = unsafe { pdu_of(raw).read() };
        if state.is_null() {
            return 0;
        }
        // SAFETY: A parked state of type `P`.
        let state = unsafe { Arc::<P>::borrow(state) };
        state.poll(&PollBatch { iob, flags })
    }

    /// Runs `issue` for a command being issued, as the file's
    /// `->uring_cmd` returns it.
    ///
    /// # Safety
    ///
    /// As [`Command::new`].
    pub(super) unsafe fn issue(
        raw: *mut bindings::io_uring_cmd,
        issue_flags: c_uint,
        issue: impl FnOnce(&Command) -> Result<Issued>,
    ) -> c_int {
        // Cancellation is not asked for (commands are not marked
        // cancelable): a chain ends by itself within its hop limit.
        // SAFETY: Given by the caller.
        let cmd = unsafe { Command::new(raw, issue_flags) };
        issued_to_c(issue(&cmd))
    }
}
