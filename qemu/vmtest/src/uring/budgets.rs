// SPDX-License-Identifier: GPL-2.0 OR MIT

//! Budgets between tags: with a bound on a tag's chains in flight and on
//! its driver hops per millisecond, io_uring chains wait their turn and
//! reads move from the completion interrupt to the submitting task — and
//! every answer stays exact. Tags attached before a change keep theirs.

use anyhow::{ensure, Result};
use rnvme::{
    abi::{self, Budgets},
    format::chain::ChainResult,
    Control, StorageFunction, DEFAULT_DEVICE,
};

use super::{
    hostile::{exact_on_ring, long_chain, want},
    wait_no_uring_chains,
};
use crate::files;

fn budget_fallbacks(control: &Control) -> Result<u64> {
    let i = abi::FALLBACKS
        .iter()
        .position(|&r| r == "budget")
        .unwrap_or(0);
    Ok(control.metrics()?.fallbacks[i])
}

/// Restores the budgets it was made with when dropped.
struct Restore<'c>(&'c Control, Budgets);

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        let _ = self.0.set_budgets(self.1);
    }
}

pub fn uring_budgets() -> Result<()> {
    let (path, start) = long_chain("uring-budgets")?;
    let control = Control::open(DEFAULT_DEVICE)?;
    let f = StorageFunction::builtin("chain")?;
    let fd = files::open_ro(&path)?;
    let unbounded = control.attach(&fd, &f, 0)?;
    let restore = Restore(&control, control.budgets()?);
    let tight = Budgets {
        chains_in_flight: 4,
        driver_hops_per_ms: 2,
    };
    control.set_budgets(tight)?;
    ensure!(
        control.budgets()? == tight,
        "budgets read back {:?}",
        control.budgets()?
    );
    let bounded = control.attach(&fd, &f, 0)?;
    let want = want(&unbounded, start)?;

    let (waits, fallbacks) = (control.metrics()?.budget_waits, budget_fallbacks(&control)?);
    std::thread::scope(|s| -> Result<()> {
        // Blocking chains of the bounded tag beside its io_uring chains.
        let blocking = s.spawn(|| -> Result<()> {
            for _ in 0..16 {
                let mut got = vec![0u8; ChainResult::SIZE];
                bounded.chain_read(start, 4096, &mut got, None)?;
                ensure!(got == want, "a blocking chain under budgets differs");
            }
            Ok(())
        });
        for polled in [false, true] {
            exact_on_ring(&control, &bounded, start, &want, (128, 64, polled))?;
        }
        blocking.join().unwrap()
    })?;
    let waited = control.metrics()?.budget_waits - waits;
    let moved = budget_fallbacks(&control)? - fallbacks;
    ensure!(
        waited > 0,
        "no io_uring chain waited for its turn at 4 in flight"
    );
    ensure!(
        moved > 0,
        "no read left the interrupt at 2 driver hops per ms"
    );
    println!("ok: 256 io_uring and 16 blocking chains exact under budgets; {waited} waited for their turn, {moved} reads issued by their tasks");

    // The tag attached without bounds keeps none.
    let fallbacks = budget_fallbacks(&control)?;
    exact_on_ring(&control, &unbounded, start, &want, (128, 64, false))?;
    ensure!(
        budget_fallbacks(&control)? == fallbacks,
        "a tag attached before the budgets was held to them"
    );
    println!("ok: a tag attached before the budgets keeps none");
    wait_no_uring_chains(&control)?;
    drop((bounded, unbounded, restore));
    ensure!(
        control.budgets()? == Budgets::default(),
        "budgets not restored"
    );
    std::fs::remove_file(&path)?;
    Ok(())
}
