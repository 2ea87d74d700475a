// SPDX-License-Identifier: GPL-2.0 OR MIT

//! A DB directory opened for reading: its live SST files in the order
//! RocksDB consults them, and the reference walks (point get, seek) done
//! with pread.

use std::{
    fs,
    path::{Path, PathBuf},
    sync::atomic::Ordering::Relaxed,
};

use super::{
    log,
    lookup::KeyValue,
    manifest::{self, FileMeta},
    reader::Counters,
    table::{Cursor, SstFile, Table, Version, BYTEWISE},
    Error, Result,
};

/// Entry types (`db/dbformat.h`).
pub(crate) const TYPE_DELETION: u8 = 0x0;
pub(crate) const TYPE_VALUE: u8 = 0x1;
pub(crate) const TYPE_SINGLE_DELETION: u8 = 0x7;

/// A RocksDB DB directory, opened read-only: the live SST files of the
/// default column family, their footers and properties read.
#[derive(Debug)]
pub struct Db {
    dir: PathBuf,
    /// L0 newest first, then L1, L2, ... each by smallest key: the order
    /// of [`Db::files`] and of the tag set.
    tables: Vec<Table>,
    files: Vec<SstFile>,
    counters: Counters,
}

/// Blocks the user-space reader read with pread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Blocks read (data, index, metaindex, properties).
    pub blocks: u64,
    /// Of those, blocks whose checksum was verified (all of them unless
    /// the files have no checksums).
    pub verified: u64,
    /// Bytes read, trailers included.
    pub bytes: u64,
}

impl Db {
    /// Opens the DB in `dir`: CURRENT, the MANIFEST, then each live SST's
    /// footer, metaindex and properties. Refuses what the readers do not
    /// handle: another comparator, blob files, range tombstones, unflushed
    /// writes in the WAL, SST layouts they cannot read.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        let current = dir.join("CURRENT");
        let name = fs::read_to_string(&current).map_err(|e| Error::io(&current, e))?;
        let name = name.trim_end_matches('\n');
        if !name.starts_with("MANIFEST-") || name.contains('/') {
            return Err(Error::corrupt(
                &current,
                format!("names {name:?}, not a MANIFEST"),
            ));
        }
        let path = dir.join(name);
        let bytes = fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let m = manifest::replay(&bytes).map_err(|e| match e.strip_prefix("unsupported: ") {
            Some(w) => Error::unsupported(&path, w),
            None => Error::corrupt(&path, e),
        })?;
        match m.comparator.as_deref() {
            Some(BYTEWISE) | None => {}
            Some(c) => return Err(Error::unsupported(&path, format!("comparator {c}"))),
        }
        check_wals(&dir, m.log_number)?;
        let counters = Counters::default();
        let mut metas = m.files;
        sort_like_rocksdb(&mut metas);
        let tables = metas
            .iter()
            .map(|meta| Table::open(&dir, meta, &counters))
            .collect::<Result<Vec<_>>>()?;
        let files = tables.iter().map(|t| t.info.clone()).collect();
        Ok(Self {
            dir,
            tables,
            files,
            counters,
        })
    }

    /// The DB directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The live SST files: L0 newest first, then each level by key.
    pub fn files(&self) -> &[SstFile] {
        &self.files
    }

    /// Blocks read so far by the user-space reader (opening included).
    pub fn read_stats(&self) -> ReadStats {
        ReadStats {
            blocks: self.counters.blocks.load(Relaxed),
            verified: self.counters.verified.load(Relaxed),
            bytes: self.counters.bytes.load(Relaxed),
        }
    }

    pub(crate) fn tables(&self) -> &[Table] {
        &self.tables
    }

    /// The files a point get of `key` consults, in RocksDB's order: the L0
    /// files whose key range holds it, newest first, then the one file per
    /// level whose range holds it.
    pub(crate) fn get_candidates(&self, key: &[u8]) -> Vec<usize> {
        self.candidates(key, |f| f.smallest_key.as_slice() <= key)
    }

    /// The files a seek to `key` consults: the L0 files with keys ≥ `key`,
    /// then per level the first file whose largest key is ≥ `key`.
    pub(crate) fn seek_candidates(&self, key: &[u8]) -> Vec<usize> {
        self.candidates(key, |_| true)
    }

    fn candidates(&self, key: &[u8], holds: impl Fn(&SstFile) -> bool) -> Vec<usize> {
        let mut out = Vec::new();
        let mut level_done = None;
        for (i, f) in self.files.iter().enumerate() {
            if f.largest_key.as_slice() < key || level_done == Some(f.level) {
                continue;
            }
            if f.level > 0 {
                level_done = Some(f.level);
            }
            if holds(f) {
                out.push(i);
            }
        }
        out
    }

    /// The value of `key` (`None`: absent or deleted), read with pread.
    pub fn get_pread(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.get_in(key, &self.get_candidates(key))
    }

    /// A point get of `key` over `files` (indices into [`Db::files`]) in
    /// order: the first version found decides.
    pub(crate) fn get_in(&self, key: &[u8], files: &[usize]) -> Result<Option<Vec<u8>>> {
        for &i in files {
            let t = &self.tables[i];
            let mut c = Cursor::seek(t, key, &self.counters)?;
            if let Some(v) = c.peek()? {
                if v.user_key == key {
                    return self.decided(t, v).map(|live| live.then(|| v.value.clone()));
                }
            }
        }
        Ok(None)
    }

    /// The first live key ≥ `key` and its value (`None`: none), read with
    /// pread over all levels.
    pub fn seek_pread(&self, key: &[u8]) -> Result<Option<KeyValue>> {
        // One source per L0 file, one per level (its files in key order).
        let mut sources: Vec<Source<'_>> = Vec::new();
        for i in self.seek_candidates(key) {
            let level = self.files[i].level;
            let rest = if level == 0 {
                vec![]
            } else {
                (i + 1..self.files.len())
                    .take_while(|&j| self.files[j].level == level)
                    .collect()
            };
            let cursor = Cursor::seek(&self.tables[i], key, &self.counters)?;
            sources.push(Source {
                table: i,
                cursor,
                rest: rest.into(),
            });
        }
        loop {
            // The smallest user key; on a tie the first source (the newest).
            let mut best: Option<(usize, Vec<u8>)> = None;
            for (s, source) in sources.iter_mut().enumerate() {
                if let Some(v) = source.peek(self, key)? {
                    if best.as_ref().is_none_or(|(_, k)| v.user_key < *k) {
                        best = Some((s, v.user_key.clone()));
                    }
                }
            }
            let Some((s, user_key)) = best else {
                return Ok(None);
            };
            let table = &self.tables[sources[s].table];
            let v = sources[s].peek(self, key)?.expect("peeked above");
            if self.decided(table, v)? {
                return Ok(Some((user_key, v.value.clone())));
            }
            // Deleted: skip every version of it.
            for source in &mut sources {
                while source
                    .peek(self, key)?
                    .is_some_and(|v| v.user_key == user_key)
                {
                    source.cursor.advance();
                }
            }
        }
    }

    /// Whether newest version `v` (from `t`) is a live value (`false`: a
    /// deletion); other entry types are refused.
    fn decided(&self, t: &Table, v: &Version) -> Result<bool> {
        match v.kind {
            TYPE_VALUE => Ok(true),
            TYPE_DELETION | TYPE_SINGLE_DELETION => Ok(false),
            k => Err(Error::unsupported(
                &t.info.path,
                format!("{} (entry type 0x{k:02x})", entry_type_name(k)),
            )),
        }
    }
}

/// What RocksDB calls entry type `k` (`ValueType`).
fn entry_type_name(k: u8) -> &'static str {
    match k {
        0x2 => "merge operands",
        0xf => "range tombstones",
        0x11 => "blob references (BlobDB)",
        0x14 => "deletions with user-defined timestamps",
        0x16 => "wide-column entities",
        0x18 => "values with preferred sequence numbers",
        _ => "an unknown entry type",
    }
}

/// The versions of one L0 file, or of one level's files in key order.
struct Source<'d> {
    table: usize,
    cursor: Cursor<'d>,
    /// The level's next files.
    rest: std::collections::VecDeque<usize>,
}

impl<'d> Source<'d> {
    fn peek(&mut self, db: &'d Db, key: &[u8]) -> Result<Option<&Version>> {
        while self.cursor.peek()?.is_none() {
            let Some(next) = self.rest.pop_front() else {
                return Ok(None);
            };
            self.table = next;
            self.cursor = Cursor::seek(&db.tables[next], key, &db.counters)?;
        }
        self.cursor.peek()
    }
}

/// Sorts live files as RocksDB consults them: L0 newest first (by epoch
/// number when every file has one, then largest and smallest sequence
/// number, then file number, all descending), deeper levels by key.
fn sort_like_rocksdb(files: &mut [FileMeta]) {
    let epochs = files.iter().filter(|f| f.level == 0).all(|f| f.epoch != 0);
    files.sort_by(|a, b| {
        a.level.cmp(&b.level).then_with(|| {
            if a.level == 0 {
                let by_seq = (b.largest_seqno, b.smallest_seqno, b.number).cmp(&(
                    a.largest_seqno,
                    a.smallest_seqno,
                    a.number,
                ));
                if epochs {
                    b.epoch.cmp(&a.epoch).then(by_seq)
                } else {
                    by_seq
                }
            } else {
                let user = |f: &FileMeta| f.smallest[..f.smallest.len() - 8].to_vec();
                user(a).cmp(&user(b))
            }
        })
    });
}

/// Refuses a DB whose WALs from `log_number` on hold writes: those are in
/// no SST file yet (RocksDB would replay them on open).
fn check_wals(dir: &Path, log_number: u64) -> Result<()> {
    let entries = fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(number) = name
            .strip_suffix(".log")
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        if number < log_number {
            continue;
        }
        let path = entry.path();
        let bytes = fs::read(&path).map_err(|e| Error::io(&path, e))?;
        if !log::read(&bytes).records.is_empty() {
            return Err(Error::unsupported(
                &path,
                "the WAL holds writes not yet in any SST file \
                 (flush the DB, or open and close it with RocksDB, first)",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(number: u64, level: u32, seqnos: (u64, u64), epoch: u64, smallest: &[u8]) -> FileMeta {
        let mut key = smallest.to_vec();
        key.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0]);
        FileMeta {
            number,
            level,
            size: 0,
            smallest: key.clone(),
            largest: key,
            smallest_seqno: seqnos.0,
            largest_seqno: seqnos.1,
            epoch,
        }
    }

    #[test]
    fn l0_is_newest_first_and_levels_are_by_key() {
        let mut files = vec![
            meta(1, 1, (0, 5), 1, b"m"),
            meta(2, 0, (10, 20), 0, b"a"),
            meta(3, 0, (21, 30), 0, b"a"),
            meta(4, 1, (6, 9), 2, b"c"),
            meta(5, 0, (10, 20), 0, b"a"),
        ];
        sort_like_rocksdb(&mut files);
        let order: Vec<u64> = files.iter().map(|f| f.number).collect();
        assert_eq!(order, [3, 5, 2, 4, 1]);
        // With epoch numbers everywhere, they decide first.
        let mut files = vec![meta(7, 0, (50, 60), 1, b"a"), meta(8, 0, (10, 20), 2, b"a")];
        sort_like_rocksdb(&mut files);
        assert_eq!(files[0].number, 8);
    }

    #[test]
    fn a_wal_with_records_from_the_log_number_on_is_refused() {
        let dir = std::env::temp_dir().join(format!("rnvme-rocksdb-wal-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("000009.log"), log::tests::write(&[b"old batch"])).unwrap();
        fs::write(dir.join("000010.log"), b"").unwrap();
        assert!(check_wals(&dir, 10).is_ok());
        fs::write(dir.join("000010.log"), log::tests::write(&[b"new batch"])).unwrap();
        let err = check_wals(&dir, 10).unwrap_err().to_string();
        assert!(
            err.contains("000010.log") && err.contains("not yet in any SST"),
            "{err}"
        );
        assert!(check_wals(&dir, 11).is_ok());
        fs::remove_dir_all(&dir).unwrap();
    }
}
