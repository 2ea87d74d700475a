// SPDX-License-Identifier: GPL-2.0 OR MIT

//! Many lookups in flight from one thread (`--workloads queue`): at each
//! queue depth, the chain walk done as an engine would do it with io_uring
//! — a state machine per lookup that issues its next read when the last
//! completes, N lookups in flight, interrupt-driven or on an IOPOLL ring
//! with the file and the buffers registered — against N rnvme chains in
//! flight on a ring of `URING_CHAIN_READ` commands (`ChainRing`),
//! interrupt-driven and polled. Every answer is checked.

mod hops;
mod report;

use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};
use rnvme::{format::chain::ChainResult, ChainRequest, ChainRing, Control, Window};
use serde::{Deserialize, Serialize};

use crate::{
    measure::{self, Measured},
    paths::{Answer, Kind, Workload},
};
use hops::HopRing;
pub use report::{plot, table, validate};

/// How the lookups in flight are done.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueWay {
    /// A read per hop on an io_uring ring, each lookup's next read issued
    /// when its last completes: interrupts.
    IoUringHops,
    /// The same on an IOPOLL ring, file and buffers registered
    /// (`IORING_OP_READ_FIXED`).
    IoUringHopsPolled,
    /// rnvme chains in flight on an io_uring ring, interrupts.
    RnvmeAsync,
    /// The same on an IOPOLL ring (the chains' reads polled).
    RnvmeAsyncPolled,
}

impl QueueWay {
    pub const ALL: [QueueWay; 4] = [
        QueueWay::IoUringHops,
        QueueWay::IoUringHopsPolled,
        QueueWay::RnvmeAsync,
        QueueWay::RnvmeAsyncPolled,
    ];

    fn polled(self) -> bool {
        matches!(
            self,
            QueueWay::IoUringHopsPolled | QueueWay::RnvmeAsyncPolled
        )
    }
}

/// One queue depth and way, from one thread.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct QueueRow {
    pub workload: Kind,
    pub block_size: u32,
    /// Device reads per lookup.
    pub reads: u32,
    pub way: QueueWay,
    /// Lookups in flight.
    pub queue_depth: u32,
    /// Latency is a lookup's, from its first submission to its end.
    #[serde(flatten)]
    pub measured: Measured,
}

/// What to run.
pub struct Plan<'a> {
    pub dir: &'a std::path::Path,
    pub block_size: u32,
    pub depth: u32,
    pub queue_depths: &'a [u32],
    pub lookups: usize,
    pub warmup: usize,
    pub reps: usize,
}

/// Runs every way at every queue depth on a chain of `plan.depth` blocks.
pub fn run(control: &Control, plan: &Plan) -> Result<Vec<QueueRow>> {
    let w = Workload::create(
        plan.dir,
        Kind::Chain,
        plan.block_size,
        plan.depth,
        plan.lookups,
        u64::from(plan.depth) * 104_729 + u64::from(plan.block_size),
    )?;
    let Answer::Chain(want) = w.answers[0] else {
        bail!("a chain workload without a chain answer");
    };
    let f = w.function()?;
    let tag = w.attach(control, &f)?;
    let mut rows = Vec::new();
    for &qd in plan.queue_depths {
        for way in QueueWay::ALL {
            let measured = match way {
                QueueWay::IoUringHops | QueueWay::IoUringHopsPolled => {
                    let mut hops = HopRing::new(&w, qd, way.polled())?;
                    measure::repeat(plan.lookups, plan.warmup, plan.reps, |n| hops.run(n, &want))
                }
                QueueWay::RnvmeAsync | QueueWay::RnvmeAsyncPolled => {
                    let mut ring = ChainRing::new(control, qd, way.polled())?;
                    let req = ChainRequest {
                        tag: tag.id(),
                        first: Window::first(w.chain_start(), w.block_size),
                        scratch: vec![0; ChainResult::SIZE],
                        out_len: 0,
                    };
                    measure::repeat(plan.lookups, plan.warmup, plan.reps, |n| {
                        chains_in_flight(&mut ring, &req, n, &want)
                    })
                }
            }
            .with_context(|| format!("{way:?} at queue depth {qd}"))?;
            eprintln!(
                "queue depth {qd} {way:?}: {:.0} lookups/s, mean {:.1} us, p99 {:.1} us",
                measured.lookups_per_s,
                measured.latency_ns.mean / 1e3,
                measured.latency_ns.p99 as f64 / 1e3
            );
            rows.push(QueueRow {
                workload: Kind::Chain,
                block_size: w.block_size,
                reads: w.reads,
                way,
                queue_depth: qd,
                measured,
            });
        }
    }
    drop(tag);
    std::fs::remove_file(&w.path)?;
    Ok(rows)
}

/// `n` chains, `ring.depth()` in flight; their latencies.
fn chains_in_flight(
    ring: &mut ChainRing,
    req: &ChainRequest,
    n: usize,
    want: &ChainResult,
) -> Result<Vec<u64>> {
    let mut started = vec![Instant::now(); n];
    let mut lat = Vec::with_capacity(n);
    let mut next = 0;
    while lat.len() < n {
        while next < n && ring.in_flight() < ring.depth() {
            started[next] = Instant::now();
            ring.push(next as u64, req.clone())?;
            next += 1;
        }
        for c in ring.reap(1)? {
            lat.push(started[c.id as usize].elapsed().as_nanos() as u64);
            c.result?;
            let got = ChainResult::from_scratch(&c.scratch);
            ensure!(got == *want, "chain {} gave {got:?}, want {want:?}", c.id);
        }
    }
    Ok(lat)
}
