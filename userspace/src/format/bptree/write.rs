// SPDX-License-Identifier: GPL-2.0 OR MIT

//! Copy-on-write updates of a B+-tree file, safe for concurrent readers.
//!
//! An update never writes a byte that a superblock already on disk can
//! reach. It reads the path from the root to each key's leaf, appends new
//! copies of those leaves and of all their ancestors (and, with a value log,
//! new value records) at the end of the file in one write and makes them
//! durable, then switches the superblock to the new root with one
//! node-size write of block 0 and makes that durable. A reader that read
//! the old superblock walks the old tree, whole; one that read the new
//! superblock walks the new tree. The old copies stay behind as garbage:
//! nothing reclaims them, so the file grows with every update
//! ([`Appended`] says by how much).
//!
//! One writer at a time: the caller keeps other writers out. Kernel chain
//! reads start at the root their caller passes (`Tag::lookup` takes a
//! [`Super`]): read the superblock again to walk the new tree. A tagged
//! file may be updated so while its chains run (`vmtest/live-tree-stress`).

use std::{
    collections::{hash_map::Entry, HashMap},
    fs::{File, OpenOptions},
    io,
    os::unix::fs::{FileExt, OpenOptionsExt},
    path::Path,
};

use super::{
    lookup::{header, locate, slot_at, Slot},
    Found, Super, INTERNAL, RECORD, VALUE_DATA, VALUE_MAGIC,
};
use crate::format::{
    aligned::{Aligned, ALIGN},
    le_u64, put_u32, put_u64, Rng,
};

/// A new value of a key, in the tree's value format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NewValue {
    /// The value inline in the leaf (a tree without a value log).
    Inline(u64),
    /// The data of a new value record (a tree with a value log).
    Record([u8; VALUE_DATA]),
}

impl NewValue {
    /// A value that is a function of `key` and `seed`, in the format of a
    /// tree with or without a value log. Values of one key under different
    /// seeds differ (almost surely), and from the values `mkdb` wrote.
    pub fn seeded(value_log: bool, key: u64, seed: u64) -> Self {
        let mut rng = Rng::new(key.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ seed.rotate_left(29));
        if !value_log {
            return Self::Inline(rng.next());
        }
        let mut data = [0u8; VALUE_DATA];
        for chunk in data.chunks_mut(8) {
            chunk.copy_from_slice(&rng.next().to_le_bytes());
        }
        Self::Record(data)
    }

    /// Whether a lookup found this value.
    pub fn matches(&self, found: &Found) -> bool {
        found.found
            && match self {
                Self::Inline(v) => found.value == *v,
                Self::Record(data) => found.data == *data,
            }
    }
}

/// `count` keys drawn at random from `keys` (repeats allowed), from `seed`.
pub fn sample(keys: &[u64], count: usize, seed: u64) -> Vec<u64> {
    let mut rng = Rng::new(seed);
    (0..count)
        .map(|_| keys[rng.below(keys.len() as u64) as usize])
        .collect()
}

/// How a [`Writer`] opens its file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Write with O_DIRECT (the default). Without it, writes go through the
    /// page cache, for file systems that refuse O_DIRECT (tmpfs); nodes and
    /// superblock are still made durable in that order, but a buffered
    /// reader racing the superblock write is not promised to see it whole.
    pub direct: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self { direct: true }
    }
}

/// What updates appended to the file (all of it garbage once a later
/// update copies it again).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Appended {
    /// Superblock switches: batches committed.
    pub switches: u64,
    /// Updates applied (a key given twice in a batch counts twice).
    pub updates: u64,
    /// Node copies appended.
    pub nodes: u64,
    /// Value-log blocks appended.
    pub log_blocks: u64,
    /// Bytes appended.
    pub bytes: u64,
}

impl std::ops::AddAssign for Appended {
    fn add_assign(&mut self, o: Self) {
        self.switches += o.switches;
        self.updates += o.updates;
        self.nodes += o.nodes;
        self.log_blocks += o.log_blocks;
        self.bytes += o.bytes;
    }
}

/// Why an update failed. Nothing a superblock reaches was written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The file could not be opened, read, written or flushed.
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        cause: io::Error,
    },
    /// The file is not a well-formed B+-tree.
    #[error("not a well-formed B+-tree: {0}")]
    Format(String),
    /// Only existing keys can be updated.
    #[error("key {0} is not in the tree (only existing keys can be updated)")]
    Absent(u64),
    /// The value's format is not the tree's: `wants` says which it takes.
    #[error("key {key}: this tree takes {wants} values")]
    ValueKind { key: u64, wants: &'static str },
}

/// The `map_err` of an I/O step: says what failed.
fn io_error(what: impl Into<String>) -> impl FnOnce(io::Error) -> WriteError {
    let what = what.into();
    move |cause| WriteError::Io { what, cause }
}

/// The nodes one batch copies, by their offset in the tree on disk.
#[derive(Default)]
struct Batch {
    copies: HashMap<u64, Aligned>,
    /// Offsets of the copies in the order they were first read.
    order: Vec<u64>,
    /// Key and data of each new value record, and each key's record.
    records: Vec<(u64, [u8; VALUE_DATA])>,
    record_of: HashMap<u64, usize>,
}

/// Updates the values of existing keys of a B+-tree file by copy-on-write
/// (see the module's documentation).
pub struct Writer {
    file: File,
    sup: Super,
    /// Block 0 as on disk, `node_size` bytes.
    block0: Aligned,
    /// Where the next batch goes: the end of the file rounded up to a node.
    end: u64,
    appended: Appended,
}

impl Writer {
    /// Opens the tree at `path` read-write and reads its superblock.
    pub fn open(path: &Path, options: Options) -> Result<Self, WriteError> {
        let name = path.display();
        let flags = if options.direct { libc::O_DIRECT } else { 0 };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(flags)
            .open(path)
            .map_err(io_error(format!("cannot open {name} read-write")))?;
        // Read the largest node size: a short read at the end is fine.
        let mut head = Aligned::new(ALIGN);
        let got = file
            .read_at(head.as_mut_slice(), 0)
            .map_err(io_error(format!("cannot read {name}")))?;
        let sup = Super::parse(&head.as_slice()[..got]).map_err(WriteError::Format)?;
        let ns = sup.node_size as usize;
        if got < ns {
            return Err(WriteError::Format(format!(
                "{name}: {got} bytes, a node is {ns}"
            )));
        }
        let mut block0 = Aligned::new(ns);
        block0
            .as_mut_slice()
            .copy_from_slice(&head.as_slice()[..ns]);
        let len = file
            .metadata()
            .map_err(io_error(format!("cannot stat {name}")))?
            .len();
        Ok(Self {
            file,
            sup,
            block0,
            end: len.next_multiple_of(ns as u64),
            appended: Appended::default(),
        })
    }

    /// The superblock as this writer last wrote (or read) it.
    pub fn superblock(&self) -> &Super {
        &self.sup
    }

    /// What this writer appended so far.
    pub fn appended(&self) -> Appended {
        self.appended
    }

    /// Sets the value of the existing `key` with one superblock switch.
    pub fn update(&mut self, key: u64, value: NewValue) -> Result<Appended, WriteError> {
        self.update_many(&[(key, value)])
    }

    /// Applies `updates` in order (a later value of a key wins) with one
    /// superblock switch; a node on the paths of several keys is copied
    /// once. All or nothing: if a key is absent, nothing is written. If the
    /// superblock write itself fails, reopen the file to learn which root
    /// is current.
    pub fn update_many(&mut self, updates: &[(u64, NewValue)]) -> Result<Appended, WriteError> {
        if updates.is_empty() {
            return Ok(Appended::default());
        }
        let mut batch = Batch::default();
        for &(key, value) in updates {
            self.stage(&mut batch, key, value)?;
        }
        let ns = self.sup.node_size as usize;
        let log_blocks = (batch.records.len() * RECORD).div_ceil(ns);
        let nodes_at = self.end + (log_blocks * ns) as u64;
        let new_offset: HashMap<u64, u64> = (batch.order.iter().enumerate())
            .map(|(i, &old)| (old, nodes_at + (i * ns) as u64))
            .collect();

        let mut out = Aligned::new((log_blocks + batch.order.len()) * ns);
        let buf = out.as_mut_slice();
        for (i, (key, data)) in batch.records.iter().enumerate() {
            let r = &mut buf[i * RECORD..(i + 1) * RECORD];
            put_u32(r, 0, VALUE_MAGIC);
            put_u64(r, 8, *key);
            r[16..].copy_from_slice(data);
        }
        let node_bufs = buf[log_blocks * ns..].chunks_mut(ns);
        for (old, dst) in batch.order.iter().zip(node_bufs) {
            dst.copy_from_slice(batch.copies[old].as_slice());
            relink(dst, &new_offset)?;
        }
        let name = "the new nodes";
        self.file
            .write_all_at(out.as_slice(), self.end)
            .map_err(io_error(format!("cannot append {name}")))?;
        // From here the appended range may be on disk: never reuse it.
        self.end += out.as_slice().len() as u64;
        self.file
            .sync_data()
            .map_err(io_error(format!("cannot flush {name}")))?;

        let sup = Super {
            root: new_offset[&self.sup.root],
            ..self.sup
        };
        sup.encode(self.block0.as_mut_slice());
        self.file
            .write_all_at(self.block0.as_slice(), 0)
            .map_err(io_error("cannot write the superblock"))?;
        self.file
            .sync_data()
            .map_err(io_error("cannot flush the superblock"))?;
        self.sup = sup;
        let done = Appended {
            switches: 1,
            updates: updates.len() as u64,
            nodes: batch.order.len() as u64,
            log_blocks: log_blocks as u64,
            bytes: out.as_slice().len() as u64,
        };
        self.appended += done;
        Ok(done)
    }

    /// Copies the path to `key`'s leaf into `batch` (nodes copied already
    /// are reused) and puts `value` into the leaf's copy.
    fn stage(&self, batch: &mut Batch, key: u64, value: NewValue) -> Result<(), WriteError> {
        let (leaf, index, log) = self.descend(batch, key)?;
        let slot = match (value, log) {
            (NewValue::Inline(v), false) => v,
            (NewValue::Record(data), true) => {
                let next = batch.records.len();
                let r = *batch.record_of.entry(key).or_insert(next);
                if r == next {
                    batch.records.push((key, data));
                }
                batch.records[r].1 = data;
                // Records are packed from the end of the file, whole.
                self.end + (r * RECORD) as u64
            }
            _ => {
                let wants = if log { "value-log record" } else { "inline" };
                return Err(WriteError::ValueKind { key, wants });
            }
        };
        let node = batch
            .copies
            .get_mut(&leaf)
            .expect("descend copied the leaf");
        put_u64(node.as_mut_slice(), slot_at(index), slot);
        Ok(())
    }

    /// Walks from the root to `key`'s leaf, copying every node on the way
    /// into `batch`: the leaf's offset, the key's value slot, and whether
    /// the value is in the log.
    fn descend(&self, batch: &mut Batch, key: u64) -> Result<(u64, usize, bool), WriteError> {
        let mut at = self.sup.root;
        for _ in 0..64 {
            let node = match batch.copies.entry(at) {
                Entry::Occupied(copy) => copy.into_mut(),
                Entry::Vacant(slot) => {
                    batch.order.push(at);
                    slot.insert(self.read_node(at)?)
                }
            };
            let node = node.as_slice();
            let slot =
                locate(node, key).map_err(|e| WriteError::Format(format!("node at {at}: {e}")))?;
            match slot {
                Slot::Child(i) => at = le_u64(node, slot_at(i)),
                Slot::Value { index, log } => return Ok((at, index, log)),
                Slot::Absent => return Err(WriteError::Absent(key)),
            }
        }
        Err(WriteError::Format("deeper than 64 levels".into()))
    }

    /// Reads the node at `at`, which must be a whole node in the file.
    fn read_node(&self, at: u64) -> Result<Aligned, WriteError> {
        let ns = u64::from(self.sup.node_size);
        if at == 0 || !at.is_multiple_of(ns) || at.saturating_add(ns) > self.end {
            return Err(WriteError::Format(format!("node offset {at}")));
        }
        let mut node = Aligned::new(ns as usize);
        self.file
            .read_exact_at(node.as_mut_slice(), at)
            .map_err(io_error(format!("cannot read the node at {at}")))?;
        Ok(node)
    }
}

/// Points the children of the internal node `node` that were copied at
/// their copies.
fn relink(node: &mut [u8], new_offset: &HashMap<u64, u64>) -> Result<(), WriteError> {
    let (kind, n) = header(node).map_err(WriteError::Format)?;
    if kind != INTERNAL {
        return Ok(());
    }
    for i in 0..=n {
        let at = slot_at(2 * i);
        if let Some(&new) = new_offset.get(&le_u64(node, at)) {
            put_u64(node, at, new);
        }
    }
    Ok(())
}
