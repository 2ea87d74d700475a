// SPDX-License-Identifier: GPL-2.0 OR MIT

//! What a lookup took, and why user space took part: per lookup
//! ([`LookupStats`]) and summed over an attached DB ([`ChainCounters`]).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::scratch as s;

/// A key and its value.
pub type KeyValue = (Vec<u8>, Vec<u8>);

/// Why the function handed a lookup back (`RDB_R_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HandBack {
    /// A compressed block.
    Compressed,
    /// A block larger than one read window.
    BigBlock,
    /// A key longer than `RDB_KEY_MAX` in a block.
    LongKey,
    /// An entry type other than value or deletion.
    EntryType,
    /// A block the function cannot parse.
    Format,
    /// Seek: the answer may start in a later index partition.
    NextBlock,
    /// An index entry delta-encoded across restart points.
    IndexKind,
    /// A reason this library does not know (or none).
    Other,
}

impl HandBack {
    /// Every reason, in `RDB_R_*` order, [`HandBack::Other`] last.
    pub const ALL: [HandBack; 8] = [
        Self::Compressed,
        Self::BigBlock,
        Self::LongKey,
        Self::EntryType,
        Self::Format,
        Self::NextBlock,
        Self::IndexKind,
        Self::Other,
    ];

    pub(crate) fn from_reason(r: u32) -> Self {
        match r {
            s::RDB_R_COMPRESSED => Self::Compressed,
            s::RDB_R_BIG_BLOCK => Self::BigBlock,
            s::RDB_R_LONG_KEY => Self::LongKey,
            s::RDB_R_ENTRY_TYPE => Self::EntryType,
            s::RDB_R_FORMAT => Self::Format,
            s::RDB_R_NEXT_BLOCK => Self::NextBlock,
            s::RDB_R_INDEX_KIND => Self::IndexKind,
            _ => Self::Other,
        }
    }

    /// A short name, for counters.
    pub fn name(self) -> &'static str {
        match self {
            Self::Compressed => "compressed",
            Self::BigBlock => "big_block",
            Self::LongKey => "long_key",
            Self::EntryType => "entry_type",
            Self::Format => "format",
            Self::NextBlock => "next_block",
            Self::IndexKind => "index_kind",
            Self::Other => "other",
        }
    }

    pub(crate) fn slot(self) -> usize {
        Self::ALL.iter().position(|&h| h == self).unwrap_or(7)
    }
}

/// Why a lookup was (also) done in user space.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Detour {
    /// The function handed it back; user space finished it.
    HandBack(HandBack),
    /// Seek: the smallest key's newest version is a deletion, so the
    /// answer lies further on; user space redid the seek.
    Deleted,
    /// No chain: the key is longer than `RDB_KEY_MAX`.
    LongKey,
    /// No chain: more candidate files than `RDB_FILES_MAX`.
    ManyFiles,
    /// No chain: a candidate's index the function does not walk (index
    /// type 3, or an index block larger than one read).
    Unwalkable,
}

/// What one lookup took.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LookupStats {
    /// Candidate files.
    pub files: u32,
    /// Whether a chain ran.
    pub chain: bool,
    /// Blocks the chain read (the function's count).
    pub reads: u32,
    /// Reads of the chain (the module's count).
    pub hops: u32,
    /// Why user space took part, if it did.
    pub detour: Option<Detour>,
    /// preads user space made for it (blocks, or the rest of a value).
    pub preads: u64,
}

/// Counters of an [`Attached`](super::Attached) DB.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChainCounters {
    /// Gets and seeks.
    pub lookups: u64,
    /// Chains run.
    pub chains: u64,
    /// Hand-backs by reason, in [`HandBack::ALL`] order.
    pub hand_backs: [u64; 8],
    /// Seeks continued in user space past a deleted key.
    pub deleted: u64,
    /// Lookups done in user space without a chain.
    pub direct: u64,
    /// Lookups user space finished (hand-backs, deleted, direct).
    pub user_space: u64,
    /// preads user space made for lookups.
    pub extra_preads: u64,
}

/// [`ChainCounters`] as they are counted.
#[derive(Debug, Default)]
pub(crate) struct Atomics {
    pub lookups: AtomicU64,
    pub chains: AtomicU64,
    pub hand_backs: [AtomicU64; 8],
    pub deleted: AtomicU64,
    pub direct: AtomicU64,
    pub user_space: AtomicU64,
    pub extra_preads: AtomicU64,
}

impl Atomics {
    pub(crate) fn snapshot(&self) -> ChainCounters {
        ChainCounters {
            lookups: self.lookups.load(Relaxed),
            chains: self.chains.load(Relaxed),
            hand_backs: std::array::from_fn(|i| self.hand_backs[i].load(Relaxed)),
            deleted: self.deleted.load(Relaxed),
            direct: self.direct.load(Relaxed),
            user_space: self.user_space.load(Relaxed),
            extra_preads: self.extra_preads.load(Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_map_to_their_slots() {
        for (i, h) in HandBack::ALL.iter().enumerate() {
            assert_eq!(h.slot(), i);
            if i < 7 {
                assert_eq!(HandBack::from_reason(i as u32 + 1), *h);
            }
        }
    }
}
