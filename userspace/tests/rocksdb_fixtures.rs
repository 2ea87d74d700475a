// SPDX-License-Identifier: GPL-2.0 OR MIT

//! The RocksDB reader against databases the real RocksDB library wrote
//! (`scripts/fixtures/make-fixtures.sh`): for every DB of the fixtures
//! directory (`$RNVME_FIXTURES/rocksdb`, else `build/fixtures/rocksdb`),
//! the live files must be the library's (`NAME.live`) and every query of
//! `NAME.expect` must get the library's answer from the pread walk, with
//! every block's checksum verified. Missing fixtures fail the test.

use std::{
    fs,
    path::{Path, PathBuf},
};

use rnvme::engines::rocksdb::Db;

fn fixtures() -> PathBuf {
    let root = match std::env::var_os("RNVME_FIXTURES") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../build/fixtures"),
    };
    let dir = root.join("rocksdb");
    assert!(
        dir.is_dir(),
        "no RocksDB fixtures at {}: build them with scripts/fixtures/make-fixtures.sh \
         (or point RNVME_FIXTURES at them)",
        dir.display()
    );
    dir
}

/// The fixture DBs: directories with a `.expect` beside them.
fn databases(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() && p.with_extension("expect").is_file())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(!names.is_empty(), "{}: no fixture databases", dir.display());
    names
}

/// `x` + lowercase hex.
fn unhex(word: &str) -> Vec<u8> {
    let hex = word
        .strip_prefix('x')
        .unwrap_or_else(|| panic!("not x-hex: {word}"));
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

fn hex(b: &[u8]) -> String {
    let digits: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("x{digits}")
}

/// Our live files in the `.live` format, sorted.
fn live_lines(db: &Db) -> Vec<String> {
    let mut lines: Vec<String> = db
        .files()
        .iter()
        .map(|f| {
            format!(
                "{} {} {} {} {} {} {}",
                f.name(),
                f.level,
                hex(&f.smallest_key),
                hex(&f.largest_key),
                f.smallest_seqno,
                f.largest_seqno,
                f.size
            )
        })
        .collect();
    lines.sort();
    lines
}

/// Our answer to one `.expect` query, in its format.
fn answer(db: &Db, op: &str, key: &[u8]) -> String {
    match op {
        "get" => match db.get_pread(key).unwrap() {
            Some(v) => format!("get {} found {}", hex(key), hex(&v)),
            None => format!("get {} absent", hex(key)),
        },
        "seek" => match db.seek_pread(key).unwrap() {
            Some((k, v)) => format!("seek {} found {} {}", hex(key), hex(&k), hex(&v)),
            None => format!("seek {} end", hex(key)),
        },
        _ => panic!("unknown query {op}"),
    }
}

fn check(dir: &Path, name: &str) -> usize {
    let db = Db::open(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let live = fs::read_to_string(dir.join(format!("{name}.live"))).unwrap();
    let mut want: Vec<String> = live.lines().map(str::to_string).collect();
    want.sort();
    assert_eq!(live_lines(&db), want, "{name}: live files differ");

    let expect = fs::read_to_string(dir.join(format!("{name}.expect"))).unwrap();
    let mut queries = 0;
    for line in expect.lines() {
        let mut words = line.split(' ');
        let (op, key) = (words.next().unwrap(), unhex(words.next().unwrap()));
        assert_eq!(
            answer(&db, op, &key),
            line,
            "{name}: query answered differently"
        );
        queries += 1;
    }
    let s = db.read_stats();
    assert!(s.blocks > 0);
    assert_eq!(
        s.verified, s.blocks,
        "{name}: blocks read without a verified checksum"
    );
    eprintln!(
        "{name}: {} files, {queries} queries, {} blocks read and verified",
        db.files().len(),
        s.blocks
    );
    queries
}

#[test]
fn every_fixture_db_answers_as_rocksdb_did() {
    let dir = fixtures();
    for name in databases(&dir) {
        assert!(check(&dir, &name) > 0, "{name}: no queries");
    }
}
