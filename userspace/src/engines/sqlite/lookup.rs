// SPDX-License-Identifier: GPL-2.0 OR MIT

//! What a lookup took and why user space took part: the types lookups and
//! their counters report.

use super::scratch as s;

/// Why the function handed a lookup back (`SQL_R_*` with `SQL_HANDBACK`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HandBack {
    /// An index record spills onto overflow pages.
    Spill,
    /// An index key is a REAL, compared with an integer.
    Real,
    /// An index record has more columns than `SQL_INDEX_COLS`.
    Wide,
    /// Bytes past the verifier's reach (the end of a 64 KiB page).
    Reach,
    /// A reason this library does not know.
    Other,
}

impl HandBack {
    /// Every reason, in `SQL_R_*` order, [`HandBack::Other`] last.
    pub const ALL: [HandBack; 5] = [
        Self::Spill,
        Self::Real,
        Self::Wide,
        Self::Reach,
        Self::Other,
    ];

    pub(super) fn from_reason(r: u32) -> Self {
        match r {
            s::SQL_R_SPILL => Self::Spill,
            s::SQL_R_REAL => Self::Real,
            s::SQL_R_WIDE => Self::Wide,
            s::SQL_R_REACH => Self::Reach,
            _ => Self::Other,
        }
    }

    /// A short name, for counters.
    pub fn name(self) -> &'static str {
        match self {
            Self::Spill => "spill",
            Self::Real => "real",
            Self::Wide => "wide",
            Self::Reach => "reach",
            Self::Other => "other",
        }
    }

    pub(super) fn slot(self) -> usize {
        Self::ALL
            .iter()
            .position(|&h| h == self)
            .unwrap_or(Self::ALL.len() - 1)
    }
}

/// Why a lookup was (also) done in user space.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Detour {
    /// The function handed it back; user space finished it.
    HandBack(HandBack),
    /// No chain: a text key longer than `SQL_KEY_MAX` bytes.
    LongKey,
    /// No chain: a REAL or BLOB key, which the function does not compare.
    KeyType,
    /// The chain met a hole or an unwritten extent of the file (a sparse
    /// copy: an all-zero block of a page was not stored), which it cannot
    /// read (ENODATA); user space did the lookup.
    Hole,
}

/// What one lookup took.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LookupStats {
    /// Whether a chain ran.
    pub chain: bool,
    /// Pages the chain read (the function's count).
    pub reads: u32,
    /// Reads of the chain (the module's count).
    pub hops: u32,
    /// Of those, reads the NVMe driver resubmitted itself.
    pub driver_hops: u32,
    /// Why user space took part, if it did.
    pub detour: Option<Detour>,
    /// preads user space made for it (pages, or the rest of a record).
    pub preads: u64,
}

/// Counters of an [`Attached`] database.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChainCounters {
    pub lookups: u64,
    pub chains: u64,
    /// Hand-backs by reason, in [`HandBack::ALL`] order.
    pub hand_backs: [u64; 5],
    /// Lookups done in user space without a chain.
    pub direct: u64,
    /// preads user space made for lookups.
    pub extra_preads: u64,
}
