// SPDX-License-Identifier: GPL-2.0 OR MIT

//! `rnvme sqlite`: rows of a SQLite database by rowid or by an indexed
//! column, and its tables and indexes, through the library's
//! `engines::sqlite`.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::{Args, Subcommand};
use rnvme::{
    engines::sqlite::{Affinity, Attached, Db, Value},
    Control,
};

use crate::{
    output::Format,
    sqlite_out::{self, How},
};

#[derive(Debug, Args)]
pub struct SqliteArgs {
    #[command(subcommand)]
    command: SqliteCommand,
}

#[derive(Debug, Subcommand)]
enum SqliteCommand {
    /// The row of each ROWID of TABLE, a line each ("absent" if there is
    /// no such row): its rowid and column values.
    ///
    /// Example: rnvme sqlite get /mnt/nvme/app.db users 42 -7
    Get {
        #[command(flatten)]
        lookup: LookupArgs,
        /// The table (a rowid table).
        table: String,
        /// Rowids to look up.
        #[arg(required = true, allow_negative_numbers = true)]
        rowids: Vec<i64>,
    },
    /// The first row of TABLE, in the order of the index on COLUMN, whose
    /// COLUMN equals VALUE (SQL's `COLUMN = VALUE`: VALUE takes the
    /// column's affinity, so 42 is an integer for an INTEGER column and
    /// text for a TEXT one). COLUMN needs an index whose first column it
    /// is (ascending, BINARY collation), or is the rowid. For a column
    /// without a type, x followed by hex digits is a blob (x00ff) and a
    /// number is a number.
    ///
    /// Example: rnvme sqlite find /mnt/nvme/app.db users email alice@example.com
    Find {
        #[command(flatten)]
        lookup: LookupArgs,
        /// The table (a rowid table).
        table: String,
        /// The column looked up (or rowid).
        column: String,
        /// The value it must equal.
        #[arg(allow_hyphen_values = true)]
        value: String,
    },
    /// The header (page size, page count, encoding, journal mode) and the
    /// tables: root page, columns, rowid alias, and their indexes (root
    /// page, first column, number of columns, whether lookups can use it).
    ///
    /// Example: rnvme sqlite tables /mnt/nvme/app.db --format json
    Tables {
        /// The database file.
        db: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
}

/// Where to look rows up and how.
#[derive(Debug, Args)]
struct LookupArgs {
    /// The database file; it must be on ext4 on NVMe and have no writers
    /// (no WAL frames to checkpoint, no hot journal).
    db: PathBuf,
    /// Output format: a line per lookup, or a JSON object per line.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Walk in user space with pread only (no kernel, no module needed).
    #[arg(long, conflicts_with = "polled")]
    pread: bool,
    /// Submit polled reads (needs NVMe poll queues).
    #[arg(long)]
    polled: bool,
    /// Gets in flight at once: N > 1 runs the rowids' chains through one
    /// io_uring ring, N at a time, from one thread (1: a blocking call per
    /// rowid). On finds, 1 only.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=4096), conflicts_with = "pread")]
    queue_depth: u32,
}

/// `rnvme sqlite ...`.
pub fn run(device: &Path, args: &SqliteArgs) -> Result<()> {
    match &args.command {
        SqliteCommand::Get {
            lookup,
            table,
            rowids,
        } => lookups(device, lookup, |db, attached| {
            let columns = sqlite_out::column_names(db.table(table)?);
            let mut many = match (attached, lookup.queue_depth) {
                (Some(a), 2..) => Some(
                    a.get_many(table, rowids, lookup.queue_depth, lookup.polled)?
                        .into_iter(),
                ),
                _ => None,
            };
            for &rowid in rowids {
                let (row, how) = match (attached, many.as_mut().and_then(Iterator::next)) {
                    (_, Some(answer)) => {
                        let (r, s) = answer?;
                        (r, How::Chain(s))
                    }
                    (Some(a), None) => {
                        let (r, s) = a.get(table, rowid, lookup.polled)?;
                        (r, How::Chain(s))
                    }
                    (None, None) => pread(db, || db.get_pread(table, rowid))?,
                };
                let line = sqlite_out::Lookup {
                    op: "get",
                    table,
                    column: None,
                    key: &Value::Integer(rowid),
                    columns: &columns,
                    row: row.as_ref(),
                    how: &how,
                };
                println!("{}", line.render(lookup.format));
            }
            Ok(())
        }),
        SqliteCommand::Find {
            lookup,
            table,
            column,
            value,
        } => lookups(device, lookup, |db, attached| {
            if lookup.queue_depth > 1 {
                anyhow::bail!("--queue-depth is for gets; a find is one lookup");
            }
            let t = db.table(table)?;
            // An unknown column is the library's error to report; the
            // rowid's names read as integers.
            let affinity = t
                .column(column)
                .map_or(Affinity::Integer, |c| t.columns[c].affinity);
            let key = parse_value(value, affinity);
            let (row, how) = match attached {
                Some(a) => {
                    let (r, s) = a.lookup_index(table, column, &key, lookup.polled)?;
                    (r, How::Chain(s))
                }
                None => pread(db, || db.lookup_index_pread(table, column, &key))?,
            };
            let line = sqlite_out::Lookup {
                op: "find",
                table,
                column: Some(column),
                key: &key,
                columns: &sqlite_out::column_names(t),
                row: row.as_ref(),
                how: &how,
            };
            println!("{}", line.render(lookup.format));
            Ok(())
        }),
        SqliteCommand::Tables { db, format } => {
            let db = Db::open(db)?;
            for line in sqlite_out::schema_lines(&db, *format) {
                println!("{line}");
            }
            Ok(())
        }
    }
}

fn pread<T>(db: &Db, f: impl FnOnce() -> rnvme::engines::sqlite::Result<T>) -> Result<(T, How)> {
    let before = db.pages_read();
    let v = f()?;
    Ok((v, How::Pread(db.pages_read() - before)))
}

/// Opens the database (and, unless --pread, attaches it) and runs `f`.
fn lookups(
    device: &Path,
    a: &LookupArgs,
    f: impl FnOnce(&Db, Option<&Attached>) -> Result<()>,
) -> Result<()> {
    let db = Db::open(&a.db)?;
    if a.pread {
        return f(&db, None);
    }
    let control = Control::open(device)?;
    let attached = db.attach(&control)?;
    f(&db, Some(&attached))
}

/// A VALUE argument for a column of `affinity`. A TEXT, INTEGER, REAL or
/// NUMERIC column converts it as SQL converts text it is compared with (a
/// number for a numeric column, if it reads as one); a column without a
/// type (BLOB affinity) converts nothing, so here `x` and an even number
/// of hex digits is a blob and a number is a number.
fn parse_value(s: &str, affinity: Affinity) -> Value {
    if affinity != Affinity::Blob {
        return affinity.apply(Value::Text(s.to_string()));
    }
    let hex = s
        .strip_prefix('x')
        .filter(|h| h.len() % 2 == 0 && h.bytes().all(|c| c.is_ascii_hexdigit()));
    if let Some(h) = hex {
        let bytes = (0..h.len()).step_by(2);
        return Value::Blob(
            bytes
                .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
                .collect(),
        );
    }
    let numeric = s.starts_with(|c: char| c.is_ascii_digit() || matches!(c, '-' | '+' | '.'));
    match (s.parse::<i64>(), s.parse::<f64>()) {
        (Ok(i), _) => Value::Integer(i),
        (_, Ok(r)) if numeric && r.is_finite() => Value::Real(r),
        _ => Value::Text(s.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        sqlite: SqliteArgs,
    }

    fn parse(argv: &str) -> Result<SqliteCommand, clap::Error> {
        Cli::try_parse_from(argv.split(' ')).map(|c| c.sqlite.command)
    }

    #[test]
    fn subcommands_parse_and_refuse_what_they_should() {
        let Ok(SqliteCommand::Get {
            lookup,
            table,
            rowids,
        }) = parse("s get a.db users 1 -2 --pread")
        else {
            panic!("get did not parse");
        };
        assert_eq!((table.as_str(), rowids), ("users", vec![1, -2]));
        assert!(lookup.pread && !lookup.polled);
        let Ok(SqliteCommand::Find {
            lookup,
            column,
            value,
            ..
        }) = parse("s find a.db users age -5 --polled --format json")
        else {
            panic!("find did not parse");
        };
        assert_eq!((column.as_str(), value.as_str()), ("age", "-5"));
        assert!(lookup.polled && matches!(lookup.format, Format::Json));
        assert!(matches!(
            parse("s tables a.db --format json"),
            Ok(SqliteCommand::Tables { .. })
        ));
        for bad in [
            "s get a.db users",
            "s get a.db users x",
            "s find a.db users age",
            "s get a.db users 1 --pread --polled",
            "s tables a.db --format xml",
        ] {
            assert!(parse(bad).is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn values_follow_the_column_affinity() {
        assert_eq!(parse_value("42", Affinity::Integer), Value::Integer(42));
        assert_eq!(parse_value("4.5", Affinity::Numeric), Value::Real(4.5));
        assert_eq!(parse_value("42", Affinity::Text), Value::Text("42".into()));
        assert_eq!(
            parse_value("x00", Affinity::Integer),
            Value::Text("x00".into())
        );
        let blob = Affinity::Blob;
        assert_eq!(parse_value("x00ff", blob), Value::Blob(vec![0, 255]));
        assert_eq!(parse_value("x", blob), Value::Blob(vec![]));
        assert_eq!(parse_value("-42", blob), Value::Integer(-42));
        assert_eq!(parse_value("2.5", blob), Value::Real(2.5));
        for text in ["xyz", "x0", "inf", "nan", "abc"] {
            assert_eq!(parse_value(text, blob), Value::Text(text.into()));
        }
    }
}
