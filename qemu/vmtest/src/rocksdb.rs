// SPDX-License-Identifier: GPL-2.0 OR MIT

//! RocksDB: gets and seeks over LSM trees the RocksDB library wrote (Debian's
//! 7.8 for format versions 2–5, a current RocksDB for 6 and 7, compressed,
//! partitioned-index and TiKV-shaped DBs), each lookup one chain across the
//! SST files, every answer compared with the library's own `Get` or
//! iterator `Seek` on the same files. Corrupted copies of the files end
//! lookups with an error or a value the corrupted file itself holds, never
//! an oops or a hang.

use std::{
    fs,
    path::{Path, PathBuf},
    time::Instant,
};

use anyhow::{bail, ensure, Context, Result};
use rnvme::{
    engines::rocksdb::{Attached, Db, HandBack},
    Control, StorageFunction, DEFAULT_DEVICE,
};

use crate::engine_files::{dirs, expect_files, hostile_dir, hostile_stride, sample, unhex};

/// One line of a `.expect` file.
enum Query {
    Get(Vec<u8>, Option<Vec<u8>>),
    Seek(Vec<u8>, Option<(Vec<u8>, Vec<u8>)>),
}

fn parse(line: &str) -> Result<Query> {
    let w: Vec<&str> = line.split_whitespace().collect();
    Ok(match w.as_slice() {
        ["get", k, "found", v] => Query::Get(unhex(k)?, Some(unhex(v)?)),
        ["get", k, "absent"] => Query::Get(unhex(k)?, None),
        ["seek", k, "found", fk, v] => Query::Seek(unhex(k)?, Some((unhex(fk)?, unhex(v)?))),
        ["seek", k, "end"] => Query::Seek(unhex(k)?, None),
        _ => bail!("bad line {line:?}"),
    })
}

/// What the lookups of one DB did.
#[derive(Default)]
struct Tally {
    queries: u64,
    /// Answered by the chain alone.
    in_kernel: u64,
    reads: u64,
}

fn short(b: &[u8]) -> String {
    let h: String = b.iter().take(24).map(|x| format!("{x:02x}")).collect();
    if b.len() > 24 {
        format!("x{h}.. ({} B)", b.len())
    } else {
        format!("x{h}")
    }
}

/// Runs the [`sample`] of `expect`'s queries on `att`, alternating
/// interrupt and polled chains.
fn check_db(att: &Attached, expect: &Path) -> Result<Tally> {
    let text = fs::read_to_string(expect)?;
    let mut t = Tally::default();
    let mut wrong = Vec::new();
    for (i, line) in sample(&text, expect) {
        let polled = i % 2 == 1;
        let q = parse(line)?;
        let (ok, stats, what) = match &q {
            Query::Get(k, want) => {
                let (got, st) = att
                    .get(k, polled)
                    .with_context(|| format!("get {}", short(k)))?;
                let w = format!("get {}: got {:?}", short(k), got.as_deref().map(short));
                (&got == want, st, w)
            }
            Query::Seek(k, want) => {
                let (got, st) = att
                    .seek(k, polled)
                    .with_context(|| format!("seek {}", short(k)))?;
                let w = format!(
                    "seek {}: got {:?}",
                    short(k),
                    got.as_ref().map(|(k, _)| short(k))
                );
                (&got == want, st, w)
            }
        };
        t.queries += 1;
        t.reads += u64::from(stats.reads);
        if stats.chain && stats.detour.is_none() {
            t.in_kernel += 1;
        }
        if !ok {
            wrong.push(format!("line {}: {what}", i + 1));
        }
    }
    if !wrong.is_empty() {
        bail!(
            "{}: {} of {} answers differ from the library's, first: {:#?}",
            expect.display(),
            wrong.len(),
            t.queries,
            &wrong[..wrong.len().min(5)]
        );
    }
    Ok(t)
}

/// The gets of `expect` (its [`sample`]) again, all at once on an
/// io_uring ring (`get_many`): 16 in flight with interrupts, or 64 on an
/// IOPOLL ring (`polled`); the same answers as the library's. Returns the
/// gets done.
fn check_gets_in_flight(att: &Attached, expect: &Path, polled: bool) -> Result<usize> {
    let text = fs::read_to_string(expect)?;
    let mut keys = Vec::new();
    let mut wants = Vec::new();
    for (_, line) in sample(&text, expect) {
        if let Query::Get(k, want) = parse(line)? {
            keys.push(k);
            wants.push(want);
        }
    }
    let depth = if polled { 64 } else { 16 };
    {
        let answers = att.get_many(&keys, depth, polled)?;
        ensure!(
            answers.len() == keys.len(),
            "{} answers for {} keys",
            answers.len(),
            keys.len()
        );
        for ((k, want), got) in keys.iter().zip(&wants).zip(answers) {
            let (got, _) = got.with_context(|| format!("get {} in flight", short(k)))?;
            ensure!(
                &got == want,
                "{}: get {} at depth {depth}: got {:?}",
                expect.display(),
                short(k),
                got.as_deref().map(short)
            );
        }
    }
    Ok(keys.len())
}

/// Every query of every fixture DB, on both disks: the same answers as the
/// library. Uncompressed DBs must be answered mostly by the chain alone
/// (else the kernel walk would not be what is tested); the LZ4 DB must be
/// handed back for its compressed blocks.
pub fn rocksdb_lookups() -> Result<()> {
    let control = Control::open(DEFAULT_DEVICE)?;
    // Loaded and verified once for every DB.
    let function = StorageFunction::builtin("rocksdb")?;
    for (d, dir) in dirs("rocksdb")?.into_iter().enumerate() {
        for (e, expect) in expect_files(&dir)?.into_iter().enumerate() {
            let name = expect.file_stem().unwrap().to_string_lossy().to_string();
            let db_dir: PathBuf = dir.join(&name);
            let (m0, t0) = (control.metrics()?, Instant::now());
            let db = Db::open(&db_dir).with_context(|| db_dir.display().to_string())?;
            let att = db.attach_with(&control, function.try_clone()?)?;
            let t = check_db(&att, &expect)?;
            let in_flight = check_gets_in_flight(&att, &expect, (d + e) % 2 == 1)?;
            let m1 = control.metrics()?;
            println!(
                "    {:.1} s; extent maps built +{}, remaps +{}, fallbacks +{:?}",
                t0.elapsed().as_secs_f64(),
                m1.extent_maps - m0.extent_maps,
                m1.remaps - m0.remaps,
                std::iter::zip(m1.fallbacks, m0.fallbacks)
                    .map(|(a, b)| a - b)
                    .collect::<Vec<_>>()
            );
            let c = att.counters();
            let reasons: Vec<String> = HandBack::ALL
                .iter()
                .zip(c.hand_backs)
                .filter(|(_, n)| *n > 0)
                .map(|(r, n)| format!("{}={n}", r.name()))
                .collect();
            println!(
                "ok: {}: {} queries equal the library's (and {in_flight} gets on io_uring rings); {} by the chain alone, {:.1} blocks per lookup; {} files; hand-backs [{}], deleted-key seeks {}, direct {}",
                db_dir.display(),
                t.queries,
                t.in_kernel,
                t.reads as f64 / t.queries.max(1) as f64,
                db.files().len(),
                reasons.join(" "),
                c.deleted,
                c.direct
            );
            if name == "lz4" {
                let compressed = c.hand_backs[HandBack::ALL
                    .iter()
                    .position(|r| *r == HandBack::Compressed)
                    .unwrap()];
                ensure!(
                    compressed > 0,
                    "{name}: no compressed block was handed back"
                );
            } else {
                ensure!(
                    t.in_kernel * 2 > t.queries,
                    "{name}: only {} of {} lookups were answered by the chain alone",
                    t.in_kernel,
                    t.queries
                );
            }
        }
    }
    Ok(())
}

/// Flips bytes of a copy of each SST file of a DB (footer, index and data
/// blocks; rounds alternate between ext4 and XFS), then runs lookups: each ends with an answer or an error within
/// the time bound, the kernel reports nothing (the harness checks the
/// console), and every value returned is bytes of the DB's own files.
pub fn rocksdb_hostile() -> Result<()> {
    let control = Control::open(DEFAULT_DEVICE)?;
    let function = StorageFunction::builtin("rocksdb")?;
    let src = dirs("rocksdb")?[0].join("fv5");
    let expect = fs::read_to_string(dirs("rocksdb")?[0].join("fv5.expect"))?;
    let queries: Vec<Query> = expect
        .lines()
        .step_by(hostile_stride())
        .map(parse)
        .collect::<Result<_>>()?;
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let (mut answered, mut errors) = (0u64, 0u64);
    for round in 0..8 {
        let work = hostile_dir(round as usize, "rocksdb-hostile");
        let _ = fs::remove_dir_all(&work);
        fs::create_dir_all(&work)?;
        let mut all = Vec::new();
        for e in fs::read_dir(&src)? {
            let p = e?.path();
            let mut bytes = fs::read(&p)?;
            if p.extension().is_some_and(|x| x == "sst") {
                corrupt(&mut bytes, round, &mut rng);
                all.extend_from_slice(&bytes);
            }
            fs::write(work.join(p.file_name().unwrap()), &bytes)?;
        }
        // Opening may already refuse a corrupted footer or metaindex.
        let db = match Db::open(&work) {
            Ok(db) => db,
            Err(e) => {
                println!("round {round}: open refused: {e}");
                errors += 1;
                continue;
            }
        };
        let att = db.attach_with(&control, function.try_clone()?)?;
        for q in &queries {
            let (r, want) = match q {
                Query::Get(k, want) => (att.get(k, false), want.clone()),
                Query::Seek(k, want) => (
                    att.seek(k, true).map(|(kv, st)| (kv.map(|(_, v)| v), st)),
                    want.as_ref().map(|(_, v)| v.clone()),
                ),
            };
            if let Ok((_, stats)) = &r {
                ensure!(
                    stats.hops <= Attached::MAX_HOPS,
                    "round {round}: a chain made {} reads, over the tag's limit {}",
                    stats.hops,
                    Attached::MAX_HOPS
                );
            }
            match r.map(|(v, _)| v) {
                Ok(Some(v)) => {
                    ensure!(
                        Some(&v) == want.as_ref() || contains(&all, &v[..v.len().min(64)]),
                        "round {round}: a value that is not in the DB's files: {}",
                        short(&v)
                    );
                    answered += 1;
                }
                Ok(None) => answered += 1,
                Err(_) => errors += 1,
            }
        }
        drop(att);
        let _ = fs::remove_dir_all(&work);
    }
    ensure!(errors > 0, "corruption was never noticed");
    println!("ok: corrupted SST files: {answered} lookups answered from the files' own bytes, {errors} ended with an error");
    Ok(())
}

/// Flips bytes of an SST file: round 0 the footer, then the last 4 KiB
/// (metaindex, index: the opening of the DB may notice), then bytes of the
/// first half, the data blocks, which only the chain reads.
fn corrupt(b: &mut [u8], round: u32, rng: &mut u64) {
    let mut next = || {
        *rng ^= *rng << 13;
        *rng ^= *rng >> 7;
        *rng ^= *rng << 17;
        *rng
    };
    let n = b.len();
    for _ in 0..8 {
        let at = match round {
            0 => n - 1 - (next() as usize % 53.min(n)),
            1 | 2 => n - 1 - (next() as usize % 4096.min(n)),
            _ => next() as usize % (n / 2).max(1),
        };
        b[at] ^= 1 << (next() % 8);
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}
