// SPDX-License-Identifier: GPL-2.0 OR MIT

//! The engine workloads: lookups in files the real libraries wrote (the
//! benchmark data of `make bench-data`, on the VM's 512 B disk under
//! `/mnt/nvme/bench`), each done by a chain, by the `rnvme` library's own
//! pread walk, and by the engine itself in a child process (its cold
//! path; see benches/engines/), one thread each, the same keys in the same
//! order. Every answer is checked against the engine's.
//!
//! - `rocksdb`: point gets in an LSM of about 280 MB (3 L0 files over 8 L1
//!   files, uncompressed, 32 KiB blocks, no filters).
//! - `sqlite`: rowid lookups and lookups through an index on a text column
//!   in a database of about 100 MB, 4 KiB pages.
//!
//! Pages the file system cached are dropped before each lookup (untimed),
//! so each way reads the disk; RocksDB itself reads with O_DIRECT and no
//! block cache.

mod native;
pub mod report;

use std::{
    fs::File,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    time::Instant,
};

use anyhow::{ensure, Context, Result};
use rnvme::{
    engines::{rocksdb, sqlite},
    Control,
};

pub use report::{EngineRow, Engines};

use crate::{measure::Cpu, sys};

/// How many lookups, in how many repetitions.
#[derive(Clone, Debug)]
pub struct Plan {
    pub data: PathBuf,
    pub warmup: usize,
    pub lookups: usize,
    pub reps: usize,
}

/// One timed lookup.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sample {
    pub lat_ns: u64,
    /// CPU time of the looking-up thread.
    pub cpu_ns: u64,
    /// FNV-1a 64 of the answer (the value, or the row as
    /// [`row_hash`] encodes it).
    pub answer: Option<u64>,
}

/// One timed repetition.
#[derive(Clone, Debug, Default)]
pub struct Rep {
    pub samples: Vec<Sample>,
    pub wall_ns: u64,
    /// The guest's irq + softirq clock ticks (USER_HZ) over the repetition.
    pub irq_ticks: u64,
    /// Reads the disk completed (the block layer's count: a read the NVMe
    /// driver resubmitted itself is not in it).
    pub device_reads: u64,
    /// Reads the way made: chain reads and preads as the library counts
    /// them for ours, `device_reads` for the engines'.
    pub reads: u64,
}

/// The key looked up `j`-th in repetition `rep` (1-based; 0: the warm-up).
fn key_index(plan: &Plan, nkeys: usize, rep: usize, j: usize) -> usize {
    match rep {
        0 => j % nkeys,
        _ => (plan.warmup + (rep - 1) * plan.lookups + j) % nkeys,
    }
}

fn read_keys(path: &Path) -> Result<Vec<Vec<u8>>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{} (run `make bench-data`)", path.display()))?;
    let keys: Vec<Vec<u8>> = text
        .lines()
        .map(|l| {
            (0..l.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(l.get(i..i + 2).unwrap_or("x"), 16))
                .collect::<Result<Vec<u8>, _>>()
        })
        .collect::<Result<_, _>>()
        .with_context(|| format!("{}: not hex", path.display()))?;
    ensure!(!keys.is_empty(), "{}: no keys", path.display());
    Ok(keys)
}

pub fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}

pub const FNV_SEED: u64 = 0xcbf2_9ce4_8422_2325;

/// A row as sqlite_bench hashes it: per column a type letter, then for an
/// integer its decimal and ';', for text and blobs the length, ':' and the
/// bytes.
pub fn row_hash(row: &sqlite::Row) -> Result<u64> {
    let mut h = FNV_SEED;
    for v in &row.values {
        h = match v {
            sqlite::Value::Null => fnv(h, b"N"),
            sqlite::Value::Integer(i) => fnv(h, format!("I{i};").as_bytes()),
            sqlite::Value::Text(t) => {
                fnv(fnv(h, format!("T{}:", t.len()).as_bytes()), t.as_bytes())
            }
            sqlite::Value::Blob(b) => fnv(fnv(h, format!("B{}:", b.len()).as_bytes()), b),
            sqlite::Value::Real(_) => {
                anyhow::bail!("a REAL column: the benchmark's rows have none")
            }
        };
    }
    Ok(h)
}

/// Reads completed by the block device `dev` (disk or partition).
fn device_reads(dev: u64) -> Result<u64> {
    let path = format!("{}/stat", sys::block_sysfs(dev));
    let text = std::fs::read_to_string(&path).with_context(|| path.clone())?;
    text.split_whitespace()
        .next()
        .and_then(|x| x.parse().ok())
        .with_context(|| format!("{path}: no read count"))
}

/// What one lookup of ours gave: the answer's hash and the reads made.
type Lookup<'a> = dyn FnMut(usize) -> Result<(Option<u64>, u64)> + 'a;

/// Runs `lookup` over the plan, dropping `files`' cached pages before each
/// lookup, outside the timing.
fn run_ours(
    plan: &Plan,
    nkeys: usize,
    files: &[File],
    lookup: &mut Lookup<'_>,
) -> Result<Vec<Rep>> {
    let dev = files.first().context("no files")?.metadata()?.dev();
    let drop_all = || -> Result<()> {
        for f in files {
            sys::drop_cached(f).context("posix_fadvise")?;
        }
        Ok(())
    };
    for j in 0..plan.warmup {
        drop_all()?;
        lookup(key_index(plan, nkeys, 0, j))?;
    }
    let mut reps = Vec::new();
    for rep in 1..=plan.reps {
        let mut r = Rep::default();
        let (start, irq0, dev0) = (Instant::now(), Cpu::now().irq(), device_reads(dev)?);
        for j in 0..plan.lookups {
            drop_all()?;
            let (t0, c0) = (Instant::now(), sys::thread_cpu_ns());
            let (answer, reads) = lookup(key_index(plan, nkeys, rep, j))?;
            let cpu_ns = sys::thread_cpu_ns() - c0;
            r.samples.push(Sample {
                lat_ns: t0.elapsed().as_nanos() as u64,
                cpu_ns,
                answer,
            });
            r.reads += reads;
        }
        r.wall_ns = start.elapsed().as_nanos() as u64;
        r.irq_ticks = Cpu::now().irq() - irq0;
        r.device_reads = device_reads(dev)? - dev0;
        reps.push(r);
    }
    Ok(reps)
}

/// Checks every answer of `reps` against the engine's, lookup by lookup.
fn check(way: &str, reps: &[Rep], want: &[Rep]) -> Result<()> {
    for (r, (got, want)) in reps.iter().zip(want).enumerate() {
        for (j, (g, w)) in got.samples.iter().zip(&want.samples).enumerate() {
            ensure!(
                g.answer == w.answer,
                "{way}: repetition {} lookup {j}: answer {:x?}, the engine's {:x?}",
                r + 1,
                g.answer,
                w.answer
            );
        }
    }
    Ok(())
}

/// RocksDB point gets: the chain (interrupt, polled), the pread walk, the
/// library with index blocks read per Get and with them pinned.
pub fn rocksdb(control: &Control, plan: &Plan, out: &mut Engines) -> Result<()> {
    let dir = plan.data.join("lsm");
    let keys_path = plan.data.join("lsm.keys");
    let keys = read_keys(&keys_path)?;
    let dir_s = dir.to_string_lossy().to_string();
    let keys_s = keys_path.to_string_lossy().to_string();
    let tool = "rnvme-bench-rocksdb";
    let cold = native::run(tool, &["get", &dir_s, &keys_s, "cold"], plan)?;
    let pinned = native::run(tool, &["get", &dir_s, &keys_s, "pinned"], plan)?;
    check("rocksdb pinned", &pinned, &cold)?;

    let db = rocksdb::Db::open(&dir).with_context(|| format!("open {dir_s}"))?;
    let files = db
        .files()
        .iter()
        .map(|f| File::open(&f.path).with_context(|| f.path.display().to_string()))
        .collect::<Result<Vec<_>>>()?;
    let hash = |v: Option<Vec<u8>>| v.map(|v| fnv(FNV_SEED, &v));
    let mut rows = Vec::new();
    let attached = db.attach(control)?;
    for polled in [false, true] {
        let reps = run_ours(plan, keys.len(), &files, &mut |i| {
            let (v, s) = attached.get(&keys[i], polled)?;
            Ok((hash(v), u64::from(s.hops) + s.preads))
        })?;
        let way = if polled { "rnvme_polled" } else { "rnvme" };
        check(way, &reps, &cold)?;
        rows.push((way, reps));
    }
    drop(attached);
    let walk = run_ours(plan, keys.len(), &files, &mut |i| {
        let before = db.read_stats().blocks;
        let v = db.get_pread(&keys[i])?;
        Ok((hash(v), db.read_stats().blocks - before))
    })?;
    check("pread_walk", &walk, &cold)?;
    rows.extend([
        ("pread_walk", walk),
        ("rocksdb_cold", cold),
        ("rocksdb_pinned", pinned),
    ]);
    for (way, reps) in rows {
        out.rows
            .push(EngineRow::of("rocksdb", "get", way, plan, &reps));
    }
    Ok(())
}

/// SQLite lookups by rowid and through the index on `k`: the chain
/// (interrupt, polled), the pread walk, SQLite itself.
pub fn sqlite(control: &Control, plan: &Plan, out: &mut Engines) -> Result<()> {
    let path = plan.data.join("rows.db");
    let db = sqlite::Db::open(&path).with_context(|| path.display().to_string())?;
    let files = [File::open(&path)?];
    let attached = db.attach(control)?;
    for (op, keys_name) in [("rowid", "rows.rowids"), ("index", "rows.values")] {
        let keys_path = plan.data.join(keys_name);
        let keys = read_keys(&keys_path)?;
        let engine = native::run(
            "rnvme-bench-sqlite",
            &[
                "get",
                &path.to_string_lossy(),
                op,
                &keys_path.to_string_lossy(),
            ],
            plan,
        )?;
        let rowids: Vec<i64> = keys
            .iter()
            .map(|k| {
                std::str::from_utf8(k)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(i64::MIN)
            })
            .collect();
        let value = |i: usize| sqlite::Value::Text(String::from_utf8_lossy(&keys[i]).into_owned());
        let hashed = |r: Option<sqlite::Row>| r.as_ref().map(row_hash).transpose();
        let mut rows = Vec::new();
        for polled in [false, true] {
            let reps = run_ours(plan, keys.len(), &files, &mut |i| {
                let (row, s) = match op {
                    "rowid" => attached.get("t", rowids[i], polled)?,
                    _ => attached.lookup_index("t", "k", &value(i), polled)?,
                };
                Ok((hashed(row)?, u64::from(s.hops) + s.preads))
            })?;
            let way = if polled { "rnvme_polled" } else { "rnvme" };
            check(way, &reps, &engine)?;
            rows.push((way, reps));
        }
        let walk = run_ours(plan, keys.len(), &files, &mut |i| {
            let before = db.pages_read();
            let row = match op {
                "rowid" => db.get_pread("t", rowids[i])?,
                _ => db.lookup_index_pread("t", "k", &value(i))?,
            };
            Ok((hashed(row)?, db.pages_read() - before))
        })?;
        check("pread_walk", &walk, &engine)?;
        rows.extend([("pread_walk", walk), ("sqlite", engine)]);
        for (way, reps) in rows {
            out.rows.push(EngineRow::of("sqlite", op, way, plan, &reps));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_indices_follow_common_h() {
        let plan = Plan {
            data: PathBuf::new(),
            warmup: 3,
            lookups: 4,
            reps: 2,
        };
        assert_eq!(key_index(&plan, 10, 0, 2), 2);
        assert_eq!(key_index(&plan, 10, 1, 0), 3);
        assert_eq!(key_index(&plan, 10, 2, 3), 0);
    }

    #[test]
    fn rows_hash_as_sqlite_bench_does() {
        let row = sqlite::Row {
            rowid: 1,
            values: vec![
                sqlite::Value::Integer(-4),
                sqlite::Value::Text("ab".into()),
                sqlite::Value::Null,
                sqlite::Value::Blob(vec![0]),
            ],
        };
        let want = fnv(FNV_SEED, b"I-4;T2:abNB1:\0");
        assert_eq!(row_hash(&row).unwrap(), want);
        assert_eq!(fnv(FNV_SEED, b""), FNV_SEED);
        // FNV-1a 64 of "a", as published.
        assert_eq!(fnv(FNV_SEED, b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
