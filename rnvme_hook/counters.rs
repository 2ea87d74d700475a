// SPDX-License-Identifier: GPL-2.0

//! What chains count, module-wide (in [`COUNTERS`]) and per tag
//! ([`TagStats`]), and their snapshots as [`abi::Stats`], [`abi::Metrics`]
//! and [`abi::TagInfo`].

use core::sync::atomic::{AtomicU64, Ordering};
use kernel::{c_str, prelude::*, str::CStr};

use crate::{abi, ffi::errno};

fn get(a: &AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

/// What chains count, module-wide (in [`COUNTERS`]) and per tag.
pub(crate) struct ChainCounters {
    pub(crate) chains: AtomicU64,
    pub(crate) done: AtomicU64,
    pub(crate) aborts: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) hops: AtomicU64,
    pub(crate) driver_hops: AtomicU64,
}

impl ChainCounters {
    pub(crate) const fn new() -> Self {
        Self {
            chains: AtomicU64::new(0),
            done: AtomicU64::new(0),
            aborts: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            hops: AtomicU64::new(0),
            driver_hops: AtomicU64::new(0),
        }
    }

    /// Chains, done, aborts, errors, hops and driver hops, in this order.
    fn values(&self) -> [u64; 6] {
        [
            &self.chains,
            &self.done,
            &self.aborts,
            &self.errors,
            &self.hops,
            &self.driver_hops,
        ]
        .map(get)
    }

    fn started(&self) {
        self.chains.fetch_add(1, Ordering::Relaxed);
    }

    /// A chain ended with `result` (ECANCELED: the function aborted it)
    /// after `reads` reads, `driver_hops` of them resubmitted by the driver.
    fn ended(&self, result: &Result, reads: u32, driver_hops: u32) {
        let outcome = match result {
            Ok(()) => &self.done,
            Err(e) if *e == errno::ecanceled() => &self.aborts,
            Err(_) => &self.errors,
        };
        outcome.fetch_add(1, Ordering::Relaxed);
        self.hops.fetch_add(u64::from(reads), Ordering::Relaxed);
        self.driver_hops
            .fetch_add(u64::from(driver_hops), Ordering::Relaxed);
    }
}

/// The module's counters (see `abi::Stats`), also shown in debugfs.
pub(crate) struct Counters {
    pub(crate) chain: ChainCounters,
    pub(crate) process_hops: AtomicU64,
    pub(crate) cache_hits: AtomicU64,
    pub(crate) cache_misses: AtomicU64,
    pub(crate) tags: AtomicU64,
    pub(crate) hops_hist: [AtomicU64; 9],
    pub(crate) latency_hist: [AtomicU64; 11],
    pub(crate) latency_sum_ns: AtomicU64,
    pub(crate) errors_by_errno: [AtomicU64; 8],
    pub(crate) extent_maps: AtomicU64,
    /// Reads left to process context, by `abi::FALLBACKS`.
    pub(crate) fallbacks: [AtomicU64; 9],
    /// Chains started by io_uring commands, and those in flight.
    pub(crate) uring_chains: AtomicU64,
    pub(crate) uring_in_flight: AtomicU64,
    /// io_uring chains that waited for their tag's budget.
    pub(crate) budget_waits: AtomicU64,
    /// Drains of tagged files' direct I/O (their maps went out of date).
    pub(crate) remaps: AtomicU64,
    /// Reads that wrote dirty page cache back first.
    pub(crate) write_backs: AtomicU64,
}

pub(crate) static COUNTERS: Counters = Counters {
    chain: ChainCounters::new(),
    process_hops: AtomicU64::new(0),
    cache_hits: AtomicU64::new(0),
    cache_misses: AtomicU64::new(0),
    tags: AtomicU64::new(0),
    hops_hist: [const { AtomicU64::new(0) }; 9],
    latency_hist: [const { AtomicU64::new(0) }; 11],
    latency_sum_ns: AtomicU64::new(0),
    errors_by_errno: [const { AtomicU64::new(0) }; 8],
    extent_maps: AtomicU64::new(0),
    fallbacks: [const { AtomicU64::new(0) }; 9],
    uring_chains: AtomicU64::new(0),
    uring_in_flight: AtomicU64::new(0),
    budget_waits: AtomicU64::new(0),
    remaps: AtomicU64::new(0),
    write_backs: AtomicU64::new(0),
};

impl Counters {
    /// Records a chain started on a tag with counters `tag`.
    pub(crate) fn chain_started(&self, tag: &ChainCounters) {
        self.chain.started();
        tag.started();
    }

    /// Records a finished chain of a tag with counters `tag`: its result,
    /// its reads (`driver_hops` of them resubmitted by the driver, the
    /// others issued in process context), its time. Reads are counted when
    /// their chain ends, each once, so that reads = driver + process holds
    /// for chains that were interrupted, abandoned or failed too.
    pub(crate) fn chain_ended(
        &self,
        tag: &ChainCounters,
        result: &Result,
        reads: u32,
        driver_hops: u32,
        ns: u64,
    ) {
        self.chain.ended(result, reads, driver_hops);
        tag.ended(result, reads, driver_hops);
        self.process_hops.fetch_add(
            u64::from(reads.saturating_sub(driver_hops)),
            Ordering::Relaxed,
        );
        let b = abi::HOP_BUCKETS
            .iter()
            .position(|&b| u64::from(reads) <= b)
            .unwrap_or(8);
        self.hops_hist[b].fetch_add(1, Ordering::Relaxed);
        let us = ns / 1000;
        let l = abi::LATENCY_BUCKETS_US
            .iter()
            .position(|&b| us <= b)
            .unwrap_or(10);
        self.latency_hist[l].fetch_add(1, Ordering::Relaxed);
        self.latency_sum_ns.fetch_add(ns, Ordering::Relaxed);
        if let Err(e) = result {
            let errno = e.to_errno().unsigned_abs();
            let i = abi::ERRNOS.iter().position(|&x| x == errno).unwrap_or(7);
            self.errors_by_errno[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Records a read of a chain that the driver left to process context,
    /// for reason `reason` (an `enum rnvme_fallback`).
    pub(crate) fn fell_back(&self, reason: u32) {
        let i = (reason as usize).min(self.fallbacks.len() - 1);
        self.fallbacks[i].fetch_add(1, Ordering::Relaxed);
    }

    /// The counters debugfs shows, by file name.
    pub(crate) fn named(&'static self) -> [(&'static CStr, &'static AtomicU64); 10] {
        [
            (c_str!("chains"), &self.chain.chains),
            (c_str!("done"), &self.chain.done),
            (c_str!("aborts"), &self.chain.aborts),
            (c_str!("errors"), &self.chain.errors),
            (c_str!("hops"), &self.chain.hops),
            (c_str!("driver_hops"), &self.chain.driver_hops),
            (c_str!("process_hops"), &self.process_hops),
            (c_str!("cache_hits"), &self.cache_hits),
            (c_str!("cache_misses"), &self.cache_misses),
            (c_str!("tags"), &self.tags),
        ]
    }

    /// A snapshot for `IOC_STATS`.
    pub(crate) fn stats(&self) -> abi::Stats {
        let [chains, done, aborts, errors, hops, driver_hops] = self.chain.values();
        abi::Stats {
            chains,
            done,
            aborts,
            errors,
            hops,
            driver_hops,
            process_hops: get(&self.process_hops),
            cache_hits: get(&self.cache_hits),
            cache_misses: get(&self.cache_misses),
            tags: get(&self.tags),
        }
    }

    /// A snapshot for `IOC_METRICS`.
    pub(crate) fn metrics(&self) -> abi::Metrics {
        abi::Metrics {
            stats: self.stats(),
            hops: self.hops_hist.each_ref().map(get),
            latency: self.latency_hist.each_ref().map(get),
            latency_sum_ns: get(&self.latency_sum_ns),
            errors: self.errors_by_errno.each_ref().map(get),
            extent_maps: get(&self.extent_maps),
            fallbacks: self.fallbacks.each_ref().map(get),
            uring_chains: get(&self.uring_chains),
            uring_in_flight: get(&self.uring_in_flight),
            budget_waits: get(&self.budget_waits),
            remaps: get(&self.remaps),
            write_backs: get(&self.write_backs),
        }
    }
}

/// What one tag did. Kept apart from the tag so that the registry of
/// `IOC_TAGS` can list it without keeping the tag (and its frozen file) alive.
pub(crate) struct TagStats {
    /// The fixed fields; its counters are unused.
    info: abi::TagInfo,
    pub(crate) chain: ChainCounters,
}

impl TagStats {
    /// The counters of a tag described by `info`, all zero.
    pub(crate) fn new(info: abi::TagInfo) -> Self {
        Self {
            info,
            chain: ChainCounters::new(),
        }
    }

    /// A snapshot for `IOC_TAGS`.
    pub(crate) fn snapshot(&self) -> abi::TagInfo {
        let [chains, done, aborts, errors, hops, driver_hops] = self.chain.values();
        abi::TagInfo {
            chains,
            done,
            aborts,
            errors,
            hops,
            driver_hops,
            ..self.info
        }
    }
}
