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
    /// The summary of `samples` (all zero for none).
    pub fn of(samples: &mut [u64]) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
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

/// Timed runs of lookups, pooled into one [`Measured`].
#[derive(Default)]
pub struct Runs {
    samples: Vec<u64>,
    rep_mean_ns: Vec<f64>,
    rep_lookups_per_s: Vec<f64>,
    wall: Duration,
    cpu: Cpu,
}

impl Runs {
    /// Times `run`, which does lookups and returns their latencies, with
    /// the guest's CPU time meanwhile.
    pub fn time(&mut self, run: impl FnOnce() -> Result<Vec<u64>>) -> Result<()> {
        let cpu_before = Cpu::now();
        let start = Instant::now();
        let lat = run()?;
        let elapsed = start.elapsed();
        let used = Cpu::now().since(cpu_before);
        self.wall += elapsed;
        self.cpu.user += used.user;
        self.cpu.system += used.system;
        self.cpu.irq += used.irq;
        self.rep_mean_ns
            .push(lat.iter().sum::<u64>() as f64 / lat.len().max(1) as f64);
        self.rep_lookups_per_s
            .push(lat.len() as f64 / elapsed.as_secs_f64());
        self.samples.extend(lat);
        Ok(())
    }

    /// The measurement of the runs: `lookups` is the mean per run.
    pub fn measured(mut self) -> Measured {
        let hz = 100.0; // USER_HZ
        let reps = self.rep_mean_ns.len();
        let n = self.samples.len() as f64;
        let us = |ticks: u64| ticks as f64 / hz * 1e6 / n.max(1.0);
        Measured {
            lookups: self.samples.len() / reps.max(1),
            reps,
            lookups_per_s: n / self.wall.as_secs_f64(),
            latency_ns: Latency::of(&mut self.samples),
            rep_mean_ns: self.rep_mean_ns,
            rep_lookups_per_s: self.rep_lookups_per_s,
            cpu_per_lookup: CpuPerLookup {
                user_us: us(self.cpu.user),
                system_us: us(self.cpu.system),
                irq_us: us(self.cpu.irq),
            },
        }
    }
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
    rep(warmup.min(lookups))?;
    let mut runs = Runs::default();
    for _ in 0..reps {
        runs.time(|| rep(lookups))?;
    }
    Ok(runs.measured())
}

/// The lowest and the highest of `v`.
pub fn spread(v: &[f64]) -> (f64, f64) {
    (
        v.iter().copied().fold(f64::INFINITY, f64::min),
        v.iter().copied().fold(0.0, f64::max),
    )
}

/// The median of `v` (the mean of the middle two of an even count; NaN
/// for none).
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
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

#[cfg(test)]
mod tests {
    use super::{median, spread, Latency};

    #[test]
    fn medians_and_spreads_of_repetitions() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
        assert_eq!(spread(&[3.0, 1.0, 2.0]), (1.0, 3.0));
    }

    #[test]
    fn no_samples_summarise_to_zero() {
        assert_eq!(Latency::of(&mut []).p99, 0);
        assert_eq!(Latency::of(&mut [5, 1, 3]).p50, 3);
    }
}
