// SPDX-License-Identifier: GPL-2.0 OR MIT

//! Real storage engines' files, walked by the built-in storage functions:
//! RocksDB block-based tables (`rocksdb.bpf.c`) and SQLite databases
//! (`sqlite.bpf.c`). Each engine's module reads what a lookup needs once
//! (the DB's metadata), runs one chain per lookup, and finishes in user
//! space whatever the function hands back. The scratch layouts are the C
//! headers `bpf/include/{rocksdb,sqlite}_format.h`, turned into Rust by
//! bindgen at build time.

pub mod rocksdb;
pub mod sqlite;
