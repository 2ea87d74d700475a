// SPDX-License-Identifier: GPL-2.0 OR MIT

//! What `rnvme sqlite` prints: a line per lookup (the row, then how the
//! lookup went) and the schema, as text for people or JSON lines.

use rnvme::engines::sqlite::{Affinity, Db, Detour, Index, LookupStats, Row, Table, Value};
use serde_json::{json, Value as Json};

use crate::{args::hex, output::Format};

/// Characters of a text, and bytes of a blob, that a table line shows
/// before it abbreviates the value.
const SHOW_TEXT: usize = 40;
const SHOW_BLOB: usize = 16;

/// How a lookup was done.
pub enum How {
    Chain(LookupStats),
    /// With pread only, in this many reads.
    Pread(u64),
}

/// One lookup and its answer.
pub struct Lookup<'a> {
    /// `get` or `find`.
    pub op: &'static str,
    pub table: &'a str,
    /// The column looked up (`None`: the rowid, by `get`).
    pub column: Option<&'a str>,
    /// The rowid, or the value the column must equal.
    pub key: &'a Value,
    /// The table's column names.
    pub columns: &'a [String],
    pub row: Option<&'a Row>,
    pub how: &'a How,
}

/// The names of `table`'s columns.
pub fn column_names(table: &Table) -> Vec<String> {
    table.columns.iter().map(|c| c.name.clone()).collect()
}

/// `t` as an SQL string literal.
fn quote(t: &str) -> String {
    let mut s = String::from("'");
    for c in t.chars() {
        match c {
            '\'' => s.push_str("''"),
            c if c.is_control() => s.extend(c.escape_default()),
            c => s.push(c),
        }
    }
    s.push('\'');
    s
}

/// A value as SQL writes it, long texts and blobs cut short with their
/// length.
fn show(v: &Value) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::Integer(i) => i.to_string(),
        Value::Real(r) => format!("{r:?}"),
        Value::Text(t) if t.chars().count() > SHOW_TEXT => {
            let head: String = t.chars().take(SHOW_TEXT).collect();
            format!("{}... ({} B)", quote(&head), t.len())
        }
        Value::Text(t) => quote(t),
        Value::Blob(b) if b.len() > SHOW_BLOB => {
            format!("x'{}'... ({} B)", hex(&b[..SHOW_BLOB]), b.len())
        }
        Value::Blob(b) => format!("x'{}'", hex(b)),
    }
}

/// A value in JSON, whole: a blob is `{"blob": HEX}`.
fn value_json(v: &Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Integer(i) => json!(i),
        Value::Real(r) => json!(r),
        Value::Text(t) => json!(t),
        Value::Blob(b) => json!({ "blob": hex(b) }),
    }
}

fn detour_name(d: Detour) -> &'static str {
    match d {
        Detour::HandBack(h) => h.name(),
        Detour::LongKey => "long key",
        Detour::KeyType => "REAL or BLOB key",
        Detour::Hole => "a hole in the file",
    }
}

/// The end of a table line: how the lookup went.
fn how_text(how: &How) -> String {
    let s = match how {
        How::Pread(reads) => return format!("(pread: {reads} reads)"),
        How::Chain(s) => s,
    };
    let mut parts = Vec::new();
    if s.chain {
        let mut chain = format!("chain of {} reads, {} pages", s.hops, s.reads);
        if s.driver_hops > 0 {
            chain.push_str(&format!(" ({} resubmitted by the driver)", s.driver_hops));
        }
        parts.push(chain);
    }
    match s.detour {
        Some(Detour::HandBack(h)) => parts.push(format!("handed back: {}", h.name())),
        Some(d) => parts.push(format!("user space: {}", detour_name(d))),
        None => {}
    }
    if s.preads > 0 {
        parts.push(format!("{} preads", s.preads));
    }
    if parts.is_empty() {
        parts.push("nothing to read".into());
    }
    format!("({})", parts.join(", "))
}

fn how_json(how: &How) -> Json {
    match how {
        How::Pread(reads) => json!({ "pread": true, "preads": reads }),
        How::Chain(s) => json!({
            "pread": false,
            "chain": s.chain,
            "reads": s.reads,
            "hops": s.hops,
            "driver_hops": s.driver_hops,
            "detour": s.detour.map(detour_name),
            "preads": s.preads,
        }),
    }
}

impl Lookup<'_> {
    /// The line to print.
    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Table => self.text(),
            Format::Json => self.json(),
        }
    }

    fn text(&self) -> String {
        let head = match self.column {
            Some(c) => format!("{} {} {} {}", self.op, self.table, c, show(self.key)),
            None => format!("{} {} {}", self.op, self.table, show(self.key)),
        };
        let Some(row) = self.row else {
            return format!("{head} absent {}", how_text(self.how));
        };
        let values: Vec<String> = self
            .columns
            .iter()
            .zip(&row.values)
            .map(|(c, v)| format!("{c}={}", show(v)))
            .collect();
        format!(
            "{head} found rowid {}: {} {}",
            row.rowid,
            values.join(" "),
            how_text(self.how)
        )
    }

    fn json(&self) -> String {
        let mut line = json!({
            "op": self.op,
            "table": self.table,
            "found": self.row.is_some(),
            "rowid": self.row.map(|r| r.rowid),
            "columns": self.columns,
            "values": self.row.map(|r| r.values.iter().map(value_json).collect::<Vec<_>>()),
        });
        if let Json::Object(m) = &mut line {
            match self.column {
                Some(c) => {
                    m.insert("column".into(), json!(c));
                    m.insert("value".into(), value_json(self.key));
                }
                None => {
                    m.insert("key".into(), value_json(self.key));
                }
            }
            if let Json::Object(h) = how_json(self.how) {
                m.extend(h);
            }
        }
        line.to_string()
    }
}

fn affinity_name(a: Affinity) -> &'static str {
    match a {
        Affinity::Integer => "INTEGER",
        Affinity::Text => "TEXT",
        Affinity::Blob => "BLOB",
        Affinity::Real => "REAL",
        Affinity::Numeric => "NUMERIC",
    }
}

/// The header's facts, a line.
fn header_line(db: &Db, format: Format) -> String {
    let h = db.header();
    // Db::open refuses the other encodings, WAL frames and hot journals.
    let journal = if h.wal {
        "WAL mode (no frames to checkpoint)"
    } else {
        "rollback journal (none hot)"
    };
    match format {
        Format::Table => format!(
            "{}: page size {} ({} reserved), {} pages ({} on the freelist), encoding UTF-8, {journal}, schema format {}",
            db.path().display(),
            h.page_size,
            h.reserved,
            h.pages,
            h.freelist_pages,
            h.schema_format
        ),
        Format::Json => json!({
            "file": db.path().display().to_string(),
            "page_size": h.page_size,
            "reserved": h.reserved,
            "pages": h.pages,
            "freelist_pages": h.freelist_pages,
            "encoding": "UTF-8",
            "journal_mode": if h.wal { "wal" } else { "rollback" },
            "schema_format": h.schema_format,
        })
        .to_string(),
    }
}

fn index_text(i: &Index) -> String {
    let mut s = format!(
        "  index {}: root {}, first column {} ({} column{})",
        i.name,
        i.root,
        i.column.as_deref().unwrap_or("(an expression)"),
        i.columns,
        if i.columns == 1 { "" } else { "s" }
    );
    if let Some(why) = &i.unusable {
        s.push_str(&format!(", not used for lookups: {why}"));
    }
    s
}

fn index_json(i: &Index) -> Json {
    json!({
        "name": i.name,
        "root": i.root,
        "first_column": i.column,
        "columns": i.columns,
        "unusable": i.unusable,
    })
}

fn table_text(t: &Table) -> String {
    let mut s = format!("table {}: root {}", t.name, t.root);
    if let Some(c) = t.rowid_alias {
        s.push_str(&format!(", rowid alias {}", t.columns[c].name));
    }
    if t.without_rowid {
        s.push_str(", WITHOUT ROWID");
    }
    if let Some(why) = &t.unsupported {
        s.push_str(&format!(", not read: {why}"));
    }
    let columns: Vec<String> = t
        .columns
        .iter()
        .map(|c| match c.decl_type.as_str() {
            "" => c.name.clone(),
            ty => format!("{} {ty}", c.name),
        })
        .collect();
    format!("{s}; columns {}", columns.join(", "))
}

fn table_json(t: &Table, indexes: &[&Index]) -> Json {
    let columns: Vec<Json> = t
        .columns
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "type": c.decl_type,
                "affinity": affinity_name(c.affinity),
                "collation": c.collation,
            })
        })
        .collect();
    json!({
        "table": t.name,
        "root": t.root,
        "columns": columns,
        "rowid_alias": t.rowid_alias.map(|c| &t.columns[c].name),
        "without_rowid": t.without_rowid,
        "unsupported": t.unsupported,
        "indexes": indexes.iter().map(|i| index_json(i)).collect::<Vec<_>>(),
    })
}

/// The header, then each table with its indexes: a line each in table
/// format (indexes indented under their table), a JSON object per line
/// otherwise.
pub fn schema_lines(db: &Db, format: Format) -> Vec<String> {
    let mut lines = vec![header_line(db, format)];
    for t in db.tables() {
        let on: Vec<&Index> = db
            .indexes()
            .iter()
            .filter(|i| i.table.eq_ignore_ascii_case(&t.name))
            .collect();
        match format {
            Format::Table => {
                lines.push(table_text(t));
                lines.extend(on.iter().map(|i| index_text(i)));
            }
            Format::Json => lines.push(table_json(t, &on).to_string()),
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_cut_short_in_tables_only() {
        let long = "é".repeat(50);
        let shown = show(&Value::Text(long.clone()));
        assert_eq!(shown, format!("'{}'... (100 B)", "é".repeat(SHOW_TEXT)));
        assert_eq!(show(&Value::Text("it's".into())), "'it''s'");
        assert_eq!(show(&Value::Blob(vec![0, 255])), "x'00ff'");
        assert!(show(&Value::Blob(vec![7; 100])).ends_with("'... (100 B)"));
        assert_eq!(show(&Value::Real(2.0)), "2.0");
        assert_eq!(value_json(&Value::Text(long.clone())), json!(long));
        assert_eq!(
            value_json(&Value::Blob(vec![1, 2])),
            json!({ "blob": "0102" })
        );
    }

    #[test]
    fn lines_name_the_lookup_and_how_it_went() {
        let row = Row {
            rowid: 7,
            values: vec![Value::Integer(7), Value::Text("bob".into())],
        };
        let columns = ["id".to_string(), "name".to_string()];
        let stats = LookupStats {
            chain: true,
            reads: 3,
            hops: 3,
            detour: Some(Detour::LongKey),
            ..LookupStats::default()
        };
        let how = How::Chain(stats);
        let key = Value::Text("bob".into());
        let mut l = Lookup {
            op: "find",
            table: "users",
            column: Some("name"),
            key: &key,
            columns: &columns,
            row: Some(&row),
            how: &how,
        };
        assert_eq!(
            l.render(Format::Table),
            "find users name 'bob' found rowid 7: id=7 name='bob' (chain of 3 reads, 3 pages, user space: long key)"
        );
        let j: Json = serde_json::from_str(&l.render(Format::Json)).unwrap();
        assert_eq!(
            (&j["rowid"], &j["values"][1], &j["detour"]),
            (&json!(7), &json!("bob"), &json!("long key"))
        );
        l.row = None;
        l.how = &How::Pread(2);
        assert_eq!(
            l.render(Format::Table),
            "find users name 'bob' absent (pread: 2 reads)"
        );
    }
}
