// SPDX-License-Identifier: GPL-2.0 OR MIT

//! Lookups as chains: the database file tagged with the `sqlite` storage
//! function, one chain per lookup (an index descent, then the table's),
//! and user space finishing whatever the function hands back or leaves
//! unread (the end of a long record).

use std::{
    mem::{offset_of, size_of},
    sync::atomic::{AtomicU64, Ordering::Relaxed},
};

use super::lookup::{ChainCounters, Detour, HandBack, LookupStats};
use super::{
    btree::Pager,
    db::{Db, Plan, Row},
    record::Value,
    schema::Table,
    scratch::{self as s, sql_query as Q},
    Error, Result,
};
use crate::{ChainOutcome, ChainRequest, ChainRing, Control, StorageFunction, Tag, Window};

/// What runs a chain of the `sqlite` function from the read `first`, with
/// `scratch` as its scratch: a [`Tag`] of the database file, or anything
/// that emulates one (one page per read, file 0 the database).
pub trait ChainRunner {
    fn run(&self, first: Window, scratch: &mut [u8], polled: bool) -> crate::Result<ChainOutcome>;
}

impl ChainRunner for Tag<'_> {
    fn run(&self, first: Window, scratch: &mut [u8], polled: bool) -> crate::Result<ChainOutcome> {
        self.chain(first, scratch, None, polled)
    }
}

fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_ne_bytes());
}

fn put64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_ne_bytes());
}

fn get32(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(b[at..at + 4].try_into().unwrap())
}

fn get64(b: &[u8], at: usize) -> u64 {
    u64::from_ne_bytes(b[at..at + 8].try_into().unwrap())
}

/// The function's results, out of the scratch.
struct Outcome {
    status: u32,
    reason: u32,
    state: u32,
    page: u32,
    reads: u32,
    row: i64,
    payload_size: u32,
    local: u32,
    leaf_page: u32,
    payload_off: u32,
    copied: u32,
    ovfl_page: u32,
}

impl Outcome {
    fn of(b: &[u8]) -> Self {
        Self {
            status: get32(b, offset_of!(Q, status)),
            reason: get32(b, offset_of!(Q, reason)),
            state: get32(b, offset_of!(Q, state)),
            page: get32(b, offset_of!(Q, page)),
            reads: get32(b, offset_of!(Q, reads)),
            row: get64(b, offset_of!(Q, row)) as i64,
            payload_size: get32(b, offset_of!(Q, payload_size)),
            local: get32(b, offset_of!(Q, local)),
            leaf_page: get32(b, offset_of!(Q, leaf_page)),
            payload_off: get32(b, offset_of!(Q, payload_off)),
            copied: get32(b, offset_of!(Q, copied)).min(s::SQL_PAYLOAD_MAX),
            ovfl_page: get32(b, offset_of!(Q, ovfl_page)),
        }
    }

    /// What a corrupt status says.
    fn corruption(&self) -> String {
        let what = match self.reason {
            s::SQL_R_PAGE_TYPE => "not a page of the B-tree descended",
            s::SQL_R_CELL => "a cell outside its page",
            s::SQL_R_DEPTH => "a B-tree deeper than 20 levels",
            s::SQL_R_CHILD => "a child or overflow page outside the file",
            s::SQL_R_RECORD => "a malformed record",
            s::SQL_R_NO_ROW => "an index entry whose row is not in the table",
            _ => "an unknown result",
        };
        format!(
            "page {}: {what} (the sqlite storage function's finding)",
            self.page
        )
    }
}

/// The answer of a lookup: the row, and what the lookup took.
pub type Got = (Option<Row>, LookupStats);

/// The record the function found: payload[] and, when it could not copy
/// all of it, the rest read with pread.
fn record(pager: &Pager<'_>, o: &Outcome, scratch: &[u8]) -> Result<Vec<u8>> {
    let at = offset_of!(Q, payload);
    let (size, local, copied) = (o.payload_size as usize, o.local as usize, o.copied as usize);
    let mut rec = scratch[at..at + copied.min(size)].to_vec();
    if copied >= size {
        return Ok(rec);
    }
    let room = pager.usable as usize - 4;
    if o.ovfl_page != 0 && copied >= local {
        rec.extend(pager.overflow(o.ovfl_page, (copied - local) % room, size - copied)?);
        return Ok(rec);
    }
    // From the leaf cell on.
    let start = u64::from(o.leaf_page.saturating_sub(1)) * u64::from(pager.page_size)
        + u64::from(o.payload_off);
    let cell = pager.read_at(start, local + if size > local { 4 } else { 0 })?;
    rec = cell[..local].to_vec();
    if size > local {
        let first = u32::from_be_bytes(cell[local..local + 4].try_into().unwrap());
        rec.extend(pager.overflow(first, 0, size - local)?);
    }
    Ok(rec)
}

/// A database tagged with the `sqlite` storage function: lookups run as
/// chains. Detaches on drop. While it lives, the file cannot be written.
pub struct Attached<'a> {
    db: &'a Db,
    tag: Tag<'a>,
    counters: Counters,
    _function: StorageFunction,
}

#[derive(Debug, Default)]
struct Counters {
    lookups: AtomicU64,
    chains: AtomicU64,
    hand_backs: [AtomicU64; 5],
    direct: AtomicU64,
    extra_preads: AtomicU64,
}

impl Db {
    /// Tags the database file with the built-in `sqlite` function, through
    /// `control`.
    pub fn attach<'a>(&'a self, control: &'a Control) -> Result<Attached<'a>> {
        let function = StorageFunction::builtin("sqlite").map_err(|cause| self.kernel(cause))?;
        self.attach_with(control, function)
    }

    /// [`Db::attach`] with another build of the function (a pinned one,
    /// say).
    pub fn attach_with<'a>(
        &'a self,
        control: &'a Control,
        function: StorageFunction,
    ) -> Result<Attached<'a>> {
        let tag = control
            .attach(&self.file, &function, Attached::MAX_HOPS)
            .map_err(|cause| self.kernel(cause))?;
        Ok(Attached {
            db: self,
            tag,
            counters: Counters::default(),
            _function: function,
        })
    }

    fn kernel(&self, cause: crate::Error) -> Error {
        if cause.errno() == Some(libc::ECANCELED) {
            return Error::Aborted {
                path: self.path().to_path_buf(),
            };
        }
        Error::Kernel {
            path: self.path().to_path_buf(),
            cause,
        }
    }

    /// A scratch with the database's inputs and `op`, and the first read:
    /// the whole page `root`.
    fn scratch(&self, table: &Table, op: u32, root: u32) -> (Vec<u8>, Window) {
        let h = self.header();
        let mut b = vec![0u8; size_of::<Q>()];
        put32(&mut b, offset_of!(Q, op), op);
        put32(&mut b, offset_of!(Q, page_size), h.page_size);
        put32(&mut b, offset_of!(Q, usable), h.usable());
        put32(&mut b, offset_of!(Q, db_pages), h.pages);
        put32(&mut b, offset_of!(Q, table_root), table.root);
        let first = Window {
            file: 0,
            offset: u64::from(root.saturating_sub(1)) * u64::from(h.page_size),
            len: h.page_size,
        };
        (b, first)
    }

    /// Runs the chain and reads its result: the row, or `None`; a
    /// hand-back is finished by `finish`, a chain that met a hole is redone
    /// by `redo`.
    #[allow(clippy::too_many_arguments)]
    fn run(
        &self,
        runner: &impl ChainRunner,
        table: &Table,
        (mut b, first): (Vec<u8>, Window),
        polled: bool,
        stats: &mut LookupStats,
        finish: impl FnOnce(&Pager<'_>, &Outcome) -> Result<Option<Row>>,
        redo: impl FnOnce(&Pager<'_>) -> Result<Option<Row>>,
    ) -> Result<Option<Row>> {
        let out = runner.run(first, &mut b, polled);
        self.conclude(table, out, &b, stats, finish, redo)
    }

    /// Reads the result of a chain that ended with `out`, leaving the
    /// scratch `b` (see [`Db::run`]).
    fn conclude(
        &self,
        table: &Table,
        out: crate::Result<ChainOutcome>,
        b: &[u8],
        stats: &mut LookupStats,
        finish: impl FnOnce(&Pager<'_>, &Outcome) -> Result<Option<Row>>,
        redo: impl FnOnce(&Pager<'_>) -> Result<Option<Row>>,
    ) -> Result<Option<Row>> {
        let pager = self.pager();
        let out = match out {
            Ok(out) => out,
            Err(e) if e.errno() == Some(libc::ENODATA) => {
                stats.detour = Some(Detour::Hole);
                let row = redo(&pager)?;
                stats.preads = pager.reads.get();
                return Ok(row);
            }
            Err(e) => return Err(self.kernel(e)),
        };
        let o = Outcome::of(b);
        stats.chain = true;
        stats.hops = out.hops;
        stats.driver_hops = out.driver_hops;
        stats.reads = o.reads;
        let row = match o.status {
            s::SQL_FOUND => {
                let rec = record(&pager, &o, b)?;
                Some(self.row(table, o.row, &rec)?)
            }
            s::SQL_NOT_FOUND => None,
            s::SQL_HANDBACK => {
                stats.detour = Some(Detour::HandBack(HandBack::from_reason(o.reason)));
                finish(&pager, &o)?
            }
            _ => return Err(Error::corrupt(self.path(), o.corruption())),
        };
        stats.preads = pager.reads.get();
        Ok(row)
    }

    /// The row `rowid` of `table`, by a chain that `runner` runs.
    pub fn get_with(
        &self,
        runner: &impl ChainRunner,
        table: &str,
        rowid: i64,
        polled: bool,
    ) -> Result<(Option<Row>, LookupStats)> {
        let t = self.table(table)?;
        let mut stats = LookupStats::default();
        let row = self.get_chained(runner, t, rowid, polled, &mut stats)?;
        Ok((row, stats))
    }

    fn get_chained(
        &self,
        runner: &impl ChainRunner,
        t: &Table,
        rowid: i64,
        polled: bool,
        stats: &mut LookupStats,
    ) -> Result<Option<Row>> {
        let out = self.get_request(t, rowid);
        let get = |pager: &Pager<'_>| self.get_in(pager, t, rowid);
        self.run(runner, t, out, polled, stats, |p, _| get(p), get)
    }

    /// The scratch and first read of the chain that looks `rowid` up.
    fn get_request(&self, t: &Table, rowid: i64) -> (Vec<u8>, Window) {
        let (mut b, first) = self.scratch(t, s::SQL_GET, t.root);
        put64(&mut b, offset_of!(Q, rowid), rowid as u64);
        (b, first)
    }

    /// The end of a rowid lookup whose chain ended with `out`, leaving `b`.
    fn get_concluded(
        &self,
        t: &Table,
        rowid: i64,
        out: crate::Result<ChainOutcome>,
        b: &[u8],
    ) -> Result<(Option<Row>, LookupStats)> {
        let mut stats = LookupStats::default();
        let get = |pager: &Pager<'_>| self.get_in(pager, t, rowid);
        let row = self.conclude(t, out, b, &mut stats, |p, _| get(p), get)?;
        Ok((row, stats))
    }

    /// The first row of `table` whose `column` equals `value` (as
    /// [`Db::lookup_index_pread`]), by a chain that `runner` runs.
    pub fn lookup_index_with(
        &self,
        runner: &impl ChainRunner,
        table: &str,
        column: &str,
        value: &Value,
        polled: bool,
    ) -> Result<(Option<Row>, LookupStats)> {
        let t = self.table(table)?;
        let mut stats = LookupStats::default();
        let (index, key) = match self.plan(t, column, value)? {
            Plan::Nothing => return Ok((None, stats)),
            Plan::Rowid(rowid) => {
                let row = self.get_chained(runner, t, rowid, polled, &mut stats)?;
                return Ok((row, stats));
            }
            Plan::Index { index, key } => (index, key),
        };
        let (mut b, first) = self.scratch(t, s::SQL_FIND, index.root);
        put32(&mut b, offset_of!(Q, index_root), index.root);
        match &key {
            Value::Integer(i) => {
                put32(&mut b, offset_of!(Q, key_type), s::SQL_KEY_INT);
                put64(&mut b, offset_of!(Q, key_int), *i as u64);
            }
            Value::Text(text) if text.len() <= s::SQL_KEY_MAX as usize => {
                put32(&mut b, offset_of!(Q, key_type), s::SQL_KEY_TEXT);
                put32(&mut b, offset_of!(Q, key_len), text.len() as u32);
                let at = offset_of!(Q, key);
                b[at..at + text.len()].copy_from_slice(text.as_bytes());
            }
            _ => {
                stats.detour = Some(match key {
                    Value::Text(_) => Detour::LongKey,
                    _ => Detour::KeyType,
                });
                let pager = self.pager();
                let row = self.lookup_in(&pager, t, column, value)?;
                stats.preads = pager.reads.get();
                return Ok((row, stats));
            }
        }
        let finish = |pager: &Pager<'_>, o: &Outcome| {
            // The index part done, the table part handed back: the rowid
            // is known.
            if matches!(o.state, s::SQL_ST_TABLE | s::SQL_ST_OVERFLOW) {
                return self.get_in(pager, t, o.row);
            }
            self.lookup_in(pager, t, column, value)
        };
        let redo = |pager: &Pager<'_>| self.lookup_in(pager, t, column, value);
        let row = self.run(runner, t, (b, first), polled, &mut stats, finish, redo)?;
        Ok((row, stats))
    }
}

impl Attached<'_> {
    /// Reads per chain at most (the tag's hop limit).
    pub const MAX_HOPS: u32 = s::SQL_MAX_HOPS;

    /// The database.
    pub fn db(&self) -> &Db {
        self.db
    }

    /// The row `rowid` of `table` (`None`: no such row), by a chain.
    pub fn get(&self, table: &str, rowid: i64, polled: bool) -> Result<(Option<Row>, LookupStats)> {
        let r = self.db.get_with(&self.tag, table, rowid, polled);
        self.count(r)
    }

    /// The rows `rowids` of `table`, each by a chain, with up to `depth`
    /// chains in flight on an io_uring ring ([`ChainRing`]) from this
    /// thread; each answer as [`Attached::get`] gives it, in order.
    pub fn get_many(
        &self,
        table: &str,
        rowids: &[i64],
        depth: u32,
        polled: bool,
    ) -> Result<Vec<Result<Got>>> {
        let t = self.db.table(table)?;
        let requests = rowids.iter().map(|&rowid| {
            let (scratch, first) = self.db.get_request(t, rowid);
            ChainRequest {
                tag: self.tag.id(),
                first,
                scratch,
                out_len: 0,
            }
        });
        let done = ChainRing::new(self.tag.control(), depth, polled)
            .and_then(|mut ring| ring.run_all(requests))
            .map_err(|cause| self.db.kernel(cause))?;
        Ok(rowids
            .iter()
            .zip(done)
            .map(|(&rowid, c)| {
                let r = self.db.get_concluded(t, rowid, c.result, &c.scratch);
                self.count(r)
            })
            .collect())
    }

    /// The first row of `table`, in index order, whose `column` equals
    /// `value` (see [`Db::lookup_index_pread`]), by a chain: the index
    /// descent, then the table's.
    pub fn lookup_index(
        &self,
        table: &str,
        column: &str,
        value: &Value,
        polled: bool,
    ) -> Result<(Option<Row>, LookupStats)> {
        let r = self
            .db
            .lookup_index_with(&self.tag, table, column, value, polled);
        self.count(r)
    }

    fn count(&self, r: Result<(Option<Row>, LookupStats)>) -> Result<(Option<Row>, LookupStats)> {
        let c = &self.counters;
        c.lookups.fetch_add(1, Relaxed);
        if let Ok((_, stats)) = &r {
            c.extra_preads.fetch_add(stats.preads, Relaxed);
            if stats.chain {
                c.chains.fetch_add(1, Relaxed);
            } else if stats.detour.is_some() {
                c.direct.fetch_add(1, Relaxed);
            }
            if let Some(Detour::HandBack(h)) = stats.detour {
                c.hand_backs[h.slot()].fetch_add(1, Relaxed);
            }
        }
        r
    }

    /// What the lookups so far took.
    pub fn counters(&self) -> ChainCounters {
        let c = &self.counters;
        ChainCounters {
            lookups: c.lookups.load(Relaxed),
            chains: c.chains.load(Relaxed),
            hand_backs: std::array::from_fn(|i| c.hand_backs[i].load(Relaxed)),
            direct: c.direct.load(Relaxed),
            extra_preads: c.extra_preads.load(Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scratch_fits_and_payload_is_aligned() {
        assert!(size_of::<Q>() <= crate::uapi::RNVME_SCRATCH_SIZE as usize);
        assert_eq!(offset_of!(Q, payload) % 8, 0);
        assert_eq!(offset_of!(Q, key) % 8, 0);
        assert_eq!(
            offset_of!(Q, payload) + s::SQL_PAYLOAD_MAX as usize,
            size_of::<Q>()
        );
    }
}
