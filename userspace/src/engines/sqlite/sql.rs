// SPDX-License-Identifier: GPL-2.0 OR MIT

//! Just enough SQL to read a schema: the CREATE TABLE and CREATE INDEX
//! statements SQLite keeps in sqlite_schema, for column names, the rowid
//! alias, collations and what each index sorts by first.

use super::record::Value;

#[derive(Clone, Debug, PartialEq)]
enum Token {
    /// A bare identifier or keyword.
    Word(String),
    /// A quoted identifier ("x", [x], `x`) or a string literal ('x').
    Quoted(String),
    Num(String),
    Punct(char),
}

fn tokens(sql: &str) -> Vec<Token> {
    let c: Vec<char> = sql.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
        } else if ch == '-' && c.get(i + 1) == Some(&'-') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && c.get(i + 1) == Some(&'*') {
            i += 2;
            while i < c.len() && !(c[i] == '*' && c.get(i + 1) == Some(&'/')) {
                i += 1;
            }
            i += 2;
        } else if matches!(ch, '"' | '\'' | '`' | '[') {
            let close = if ch == '[' { ']' } else { ch };
            let mut s = String::new();
            i += 1;
            while i < c.len() {
                if c[i] == close && close != ']' && c.get(i + 1) == Some(&close) {
                    s.push(close);
                    i += 2;
                } else if c[i] == close {
                    break;
                } else {
                    s.push(c[i]);
                    i += 1;
                }
            }
            i += 1;
            out.push(Token::Quoted(s));
        } else if ch.is_ascii_digit()
            || (ch == '.' && c.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            let start = i;
            while i < c.len() && (c[i].is_ascii_alphanumeric() || c[i] == '.') {
                i += 1;
            }
            out.push(Token::Num(c[start..i].iter().collect()));
        } else if ch.is_alphanumeric() || ch == '_' || ch == '$' || !ch.is_ascii() {
            let start = i;
            while i < c.len()
                && (c[i].is_alphanumeric() || matches!(c[i], '_' | '$') || !c[i].is_ascii())
            {
                i += 1;
            }
            out.push(Token::Word(c[start..i].iter().collect()));
        } else {
            out.push(Token::Punct(ch));
            i += 1;
        }
    }
    out
}

fn is_kw(t: Option<&Token>, kw: &str) -> bool {
    matches!(t, Some(Token::Word(w)) if w.eq_ignore_ascii_case(kw))
}

fn name(t: Option<&Token>) -> Option<String> {
    match t? {
        Token::Word(s) | Token::Quoted(s) => Some(s.clone()),
        _ => None,
    }
}

/// The index after the parenthesised group that opens at `i`.
fn skip_group(t: &[Token], mut i: usize) -> usize {
    let mut depth = 0;
    while i < t.len() {
        match t[i] {
            Token::Punct('(') => depth += 1,
            Token::Punct(')') => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    i
}

/// The tokens of the group that opens at `i`, split at its top-level
/// commas, and the index after it.
fn group_items(t: &[Token], i: usize) -> (Vec<&[Token]>, usize) {
    let end = skip_group(t, i);
    let inner = &t[(i + 1).min(end)..end.saturating_sub(1).max(i + 1)];
    let (mut items, mut start, mut depth) = (Vec::new(), 0, 0);
    for (k, tok) in inner.iter().enumerate() {
        match tok {
            Token::Punct('(') => depth += 1,
            Token::Punct(')') => depth -= 1,
            Token::Punct(',') if depth == 0 => {
                items.push(&inner[start..k]);
                start = k + 1;
            }
            _ => {}
        }
    }
    items.push(&inner[start..]);
    (items, end)
}

/// A column of an index or of a PRIMARY KEY or UNIQUE constraint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct IndexedColumn {
    /// The column, or `None` for an expression.
    pub(crate) name: Option<String>,
    pub(crate) collation: Option<String>,
    pub(crate) desc: bool,
}

fn indexed_column(t: &[Token]) -> IndexedColumn {
    let mut k = t.len();
    let desc = is_kw(t.last(), "DESC");
    if desc || is_kw(t.last(), "ASC") {
        k -= 1;
    }
    let mut collation = None;
    if k >= 2 && is_kw(t.get(k - 2), "COLLATE") {
        collation = name(t.get(k - 1));
        k -= 2;
    }
    IndexedColumn {
        name: if k == 1 { name(t.first()) } else { None },
        collation,
        desc,
    }
}

/// A column of a table.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ColumnDef {
    pub(crate) name: String,
    pub(crate) decl_type: String,
    pub(crate) collation: Option<String>,
    /// Its DEFAULT, when it is a literal.
    pub(crate) default: Option<Value>,
}

/// What a CREATE TABLE statement says.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct TableDef {
    pub(crate) columns: Vec<ColumnDef>,
    /// The INTEGER PRIMARY KEY column, which holds the rowid.
    pub(crate) rowid_alias: Option<usize>,
    pub(crate) without_rowid: bool,
    /// A generated column, which records may not hold.
    pub(crate) generated: bool,
    /// The columns of the automatic indexes (sqlite_autoindex_T_1, _2...),
    /// in order.
    pub(crate) auto_indexes: Vec<Vec<IndexedColumn>>,
}

const COLUMN_CONSTRAINTS: &[&str] = &[
    "CONSTRAINT",
    "PRIMARY",
    "NOT",
    "NULL",
    "UNIQUE",
    "CHECK",
    "DEFAULT",
    "COLLATE",
    "REFERENCES",
    "GENERATED",
    "AS",
];

fn literal(t: &[Token]) -> Option<Value> {
    let (neg, t) = match t.first() {
        Some(Token::Punct('-')) => (true, &t[1..]),
        Some(Token::Punct('+')) => (false, &t[1..]),
        _ => (false, t),
    };
    match t.first()? {
        Token::Num(n) => {
            let n = if neg { format!("-{n}") } else { n.clone() };
            n.parse()
                .map(Value::Integer)
                .or_else(|_| n.parse().map(Value::Real))
                .ok()
        }
        Token::Quoted(s) if !neg => Some(Value::Text(s.clone())),
        Token::Word(w) if w.eq_ignore_ascii_case("NULL") => Some(Value::Null),
        _ => None,
    }
}

/// Parses a CREATE TABLE statement.
pub(crate) fn create_table(sql: &str) -> Result<TableDef, String> {
    let t = tokens(sql);
    let open = t
        .iter()
        .position(|x| *x == Token::Punct('('))
        .ok_or("CREATE TABLE without a column list")?;
    let (items, end) = group_items(&t, open);
    let mut def = TableDef::default();
    // The PRIMARY KEY: its columns, whether it may alias the rowid, and
    // where its automatic index is in auto_indexes.
    let mut pk: Option<(Vec<IndexedColumn>, bool, usize)> = None;
    for item in items {
        let head = item.first();
        if ["CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"]
            .iter()
            .any(|k| is_kw(head, k))
        {
            let k = item.iter().position(|x| *x == Token::Punct('('));
            let cols: Option<Vec<IndexedColumn>> = k.map(|k| {
                group_items(item, k)
                    .0
                    .into_iter()
                    .map(indexed_column)
                    .collect()
            });
            let kw = item
                .iter()
                .position(|x| is_kw(Some(x), "PRIMARY") || is_kw(Some(x), "UNIQUE"));
            if let (Some(k), Some(cols)) = (kw, cols) {
                if is_kw(item.get(k), "PRIMARY") {
                    pk = Some((cols.clone(), true, def.auto_indexes.len()));
                }
                def.auto_indexes.push(cols);
            }
            continue;
        }
        let col_name = name(head).ok_or_else(|| format!("a column without a name in {sql:?}"))?;
        let mut i = 1;
        let mut ty = Vec::new();
        while i < item.len() && !COLUMN_CONSTRAINTS.iter().any(|k| is_kw(item.get(i), k)) {
            match &item[i] {
                Token::Punct('(') => {
                    let e = skip_group(item, i);
                    ty.push(format!("({})", join(&item[i + 1..e - 1])));
                    i = e;
                    continue;
                }
                Token::Word(w) | Token::Quoted(w) | Token::Num(w) => ty.push(w.clone()),
                Token::Punct(p) => ty.push(p.to_string()),
            }
            i += 1;
        }
        let mut col = ColumnDef {
            name: col_name,
            decl_type: ty.join(" ").replace(" (", "("),
            collation: None,
            default: None,
        };
        while i < item.len() {
            if is_kw(item.get(i), "PRIMARY") {
                let desc = is_kw(item.get(i + 2), "DESC");
                let me = IndexedColumn {
                    name: Some(col.name.clone()),
                    collation: None,
                    desc,
                };
                pk = Some((vec![me.clone()], !desc, def.auto_indexes.len()));
                def.auto_indexes.push(vec![me]);
            } else if is_kw(item.get(i), "UNIQUE") {
                def.auto_indexes.push(vec![IndexedColumn {
                    name: Some(col.name.clone()),
                    collation: None,
                    desc: false,
                }]);
            } else if is_kw(item.get(i), "COLLATE") {
                col.collation = name(item.get(i + 1));
            } else if is_kw(item.get(i), "DEFAULT") {
                col.default = literal(&item[i + 1..]);
            } else if is_kw(item.get(i), "AS") || is_kw(item.get(i), "GENERATED") {
                def.generated = true;
            } else if item[i] == Token::Punct('(') {
                i = skip_group(item, i);
                continue;
            }
            i += 1;
        }
        def.columns.push(col);
    }
    def.without_rowid = t[end..]
        .windows(2)
        .any(|w| is_kw(w.first(), "WITHOUT") && is_kw(w.get(1), "ROWID"));
    if let Some((cols, alias_ok, slot)) = pk {
        def.rowid_alias = match cols.as_slice() {
            [c] if alias_ok && !def.without_rowid => c.name.as_ref().and_then(|n| {
                def.columns.iter().position(|x| {
                    x.name.eq_ignore_ascii_case(n) && x.decl_type.eq_ignore_ascii_case("INTEGER")
                })
            }),
            _ => None,
        };
        // The rowid, or the table itself (WITHOUT ROWID): no index.
        if def.rowid_alias.is_some() || def.without_rowid {
            def.auto_indexes.remove(slot);
        }
    }
    // A constraint on the columns of an earlier one makes no index.
    let mut seen: Vec<Vec<IndexedColumn>> = Vec::new();
    def.auto_indexes.retain(|cols| {
        let fresh = !seen.iter().any(|s| same_columns(s, cols));
        seen.push(cols.clone());
        fresh
    });
    Ok(def)
}

fn same_columns(a: &[IndexedColumn], b: &[IndexedColumn]) -> bool {
    let eq = |x: &Option<String>, y: &Option<String>| match (x, y) {
        (Some(x), Some(y)) => x.eq_ignore_ascii_case(y),
        (x, y) => x == y,
    };
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| eq(&x.name, &y.name) && eq(&x.collation, &y.collation))
}

fn join(t: &[Token]) -> String {
    t.iter()
        .map(|x| match x {
            Token::Word(s) | Token::Quoted(s) | Token::Num(s) => s.clone(),
            Token::Punct(p) => p.to_string(),
        })
        .collect::<Vec<_>>()
        .join("")
}

/// What a CREATE INDEX statement says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct IndexDef {
    pub(crate) first: IndexedColumn,
    pub(crate) columns: usize,
    /// It has a WHERE clause: it holds only some rows.
    pub(crate) partial: bool,
}

/// Parses a CREATE INDEX statement.
pub(crate) fn create_index(sql: &str) -> Result<IndexDef, String> {
    let t = tokens(sql);
    let on = t
        .iter()
        .position(|x| is_kw(Some(x), "ON"))
        .ok_or("CREATE INDEX without ON")?;
    let open = t[on..]
        .iter()
        .position(|x| *x == Token::Punct('('))
        .ok_or("CREATE INDEX without a column list")?
        + on;
    let (items, end) = group_items(&t, open);
    Ok(IndexDef {
        first: indexed_column(items[0]),
        columns: items.len(),
        partial: is_kw(t.get(end), "WHERE"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_columns_and_rowid_aliases() {
        let t = create_table(
            "CREATE TABLE \"u s\"(id INTEGER PRIMARY KEY, [na me] VARCHAR ( 20 ) NOT NULL COLLATE NOCASE,
             age int DEFAULT -3 CHECK (age > 0 AND x COLLATE y), email TEXT UNIQUE, -- comment
             bio, UNIQUE(age, email DESC))",
        )
        .unwrap();
        let names: Vec<_> = t.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["id", "na me", "age", "email", "bio"]);
        assert_eq!(t.columns[1].decl_type, "VARCHAR(20)");
        assert_eq!(t.columns[1].collation.as_deref(), Some("NOCASE"));
        assert_eq!(t.columns[2].collation, None);
        assert_eq!(t.columns[2].default, Some(Value::Integer(-3)));
        assert_eq!(t.columns[4].decl_type, "");
        assert_eq!(t.rowid_alias, Some(0));
        assert_eq!(t.auto_indexes.len(), 2);
        assert_eq!(t.auto_indexes[0][0].name.as_deref(), Some("email"));
        assert!(t.auto_indexes[1][1].desc);
        assert!(!t.without_rowid && !t.generated);

        // Automatic indexes in the order of their constraints, once each.
        let t =
            create_table("CREATE TABLE t(a UNIQUE, b TEXT PRIMARY KEY, c, UNIQUE(a), UNIQUE(c))")
                .unwrap();
        let firsts: Vec<_> = t
            .auto_indexes
            .iter()
            .map(|c| c[0].name.as_deref().unwrap())
            .collect();
        assert_eq!(firsts, ["a", "b", "c"]);

        // INTEGER PRIMARY KEY DESC is not an alias; PRIMARY KEY(x DESC) is.
        let t = create_table("CREATE TABLE t(x INTEGER PRIMARY KEY DESC, y)").unwrap();
        assert_eq!((t.rowid_alias, t.auto_indexes.len()), (None, 1));
        let t = create_table("CREATE TABLE t(y, x INTEGER, PRIMARY KEY(x DESC))").unwrap();
        assert_eq!(t.rowid_alias, Some(1));
        let t = create_table("CREATE TABLE t(x INT PRIMARY KEY, y)").unwrap();
        assert_eq!(t.rowid_alias, None);
        let t = create_table("CREATE TABLE kv(k TEXT PRIMARY KEY, v) WITHOUT ROWID").unwrap();
        assert!(t.without_rowid && t.rowid_alias.is_none());
        let t = create_table("CREATE TABLE g(a, b AS (a * 2))").unwrap();
        assert!(t.generated);
    }

    #[test]
    fn indexes_first_columns() {
        let i = create_index(
            "CREATE UNIQUE INDEX IF NOT EXISTS main.ix ON t (\"a b\" COLLATE BINARY DESC, c)",
        )
        .unwrap();
        assert_eq!(i.first.name.as_deref(), Some("a b"));
        assert_eq!(i.first.collation.as_deref(), Some("BINARY"));
        assert!(i.first.desc && !i.partial);
        assert_eq!(i.columns, 2);
        let i = create_index("CREATE INDEX ix ON t(lower(a))").unwrap();
        assert_eq!(i.first.name, None);
        let i = create_index("CREATE INDEX ix ON t(a) WHERE a > 0").unwrap();
        assert!(i.partial);
    }
}
