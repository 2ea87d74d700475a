// SPDX-License-Identifier: GPL-2.0 OR MIT

//! The extent map of a tagged file: file-system blocks to device sectors.
//!
//! Pure logic, `core` only: compiled into the module (`mod extent;`) and into
//! user space's host tests (`#[path]`), which model it against a reference.
//! The module builds a map from the file system's extents (fiemap) and never
//! changes it: when the file's block map changes it builds a new one and
//! publishes it whole (`filemap.rs`), so lookups from completion context
//! need no lock.

/// A run of file-system blocks that are contiguous in the file and on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extent {
    /// First logical (file) block.
    pub lblk: u64,
    /// First physical block, relative to the file system's block device.
    pub pblk: u64,
    /// Number of blocks.
    pub len: u64,
}

impl Extent {
    fn end(&self) -> u64 {
        self.lblk + self.len
    }
}

/// Adds the run `e` (neither empty nor mapped at physical block 0) to a map
/// being built in logical-block order, whose last extent is `last`: the
/// part of `e` before the end of `last` is dropped, and a run that
/// continues `last` in the file and on disk is merged into it.
///
/// Returns the extent to append, or `None` when `e` was merged or dropped.
pub fn append(last: Option<&mut Extent>, mut e: Extent) -> Option<Extent> {
    if let Some(l) = last {
        let cut = l.end().saturating_sub(e.lblk);
        if cut >= e.len {
            return None;
        }
        e = Extent {
            lblk: e.lblk + cut,
            pblk: e.pblk + cut,
            len: e.len - cut,
        };
        if l.end() == e.lblk && l.pblk + l.len == e.pblk {
            l.len += e.len;
            return None;
        }
    }
    Some(e)
}

/// Where a read of `len` bytes at file offset `offset` lies on the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// One contiguous run starting at this 512-byte sector.
    Sector(u64),
    /// Contiguous in the file but not on disk: read it in pieces.
    Split,
    /// Part of the range is not mapped.
    Hole,
}

/// Looks up `[offset, offset + len)`; `len` must be at least 1 and the range
/// inside the file.
pub fn lookup(extents: &[Extent], blkbits: u32, offset: u64, len: u64) -> Lookup {
    let first = offset >> blkbits;
    let last = (offset + len - 1) >> blkbits;
    let i = extents.partition_point(|e| e.end() <= first);
    let Some(e) = extents.get(i) else {
        return Lookup::Hole;
    };
    if e.lblk > first {
        return Lookup::Hole;
    }
    if last < e.end() {
        let pblk = e.pblk + (first - e.lblk);
        let within = offset & ((1 << blkbits) - 1);
        return Lookup::Sector((pblk << (blkbits - 9)) + (within >> 9));
    }
    // The range goes on past this extent: a split read if every block of
    // it is mapped (extents are maximal, so the next one is not contiguous).
    let mut next = e.end();
    for e in &extents[i + 1..] {
        if e.lblk != next {
            return Lookup::Hole;
        }
        next = e.end();
        if last < next {
            return Lookup::Split;
        }
    }
    Lookup::Hole
}

/// One piece of a split read: `len` bytes at `buf_offset` of the buffer come
/// from `sector`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Piece {
    pub buf_offset: u64,
    pub sector: u64,
    pub len: u64,
}

/// The pieces of a read that [`lookup`] called [`Lookup::Split`], in order.
pub fn pieces(
    extents: &[Extent],
    blkbits: u32,
    offset: u64,
    len: u64,
) -> impl Iterator<Item = Piece> + '_ {
    let end = offset + len;
    let mut pos = offset;
    core::iter::from_fn(move || {
        if pos >= end {
            return None;
        }
        let blk = pos >> blkbits;
        let e = extents.iter().find(|e| e.lblk <= blk && blk < e.end())?;
        let run_end = (e.end() << blkbits).min(end);
        let within = pos - (e.lblk << blkbits);
        let piece = Piece {
            buf_offset: pos - offset,
            sector: ((e.pblk << blkbits) + within) >> 9,
            len: run_end - pos,
        };
        pos = run_end;
        Some(piece)
    })
}
