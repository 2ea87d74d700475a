// SPDX-License-Identifier: GPL-2.0 OR MIT

//! RocksDB block-based tables: point gets and seeks over a DB directory
//! as the RocksDB library wrote it (format_version 2 to 7, the default
//! bytewise comparator, the default column family).
//!
//! [`Db::open`] reads `CURRENT`, replays the MANIFEST for the live SST
//! files and reads each file's footer, metaindex and properties. Lookups
//! then run two ways:
//!
//! - in user space with pread ([`Db::get_pread`], [`Db::seek_pread`]): the
//!   reference walk, every block's checksum verified, compressed blocks
//!   (Snappy, LZ4, ZSTD) decompressed;
//! - as one chain per lookup ([`Db::attach`], [`Attached::get`],
//!   [`Attached::seek`]): the files are tagged as one tag set with the
//!   built-in `rocksdb` storage function, which walks index and data
//!   blocks from file to file in the kernel; whatever it hands back
//!   (compressed or oversized blocks, long keys, ...) user space finishes
//!   with the reference walk.
//!
//! Refused with an [`Error::Unsupported`] naming the file: other
//! comparators, blob files, range tombstones, merge operands and other
//! entry types (when a lookup meets them), a WAL holding writes not yet
//! flushed, dictionary, Zlib, BZip2, Xpress or custom compression,
//! separated key/value data blocks, user-defined indexes.
//!
//! ```no_run
//! use rnvme::{engines::rocksdb::Db, Control, DEFAULT_DEVICE};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let db = Db::open("/mnt/nvme/db")?;
//! assert_eq!(db.get_pread(b"user42")?, Some(b"alice".to_vec()));
//!
//! let control = Control::open(DEFAULT_DEVICE)?;
//! let attached = db.attach(&control)?;
//! let (value, stats) = attached.get(b"user42", false)?;
//! println!("{value:?} in {} reads", stats.hops);
//! let (next, _) = attached.seek(b"user4", false)?;
//! println!("first key >= user4: {next:?}");
//! # Ok(())
//! # }
//! ```

mod block;
mod chain;
mod checksum;
mod coding;
mod compression;
mod db;
mod error;
mod footer;
mod log;
mod lookup;
mod manifest;
mod properties;
mod query;
mod reader;
mod table;
pub mod tikv;

pub use block::Handle;
pub use chain::Attached;
pub use checksum::ChecksumType;
pub use db::{Db, ReadStats};
pub use error::{Error, Result};
pub use footer::Footer;
pub use lookup::{ChainCounters, Detour, HandBack, KeyValue, LookupStats};
pub use properties::{IndexType, Properties};
pub use table::{SstFile, BYTEWISE};

/// The scratch layout of `rocksdb.bpf.c` (`bpf/include/rocksdb_format.h`).
#[allow(non_camel_case_types, dead_code)]
pub mod scratch {
    include!(concat!(env!("OUT_DIR"), "/rocksdb_format.rs"));
}
