// SPDX-License-Identifier: GPL-2.0 OR MIT

//! One block-based table (SST file): its footer, metaindex and
//! properties read at open, then its index and data blocks on demand, and
//! a cursor over its versions from a key on.

use std::{
    collections::VecDeque,
    path::{Path, PathBuf},
};

use super::{
    block::{Handle, Kind, TRAILER},
    footer::Footer,
    manifest::FileMeta,
    properties::{self, IndexType, Properties},
    reader::{refusal, Counters, Reader},
    Result,
};

/// The only comparator this reader (and the storage function) knows.
pub const BYTEWISE: &str = "leveldb.BytewiseComparator";

/// One live SST file of the DB: where the MANIFEST puts it and what its
/// footer and properties say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SstFile {
    /// The file number (`000012.sst` is 12).
    pub number: u64,
    /// Where it is (in the DB directory).
    pub path: PathBuf,
    /// LSM level (0 = newest, overlapping files).
    pub level: u32,
    /// Bytes, as the MANIFEST records them (and the file has).
    pub size: u64,
    /// The smallest and largest user keys in the file.
    pub smallest_key: Vec<u8>,
    pub largest_key: Vec<u8>,
    /// The sequence numbers of its oldest and newest entries.
    pub smallest_seqno: u64,
    pub largest_seqno: u64,
    /// Its footer: format version, checksum type, metaindex.
    pub footer: Footer,
    /// The (top-level) index block.
    pub index: Handle,
    /// What its properties block says.
    pub properties: Properties,
}

impl SstFile {
    /// The file's name in the DB directory.
    pub fn name(&self) -> String {
        self.path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
    }
}

/// One version of a key in a data block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Version {
    pub user_key: Vec<u8>,
    pub seq: u64,
    /// The entry type (`ValueType`): 1 value, 0 / 7 deletions, ...
    pub kind: u8,
    pub value: Vec<u8>,
}

/// An open SST file.
#[derive(Debug)]
pub(crate) struct Table {
    pub info: SstFile,
    pub reader: Reader,
}

impl Table {
    /// Opens the file `meta` describes in `dir`: footer, metaindex,
    /// properties. Refuses what the walkers do not read.
    pub(crate) fn open(dir: &Path, meta: &FileMeta, counters: &Counters) -> Result<Self> {
        let mut path = dir.join(format!("{:06}.sst", meta.number));
        if !path.exists() && dir.join(format!("{:06}.ldb", meta.number)).exists() {
            path = dir.join(format!("{:06}.ldb", meta.number));
        }
        let r = Reader::open(path, meta.size)?;
        let footer = r.footer();
        let metaindex = r.parsed(r.block(footer.metaindex, counters)?.entries(Kind::Plain))?;
        let handle = |name: &str| -> Result<Option<Handle>> {
            let Some(e) = metaindex.iter().find(|e| e.key == name.as_bytes()) else {
                return Ok(None);
            };
            let h = Handle::decode(&mut super::coding::Input::new(&e.value));
            h.map(Some)
                .ok_or_else(|| r.corrupt(format!("bad metaindex handle of {name}")))
        };
        let index = match footer.index {
            Some(h) => h,
            None => handle("rocksdb.index")?
                .ok_or_else(|| r.corrupt("no rocksdb.index in the metaindex"))?,
        };
        let props_handle = match handle("rocksdb.properties")? {
            Some(h) => h,
            None => handle("rocksdb.stats")?.ok_or_else(|| r.corrupt("no properties block"))?,
        };
        if handle("rocksdb.compression_dict")?.is_some() {
            return Err(r.unsupported("blocks compressed with a dictionary"));
        }
        let pairs: Vec<(Vec<u8>, Vec<u8>)> = r
            .parsed(r.block(props_handle, counters)?.entries(Kind::Plain))?
            .into_iter()
            .map(|e| (e.key, e.value))
            .collect();
        let properties = properties::decode(&pairs).map_err(|e| refusal(&r.path, e))?;
        if !properties.comparator.is_empty() && properties.comparator != BYTEWISE {
            return Err(r.unsupported(format!("comparator {}", properties.comparator)));
        }
        let mut tombstones = properties.num_range_deletions;
        if let Some(h) = handle("rocksdb.range_del")? {
            tombstones += r.parsed(r.block(h, counters)?.entries(Kind::Plain))?.len() as u64;
        }
        if tombstones > 0 {
            return Err(r.unsupported("range tombstones (DeleteRange)"));
        }
        let user_key = |k: &[u8]| k[..k.len() - 8].to_vec();
        Ok(Self {
            info: SstFile {
                number: meta.number,
                path: r.path.clone(),
                level: meta.level,
                size: meta.size,
                smallest_key: user_key(&meta.smallest),
                largest_key: user_key(&meta.largest),
                smallest_seqno: meta.smallest_seqno,
                largest_seqno: meta.largest_seqno,
                footer,
                index,
                properties,
            },
            reader: r,
        })
    }

    /// The entries of the index block (or partition) at `h` as (user key
    /// of the separator, handle).
    fn index_entries(&self, h: Handle, counters: &Counters) -> Result<Vec<(Vec<u8>, Handle)>> {
        let (p, r) = (&self.info.properties, &self.reader);
        let block = r.block(h, counters)?;
        let first_key = p.index_type == IndexType::WithFirstKey;
        let mut entries =
            r.parsed(block.index_entries(p.index_value_is_delta_encoded, first_key))?;
        if !p.index_key_is_user_key {
            for (k, _) in &mut entries {
                let n = k
                    .len()
                    .checked_sub(8)
                    .ok_or_else(|| r.corrupt("index key shorter than 8 bytes"))?;
                k.truncate(n);
            }
        }
        Ok(entries)
    }

    /// The versions in the data block at `h`.
    fn data_entries(&self, h: Handle, counters: &Counters) -> Result<Vec<Version>> {
        let r = &self.reader;
        let entries = r.parsed(r.block(h, counters)?.entries(Kind::Plain))?;
        entries
            .into_iter()
            .map(|e| {
                let n = e
                    .key
                    .len()
                    .checked_sub(8)
                    .ok_or_else(|| r.corrupt("data key shorter than 8 bytes"))?;
                let packed = u64::from_le_bytes(e.key[n..].try_into().unwrap());
                let mut user_key = e.key;
                user_key.truncate(n);
                Ok(Version {
                    user_key,
                    seq: packed >> 8,
                    kind: packed as u8,
                    value: e.value,
                })
            })
            .collect()
    }

    /// Whether the storage function can walk this file's index: not index
    /// type 3, and the first read (the index block) fits a window.
    pub(crate) fn chain_walkable(&self) -> bool {
        self.info.properties.index_type != IndexType::WithFirstKey
            && self.info.index.size + TRAILER <= u64::from(crate::abi::MAX_WINDOW)
    }
}

/// The versions of one table from the first user key ≥ a key on, read
/// block by block.
pub(crate) struct Cursor<'t> {
    table: &'t Table,
    counters: &'t Counters,
    key: Vec<u8>,
    partitions: VecDeque<Handle>,
    blocks: VecDeque<Handle>,
    versions: VecDeque<Version>,
}

impl<'t> Cursor<'t> {
    /// A cursor at the first version whose user key is ≥ `key`.
    pub(crate) fn seek(table: &'t Table, key: &[u8], counters: &'t Counters) -> Result<Self> {
        let top: Vec<Handle> = table
            .index_entries(table.info.index, counters)?
            .into_iter()
            .filter(|(sep, _)| sep.as_slice() >= key)
            .map(|(_, h)| h)
            .collect();
        let mut c = Self {
            table,
            counters,
            key: key.to_vec(),
            partitions: Default::default(),
            blocks: Default::default(),
            versions: Default::default(),
        };
        if table.info.properties.index_type == IndexType::TwoLevel {
            c.partitions = top.into();
        } else {
            c.blocks = top.into();
        }
        Ok(c)
    }

    /// The version the cursor is at, `None` past the table's end.
    pub(crate) fn peek(&mut self) -> Result<Option<&Version>> {
        while self.versions.is_empty() {
            if let Some(h) = self.blocks.pop_front() {
                let all = self.table.data_entries(h, self.counters)?;
                self.versions = all.into_iter().filter(|v| v.user_key >= self.key).collect();
            } else if let Some(p) = self.partitions.pop_front() {
                let entries = self.table.index_entries(p, self.counters)?;
                self.blocks = entries
                    .into_iter()
                    .filter(|(sep, _)| *sep >= self.key)
                    .map(|(_, h)| h)
                    .collect();
            } else {
                return Ok(None);
            }
        }
        Ok(self.versions.front())
    }

    /// Moves past the current version.
    pub(crate) fn advance(&mut self) {
        self.versions.pop_front();
    }
}
