// SPDX-License-Identifier: GPL-2.0 OR MIT

//! `rnvme-bench`: the chain-read benchmark. Runs inside the VM (`make bench`,
//! `make demo`, or by hand in `make vm`).
//!
//! Workloads: B+-tree lookups of uniformly random keys (BPF-KV style: depth
//! d on disk plus the final value read) and chain walks, at each depth and
//! block size asked for; and chains of windows (`windows`: 4101-byte
//! records at unaligned offsets, 16 KiB pages aligned and not) at each
//! depth, with the cost per hop against a one-read chain of the same size
//! and the reads the driver resubmitted. Each lookup is done four ways —
//! pread per hop, io_uring per hop, the storage function, the storage
//! function with polled reads — and every answer is checked against the
//! in-memory file. All ways use O_DIRECT (or the kernel's own bios), so the
//! page cache plays no part and the data set's size against guest memory is
//! irrelevant. The device floor is one read through a polled io_uring
//! (IOPOLL, NVMe poll queue). The `queue` workload keeps many lookups in
//! flight from one thread: a per-hop io_uring state machine against rnvme
//! chains on an io_uring ring, at each queue depth. The `live` workload
//! looks a B+-tree up while a writer rewrites its nodes in place with
//! O_DIRECT, rnvme against pread.

mod engines;
mod fairness;
mod hop_cost;
mod live;
mod measure;
mod passthru;
mod paths;
mod queue;
mod readers;
mod report;
mod sys;
mod windows;

use std::{
    path::PathBuf,
    time::{SystemTime, UNIX_EPOCH},
};

use anyhow::{Context, Result};
use clap::Parser;
use rnvme::Control;

use crate::{
    paths::{Kind, Way, Workload},
    report::{Environment, Floor, Report, Row, SCHEMA},
};

/// The rnvme chain-read benchmark (storage functions vs pread vs io_uring).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Where to write bench.json, bench.txt and bench.svg.
    #[arg(long, default_value = "bench-results")]
    out: PathBuf,
    /// Directory for the data files (ext4 on NVMe).
    #[arg(long, default_value = "/mnt/nvme")]
    dir: PathBuf,
    /// Workloads to run: bptree, chain, windows (= records, pages16k,
    /// pages16k_unaligned; each may also be named alone), engines (=
    /// rocksdb, sqlite: files the real libraries wrote, `make bench-data`)
    /// queue (lookups in flight from one thread, at --queue-depths),
    /// fairness (tenants side by side, without and with budgets) and live
    /// (lookups while a writer rewrites the tree's nodes in place).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "bptree,chain,windows,engines,queue,fairness,live"
    )]
    workloads: Vec<String>,
    /// The fairness workload's budget of chains in flight per tag.
    #[arg(long, default_value_t = 8)]
    fair_chains_in_flight: u32,
    /// The fairness workload's budget of driver hops per ms per tag.
    #[arg(long, default_value_t = 5)]
    fair_driver_hops_per_ms: u32,
    /// Seconds the fairness workload's computing thread runs, each time.
    #[arg(long, default_value_t = 3.0)]
    fair_seconds: f64,
    /// In-place node writes per second of the live workload's writer (it
    /// also runs without writes; 0: only without).
    #[arg(long, default_value_t = 200)]
    live_write_rate: u32,
    /// Seconds of lookups per way, write rate and repetition of the live
    /// workload.
    #[arg(long, default_value_t = 2.0)]
    live_seconds: f64,
    /// Lookups in flight of the queue workload (a chain of --deep blocks
    /// of the first --block-sizes).
    #[arg(long, value_delimiter = ',', default_value = "1,4,16,64")]
    queue_depths: Vec<u32>,
    /// Where the engine workloads' files are (`make bench-data`, which
    /// `make bench` copies onto the 512 B disk).
    #[arg(long, default_value = "/mnt/nvme/bench")]
    engine_data: PathBuf,
    /// Timed lookups per engine way and repetition.
    #[arg(long, default_value_t = 1000)]
    engine_lookups: usize,
    /// Depths: B+-tree levels or chain blocks.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3,4,5,6,7,8")]
    depths: Vec<u32>,
    /// Block (node) sizes of bptree and chain (the windows have their own).
    #[arg(long, value_delimiter = ',', default_value = "4096,512")]
    block_sizes: Vec<u32>,
    /// Thread counts for the throughput runs (at the depth of --deep).
    #[arg(long, value_delimiter = ',', default_value = "1,2,4")]
    threads: Vec<usize>,
    /// Depth at which throughput is measured over --threads.
    #[arg(long, default_value_t = 6)]
    deep: u32,
    /// Timed lookups per configuration and repetition.
    #[arg(long, default_value_t = 400)]
    lookups: usize,
    /// Untimed lookups first.
    #[arg(long, default_value_t = 40)]
    warmup: usize,
    /// Repetitions.
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Reads for the device floor.
    #[arg(long, default_value_t = 2000)]
    floor_reads: usize,
    /// Check a bench.json instead of running (exit 0 if it is valid).
    #[arg(long)]
    validate: Option<PathBuf>,
}

fn cmdline_arg(name: &str) -> Option<String> {
    let c = std::fs::read_to_string("/proc/cmdline").ok()?;
    c.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{name}=")).map(str::to_string))
}

fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(path) = &args.validate {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
        let r: Report =
            serde_json::from_str(&text).context("bench.json does not follow the schema")?;
        r.validate()?;
        println!("{}: valid {SCHEMA}, {} rows", path.display(), r.rows.len());
        return Ok(());
    }
    let control = Control::open(rnvme::DEFAULT_DEVICE)?;
    std::fs::create_dir_all(&args.out)?;
    let mut report = Report {
        schema: SCHEMA.into(),
        environment: Environment {
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .into(),
            accelerator: cmdline_arg("rnvme.accel").unwrap_or_else(|| "unknown".into()),
            qemu: cmdline_arg("rnvme.qemu").unwrap_or_else(|| "unknown".into()),
            vcpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            started: SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs(),
        },
        floors: Vec::new(),
        rows: Vec::new(),
        derived: Vec::new(),
        windows: None,
        engines: None,
        queue: Vec::new(),
        fairness: Vec::new(),
        live: None,
    };
    let mut kinds: Vec<Kind> = Vec::new();
    let mut engine_names: Vec<&str> = Vec::new();
    let queue = args.workloads.iter().any(|w| w == "queue");
    let fair = args.workloads.iter().any(|w| w == "fairness");
    let live = args.workloads.iter().any(|w| w == "live");
    for w in args
        .workloads
        .iter()
        .filter(|w| !["queue", "fairness", "live"].contains(&w.as_str()))
    {
        let named: &[&str] = match w.as_str() {
            "engines" => &["rocksdb", "sqlite"],
            "rocksdb" => &["rocksdb"],
            "sqlite" => &["sqlite"],
            _ => &[],
        };
        if !named.is_empty() {
            for n in named {
                if !engine_names.contains(n) {
                    engine_names.push(n);
                }
            }
            continue;
        }
        let named: Vec<Kind> = if w == "windows" {
            Kind::ALL.into_iter().filter(|k| k.windowed()).collect()
        } else {
            let kind = Kind::ALL.into_iter().find(|k| k.label() == w);
            vec![kind.with_context(|| format!("unknown workload {w}"))?]
        };
        for k in named {
            if !kinds.contains(&k) {
                kinds.push(k);
            }
        }
    }
    let (window_kinds, kinds): (Vec<Kind>, Vec<Kind>) =
        kinds.into_iter().partition(|k| k.windowed());
    let lookups = args
        .lookups
        .max(args.threads.iter().copied().max().unwrap_or(1));

    for &bs in &args.block_sizes {
        let mut floor_done = false;
        for &kind in &kinds {
            for &depth in &args.depths {
                let w = Workload::create(
                    &args.dir,
                    kind,
                    bs,
                    depth,
                    lookups,
                    u64::from(depth) * 7919 + u64::from(bs),
                )?;
                if !floor_done {
                    let latency_ns = measure::floor(&w, args.floor_reads)?;
                    eprintln!("floor {bs} B: mean {:.1} us", latency_ns.mean / 1e3);
                    report.floors.push(Floor {
                        block_size: bs,
                        latency_ns,
                    });
                    floor_done = true;
                }
                let threads: Vec<usize> = if depth == args.deep {
                    args.threads.clone()
                } else {
                    vec![1]
                };
                for &t in &threads {
                    for way in Way::ALL {
                        let measured =
                            measure::run(&w, way, &control, t, lookups, args.warmup, args.reps)
                                .with_context(|| {
                                    format!("{kind:?} {bs} B depth {depth} {way:?} x{t}")
                                })?;
                        eprintln!(
                            "{kind:?} {bs} B depth {depth} ({} reads) {way:?} x{t}: mean {:.1} us, {:.0} lookups/s",
                            w.reads,
                            measured.latency_ns.mean / 1e3,
                            measured.lookups_per_s
                        );
                        report.rows.push(Row {
                            workload: kind,
                            block_size: bs,
                            depth,
                            reads: w.reads,
                            way,
                            threads: t,
                            syscalls_per_lookup: way.syscalls(w.reads),
                            measured,
                        });
                    }
                }
                std::fs::remove_file(&w.path)?;
            }
        }
    }
    if !window_kinds.is_empty() {
        let plan = windows::Plan {
            dir: &args.dir,
            depths: &args.depths,
            lookups: args.lookups,
            warmup: args.warmup,
            reps: args.reps,
            floor_reads: args.floor_reads,
        };
        windows::run(&control, &window_kinds, &plan, &mut report)?;
    }
    if queue {
        let plan = queue::Plan {
            dir: &args.dir,
            block_size: *args.block_sizes.first().context("no block size")?,
            depth: args.deep,
            queue_depths: &args.queue_depths,
            lookups: args.lookups,
            warmup: args.warmup,
            reps: args.reps,
        };
        report.queue = queue::run(&control, &plan)?;
    }
    if fair {
        for budgets in [
            rnvme::abi::Budgets::default(),
            rnvme::abi::Budgets {
                chains_in_flight: args.fair_chains_in_flight,
                driver_hops_per_ms: args.fair_driver_hops_per_ms,
            },
        ] {
            let plan = fairness::Plan {
                dir: &args.dir,
                budgets,
                lookups: args.lookups,
                seconds: args.fair_seconds,
            };
            let row = fairness::run(&control, &plan)?;
            eprintln!("fairness with {budgets:?}: {row:?}");
            report.fairness.push(row);
        }
    }
    if live {
        let plan = live::Plan {
            dir: &args.dir,
            write_rate: args.live_write_rate,
            seconds: args.live_seconds,
            warmup: args.warmup,
            reps: args.reps,
        };
        report.live = Some(live::run(&control, &plan)?);
    }
    if !engine_names.is_empty() {
        let plan = engines::Plan {
            data: args.engine_data.clone(),
            warmup: args.warmup,
            lookups: args.engine_lookups,
            reps: args.reps,
        };
        let mut out = engines::Engines::default();
        for name in engine_names {
            eprintln!(
                "engine workload {name}: {} lookups x {} per way",
                plan.lookups, plan.reps
            );
            match name {
                "rocksdb" => engines::rocksdb(&control, &plan, &mut out)?,
                _ => engines::sqlite(&control, &plan, &mut out)?,
            }
        }
        report.engines = Some(out);
    }
    report.derive();
    report.validate()?;
    let table = report.table();
    print!("{table}");
    std::fs::write(args.out.join("bench.txt"), &table)?;
    std::fs::write(
        args.out.join("bench.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    if !report.rows.is_empty() {
        report.plot(&args.out.join("bench.svg"))?;
    }
    if let Some(e) = &report.engines {
        e.plot(&args.out.join("engines.svg"))?;
    }
    if !report.queue.is_empty() {
        queue::plot(&report.queue, &args.out.join("queue.svg"))?;
    }
    println!("rnvme-bench: done, results in {}", args.out.display());
    Ok(())
}
