// SPDX-License-Identifier: GPL-2.0

//! Budgets between tags, so that one tenant's chains cannot starve
//! another's, or a process that only computes.
//!
//! Two budgets, set by an administrator ([`abi::IOC_SET_BUDGETS`]) and
//! fixed for a tag when it is attached:
//!
//! - **Chains in flight per tag.** io_uring chains over the bound wait,
//!   first come first served, for a chain of the tag to end; then they
//!   start. (A blocking chain occupies its caller's thread, so a tag's
//!   blocking chains are bounded by its threads: they count, and never
//!   wait.) A tenant with a deep queue thus keeps at most that many chains
//!   in the device queues, ahead of other tenants' reads.
//! - **Driver hops per millisecond per tag.** Reads the driver resubmits
//!   run the function and the resubmission in the completion interrupt,
//!   time no scheduler sees or charges. Past its pace (a token bucket of
//!   one millisecond's worth), a tag's next read is left to its submitter's
//!   own task (`RNVME_FALLBACK_BUDGET`), where that work is scheduled and
//!   charged like any other; the chain goes on, only slower.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use kernel::{
    new_mutex,
    prelude::*,
    sync::{Arc, Mutex},
    time::Ktime,
};

use crate::{abi, counters::COUNTERS, ffi::uring::Waker};

/// The budgets new tags get (0: no bound).
pub(crate) struct Limits {
    chains_in_flight: AtomicU32,
    driver_hops_per_ms: AtomicU32,
}

pub(crate) static LIMITS: Limits = Limits {
    chains_in_flight: AtomicU32::new(0),
    driver_hops_per_ms: AtomicU32::new(0),
};

/// io_uring chains one tag may have waiting; more are refused (EBUSY).
const MAX_WAITING: usize = 4096;

impl Limits {
    pub(crate) fn get(&self) -> abi::Budgets {
        abi::Budgets {
            chains_in_flight: self.chains_in_flight.load(Ordering::Relaxed),
            driver_hops_per_ms: self.driver_hops_per_ms.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn set(&self, b: &abi::Budgets) {
        self.chains_in_flight
            .store(b.chains_in_flight, Ordering::Relaxed);
        self.driver_hops_per_ms
            .store(b.driver_hops_per_ms, Ordering::Relaxed);
    }
}

/// io_uring chains waiting for their turn, in order: a ring of wake-ups.
struct Waiting {
    ring: KVec<Option<Waker>>,
    head: usize,
    len: usize,
}

struct Slots {
    in_flight: u32,
    waiting: Waiting,
}

/// A tag's budgets and what it uses of them.
#[pin_data]
pub(crate) struct Budget {
    /// 0: no bound.
    chains_in_flight: u32,
    /// Nanoseconds per driver hop (0: no bound).
    hop_interval_ns: u64,
    #[pin]
    slots: Mutex<Slots>,
    /// When the tag's next driver hop is due (the token bucket as a
    /// theoretical arrival time), nanoseconds of `ktime_get`.
    next_hop_ns: AtomicU64,
}

/// A chain's place among its tag's chains in flight; gives it back when
/// dropped (in process context), starting the next waiting chain. A tag
/// without a bound counts nothing: its permits hold no budget.
pub(crate) struct Permit {
    budget: Option<Arc<Budget>>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let Some(budget) = &self.budget else {
            return;
        };
        let mut s = budget.slots.lock();
        s.in_flight = s.in_flight.saturating_sub(1);
        if let Some(w) = budget.next_waiting(&mut s) {
            s.in_flight = s.in_flight.saturating_add(1);
            drop(s);
            // The woken chain holds the permit now (see `Budget::enter`).
            w.wake();
        }
    }
}

impl Budget {
    /// A tag's budgets: the limits in force now.
    pub(crate) fn new() -> Result<Arc<Self>> {
        let limits = LIMITS.get();
        let ring_len = if limits.chains_in_flight > 0 {
            MAX_WAITING
        } else {
            0
        };
        let ring = KVec::from_elem(None, ring_len, GFP_KERNEL_ACCOUNT)?;
        Arc::pin_init(
            pin_init!(Self {
                chains_in_flight: limits.chains_in_flight,
                hop_interval_ns: match limits.driver_hops_per_ms {
                    0 => 0,
                    n => (1_000_000 / u64::from(n)).max(1),
                },
                slots <- new_mutex!(Slots {
                    in_flight: 0,
                    waiting: Waiting { ring, head: 0, len: 0 },
                }),
                next_hop_ns: AtomicU64::new(0),
            }),
            GFP_KERNEL_ACCOUNT,
        )
    }

    fn next_waiting(&self, s: &mut Slots) -> Option<Waker> {
        let w = &mut s.waiting;
        let cap = w.ring.len();
        if w.len == 0 || cap == 0 || s.in_flight >= self.chains_in_flight {
            return None;
        }
        let waker = w.ring.get_mut(w.head).and_then(Option::take);
        w.head = (w.head + 1) % cap;
        w.len -= 1;
        waker
    }

    /// A place for a chain: `Ok(Some(permit))` now; for an io_uring chain
    /// (`waker`) over the bound, `Ok(None)`: it waits, and `waker` is woken
    /// when its permit is ready ([`Budget::granted`]). EBUSY when too many
    /// wait.
    pub(crate) fn enter(self: &Arc<Self>, waker: Option<Waker>) -> Result<Option<Permit>> {
        if self.chains_in_flight == 0 {
            // No bound (the default): no lock or count on the chain's path.
            return Ok(Some(Permit { budget: None }));
        }
        let mut s = self.slots.lock();
        match waker {
            Some(waker) if s.in_flight >= self.chains_in_flight || s.waiting.len > 0 => {
                let w = &mut s.waiting;
                let cap = w.ring.len();
                if cap == 0 || w.len >= cap {
                    return Err(EBUSY);
                }
                let slot = w.ring.get_mut((w.head + w.len) % cap).ok_or(EBUSY)?;
                *slot = Some(waker);
                w.len += 1;
                COUNTERS.budget_waits.fetch_add(1, Ordering::Relaxed);
                Ok(None)
            }
            _ => {
                s.in_flight = s.in_flight.saturating_add(1);
                Ok(Some(self.granted()))
            }
        }
    }

    /// The permit of a chain whose wait [`Budget::enter`] ended (it was
    /// counted in flight when its waker was woken).
    pub(crate) fn granted(self: &Arc<Self>) -> Permit {
        Permit {
            budget: Some(self.clone()),
        }
    }

    /// Whether the driver may resubmit one more read for the tag now
    /// (completion context: lock-free).
    pub(crate) fn driver_hop(&self) -> bool {
        let t = self.hop_interval_ns;
        if t == 0 {
            return true;
        }
        let now = Ktime::ktime_get().to_ns().max(0) as u64;
        let burst = 1_000_000;
        let mut due = self.next_hop_ns.load(Ordering::Relaxed);
        loop {
            let next = due.max(now) + t;
            if next > now + burst + t {
                return false;
            }
            match self.next_hop_ns.compare_exchange_weak(
                due,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(d) => due = d,
            }
        }
    }
}
