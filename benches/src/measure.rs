// SPDX-License-Identifier: GPL-2.0 OR MIT

//! Timing lookups: latency samples, throughput, and guest CPU time from
//! `/proc/stat`.

use std::{
    thread,
    time::{Duration, Instant},
};

use anyhow::{bail, Result};
use rnvme::Control;
use serde::{Deserialize, Serialize};

use crate::{
    passthru::PassthruReader,
    paths::{Way, Workload},
    readers::{PreadReader, Reader, UringReader},
};

/// Guest CPU time in clock ticks (USER_HZ) from the `cpu` line of
/// `/proc/stat`: user (+nice), system, irq + softirq.
#[derive(Clone, Copy, Debug, Default)]
pub struct Cpu {
    user: u64,
    system: u64,
    irq: u64,
}

impl Cpu {
    pub fn now() -> Self {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let v: Vec<u64> = stat
            .lines()
            .find(|l| l.starts_with("cpu "))
            .map(|l| {
                l.split_whitespace()
                    .skip(1)
                    .filter_map(|x| x.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        let at = |i: usize| v.get(i).copied().unwrap_or(0);
        Self {
            user: at(0) + at(1),
            system: at(2),
            irq: at(5) + at(6),
        }
    }

    /// irq + softirq ticks.
    pub fn irq(self) -> u64 {
        self.irq
    }

    fn since(self, before: Cpu) -> Cpu {
        Cpu {
            user: self.user - before.user,
            system: self.system - before.system,
            irq: self.irq - before.irq,
        }
    }
}

/// Microseconds of guest CPU per lookup, by kind.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct CpuPerLookup {
    pub user_us: f64,
    pub system_us: f64,
    pub irq_us: f64,
}

impl CpuPerLookup {
    pub fn total(&self) -> f64 {
        self.user_us + self.system_us + self.irq_us
    }
}

/// Latency summary, nanoseconds.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct Latency {
    pub mean: f64,
    pub p50: u64,
    pub p99: u64,
    pub p999: u64,
}

impl Latency {
    pub fn of(samples: &mut [u64]) -> Self {
        samples.sort_unstable();
        let pct = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize];
        Latency {
            mean: samples.iter().sum::<u64>() as f64 / samples.len() as f64,
            p50: pct(0.5),
            p99: pct(0.99),
            p999: pct(0.999),
        }
    }
}

/// One configuration's measurement over all repetitions.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Measured {
    pub lookups: usize,
    pub reps: usize,
    pub lookups_per_s: f64,
    pub latency_ns: Latency,
    /// Mean latency of each repetition (the spread).
    pub rep_mean_ns: Vec<f64>,
    /// Throughput of each repetition (the spread).
    #[serde(default)]
    pub rep_lookups_per_s: Vec<f64>,
    pub cpu_per_lookup: CpuPerLookup,
}

/// Runs `rep(count)` once untimed with `warmup` lookups, then `reps` times
/// with `lookups`; each run returns the latencies of its lookups. The
/// measurement of the timed runs, with the guest's CPU time.
pub fn repeat(
    lookups: usize,
    warmup: usize,
    reps: usize,
    mut rep: impl FnMut(usize) -> Result<Vec<u64>>,
) -> Result<Measured> {
    let hz = 100.0; // USER_HZ
    let mut samples = Vec::with_capacity(lookups * reps);
    let mut rep_mean_ns = Vec::new();
    let mut rep_lookups_per_s = Vec::new();
    let mut wall = Duration::ZERO;
    let mut cpu = Cpu::default();
    rep(warmup.min(lookups))?;
    for _ in 0..reps {
        let cpu_before = Cpu::now();
        let start = Instant::now();
        let lat = rep(lookups)?;
        let elapsed = start.elapsed();
        let used = Cpu::now().since(cpu_before);
        wall += elapsed;
        cpu.user += used.user;
        cpu.system += used.system;
        cpu.irq += used.irq;
        rep_mean_ns.push(lat.iter().sum::<u64>() as f64 / lat.len().max(1) as f64);
        rep_lookups_per_s.push(lat.len() as f64 / elapsed.as_secs_f64());
        samples.extend(lat);
    }
    let n = (lookups * reps) as f64;
    let us = |ticks: u64| ticks as f64 / hz * 1e6 / n;
    Ok(Measured {
        lookups,
        reps,
        lookups_per_s: n / wall.as_secs_f64(),
        latency_ns: Latency::of(&mut samples),
        rep_mean_ns,
        rep_lookups_per_s,
        cpu_per_lookup: CpuPerLookup {
            user_us: us(cpu.user),
            system_us: us(cpu.system),
            irq_us: us(cpu.irq),
        },
    })
}

/// Runs `lookups` lookups (split over `threads` threads) `reps` times after
/// `warmup` untimed ones, checking every answer.
pub fn run(
    w: &Workload,
    way: Way,
    control: &Control,
    threads: usize,
    lookups: usize,
    warmup: usize,
    reps: usize,
) -> Result<Measured> {
    let f = w.function()?;
    repeat(lookups, warmup, reps, |count| {
        let per_thread: Vec<Result<Vec<u64>>> = thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let f = &f;
                    s.spawn(move || -> Result<Vec<u64>> {
                        let range = (t * count / threads)..((t + 1) * count / threads);
                        let mut lat = Vec::with_capacity(range.len());
                        let mut reader: Option<Box<dyn Reader>> = match way {
                            Way::Pread => Some(Box::new(PreadReader::new(&w.path, w.align)?)),
                            Way::IoUring => {
                                Some(Box::new(UringReader::new(&w.path, false, w.align)?))
                            }
                            Way::IoUringFixed => {
                                Some(Box::new(UringReader::fixed(&w.path, w.align)?))
                            }
                            Way::NvmePassthru => Some(Box::new(PassthruReader::new(&w.path)?)),
                            _ => None,
                        };
                        let tag = match way {
                            Way::Rnvme | Way::RnvmePolled => Some(w.attach(control, f)?),
                            _ => None,
                        };
                        for i in range {
                            let key = w.keys[i];
                            let t0 = Instant::now();
                            let answer = match (&mut reader, &tag) {
                                (Some(r), _) => w.lookup_user(r.as_mut(), key)?,
                                (None, Some(tag)) => {
                                    w.lookup_rnvme(tag, key, way == Way::RnvmePolled)?
                                }
                                (None, None) => unreachable!(),
                            };
                            lat.push(t0.elapsed().as_nanos() as u64);
                            if answer != w.answers[i] {
                                bail!(
                                    "{way:?}: lookup {i} (key {key}) gave {answer:?}, want {:?}",
                                    w.answers[i]
                                );
                            }
                        }
                        Ok(lat)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut lat = Vec::new();
        for r in per_thread {
            lat.extend(r?);
        }
        Ok(lat)
    })
}

/// The device floor: single reads of one block at random offsets of `w`'s
/// file that are multiples of the block size, through a polled io_uring
/// (IOPOLL on an NVMe poll queue); a block that is not aligned is read as
/// its covering range.
pub fn floor(w: &Workload, reads: usize) -> Result<Latency> {
    let mut r = UringReader::new(&w.path, true, w.align)?;
    let blocks = w.file_len / u64::from(w.block_size);
    let mut buf = vec![0u8; w.block_size as usize];
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut samples = Vec::with_capacity(reads);
    for i in 0..reads + reads / 10 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let off = (x % blocks) * u64::from(w.block_size);
        let t0 = Instant::now();
        if !r.read(off, &mut buf) {
            bail!(
                "polled read of {} B at {off} failed: {} (are there NVMe poll queues? nvme.poll_queues=1)",
                w.block_size,
                r.last_error.take().map_or("unknown".into(), |e| e.to_string())
            );
        }
        if i >= reads / 10 {
            samples.push(t0.elapsed().as_nanos() as u64);
        }
    }
    Ok(Latency::of(&mut samples))
}
