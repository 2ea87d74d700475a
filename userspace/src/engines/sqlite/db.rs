// SPDX-License-Identifier: GPL-2.0 OR MIT

//! A database opened for lookups, and the lookups done in user space with
//! pread: the reference for the chains, and what finishes them.

use std::{
    cell::Cell,
    fs::File,
    path::{Path, PathBuf},
    sync::atomic::{AtomicU64, Ordering::Relaxed},
};

use super::{
    btree::Pager,
    header::Header,
    record::{Affinity, Value},
    schema::{Index, Schema, Table},
    Error, Result,
};

/// A row of a table.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub rowid: i64,
    /// One value per column of the table, in order (the rowid in the
    /// INTEGER PRIMARY KEY column).
    pub values: Vec<Value>,
}

/// A SQLite database file, its header and schema read (see the module
/// documentation for what it accepts).
#[derive(Debug)]
pub struct Db {
    path: PathBuf,
    pub(crate) file: File,
    header: Header,
    schema: Schema,
    reads: AtomicU64,
}

/// Where a lookup on a column leads.
pub(crate) enum Plan<'d> {
    /// The column is the rowid: the row of this rowid.
    Rowid(i64),
    /// The first entry of `index` whose first column is `key`.
    Index { index: &'d Index, key: Value },
    /// Nothing can match (a NULL, or a text compared with the rowid).
    Nothing,
}

impl Db {
    /// Opens the database at `path` read-only and reads its header and
    /// schema.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
        let header = Header::read(&path, &file)?;
        let mut db = Db {
            path,
            file,
            header,
            schema: Schema::default(),
            reads: AtomicU64::new(0),
        };
        db.schema = Schema::read(&db.pager())?;
        Ok(db)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    pub fn tables(&self) -> &[Table] {
        &self.schema.tables
    }

    pub fn indexes(&self) -> &[Index] {
        &self.schema.indexes
    }

    pub(crate) fn pager(&self) -> Pager<'_> {
        Pager {
            file: &self.file,
            path: &self.path,
            page_size: self.header.page_size,
            usable: self.header.usable(),
            pages: self.header.pages,
            reads: Cell::new(0),
            total: &self.reads,
        }
    }

    /// preads made for this database so far (pages, or parts of records).
    pub fn pages_read(&self) -> u64 {
        self.reads.load(Relaxed)
    }

    /// The rowid table `name`, whose rows this reader can decode.
    pub fn table(&self, name: &str) -> Result<&Table> {
        let t = self
            .tables()
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| Error::no_such(&self.path, format!("table {name}")))?;
        if t.without_rowid {
            return Err(Error::unusable(
                &self.path,
                format!("{name} is a WITHOUT ROWID table: it has no rowids, and its key is not looked up here"),
            ));
        }
        if let Some(why) = &t.unsupported {
            return Err(Error::unsupported(
                &self.path,
                format!("table {name}: {why}"),
            ));
        }
        Ok(t)
    }

    /// The row of `table` whose record is `rec`.
    pub(crate) fn row(&self, table: &Table, rowid: i64, rec: &[u8]) -> Result<Row> {
        let values = table.row_values(rowid, rec).ok_or_else(|| {
            Error::corrupt(
                &self.path,
                format!("the record of {} rowid {rowid}", table.name),
            )
        })?;
        Ok(Row { rowid, values })
    }

    /// What a lookup of `value` in `table.column` reads.
    pub(crate) fn plan(&self, table: &Table, column: &str, value: &Value) -> Result<Plan<'_>> {
        let col = table.column(column);
        let is_rowid = match col {
            Some(c) => table.rowid_alias == Some(c),
            None => ["rowid", "oid", "_rowid_"]
                .iter()
                .any(|r| r.eq_ignore_ascii_case(column)),
        };
        if is_rowid {
            return Ok(match Affinity::Integer.apply(value.clone()) {
                Value::Integer(i) => Plan::Rowid(i),
                Value::Real(r) if r.fract() == 0.0 && r.abs() < 9.2e18 => Plan::Rowid(r as i64),
                _ => Plan::Nothing,
            });
        }
        let Some(col) = col else {
            return Err(Error::no_such(
                &self.path,
                format!("column {}.{column}", table.name),
            ));
        };
        let index = self
            .schema
            .index_for(table, column)
            .map_err(|why| Error::unusable(&self.path, why))?;
        Ok(match table.columns[col].affinity.apply(value.clone()) {
            Value::Null => Plan::Nothing,
            key => Plan::Index { index, key },
        })
    }

    /// The row `rowid` of `table`, read with pread.
    pub fn get_pread(&self, table: &str, rowid: i64) -> Result<Option<Row>> {
        let t = self.table(table)?;
        self.get_in(&self.pager(), t, rowid)
    }

    pub(crate) fn get_in(
        &self,
        pager: &Pager<'_>,
        table: &Table,
        rowid: i64,
    ) -> Result<Option<Row>> {
        match pager.table_get(table.root, rowid)? {
            Some(rec) => self.row(table, rowid, &rec).map(Some),
            None => Ok(None),
        }
    }

    /// The first row of `table`, in the order of the index used, whose
    /// `column` equals `value` (compared as SQL's `column = value`: the
    /// value takes the column's affinity), read with pread. The index used
    /// is one whose first column is `column`; with one column, the first
    /// row is the one with the smallest rowid.
    pub fn lookup_index_pread(
        &self,
        table: &str,
        column: &str,
        value: &Value,
    ) -> Result<Option<Row>> {
        let t = self.table(table)?;
        self.lookup_in(&self.pager(), t, column, value)
    }

    pub(crate) fn lookup_in(
        &self,
        pager: &Pager<'_>,
        table: &Table,
        column: &str,
        value: &Value,
    ) -> Result<Option<Row>> {
        match self.plan(table, column, value)? {
            Plan::Nothing => Ok(None),
            Plan::Rowid(rowid) => self.get_in(pager, table, rowid),
            Plan::Index { index, key } => match pager.index_first(index.root, &key)? {
                Some(rowid) => match self.get_in(pager, table, rowid)? {
                    Some(row) => Ok(Some(row)),
                    None => Err(Error::corrupt(
                        &self.path,
                        format!(
                            "index {} names rowid {rowid}, not in {}",
                            index.name, table.name
                        ),
                    )),
                },
                None => Ok(None),
            },
        }
    }
}
