// SPDX-License-Identifier: GPL-2.0 OR MIT

//! SQLite databases: rows by rowid and by an indexed column, as SQLite
//! wrote the file (any page size, reserved bytes, UTF-8 text).
//!
//! [`Db::open`] checks the file header and reads the schema (sqlite_schema)
//! for each table's and index's root page, column names and INTEGER
//! PRIMARY KEY. Lookups then run two ways:
//!
//! - in user space with pread ([`Db::get_pread`],
//!   [`Db::lookup_index_pread`]): the reference walk;
//! - as one chain per lookup ([`Db::attach`], [`Attached::get`],
//!   [`Attached::lookup_index`]): the file is tagged with the built-in
//!   `sqlite` storage function, which descends the index B-tree and then
//!   the table's in the kernel, one page per read, and copies the row's
//!   record out (up to 3.5 KiB; user space reads the rest of a longer one).
//!   Whatever it hands back (index records on overflow pages, REAL keys,
//!   the last bytes of a 64 KiB page) user space finishes with the
//!   reference walk.
//!
//! A lookup on a column needs an index whose first column it is, in
//! ascending order with the BINARY collation (or the column is the rowid);
//! the value takes the column's affinity, as in SQL's `column = value`, and
//! the row found is the first in the index's order (the smallest rowid
//! with a one-column index).
//!
//! Refused with an [`Error`] naming the file: text encodings other than
//! UTF-8; a hot rollback journal; a database in WAL mode whose `-wal` file
//! holds frames (checkpoint it: its newest pages are not in the main
//! file); lookups in WITHOUT ROWID tables, virtual tables and tables with
//! generated columns; a lookup on a column without a usable index.
//!
//! ```no_run
//! use rnvme::{engines::sqlite::{Db, Value}, Control, DEFAULT_DEVICE};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let db = Db::open("/mnt/nvme/app.db")?;
//! let row = db.get_pread("users", 42)?;
//! println!("{:?}", row.map(|r| r.values));
//!
//! let control = Control::open(DEFAULT_DEVICE)?;
//! let attached = db.attach(&control)?;
//! let (row, stats) = attached.get("users", 42, false)?;
//! println!("{row:?} in {} reads", stats.hops);
//! let email = Value::Text("alice@example.com".into());
//! let (row, _) = attached.lookup_index("users", "email", &email, false)?;
//! println!("rowid {:?}", row.map(|r| r.rowid));
//! # Ok(())
//! # }
//! ```

mod btree;
mod chain;
mod db;
mod error;
mod header;
mod lookup;
mod record;
mod schema;
mod sql;

pub use chain::{Attached, ChainRunner};
pub use db::{Db, Row};
pub use error::{Error, Result};
pub use header::Header;
pub use lookup::{ChainCounters, Detour, HandBack, LookupStats};
pub use record::{Affinity, Value};
pub use schema::{Column, Index, Table};

/// The scratch layout of `sqlite.bpf.c` (`bpf/include/sqlite_format.h`).
#[allow(non_camel_case_types, dead_code)]
pub mod scratch {
    include!(concat!(env!("OUT_DIR"), "/sqlite_format.rs"));
}
