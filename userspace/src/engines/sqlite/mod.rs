// SPDX-License-Identifier: GPL-2.0 OR MIT

//! SQLite databases: rows by rowid and by an indexed column.

/// The scratch layout of `sqlite.bpf.c` (`bpf/include/sqlite_format.h`).
#[allow(non_camel_case_types, dead_code)]
pub mod scratch {
    include!(concat!(env!("OUT_DIR"), "/sqlite_format.rs"));
}
