// SPDX-License-Identifier: GPL-2.0 OR MIT

//! The schema of a database: its tables and indexes, from sqlite_schema
//! (the table B-tree rooted at page 1), and which index can serve a lookup
//! on a column.

use super::{
    btree::Pager,
    record::{self, Affinity, Field, Value},
    sql::{self, IndexedColumn, TableDef},
    Error, Result,
};

/// A column of a table.
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    pub name: String,
    /// The declared type, as written ("" if none).
    pub decl_type: String,
    pub affinity: Affinity,
    /// Its COLLATE, if it has one (BINARY otherwise).
    pub collation: Option<String>,
    /// Its DEFAULT, when a literal: the value of records written before
    /// the column was added.
    pub(crate) default: Option<Value>,
}

/// A table of the database.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    pub name: String,
    /// Root page of its B-tree (0 for a virtual table).
    pub root: u32,
    pub columns: Vec<Column>,
    /// The INTEGER PRIMARY KEY column, which holds the rowid.
    pub rowid_alias: Option<usize>,
    pub without_rowid: bool,
    /// Why its rows cannot be read here, if they cannot.
    pub unsupported: Option<String>,
    auto_indexes: Vec<Vec<IndexedColumn>>,
}

/// An index of the database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Index {
    pub name: String,
    pub table: String,
    /// Root page of its B-tree.
    pub root: u32,
    /// The column it sorts by first (`None`: an expression, or unknown).
    pub column: Option<String>,
    /// Columns it sorts by.
    pub columns: usize,
    /// Why it cannot serve a lookup on its first column, if it cannot
    /// (this reader compares that column only, with the BINARY collation,
    /// in ascending order).
    pub unusable: Option<String>,
}

/// The tables and indexes of a database.
#[derive(Clone, Debug, Default)]
pub(crate) struct Schema {
    pub(crate) tables: Vec<Table>,
    pub(crate) indexes: Vec<Index>,
}

fn text(f: Option<&Field<'_>>) -> Option<String> {
    match f? {
        Field::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
        _ => None,
    }
}

fn table(name: String, root: u32, sql: &str) -> Table {
    let (def, error) = match sql::create_table(sql) {
        Ok(def) => (def, None),
        Err(e) => (TableDef::default(), Some(e)),
    };
    let unsupported = if root == 0 {
        Some("a virtual table".to_string())
    } else if def.generated {
        Some("generated columns".to_string())
    } else {
        error
    };
    Table {
        name,
        root,
        columns: def
            .columns
            .into_iter()
            .map(|c| Column {
                affinity: Affinity::of(&c.decl_type),
                name: c.name,
                decl_type: c.decl_type,
                collation: c.collation,
                default: c.default,
            })
            .collect(),
        rowid_alias: def.rowid_alias,
        without_rowid: def.without_rowid,
        unsupported,
        auto_indexes: def.auto_indexes,
    }
}

impl Table {
    /// The column named `name` (case-insensitive, as SQL).
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(name))
    }

    /// The values of the row `rowid` whose record is `rec`: the rowid in
    /// the INTEGER PRIMARY KEY column, defaults for columns added later.
    pub(crate) fn row_values(&self, rowid: i64, rec: &[u8]) -> Option<Vec<Value>> {
        let fields = record::fields(rec)?;
        if fields.len() > self.columns.len() {
            return None;
        }
        let mut values: Vec<Value> = fields.into_iter().map(Field::to_value).collect();
        for c in &self.columns[values.len()..] {
            values.push(c.default.clone().unwrap_or(Value::Null));
        }
        if let Some(i) = self.rowid_alias {
            if values[i] == Value::Null {
                values[i] = Value::Integer(rowid);
            }
        }
        Some(values)
    }
}

/// Why `index` (first column `first`) on `table` cannot serve lookups.
fn unusable(table: Option<&Table>, first: &IndexedColumn, partial: bool) -> Option<String> {
    let Some(table) = table else {
        return Some("its table is unknown".into());
    };
    if table.without_rowid {
        return Some("its table is WITHOUT ROWID".into());
    }
    let Some(name) = &first.name else {
        return Some("it sorts by an expression first".into());
    };
    let Some(col) = table.column(name) else {
        return Some(format!("its first column {name} is not in {}", table.name));
    };
    if partial {
        return Some("it is a partial index (WHERE)".into());
    }
    if first.desc {
        return Some(format!("it sorts {name} DESC"));
    }
    match first
        .collation
        .as_ref()
        .or(table.columns[col].collation.as_ref())
    {
        Some(c) if !c.eq_ignore_ascii_case("BINARY") => {
            Some(format!("it compares {name} with COLLATE {c}"))
        }
        _ => None,
    }
}

impl Schema {
    /// Reads sqlite_schema.
    pub(crate) fn read(pager: &Pager<'_>) -> Result<Self> {
        // (type, name, table, root page, sql) of each row.
        let mut rows = Vec::new();
        pager.table_scan(1, &mut |rec| {
            let f = record::fields(&rec)
                .ok_or_else(|| Error::corrupt(pager.path, "bad sqlite_schema record"))?;
            let root = match f.get(3) {
                Some(Field::Integer(r)) => u32::try_from(*r).unwrap_or(0),
                _ => 0,
            };
            rows.push((
                text(f.first()),
                text(f.get(1)),
                text(f.get(2)),
                root,
                text(f.get(4)),
            ));
            Ok(())
        })?;
        let mut schema = Schema::default();
        for (kind, name, _, root, sql) in &rows {
            if let (Some("table"), Some(name)) = (kind.as_deref(), name) {
                schema
                    .tables
                    .push(table(name.clone(), *root, sql.as_deref().unwrap_or("")));
            }
        }
        for (kind, name, tbl, root, sql) in rows {
            let (Some("index"), Some(name), Some(tbl)) = (kind.as_deref(), name, tbl) else {
                continue;
            };
            let t = schema
                .tables
                .iter()
                .find(|t| t.name.eq_ignore_ascii_case(&tbl));
            let def = match &sql {
                Some(sql) => sql::create_index(sql)
                    .ok()
                    .map(|d| (d.first, d.columns, d.partial)),
                // sqlite_autoindex_T_N: constraint N of the table.
                None => name
                    .rsplit('_')
                    .next()
                    .and_then(|n| n.parse::<usize>().ok())
                    .and_then(|n| t?.auto_indexes.get(n.checked_sub(1)?))
                    .map(|cols| (cols[0].clone(), cols.len(), false)),
            };
            let (column, columns, why) = match def {
                Some((first, columns, partial)) => {
                    (first.name.clone(), columns, unusable(t, &first, partial))
                }
                None => (None, 0, Some("its columns are unknown".into())),
            };
            schema.indexes.push(Index {
                name,
                table: tbl,
                root,
                column,
                columns,
                unusable: why,
            });
        }
        Ok(schema)
    }

    /// The index a lookup on `table.column` uses: a usable one whose first
    /// column it is, with one column if there is one.
    pub(crate) fn index_for(&self, table: &Table, column: &str) -> Result<&Index, String> {
        let on: Vec<&Index> = self
            .indexes
            .iter()
            .filter(|i| i.table.eq_ignore_ascii_case(&table.name))
            .filter(|i| {
                i.column
                    .as_deref()
                    .is_some_and(|c| c.eq_ignore_ascii_case(column))
            })
            .collect();
        let usable = || on.iter().copied().filter(|i| i.unusable.is_none());
        if let Some(i) = usable()
            .find(|i| i.columns == 1)
            .or_else(|| usable().next())
        {
            return Ok(i);
        }
        let why: Vec<String> = on
            .iter()
            .map(|i| format!("{}: {}", i.name, i.unusable.as_deref().unwrap_or("")))
            .collect();
        Err(format!(
            "no index on {}({column}) to look it up: one whose first column is {column}, in ascending order, with the BINARY collation, is needed{}",
            table.name,
            if why.is_empty() {
                String::new()
            } else {
                format!(" ({})", why.join("; "))
            }
        ))
    }
}
