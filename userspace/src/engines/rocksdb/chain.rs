// SPDX-License-Identifier: GPL-2.0 OR MIT

//! Lookups as chains: the DB's SST files tagged as one tag set with the
//! `rocksdb` storage function, one chain per get or seek across the
//! candidate files, and user space finishing whatever the function hands
//! back.

use std::{os::unix::fs::FileExt, sync::atomic::Ordering::Relaxed};

use super::{
    block::TRAILER,
    db::{Db, TYPE_DELETION, TYPE_SINGLE_DELETION, TYPE_VALUE},
    lookup::{Atomics, ChainCounters, Detour, HandBack, KeyValue, LookupStats},
    properties::IndexType,
    query::{self, FileRef, Outcome},
    scratch as s, Error, Result,
};
use crate::{abi, ChainRequest, ChainRing, Control, StorageFunction, Tag, Window};

/// A DB whose SST files are tagged with the `rocksdb` storage function:
/// lookups run as chains. Detaches on drop. While it lives, the files
/// cannot be written (RocksDB cannot compact them away).
pub struct Attached<'a> {
    db: &'a Db,
    /// `None` for a DB without SST files.
    tag: Option<Tag<'a>>,
    refs: Vec<FileRef>,
    walkable: Vec<bool>,
    counters: Atomics,
    _function: StorageFunction,
}

/// The answer of a get: the value, and what the lookup took.
pub type Got = (Option<Vec<u8>>, LookupStats);

/// A get planned up to its chain.
enum Planned {
    /// It needs no chain: its answer.
    Answered((Option<Vec<u8>>, LookupStats)),
    /// It needs this chain; then [`Attached::finish_get`].
    Chain(Pending, ChainRequest),
}

/// What a get keeps while its chain runs: its candidate files and stats.
struct Pending {
    files: Vec<usize>,
    stats: LookupStats,
}

/// What the result of a chain over `nfiles` candidates means.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    /// The value of the key (get) or of `found_key` (seek).
    Value,
    /// Get: absent or deleted; seek: no key ≥ the key.
    Nothing,
    /// Seek: the smallest key ≥ the key is deleted: the answer is further.
    Deleted,
    /// User space finishes, a get from candidate `.1` on.
    HandBack(HandBack, usize),
}

fn answer(op: u32, o: &Outcome, nfiles: usize) -> Answer {
    let kind = u8::try_from(o.kind).unwrap_or(u8::MAX);
    let from = (o.cur as usize).min(nfiles.saturating_sub(1));
    match o.status {
        s::RDB_FOUND if o.have && kind == TYPE_VALUE => Answer::Value,
        s::RDB_FOUND if o.have && matches!(kind, TYPE_DELETION | TYPE_SINGLE_DELETION) => {
            if op == s::RDB_SEEK {
                Answer::Deleted
            } else {
                Answer::Nothing
            }
        }
        s::RDB_NOT_FOUND => Answer::Nothing,
        s::RDB_HANDBACK => Answer::HandBack(HandBack::from_reason(o.reason), from),
        // Anything else is a result this library cannot read: redo it.
        _ => Answer::HandBack(HandBack::Other, 0),
    }
}

impl Db {
    /// Tags the DB's SST files (at most [`abi::MAX_FILES`]) as one tag set
    /// with the built-in `rocksdb` function, through `control`.
    pub fn attach<'a>(&'a self, control: &'a Control) -> Result<Attached<'a>> {
        let function = StorageFunction::builtin("rocksdb").map_err(|cause| Error::Kernel {
            db: self.dir().to_path_buf(),
            cause,
        })?;
        self.attach_with(control, function)
    }

    /// [`Db::attach`] with another build of the function (a pinned one,
    /// say).
    pub fn attach_with<'a>(
        &'a self,
        control: &'a Control,
        function: StorageFunction,
    ) -> Result<Attached<'a>> {
        let tables = self.tables();
        if tables.len() > abi::MAX_FILES as usize {
            return Err(Error::unsupported(
                self.dir(),
                format!(
                    "{} live SST files, a tag set holds {} (compact the DB)",
                    tables.len(),
                    abi::MAX_FILES
                ),
            ));
        }
        let kernel = |cause| Error::Kernel {
            db: self.dir().to_path_buf(),
            cause,
        };
        let tag = if tables.is_empty() {
            None
        } else {
            let files: Vec<&std::fs::File> = tables.iter().map(|t| &t.reader.file).collect();
            let tag = control
                .attach_set(&files, &function, Attached::MAX_HOPS)
                .map_err(|cause| match &cause {
                    crate::Error::AttachSet { failed, .. } => Error::Kernel {
                        db: tables[*failed as usize].info.path.clone(),
                        cause,
                    },
                    _ => kernel(cause),
                })?;
            Some(tag)
        };
        let refs = tables
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let p = &t.info.properties;
                let mut flags = 0;
                if p.index_value_is_delta_encoded {
                    flags |= s::RDB_F_INDEX_VALUE_DELTA;
                }
                if p.index_type == IndexType::TwoLevel {
                    flags |= s::RDB_F_PARTITIONED;
                }
                if !p.index_key_is_user_key {
                    flags |= s::RDB_F_INTERNAL_SEP;
                }
                FileRef {
                    file: i as u16,
                    index_off: t.info.index.offset,
                    index_size: t.info.index.size as u32,
                    flags: flags as u8,
                }
            })
            .collect();
        Ok(Attached {
            db: self,
            tag,
            refs,
            walkable: tables.iter().map(|t| t.chain_walkable()).collect(),
            counters: Atomics::default(),
            _function: function,
        })
    }
}

impl Attached<'_> {
    /// Reads per chain at most: per candidate an index block, a partition, a
    /// data block and (seek) the next data block.
    pub const MAX_HOPS: u32 = 4 * s::RDB_FILES_MAX;

    /// The DB.
    pub fn db(&self) -> &Db {
        self.db
    }

    /// The value of `key` (`None`: absent or deleted), by a chain.
    pub fn get(&self, key: &[u8], polled: bool) -> Result<(Option<Vec<u8>>, LookupStats)> {
        match self.plan_get(key)? {
            Planned::Answered(r) => Ok(r),
            Planned::Chain(p, mut req) => {
                let out = self.tag().chain(req.first, &mut req.scratch, None, polled);
                self.finish_get(key, p, out, &req.scratch)
            }
        }
    }

    /// The values of `keys`, as [`Attached::get`] gives each, with up to
    /// `depth` chains in flight on an io_uring ring ([`ChainRing`]) from
    /// this thread; in order.
    pub fn get_many<K: AsRef<[u8]>>(
        &self,
        keys: &[K],
        depth: u32,
        polled: bool,
    ) -> Result<Vec<Result<Got>>> {
        let plans: Vec<Result<Planned>> = keys.iter().map(|k| self.plan_get(k.as_ref())).collect();
        let requests: Vec<ChainRequest> = plans
            .iter()
            .filter_map(|p| match p {
                Ok(Planned::Chain(_, req)) => Some(req.clone()),
                _ => None,
            })
            .collect();
        let mut done = if requests.is_empty() {
            Vec::new()
        } else {
            ChainRing::new(self.tag().control(), depth, polled)
                .and_then(|mut ring| ring.run_all(requests))
                .map_err(|cause| Error::Kernel {
                    db: self.db.dir().to_path_buf(),
                    cause,
                })?
        }
        .into_iter();
        Ok(keys
            .iter()
            .zip(plans)
            .map(|(key, plan)| match plan? {
                Planned::Answered(r) => Ok(r),
                Planned::Chain(p, _) => {
                    let c = done.next().expect("a completion per chain");
                    self.finish_get(key.as_ref(), p, c.result, &c.scratch)
                }
            })
            .collect())
    }

    /// A get up to its chain: answered already, or the chain to run.
    fn plan_get(&self, key: &[u8]) -> Result<Planned> {
        let files = self.db.get_candidates(key);
        let mut stats = self.start(key, &files);
        if files.is_empty() {
            return Ok(Planned::Answered((None, stats)));
        }
        if stats.detour.is_some() {
            let got = self.in_user_space(&mut stats, || self.db.get_in(key, &files))?;
            return Ok(Planned::Answered((got, stats)));
        }
        let req = self.request(s::RDB_GET, key, &files);
        Ok(Planned::Chain(Pending { files, stats }, req))
    }

    /// A get from its chain's end (`out`, leaving `scratch`) on.
    fn finish_get(
        &self,
        key: &[u8],
        Pending { files, mut stats }: Pending,
        out: crate::Result<crate::ChainOutcome>,
        scratch: &[u8],
    ) -> Result<(Option<Vec<u8>>, LookupStats)> {
        let o = self.outcome(&files, out, scratch, &mut stats)?;
        match answer(s::RDB_GET, &o, files.len()) {
            Answer::Value => {
                let value = self.value(&o, &files, &mut stats)?;
                Ok((Some(value), stats))
            }
            Answer::Nothing | Answer::Deleted => Ok((None, stats)),
            Answer::HandBack(h, from) => {
                // The files before `from` do not hold the key.
                self.count_hand_back(h, &mut stats);
                let got = self.in_user_space(&mut stats, || self.db.get_in(key, &files[from..]))?;
                Ok((got, stats))
            }
        }
    }

    /// The first live key ≥ `key` and its value (`None`: none), by a
    /// chain over the candidate files.
    pub fn seek(&self, key: &[u8], polled: bool) -> Result<(Option<KeyValue>, LookupStats)> {
        let files = self.db.seek_candidates(key);
        let mut stats = self.start(key, &files);
        if files.is_empty() {
            return Ok((None, stats));
        }
        if stats.detour.is_none() {
            let o = self.run(s::RDB_SEEK, key, &files, polled, &mut stats)?;
            match answer(s::RDB_SEEK, &o, files.len()) {
                Answer::Value => {
                    let value = self.value(&o, &files, &mut stats)?;
                    return Ok((Some((o.found_key, value)), stats));
                }
                Answer::Nothing => return Ok((None, stats)),
                Answer::Deleted => {
                    stats.detour = Some(Detour::Deleted);
                    self.counters.deleted.fetch_add(1, Relaxed);
                }
                Answer::HandBack(h, _) => self.count_hand_back(h, &mut stats),
            }
        }
        let got = self.in_user_space(&mut stats, || self.db.seek_pread(key))?;
        Ok((got, stats))
    }

    /// The counters so far.
    pub fn counters(&self) -> ChainCounters {
        self.counters.snapshot()
    }

    /// Counts a lookup of `key` over `files`; says if it cannot be a chain.
    fn start(&self, key: &[u8], files: &[usize]) -> LookupStats {
        self.counters.lookups.fetch_add(1, Relaxed);
        let detour = if key.len() > s::RDB_KEY_MAX as usize {
            Some(Detour::LongKey)
        } else if files.len() > s::RDB_FILES_MAX as usize {
            Some(Detour::ManyFiles)
        } else if files.iter().any(|&i| !self.walkable[i]) {
            Some(Detour::Unwalkable)
        } else {
            None
        };
        if detour.is_some() && !files.is_empty() {
            self.counters.direct.fetch_add(1, Relaxed);
        }
        LookupStats {
            files: files.len() as u32,
            detour,
            ..Default::default()
        }
    }

    /// Runs the chain of a lookup and reads its result.
    fn run(
        &self,
        op: u32,
        key: &[u8],
        files: &[usize],
        polled: bool,
        stats: &mut LookupStats,
    ) -> Result<Outcome> {
        let mut req = self.request(op, key, files);
        let out = self.tag().chain(req.first, &mut req.scratch, None, polled);
        self.outcome(files, out, &req.scratch, stats)
    }

    /// The chain of a lookup of `key` over `files`.
    fn request(&self, op: u32, key: &[u8], files: &[usize]) -> ChainRequest {
        let refs: Vec<FileRef> = files.iter().map(|&i| self.refs[i]).collect();
        let scratch = query::encode(op, key, &refs);
        let first = Window {
            file: u32::from(refs[0].file),
            offset: refs[0].index_off,
            len: refs[0].index_size + TRAILER as u32,
        };
        self.counters.chains.fetch_add(1, Relaxed);
        ChainRequest {
            tag: self.tag().id(),
            first,
            scratch,
            out_len: 0,
        }
    }

    /// The result of a chain over `files` that ended with `out`, leaving
    /// `scratch`.
    fn outcome(
        &self,
        files: &[usize],
        out: crate::Result<crate::ChainOutcome>,
        scratch: &[u8],
        stats: &mut LookupStats,
    ) -> Result<Outcome> {
        let out = out.map_err(|cause| {
            if cause.errno() == Some(libc::ECANCELED) {
                Error::Aborted {
                    db: self.db.dir().to_path_buf(),
                    files: self.names(files),
                }
            } else {
                Error::Kernel {
                    db: self.db.dir().to_path_buf(),
                    cause,
                }
            }
        })?;
        let o = query::decode(scratch);
        stats.chain = true;
        stats.hops = out.hops;
        stats.reads = o.reads;
        Ok(o)
    }

    fn tag(&self) -> &Tag<'_> {
        self.tag.as_ref().expect("a DB with files has a tag")
    }

    fn names(&self, files: &[usize]) -> String {
        let all = self.db.files();
        files
            .iter()
            .map(|&i| all[i].name())
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn count_hand_back(&self, h: HandBack, stats: &mut LookupStats) {
        self.counters.hand_backs[h.slot()].fetch_add(1, Relaxed);
        stats.detour = Some(Detour::HandBack(h));
    }

    /// Runs a user-space finish, counting it and its preads.
    fn in_user_space<T>(
        &self,
        stats: &mut LookupStats,
        f: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        let before = self.db.read_stats().blocks;
        let r = f();
        let preads = self.db.read_stats().blocks - before;
        stats.preads += preads;
        self.counters.user_space.fetch_add(1, Relaxed);
        self.counters.extra_preads.fetch_add(preads, Relaxed);
        r
    }

    /// The found value: the bytes in the scratch, and the rest read from
    /// the file.
    fn value(&self, o: &Outcome, files: &[usize], stats: &mut LookupStats) -> Result<Vec<u8>> {
        let mut value = o.value.clone();
        let len = o.value_len as usize;
        if value.len() >= len {
            value.truncate(len);
            return Ok(value);
        }
        let table = files
            .get(o.found_file as usize)
            .map(|&i| &self.db.tables()[i])
            .ok_or_else(|| {
                Error::corrupt(
                    self.db.dir(),
                    format!(
                        "the function found a value in file {} of {}",
                        o.found_file,
                        files.len()
                    ),
                )
            })?;
        let at = value.len();
        value.resize(len, 0);
        let r = &table.reader;
        r.file
            .read_exact_at(&mut value[at..], o.value_off + at as u64)
            .map_err(|e| Error::io(&r.path, e))?;
        stats.preads += 1;
        self.counters.extra_preads.fetch_add(1, Relaxed);
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(status: u32, kind: u8, cur: u32, reason: u32) -> Outcome {
        Outcome {
            status,
            reason,
            cur,
            have: status == s::RDB_FOUND,
            kind: u32::from(kind),
            ..Default::default()
        }
    }

    #[test]
    fn chain_results_mean_what_the_header_says() {
        let (get, seek) = (s::RDB_GET, s::RDB_SEEK);
        let found = outcome(s::RDB_FOUND, TYPE_VALUE, 2, 0);
        assert_eq!(answer(get, &found, 3), Answer::Value);
        assert_eq!(answer(seek, &found, 3), Answer::Value);
        let deleted = outcome(s::RDB_FOUND, TYPE_SINGLE_DELETION, 0, 0);
        assert_eq!(answer(get, &deleted, 3), Answer::Nothing);
        assert_eq!(answer(seek, &deleted, 3), Answer::Deleted);
        let none = outcome(s::RDB_NOT_FOUND, 0, 2, 0);
        assert_eq!(answer(seek, &none, 3), Answer::Nothing);
        let back = outcome(s::RDB_HANDBACK, 0, 1, s::RDB_R_COMPRESSED);
        assert_eq!(
            answer(get, &back, 3),
            Answer::HandBack(HandBack::Compressed, 1)
        );
        let odd = outcome(s::RDB_HANDBACK, 0, 9, 99);
        assert_eq!(answer(get, &odd, 3), Answer::HandBack(HandBack::Other, 2));
        let running = outcome(s::RDB_RUNNING, 0, 1, 0);
        assert_eq!(
            answer(get, &running, 3),
            Answer::HandBack(HandBack::Other, 0)
        );
        // A merge operand reported as found is no value.
        let merge = outcome(s::RDB_FOUND, 2, 0, 0);
        assert_eq!(answer(get, &merge, 3), Answer::HandBack(HandBack::Other, 0));
    }
}
