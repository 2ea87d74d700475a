// SPDX-License-Identifier: GPL-2.0 OR MIT

//! SQLite's B-trees read with pread: pages, cells, payloads and their
//! overflow chains, and the walks that are the reference for the storage
//! function (and finish what it hands back).

use std::{
    cell::Cell,
    cmp::Ordering,
    fs::File,
    os::unix::fs::FileExt,
    path::Path,
    sync::atomic::{AtomicU64, Ordering::Relaxed},
};

use super::{
    header::HEADER_SIZE,
    record::{self, Field, Value},
    scratch as s, Error, Result,
};

/// Page types (the first byte of a B-tree page's header).
const INDEX_INTERIOR: u8 = 0x02;
const TABLE_INTERIOR: u8 = 0x05;
const INDEX_LEAF: u8 = 0x0a;
const TABLE_LEAF: u8 = 0x0d;

/// The pages of a database file, read whole with pread.
pub(crate) struct Pager<'f> {
    pub(crate) file: &'f File,
    pub(crate) path: &'f Path,
    pub(crate) page_size: u32,
    pub(crate) usable: u32,
    pub(crate) pages: u32,
    /// preads made through this pager.
    pub(crate) reads: Cell<u64>,
    /// preads made for the database in all.
    pub(crate) total: &'f AtomicU64,
}

/// A B-tree page.
pub(crate) struct Page {
    pub(crate) n: u32,
    pub(crate) data: Vec<u8>,
    kind: u8,
    ptrs: usize,
    cells: usize,
    right: u32,
}

/// Where a cell's payload is, and how much of it the cell holds.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Payload {
    /// Bytes in all.
    pub(crate) size: u64,
    /// Offset in the page of its first byte.
    pub(crate) off: usize,
    /// Bytes in the cell; the rest is on overflow pages.
    pub(crate) local: usize,
}

/// Bytes of a payload of `size` kept in its cell, on a table leaf or an
/// index page (SQLite's btree.c: maxLocal, minLocal, maxLeaf).
pub(crate) fn local_size(usable: u32, size: u64, table_leaf: bool) -> usize {
    let u = u64::from(usable);
    let max = if table_leaf {
        u - 35
    } else {
        (u - 12) * 64 / 255 - 23
    };
    let min = (u - 12) * 32 / 255 - 23;
    if size <= max {
        return size as usize;
    }
    let k = min + (size - min) % (u - 4);
    (if k <= max { k } else { min }) as usize
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

impl Pager<'_> {
    fn corrupt(&self, what: impl Into<String>) -> Error {
        Error::corrupt(self.path, what)
    }

    /// `len` bytes at `offset` of the file.
    pub(crate) fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>> {
        let mut b = vec![0u8; len];
        self.file
            .read_exact_at(&mut b, offset)
            .map_err(|e| Error::io(self.path, e))?;
        self.reads.set(self.reads.get() + 1);
        self.total.fetch_add(1, Relaxed);
        Ok(b)
    }

    /// Page `n` (from 1), whole.
    pub(crate) fn page(&self, n: u32) -> Result<Vec<u8>> {
        if n == 0 || n > self.pages {
            return Err(self.corrupt(format!("page {n} is outside the file")));
        }
        let size = self.page_size as usize;
        self.read_at(u64::from(n - 1) * u64::from(self.page_size), size)
    }

    /// B-tree page `n`, which must be of the tree kind asked for.
    pub(crate) fn btree_page(&self, n: u32, index: bool) -> Result<Page> {
        let data = self.page(n)?;
        let hdr = if n == 1 { HEADER_SIZE } else { 0 };
        let kind = data[hdr];
        let want = if index {
            [INDEX_INTERIOR, INDEX_LEAF]
        } else {
            [TABLE_INTERIOR, TABLE_LEAF]
        };
        if !want.contains(&kind) {
            return Err(self.corrupt(format!("page {n} has type {kind:#04x}")));
        }
        let leaf = kind & 0x08 != 0;
        let cells = usize::from(u16::from_be_bytes([data[hdr + 3], data[hdr + 4]]));
        let ptrs = hdr + if leaf { 8 } else { 12 };
        let right = if leaf {
            0
        } else {
            be32(&data, hdr + 8).unwrap_or(0)
        };
        if ptrs + 2 * cells > self.usable as usize {
            return Err(self.corrupt(format!("page {n} claims {cells} cells")));
        }
        Ok(Page {
            n,
            data,
            kind,
            ptrs,
            cells,
            right,
        })
    }

    /// The offset of cell `i` of `page`.
    fn cell(&self, page: &Page, i: usize) -> Result<usize> {
        let at = page.ptrs + 2 * i;
        let c = usize::from(u16::from_be_bytes([page.data[at], page.data[at + 1]]));
        if c < page.ptrs + 2 * page.cells || c > self.usable as usize - 4 {
            return Err(self.corrupt(format!("page {}: cell {i} at {c}", page.n)));
        }
        Ok(c)
    }

    /// A varint of `page` at `at`.
    fn varint(&self, page: &Page, at: usize) -> Result<(u64, usize)> {
        page.data
            .get(at..self.usable as usize)
            .and_then(record::varint)
            .ok_or_else(|| self.corrupt(format!("page {}: varint at {at}", page.n)))
    }

    /// The payload that starts with its size varint at `at`.
    fn payload_at(&self, page: &Page, at: usize) -> Result<Payload> {
        let (size, n) = self.varint(page, at)?;
        let mut off = at + n;
        if page.kind == TABLE_LEAF {
            off += self.varint(page, off)?.1;
        }
        let local = local_size(self.usable, size, page.kind == TABLE_LEAF);
        if size > i32::MAX as u64
            || off + local + 4 * usize::from((local as u64) < size) > self.usable as usize
        {
            return Err(self.corrupt(format!("page {}: payload at {at}", page.n)));
        }
        Ok(Payload { size, off, local })
    }

    /// The whole payload `p` of a cell of `page`: its local part, then its
    /// overflow chain.
    pub(crate) fn payload(&self, page: &Page, p: &Payload) -> Result<Vec<u8>> {
        let mut bytes = page.data[p.off..p.off + p.local].to_vec();
        if (p.local as u64) < p.size {
            let first = be32(&page.data, p.off + p.local).unwrap_or(0);
            let rest = (p.size - p.local as u64) as usize;
            bytes.extend(self.overflow(first, 0, rest)?);
        }
        Ok(bytes)
    }

    /// `need` bytes of an overflow chain from page `first` on, `skip`
    /// bytes into its data.
    pub(crate) fn overflow(&self, first: u32, mut skip: usize, need: usize) -> Result<Vec<u8>> {
        let room = self.usable as usize - 4;
        let mut out = Vec::with_capacity(need);
        let mut page = first;
        // Each page gives room bytes: a chain longer than that is a loop.
        for _ in 0..=(skip + need) / room + 1 {
            if out.len() == need {
                return Ok(out);
            }
            let data = self.page(page)?;
            let take = (room - skip).min(need - out.len());
            out.extend_from_slice(&data[4 + skip..4 + skip + take]);
            skip = 0;
            page = be32(&data, 0).unwrap_or(0);
        }
        if out.len() == need {
            return Ok(out);
        }
        Err(self.corrupt(format!("overflow chain from page {first} too long")))
    }

    /// The record of `rowid` in the table B-tree rooted at `root`.
    pub(crate) fn table_get(&self, root: u32, rowid: i64) -> Result<Option<Vec<u8>>> {
        let mut n = root;
        for _ in 0..s::SQL_DEPTH_MAX {
            let page = self.btree_page(n, false)?;
            // The first cell whose rowid is >= the one looked for.
            let (mut lo, mut hi) = (0, page.cells);
            while lo < hi {
                let mid = (lo + hi) / 2;
                let c = self.cell(&page, mid)?;
                let key_at = if page.kind == TABLE_LEAF {
                    c + self.varint(&page, c)?.1
                } else {
                    c + 4
                };
                if (self.varint(&page, key_at)?.0 as i64) < rowid {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            if page.kind == TABLE_INTERIOR {
                n = match lo < page.cells {
                    true => be32(&page.data, self.cell(&page, lo)?).unwrap_or(0),
                    false => page.right,
                };
                continue;
            }
            if lo == page.cells {
                return Ok(None);
            }
            let c = self.cell(&page, lo)?;
            let (_, n1) = self.varint(&page, c)?;
            if self.varint(&page, c + n1)?.0 as i64 != rowid {
                return Ok(None);
            }
            let p = self.payload_at(&page, c)?;
            return self.payload(&page, &p).map(Some);
        }
        Err(self.corrupt(format!(
            "table B-tree from page {root} deeper than {}",
            s::SQL_DEPTH_MAX
        )))
    }

    /// The record of cell `i` of index page `page`.
    fn index_record(&self, page: &Page, i: usize) -> Result<Vec<u8>> {
        let c = self.cell(page, i)?;
        let at = if page.kind == INDEX_INTERIOR {
            c + 4
        } else {
            c
        };
        let p = self.payload_at(page, at)?;
        self.payload(page, &p)
    }

    /// The first column of index record `rec`, compared with `key`.
    fn index_cmp(&self, page: &Page, rec: &[u8], key: &Value) -> Result<Ordering> {
        match record::fields(rec).as_deref() {
            Some([first, ..]) => Ok(record::compare(*first, key.as_field())),
            _ => Err(self.corrupt(format!("page {}: bad index record", page.n))),
        }
    }

    /// The rowid of the first entry, in index order, of the index B-tree
    /// rooted at `root` whose first column equals `key` (sqlite_format.h).
    pub(crate) fn index_first(&self, root: u32, key: &Value) -> Result<Option<i64>> {
        let mut n = root;
        let mut found = None;
        for _ in 0..s::SQL_DEPTH_MAX {
            let page = self.btree_page(n, true)?;
            let (mut lo, mut hi) = (0, page.cells);
            while lo < hi {
                let mid = (lo + hi) / 2;
                let rec = self.index_record(&page, mid)?;
                if self.index_cmp(&page, &rec, key)? == Ordering::Less {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            if lo < page.cells {
                let rec = self.index_record(&page, lo)?;
                if self.index_cmp(&page, &rec, key)? == Ordering::Equal {
                    match record::fields(&rec).as_deref().and_then(<[Field]>::last) {
                        Some(Field::Integer(rowid)) => found = Some(*rowid),
                        _ => {
                            return Err(
                                self.corrupt(format!("page {n}: index entry without a rowid"))
                            )
                        }
                    }
                }
            }
            if page.kind == INDEX_LEAF {
                return Ok(found);
            }
            n = match lo < page.cells {
                true => be32(&page.data, self.cell(&page, lo)?).unwrap_or(0),
                false => page.right,
            };
        }
        Err(self.corrupt(format!(
            "index B-tree from page {root} deeper than {}",
            s::SQL_DEPTH_MAX
        )))
    }

    /// Every record of the table B-tree rooted at `root`, in rowid order.
    pub(crate) fn table_scan(
        &self,
        root: u32,
        f: &mut dyn FnMut(Vec<u8>) -> Result<()>,
    ) -> Result<()> {
        // Pages to visit, with their depth, the next one last.
        let mut stack = vec![(root, 1)];
        while let Some((n, depth)) = stack.pop() {
            if depth > s::SQL_DEPTH_MAX {
                return Err(self.corrupt(format!("table B-tree from page {root} too deep")));
            }
            let page = self.btree_page(n, false)?;
            if page.kind == TABLE_INTERIOR {
                stack.push((page.right, depth + 1));
                for i in (0..page.cells).rev() {
                    let c = self.cell(&page, i)?;
                    stack.push((be32(&page.data, c).unwrap_or(0), depth + 1));
                }
                continue;
            }
            for i in 0..page.cells {
                let c = self.cell(&page, i)?;
                let p = self.payload_at(&page, c)?;
                f(self.payload(&page, &p)?)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_sizes_follow_sqlite() {
        // 4096-byte pages: maxLeaf 4061, maxLocal 1002, minLocal 489.
        assert_eq!(local_size(4096, 4061, true), 4061);
        // K = 489 + (4062 - 489) % 4092 = 4062 > maxLeaf: minLocal.
        assert_eq!(local_size(4096, 4062, true), 489);
        assert_eq!(local_size(4096, 10_000, true), 1816);
        assert_eq!(local_size(4096, 1002, false), 1002);
        assert_eq!(local_size(4096, 1003, false), 489);
        assert_eq!(local_size(4096, 5000, false), 908);
        // 65536-byte pages: maxLeaf 65501, minLocal 8199.
        assert_eq!(local_size(65536, 65501, true), 65501);
        assert_eq!(local_size(65536, 65502, true), 8199);
        assert_eq!(local_size(65536, 100_000, true), 34468);
        assert_eq!(local_size(65536, 200_000, true), 8199);
    }
}
