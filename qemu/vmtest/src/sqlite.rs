// SPDX-License-Identifier: GPL-2.0 OR MIT

//! SQLite: rows by rowid and by indexed column in databases SQLite itself
//! wrote (1, 4 and 64 KiB pages, rollback journal and checkpointed WAL),
//! each lookup one chain down the index and then the table, every answer
//! compared with SQLite's own; databases whose side files hold what the
//! main file lacks (WAL frames, a hot journal) refused. Corrupted copies
//! of a database (page headers, cell pointers, cycles, page numbers past
//! the end, a truncated file) end lookups with an error or a row the
//! corrupted file itself holds, never an oops or a hang: [`hostile`].

mod expect;
mod hostile;

pub use hostile::sqlite_hostile;

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
};

use anyhow::{bail, ensure, Context, Result};
use rnvme::{
    engines::sqlite::{Attached, Db, Detour, Error, HandBack, LookupStats, Row, Value},
    Control, StorageFunction, DEFAULT_DEVICE,
};

use self::expect::{dec, enc};
use crate::engine_files::{dirs, expect_files, sample};

/// A lookup of a `.expect` line (format: `scripts/fixtures/sqlite_gen.py`).
enum Lookup {
    Get {
        table: String,
        rowid: i64,
    },
    Find {
        table: String,
        column: String,
        value: Value,
    },
}

/// A lookup and the words of its line before the answer.
struct Query {
    head: String,
    lookup: Lookup,
}

fn parse(line: &str) -> Result<Query> {
    let w: Vec<&str> = line.split(' ').collect();
    let (n, lookup) = match w.as_slice() {
        ["get", table, rowid, ..] => (
            3,
            Lookup::Get {
                table: table.to_string(),
                rowid: rowid
                    .parse()
                    .with_context(|| format!("bad line {line:?}"))?,
            },
        ),
        ["find", table, column, value, ..] => (
            4,
            Lookup::Find {
                table: table.to_string(),
                column: column.to_string(),
                value: dec(value).with_context(|| format!("bad value in {line:?}"))?,
            },
        ),
        _ => bail!("bad line {line:?}"),
    };
    Ok(Query {
        head: w[..n].join(" "),
        lookup,
    })
}

/// The kind of a lookup's error, as the `.expect` files name it.
fn kind(e: &Error) -> String {
    match e {
        Error::Unusable { what, .. } if what.contains("WITHOUT ROWID") => "without_rowid".into(),
        Error::Unusable { what, .. } if what.contains("no index") => "no_index".into(),
        e => format!("unexpected: {e}"),
    }
}

type Answer = Result<(Option<Row>, LookupStats), Error>;

/// Runs `q` as a chain.
fn run(att: &Attached, q: &Query, polled: bool) -> Answer {
    match &q.lookup {
        Lookup::Get { table, rowid } => att.get(table, *rowid, polled),
        Lookup::Find {
            table,
            column,
            value,
        } => att.lookup_index(table, column, value, polled),
    }
}

/// The answer `r` to `q`, written as its `.expect` line would be.
fn line(q: &Query, r: &Answer) -> String {
    let values = |row: &Row| {
        let v: Vec<String> = row.values.iter().map(enc).collect();
        format!("{} {}", v.len(), v.join(" "))
    };
    match (r, &q.lookup) {
        (Ok((Some(row), _)), Lookup::Get { .. }) => format!("{} found {}", q.head, values(row)),
        (Ok((Some(row), _)), Lookup::Find { .. }) => {
            format!("{} found {} {}", q.head, row.rowid, values(row))
        }
        (Ok((None, _)), _) => format!("{} absent", q.head),
        (Err(e), _) => format!("{} error {}", q.head, kind(e)),
    }
}

/// What the lookups of one database did.
#[derive(Default)]
struct Tally {
    lookups: u64,
    polled: u64,
    /// Lookups that ran a chain, and the pages those chains read.
    chains: u64,
    pages: u64,
    /// Lookups the function is meant to answer alone (not an expected
    /// error, no record past its reach, no key too long for it)...
    eligible: u64,
    /// ...and those it did.
    in_kernel: u64,
    /// Lookups redone in user space after the chain met a hole.
    holes: u64,
}

/// Runs the [`sample`] of `expect`'s lookups on `att`, alternating
/// interrupt-driven and polled chains; every answer must be SQLite's.
fn check_db(att: &Attached, expect: &str, name: &Path) -> Result<Tally> {
    let mut t = Tally::default();
    let mut wrong = Vec::new();
    for (i, want) in sample(expect, name) {
        let polled = i % 2 == 1;
        let q = parse(want)?;
        let r = run(att, &q, polled);
        let got = line(&q, &r);
        t.lookups += 1;
        t.polled += u64::from(polled);
        if let Ok((_, s)) = &r {
            t.holes += u64::from(s.detour == Some(Detour::Hole));
            t.chains += u64::from(s.chain);
            t.pages += u64::from(s.reads);
            let past_reach = matches!(
                s.detour,
                Some(Detour::HandBack(HandBack::Spill | HandBack::Reach) | Detour::LongKey)
            );
            // No chain and no detour: nothing to read (a NULL key).
            if !past_reach && (s.chain || s.detour.is_some()) {
                t.eligible += 1;
                t.in_kernel += u64::from(s.chain && s.detour.is_none());
            }
        }
        if got != want {
            wrong.push(format!("line {}: want {want}\n got {got}", i + 1));
        }
    }
    if !wrong.is_empty() {
        bail!(
            "{}: {} of {} answers differ from SQLite's, first:\n{}",
            name.display(),
            wrong.len(),
            t.lookups,
            wrong[..wrong.len().min(5)].join("\n")
        );
    }
    Ok(t)
}

/// The rowid gets of `expect` (its [`sample`]) again, a table at
/// a time on an io_uring ring (`get_many`): 16 in flight with interrupts,
/// or 64 on an IOPOLL ring (`polled`); SQLite's answers. Returns the gets
/// done.
fn check_gets_in_flight(att: &Attached, expect: &str, name: &Path, polled: bool) -> Result<usize> {
    let mut by_table: BTreeMap<String, Vec<(i64, &str, Query)>> = BTreeMap::new();
    for (_, want) in sample(expect, name) {
        let q = parse(want)?;
        if let Lookup::Get { table, rowid } = &q.lookup {
            by_table
                .entry(table.clone())
                .or_default()
                .push((*rowid, want, q));
        }
    }
    let mut done = 0;
    for (table, gets) in &by_table {
        let rowids: Vec<i64> = gets.iter().map(|g| g.0).collect();
        let depth = if polled { 64 } else { 16 };
        // An error of the whole table (no rowids, say) is every get's.
        let answers: Vec<Answer> = match att.get_many(table, &rowids, depth, polled) {
            Ok(answers) => answers,
            Err(e) => {
                let every = format!("error {}", kind(&e));
                for (_, want, _) in gets {
                    ensure!(
                        want.ends_with(&every),
                        "{}: want {want}\n got {every}",
                        name.display()
                    );
                }
                done += gets.len();
                continue;
            }
        };
        for ((_, want, q), r) in gets.iter().zip(&answers) {
            let got = line(q, r);
            ensure!(
                got == *want,
                "{}: at depth {depth}: want {want}\n got {got}",
                name.display()
            );
        }
        done += answers.len();
    }
    Ok(done)
}

/// `db` must not open: its side files hold what the main file lacks.
fn check_refused(db: &Path, why: &str) -> Result<()> {
    match (why, Db::open(db)) {
        ("wal", Err(e @ Error::WalFrames { .. }))
        | ("journal", Err(e @ Error::HotJournal { .. })) => {
            println!("ok: {} refused: {e}", db.display());
            Ok(())
        }
        (_, Err(e)) => bail!("{}: refused with {e}, not for {why}", db.display()),
        (_, Ok(_)) => bail!("{}: opened; it must be refused ({why})", db.display()),
    }
}

/// Every lookup of every fixture database, on both disks: SQLite's
/// answers, the chain answering most of those it can answer alone (else
/// the kernel walk would not be what is tested); and the databases with
/// WAL frames or a hot journal refused.
pub fn sqlite_lookups() -> Result<()> {
    let control = Control::open(DEFAULT_DEVICE)?;
    // Loaded and verified once for every database.
    let function = StorageFunction::builtin("sqlite")?;
    for (d, dir) in dirs("sqlite")?.into_iter().enumerate() {
        let mut refused = 0;
        for (e, expect) in expect_files(&dir)?.into_iter().enumerate() {
            let text = fs::read_to_string(&expect)?;
            let path = expect.with_extension("db");
            if let Some(why) = text.trim().strip_prefix("refuse ") {
                check_refused(&path, why)?;
                refused += 1;
                continue;
            }
            let path = dense(&path, &control, &function, &text)?;
            let db = Db::open(&path).with_context(|| path.display().to_string())?;
            let att = db.attach_with(&control, function.try_clone()?)?;
            let t = check_db(&att, &text, &path)?;
            let in_flight = check_gets_in_flight(&att, &text, &path, (d + e) % 2 == 1)?;
            let c = att.counters();
            let reasons: Vec<String> = HandBack::ALL
                .iter()
                .zip(c.hand_backs)
                .filter(|(_, n)| *n > 0)
                .map(|(r, n)| format!("{}={n}", r.name()))
                .collect();
            println!(
                "ok: {}: {} lookups equal SQLite's ({} polled; and {in_flight} gets on io_uring rings); {} of {} by the chain alone, {:.1} pages per chain; hand-backs [{}], direct {}, preads {}",
                path.display(),
                t.lookups,
                t.polled,
                t.in_kernel,
                t.eligible,
                t.pages as f64 / t.chains.max(1) as f64,
                reasons.join(" "),
                c.direct,
                c.extra_preads
            );
            ensure!(
                t.in_kernel * 2 > t.eligible,
                "{}: only {} of {} lookups were answered by the chain alone",
                path.display(),
                t.in_kernel,
                t.eligible
            );
        }
        ensure!(refused > 0, "{}: no database to refuse", dir.display());
        if let Some(disk) = dir.ancestors().nth(2) {
            let _ = fs::remove_dir_all(disk.join("sqlite-dense"));
        }
    }
    Ok(())
}

/// `mkfs.ext4 -d` stored the fixtures sparse: a 4 KiB block of zeros (free
/// space of a 64 KiB page) is a hole, which a chain cannot read. For such a
/// file: its first lookups must still be SQLite's answers (user space does
/// them, `Detour::Hole`); the rest run on a copy with every block written
/// (`sqlite-dense/` on the same disk), as SQLite itself writes its files.
fn dense(
    path: &Path,
    control: &Control,
    function: &StorageFunction,
    text: &str,
) -> Result<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let m = fs::metadata(path)?;
    if m.blocks() * 512 >= m.len() {
        return Ok(path.to_path_buf());
    }
    let db = Db::open(path)?;
    let att = db.attach_with(control, function.try_clone()?)?;
    let head: String = text.lines().take(100).flat_map(|l| [l, "\n"]).collect();
    let t = check_db(&att, &head, path)?;
    let holes = t.holes;
    // Every page of a 64 KiB-page fixture has zero blocks (free space).
    ensure!(
        holes > 0 || db.header().page_size < 65536,
        "{}: sparse 64 KiB pages, but no chain met a hole",
        path.display()
    );
    println!(
        "ok: {} (sparse): {} lookups equal SQLite's, {holes} done in user space after the chain met a hole",
        path.display(),
        t.lookups
    );
    let dir = path
        .ancestors()
        .nth(3)
        .context("a fixture path")?
        .join("sqlite-dense");
    fs::create_dir_all(&dir)?;
    let copy = dir.join(path.file_name().context("name")?);
    fs::write(&copy, fs::read(path)?)?;
    let m = fs::metadata(&copy)?;
    ensure!(
        m.blocks() * 512 >= m.len(),
        "{}: still sparse",
        copy.display()
    );
    Ok(copy)
}
