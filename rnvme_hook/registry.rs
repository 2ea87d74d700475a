// SPDX-License-Identifier: GPL-2.0

//! The `IOC_TAGS` list of every attached tag's counters, across all open
//! `/dev/rnvme` files.

use kernel::{
    new_mutex,
    prelude::*,
    sync::{Arc, Mutex},
};

use crate::{abi, counters::TagStats, ffi::errno, watch::Watches};

/// Every attached tag's statistics, for `IOC_TAGS`, with the user who
/// attached it (for the bound of [`abi::MAX_TAGS_PER_USER`]); used from
/// process context only. A slot is `None` once its tag was detached.
///
/// The control device's registration holds it and hands it to each open
/// `/dev/rnvme`, so it lives as long as any of them.
#[pin_data]
pub(crate) struct TagRegistry {
    #[pin]
    tags: Mutex<KVec<Option<(u32, Arc<TagStats>)>>>,
    /// Every tagged file's generation, for the files tags attach.
    watches: Arc<Watches>,
}

impl TagRegistry {
    pub(crate) fn new(watches: Arc<Watches>) -> Result<Arc<Self>> {
        Arc::pin_init(
            pin_init!(Self {
                tags <- new_mutex!(KVec::new()),
                watches,
            }),
            GFP_KERNEL,
        )
    }

    /// Where tags register their files' generations.
    pub(crate) fn watches(&self) -> &Arc<Watches> {
        &self.watches
    }

    /// Snapshots of at most `max` listed tags, and how many are listed.
    pub(crate) fn snapshots(&self, max: usize) -> Result<(KVec<abi::TagInfo>, usize)> {
        let tags = self.tags.lock();
        let count = tags.iter().flatten().count();
        let mut out = KVec::with_capacity(count.min(max), GFP_KERNEL)?;
        for (_, s) in tags.iter().flatten().take(max) {
            out.push(s.snapshot(), GFP_KERNEL)?;
        }
        Ok((out, count))
    }
}

/// A tag's entry in the registry, removed when this is dropped — at detach
/// or the release of its `/dev/rnvme`, both in process context (the tag
/// itself may end later, in a completion interrupt).
pub(crate) struct Listed {
    registry: Arc<TagRegistry>,
    stats: Arc<TagStats>,
}

impl Listed {
    /// Lists `stats` in `registry` as a tag of user `uid`; `EDQUOT` when
    /// the user has [`abi::MAX_TAGS_PER_USER`] tags listed already.
    pub(crate) fn new(registry: &Arc<TagRegistry>, stats: Arc<TagStats>, uid: u32) -> Result<Self> {
        let mut tags = registry.tags.lock();
        let users = tags.iter().flatten().filter(|(u, _)| *u == uid).count();
        if users >= abi::MAX_TAGS_PER_USER as usize {
            return Err(errno::edquot());
        }
        store_in_free_slot(&mut tags, (uid, stats.clone()))?;
        drop(tags);
        Ok(Self {
            registry: registry.clone(),
            stats,
        })
    }
}

impl Drop for Listed {
    fn drop(&mut self) {
        let mut tags = self.registry.tags.lock();
        if let Some(slot) = tags
            .iter_mut()
            .find(|s| s.as_ref().is_some_and(|(_, s)| Arc::ptr_eq(s, &self.stats)))
        {
            *slot = None;
        }
    }
}

/// Puts `item` into the first free slot of `slots`, or a new one at the end.
pub(crate) fn store_in_free_slot<T>(slots: &mut KVec<Option<T>>, item: T) -> Result {
    match slots.iter_mut().find(|s| s.is_none()) {
        Some(slot) => *slot = Some(item),
        None => slots.push(Some(item), GFP_KERNEL_ACCOUNT)?,
    }
    Ok(())
}
