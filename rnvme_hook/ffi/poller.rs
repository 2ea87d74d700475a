// SPDX-License-Identifier: GPL-2.0

//! Polled waits that share one poller.
//!
//! A task waiting for a chain's polled read either polls or sleeps: one
//! task at a time (the owner) polls, for its own read and for the reads of
//! every task asleep here, whose completions then wake them; the others
//! sleep on their read's completion. When the owner's read is done it
//! hands over: it wakes a sleeper, which becomes the owner if its own read
//! is not done yet (and otherwise passes the wake-up on). So however many
//! tasks wait for polled reads, one CPU spins instead of one per task:
//! the others are free for other work (on a VM, for the host's emulation
//! of the device, which spinning vCPUs starve).
//!
//! A sleeper's read is reached through a slot that points to its
//! [`Waiter`] on its stack; a task touching another's `Waiter` holds the
//! slot's `busy` count, and a sleeper leaving clears its slot and waits
//! for `busy` to drop to zero before its stack frame goes. When every slot
//! is taken, a waiter polls for itself, as without sharing.
//!
//! C header: [`include/linux/blkdev.h`](srctree/include/linux/blkdev.h).

use core::{
    ptr::null_mut,
    sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, Ordering::SeqCst},
};
use kernel::bindings;

/// Sleepers at most; more poll for themselves.
const SLOTS: usize = 64;

/// A task waiting for a polled read: the read's bio (with a reference the
/// waiter holds until it has left) and the completion its end wakes.
struct Waiter {
    bio: *mut bindings::bio,
    done: *mut bindings::completion,
}

struct Slot {
    waiter: AtomicPtr<Waiter>,
    /// Tasks using `waiter` now.
    busy: AtomicU32,
}

static SLOT: [Slot; SLOTS] = [const {
    Slot {
        waiter: AtomicPtr::new(null_mut()),
        busy: AtomicU32::new(0),
    }
}; SLOTS];

/// A sleeper looks again after this long, whatever happened (1 s or less).
const HANDOVER_BOUND_JIFFIES: kernel::ffi::c_ulong = 100;

/// Whether a task polls for the sleepers.
static OWNED: AtomicBool = AtomicBool::new(false);

/// Runs `f` on the waiter in `slot`, if one is there, while it cannot go.
fn with_waiter(slot: &Slot, f: impl FnOnce(&Waiter)) -> bool {
    slot.busy.fetch_add(1, SeqCst);
    let w = slot.waiter.load(SeqCst);
    if !w.is_null() {
        // SAFETY: A waiter leaves (and its frame goes) only after clearing
        // its slot and seeing `busy` at zero; we made `busy` non-zero
        // before loading a non-null pointer.
        f(unsafe { &*w });
    }
    slot.busy.fetch_sub(1, SeqCst);
    !w.is_null()
}

/// Wakes one sleeper, if there is one, to take over the polling.
fn wake_one() {
    for slot in &SLOT {
        // SAFETY: `done` is the sleeper's completion, alive while it waits.
        if with_waiter(slot, |w| unsafe { bindings::complete(w.done) }) {
            return;
        }
    }
}

/// Polls `bio`, once.
///
/// # Safety
///
/// `bio` is a submitted polled bio whose reference the caller holds or
/// keeps held.
unsafe fn poll_once(bio: *mut bindings::bio) {
    // SAFETY: Given by the caller.
    unsafe { bindings::bio_poll(bio, null_mut(), bindings::BLK_POLL_ONESHOT) };
}

/// Waits until `finished()`: `bio` is a chain's polled read in flight,
/// `done` the completion its end completes.
///
/// # Safety
///
/// The caller holds a reference to `bio` until this returns, and `done`
/// is initialised and lives until then.
pub(super) unsafe fn wait(
    bio: *mut bindings::bio,
    done: *mut bindings::completion,
    finished: impl Fn() -> bool,
) {
    let me = Waiter { bio, done };
    let mine = (&me as *const Waiter).cast_mut();
    let slot = SLOT.iter().find(|s| {
        s.waiter
            .compare_exchange(null_mut(), mine, SeqCst, SeqCst)
            .is_ok()
    });
    while !finished() {
        if OWNED.compare_exchange(false, true, SeqCst, SeqCst).is_ok() {
            while !finished() {
                // SAFETY: Our caller holds `bio`'s reference.
                unsafe { poll_once(bio) };
                // A plain load skips the empty slots; `with_waiter` looks
                // again under the slot's count.
                for s in SLOT.iter().filter(|s| {
                    let w = s.waiter.load(SeqCst);
                    !w.is_null() && w != mine
                }) {
                    // SAFETY: A sleeper holds its bio's reference until it
                    // has left its slot.
                    with_waiter(s, |w| unsafe { poll_once(w.bio) });
                }
                // SAFETY: Process context.
                unsafe { bindings::cond_resched() };
            }
            OWNED.store(false, SeqCst);
            break;
        }
        match slot {
            // SAFETY: `done` lives until we return. The owner's polling
            // completes it, or its hand-over does (then we loop and take
            // over). The hand-over loses no wake-up (a sleeper registers
            // before it tries to own; an owner releases before it looks for
            // sleepers); the timeout is a bound on what a bug here could do.
            Some(_) => unsafe {
                bindings::wait_for_completion_timeout(done, HANDOVER_BOUND_JIFFIES);
            },
            // No slot: nobody polls for us; poll for ourselves.
            // SAFETY: Our caller holds `bio`'s reference.
            None => unsafe {
                poll_once(bio);
                bindings::cond_resched();
            },
        }
    }
    if let Some(s) = slot {
        s.waiter.store(null_mut(), SeqCst);
        while s.busy.load(SeqCst) != 0 {
            core::hint::spin_loop();
        }
    }
    // Whoever polled for the sleepers may be gone: let one of them poll.
    if !OWNED.load(SeqCst) {
        wake_one();
    }
}
