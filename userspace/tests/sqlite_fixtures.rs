// SPDX-License-Identifier: GPL-2.0 OR MIT

//! The SQLite reader against databases SQLite itself wrote
//! (`scripts/fixtures/sqlite_gen.py`): for every database of the fixtures
//! directory (`$RNVME_FIXTURES/sqlite`, else `build/fixtures/sqlite`), every
//! lookup of `NAME.expect` must get SQLite's answer from the pread walks,
//! and the databases SQLite's side files make incomplete (WAL frames, a hot
//! journal) must be refused. Missing fixtures fail the test.

use std::{
    fs,
    path::{Path, PathBuf},
};

use rnvme::engines::sqlite::{Db, Error, Row};

#[path = "../../qemu/vmtest/src/sqlite/expect.rs"]
mod expect;
use expect::{dec, enc};

fn fixtures() -> PathBuf {
    let root = match std::env::var_os("RNVME_FIXTURES") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../build/fixtures"),
    };
    let dir = root.join("sqlite");
    assert!(
        dir.is_dir(),
        "no SQLite fixtures at {}: build them with scripts/fixtures/make-fixtures.sh \
         (or python3 scripts/fixtures/sqlite_gen.py build/fixtures; or point RNVME_FIXTURES at them)",
        dir.display()
    );
    dir
}

/// The fixture databases: `.db` files with a `.expect` beside them.
fn databases(dir: &Path) -> Vec<PathBuf> {
    let mut dbs: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "db") && p.with_extension("expect").is_file()
        })
        .collect();
    dbs.sort();
    assert!(
        dbs.len() >= 3,
        "{}: too few fixture databases",
        dir.display()
    );
    dbs
}

fn values(row: &Row) -> String {
    let v: Vec<String> = row.values.iter().map(enc).collect();
    format!("{} {}", v.len(), v.join(" "))
}

/// The kind of a lookup's error, as the `.expect` files name it.
fn kind(e: &Error) -> String {
    match e {
        Error::Unusable { what, .. } if what.contains("WITHOUT ROWID") => "without_rowid".into(),
        Error::Unusable { what, .. } if what.contains("no index") => "no_index".into(),
        e => format!("unexpected: {e}"),
    }
}

/// Our answer to the lookup of `line`, written as the line would be.
fn answer(db: &Db, line: &str) -> String {
    let w: Vec<&str> = line.split(' ').collect();
    let (head, result) = match w[0] {
        "get" => {
            let head = w[..3].join(" ");
            (
                head,
                db.get_pread(w[1], w[2].parse().unwrap())
                    .map(|r| r.map(|r| values(&r))),
            )
        }
        "find" => {
            let head = w[..4].join(" ");
            let got = db.lookup_index_pread(w[1], w[2], &dec(w[3]).expect("a value"));
            (
                head,
                got.map(|r| r.map(|r| format!("{} {}", r.rowid, values(&r)))),
            )
        }
        _ => panic!("bad line {line}"),
    };
    match result {
        Ok(Some(row)) => format!("{head} found {row}"),
        Ok(None) => format!("{head} absent"),
        Err(e) => format!("{head} error {}", kind(&e)),
    }
}

fn check_refused(db: &Path, kind: &str) {
    let err = Db::open(db)
        .err()
        .unwrap_or_else(|| panic!("{}: opened", db.display()));
    match (kind, &err) {
        ("wal", Error::WalFrames { .. }) => {
            let msg = err.to_string();
            assert!(
                msg.contains("WAL mode with frames not yet checkpointed")
                    && msg.contains("PRAGMA wal_checkpoint(TRUNCATE)"),
                "{msg}"
            );
        }
        ("journal", Error::HotJournal { .. }) => {}
        _ => panic!("{}: refused with {err}, not for {kind}", db.display()),
    }
}

#[test]
fn pread_walks_answer_as_sqlite() {
    let dir = fixtures();
    let mut refused = 0;
    for db in databases(&dir) {
        let expect = fs::read_to_string(db.with_extension("expect")).unwrap();
        if let Some(kind) = expect.trim().strip_prefix("refuse ") {
            check_refused(&db, kind);
            refused += 1;
            continue;
        }
        let opened = Db::open(&db).unwrap_or_else(|e| panic!("{e}"));
        let lines: Vec<&str> = expect.lines().collect();
        assert!(
            lines.len() >= 10_000,
            "{}: {} lookups",
            db.display(),
            lines.len()
        );
        let wrong: Vec<String> = lines
            .iter()
            .filter_map(|line| {
                let got = answer(&opened, line);
                (got != *line).then(|| format!("want {line}\n got {got}"))
            })
            .collect();
        assert!(
            wrong.is_empty(),
            "{}: {} of {} lookups wrong, first:\n{}",
            db.display(),
            wrong.len(),
            lines.len(),
            wrong[..wrong.len().min(5)].join("\n")
        );
    }
    assert!(refused >= 1, "{}: no database to refuse", dir.display());
}
