// SPDX-License-Identifier: GPL-2.0 OR MIT

//! RocksDB block-based tables: point gets and seeks over a DB directory.

/// The scratch layout of `rocksdb.bpf.c` (`bpf/include/rocksdb_format.h`).
#[allow(non_camel_case_types, dead_code)]
pub mod scratch {
    include!(concat!(env!("OUT_DIR"), "/rocksdb_format.rs"));
}
