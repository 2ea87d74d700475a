// SPDX-License-Identifier: GPL-2.0 OR MIT

//! Damaged copies of a SQLite database: bits flipped in B-tree page
//! headers and cell pointer arrays, child pointers that lead back to the
//! page or its parent, page numbers 0 or past the end, a truncated file.
//! Lookups through the chain must end, within the tag's hop limit, with
//! SQLite's answer, an error, or a row made of the damaged file's own
//! bytes (a lookup that never ends is caught by the harness's timeout).

use std::{collections::HashSet, fs};

use anyhow::{ensure, Result};
use rnvme::{
    engines::sqlite::{Attached, Db, Row, Value},
    Control, StorageFunction, DEFAULT_DEVICE,
};

use super::{enc, line, parse, run, Query};
use crate::engine_files::{dirs, hostile_dir, hostile_stride};

/// xorshift64: reproducible damage.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }

    fn pick(&mut self, v: &[u32]) -> u32 {
        v[self.below(v.len())]
    }
}

/// How a copy of the database is damaged.
#[derive(Clone, Copy, Debug)]
enum Damage {
    /// Bits flipped in B-tree page headers (type, cell count, right child).
    PageHeaders,
    /// Bits flipped in cell pointer arrays.
    CellPointers,
    /// Interior pages whose children are themselves.
    SelfCycles,
    /// Pages whose children are their parent (a leaf made an interior
    /// page for it).
    AncestorCycles,
    /// Child and overflow page numbers 0 or past the end.
    OutOfRange,
    /// The file cut in the middle of a page, half of it gone.
    Truncated,
    /// Bits flipped anywhere after page 1.
    Random,
}

const DAMAGES: [Damage; 7] = [
    Damage::PageHeaders,
    Damage::CellPointers,
    Damage::SelfCycles,
    Damage::AncestorCycles,
    Damage::OutOfRange,
    Damage::Truncated,
    Damage::Random,
];

/// The pages of a database image, by what they hold.
struct Image {
    page_size: usize,
    pages: u32,
    btree: Vec<u32>,
    interior: Vec<u32>,
    /// Pages that are no B-tree page: overflow pages (a VACUUMed file has
    /// no freelist).
    overflow: Vec<u32>,
}

fn be16(b: &[u8], at: usize) -> usize {
    usize::from(u16::from_be_bytes([b[at], b[at + 1]]))
}

impl Image {
    fn of(b: &[u8]) -> Result<Self> {
        let page_size = match be16(b, 16) {
            1 => 65536,
            n => n,
        };
        let pages = (b.len() / page_size) as u32;
        let (mut btree, mut interior, mut overflow) = (Vec::new(), Vec::new(), Vec::new());
        for n in 2..=pages {
            match b[(n as usize - 1) * page_size] {
                0x02 | 0x05 => {
                    btree.push(n);
                    interior.push(n);
                }
                0x0a | 0x0d => btree.push(n),
                _ => overflow.push(n),
            }
        }
        ensure!(
            !interior.is_empty() && !overflow.is_empty(),
            "no interior or no overflow page to damage"
        );
        Ok(Self {
            page_size,
            pages,
            btree,
            interior,
            overflow,
        })
    }

    /// Where page `n`'s header starts, and how long it is.
    fn header(&self, b: &[u8], n: u32) -> (usize, usize) {
        let at = (n as usize - 1) * self.page_size + if n == 1 { 100 } else { 0 };
        (at, if matches!(b[at], 0x02 | 0x05) { 12 } else { 8 })
    }

    /// Where the child page numbers of interior page `n` are.
    fn children(&self, b: &[u8], n: u32) -> Vec<usize> {
        let (at, len) = self.header(b, n);
        let start = (n as usize - 1) * self.page_size;
        let mut v = vec![at + 8];
        let cells = be16(b, at + 3).min((start + self.page_size - at - len) / 2);
        for i in 0..cells {
            let cell = start + be16(b, at + len + 2 * i);
            if cell + 4 <= start + self.page_size {
                v.push(cell);
            }
        }
        v
    }

    /// Damages `b`, an image of this database.
    fn damage(&self, b: &mut Vec<u8>, d: Damage, rng: &mut Rng) {
        let put = |b: &mut Vec<u8>, at: usize, page: u32| {
            b[at..at + 4].copy_from_slice(&page.to_be_bytes());
        };
        match d {
            Damage::PageHeaders | Damage::CellPointers => {
                // Half on interior pages, which most lookups read.
                for k in 0..16 {
                    let from = if k % 2 == 0 {
                        &self.interior
                    } else {
                        &self.btree
                    };
                    let (at, len) = self.header(b, rng.pick(from));
                    let at = match d {
                        Damage::PageHeaders => at + rng.below(len),
                        _ => at + len + rng.below(2 * be16(b, at + 3)),
                    };
                    b[at] ^= 1 << rng.below(8);
                }
            }
            Damage::SelfCycles => {
                for _ in 0..3 {
                    let n = rng.pick(&self.interior);
                    for at in self.children(b, n) {
                        put(b, at, n);
                    }
                }
            }
            Damage::AncestorCycles => {
                // A child of every other interior page made to lead back
                // to it.
                for &parent in self.interior.iter().step_by(2) {
                    let slots = self.children(b, parent);
                    let at = slots[rng.below(slots.len())];
                    let child = u32::from_be_bytes(b[at..at + 4].try_into().unwrap());
                    if child < 2 || child > self.pages || !self.btree.contains(&child) {
                        continue;
                    }
                    if self.interior.contains(&child) {
                        for at in self.children(b, child) {
                            put(b, at, parent);
                        }
                    } else {
                        // A leaf made an empty interior page whose right
                        // child is its parent.
                        let (at, _) = self.header(b, child);
                        b[at] = if matches!(b[at], 0x05 | 0x0d) {
                            0x05
                        } else {
                            0x02
                        };
                        b[at + 3..at + 5].fill(0);
                        put(b, at + 8, parent);
                    }
                }
            }
            Damage::OutOfRange => {
                let bad = [0, self.pages + 1, self.pages + 1000, u32::MAX];
                for _ in 0..3 {
                    for at in self.children(b, rng.pick(&self.interior)) {
                        put(b, at, bad[rng.below(bad.len())]);
                    }
                }
                for _ in 0..8 {
                    let at = (rng.pick(&self.overflow) as usize - 1) * self.page_size;
                    put(b, at, bad[1 + rng.below(bad.len() - 1)]);
                }
            }
            Damage::Truncated => b.truncate(b.len() / 2 + self.page_size / 3),
            Damage::Random => {
                for _ in 0..256 {
                    let at = self.page_size + rng.below(b.len() - self.page_size);
                    b[at] ^= 1 << rng.below(8);
                }
            }
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    let Some((&first, _)) = needle.split_first() else {
        return true;
    };
    (0..(hay.len() + 1).saturating_sub(needle.len()))
        .any(|i| hay[i] == first && hay[i..i + needle.len()] == *needle)
}

/// Whether the first 256 bytes of `v` are runs of bytes of `file`, each
/// of 8 bytes at least (a record's local part and its overflow pages are
/// not contiguous in the file).
fn runs_of(v: &[u8], file: &[u8]) -> bool {
    let mut rest = &v[..v.len().min(256)];
    while !rest.is_empty() {
        // The longest prefix of rest that occurs in the file.
        let (mut lo, mut hi) = (0, rest.len());
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            if contains(file, &rest[..mid]) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        if lo < rest.len().min(8) {
            return false;
        }
        rest = &rest[lo..];
    }
    true
}

/// Whether every text and blob of `row` that SQLite's answer `want` does
/// not hold is made of bytes of `file` (texts cut where bytes that were
/// not UTF-8 were replaced).
fn from_file(row: &Row, want: &str, file: &[u8]) -> bool {
    let words: HashSet<&str> = want.split(' ').collect();
    row.values
        .iter()
        .filter(|v| !words.contains(enc(v).as_str()))
        .all(|v| match v {
            Value::Text(t) => t.split('\u{fffd}').all(|p| {
                contains(file, &p.as_bytes()[..p.len().min(64)]) || runs_of(p.as_bytes(), file)
            }),
            Value::Blob(b) => contains(file, &b[..b.len().min(64)]) || runs_of(b, file),
            _ => true,
        })
}

/// Damaged copies of pages4k.db (on ext4 and XFS, alternately), lookups on
/// each through the chain: each
/// ends within the time bound with SQLite's answer, an error, or a row of
/// the damaged file's own bytes; the kernel reports nothing (the harness
/// checks the console); some damage is noticed.
pub fn sqlite_hostile() -> Result<()> {
    let control = Control::open(DEFAULT_DEVICE)?;
    // Loaded and verified once for every damaged copy.
    let function = StorageFunction::builtin("sqlite")?;
    let dir = &dirs("sqlite")?[0];
    let pristine = fs::read(dir.join("pages4k.db"))?;
    let expect = fs::read_to_string(dir.join("pages4k.expect"))?;
    let lines: Vec<&str> = expect
        .lines()
        .filter(|l| !l.contains(" error "))
        .step_by(hostile_stride())
        .collect();
    let queries: Vec<Query> = lines.iter().map(|l| parse(l)).collect::<Result<_>>()?;
    let image = Image::of(&pristine)?;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut right, mut own, mut errors, mut refused) = (0u64, 0u64, 0u64, 0u64);
    for (i, &d) in DAMAGES.iter().enumerate() {
        let work = hostile_dir(i, "sqlite-hostile");
        let _ = fs::remove_dir_all(&work);
        fs::create_dir_all(&work)?;
        let mut bytes = pristine.clone();
        image.damage(&mut bytes, d, &mut rng);
        let path = work.join(format!("{d:?}.db"));
        fs::write(&path, &bytes)?;
        let db = match Db::open(&path) {
            Ok(db) => db,
            Err(e) => {
                println!("{d:?}: open refused: {e}");
                refused += 1;
                continue;
            }
        };
        let att = db.attach_with(&control, function.try_clone()?)?;
        let before = (right, own, errors);
        for (i, (q, want)) in queries.iter().zip(&lines).enumerate() {
            let r = run(&att, q, i % 2 == 1);
            if let Ok((_, stats)) = &r {
                ensure!(
                    stats.hops <= Attached::MAX_HOPS,
                    "{d:?}: {} made {} reads, over the tag's limit {}",
                    q.head,
                    stats.hops,
                    Attached::MAX_HOPS
                );
            }
            match &r {
                Ok(_) if line(q, &r) == *want => right += 1,
                Ok((Some(row), _)) => {
                    ensure!(
                        from_file(row, want, &bytes),
                        "{d:?}: {} returned bytes that are not in the file: {}",
                        q.head,
                        line(q, &r)
                    );
                    own += 1;
                }
                Ok((None, _)) => own += 1,
                Err(_) => errors += 1,
            }
        }
        println!(
            "{d:?}: {} as SQLite answered, {} other answers, {} errors",
            right - before.0,
            own - before.1,
            errors - before.2
        );
        drop(att);
        drop(db);
        fs::remove_file(&path)?;
        let _ = fs::remove_dir_all(&work);
    }
    ensure!(errors > 0, "the damage was never noticed");
    println!(
        "ok: damaged SQLite databases: {right} lookups answered as SQLite did, {own} otherwise from the files' own bytes, {errors} ended with an error, {refused} copies refused at open"
    );
    Ok(())
}
