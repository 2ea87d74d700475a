// SPDX-License-Identifier: GPL-2.0 OR MIT

//! The MANIFEST (`db/version_edit.{h,cc}`): a log of VersionEdits, each a
//! sequence of `tag: varint32` fields. Replaying them gives the live SST
//! files of the default column family (id 0), with their levels, sizes,
//! key ranges and sequence numbers, and the WAL number from which writes
//! may not be in any SST yet.
//!
//! Tags with bit 13 set are safe to ignore when unknown (their value is
//! length-prefixed); a NewFile4 custom field with bit 6 set must be
//! understood. Blob files are refused. Edits of an atomic group apply
//! together, and a group the MANIFEST ends inside does not apply at all.

use super::{coding::Input, log};

/// One live SST file, as the MANIFEST describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FileMeta {
    pub number: u64,
    pub level: u32,
    pub size: u64,
    /// Internal keys (user key, then seq << 8 | type).
    pub smallest: Vec<u8>,
    pub largest: Vec<u8>,
    pub smallest_seqno: u64,
    pub largest_seqno: u64,
    /// 0 when unknown (older RocksDB).
    pub epoch: u64,
}

/// The state the MANIFEST ends in, for the default column family.
#[derive(Debug, Default)]
pub(crate) struct Manifest {
    pub comparator: Option<String>,
    /// WALs numbered below this hold only flushed writes.
    pub log_number: u64,
    pub files: Vec<FileMeta>,
}

/// What one VersionEdit says (the parts this reader uses).
#[derive(Debug, Default)]
struct Edit {
    column_family: u32,
    comparator: Option<String>,
    log_number: Option<u64>,
    deleted: Vec<(u32, u64)>,
    added: Vec<FileMeta>,
    /// Entries of the atomic group after this one.
    atomic_remaining: Option<u32>,
    blob_files: bool,
}

// Tags (`enum Tag`).
const COMPARATOR: u32 = 1;
const LOG_NUMBER: u32 = 2;
const NEXT_FILE_NUMBER: u32 = 3;
const LAST_SEQUENCE: u32 = 4;
const COMPACT_CURSOR: u32 = 5;
const DELETED_FILE: u32 = 6;
const NEW_FILE: u32 = 7;
const PREV_LOG_NUMBER: u32 = 9;
const MIN_LOG_NUMBER_TO_KEEP: u32 = 10;
const NEW_FILE2: u32 = 100;
const NEW_FILE3: u32 = 102;
const NEW_FILE4: u32 = 103;
const COLUMN_FAMILY: u32 = 200;
const COLUMN_FAMILY_ADD: u32 = 201;
const COLUMN_FAMILY_DROP: u32 = 202;
const MAX_COLUMN_FAMILY: u32 = 203;
const IN_ATOMIC_GROUP: u32 = 300;
const BLOB_FILE_ADDITION: u32 = 400;
const BLOB_FILE_GARBAGE: u32 = 401;
const SAFE_IGNORE: u32 = 1 << 13;
const BLOB_FILE_ADDITION_OLD: u32 = SAFE_IGNORE + 2;
const BLOB_FILE_GARBAGE_OLD: u32 = SAFE_IGNORE + 3;
const WAL_ADDITION: u32 = SAFE_IGNORE + 4;
const WAL_DELETION: u32 = SAFE_IGNORE + 5;

// NewFile4 custom fields (`enum NewFileCustomTag`).
const CUSTOM_TERMINATE: u32 = 1;
const CUSTOM_EPOCH_NUMBER: u32 = 13;
const CUSTOM_MUST_UNDERSTAND: u32 = 1 << 6;
const CUSTOM_PATH_ID: u32 = CUSTOM_MUST_UNDERSTAND + 1;

/// Replays the MANIFEST `bytes`. The error says what is wrong or
/// unsupported (`unsupported:` first).
pub(crate) fn replay(bytes: &[u8]) -> Result<Manifest, String> {
    let records = log::read(bytes);
    if let Some(why) = records.stopped {
        return Err(why);
    }
    let mut m = Manifest::default();
    let mut group: Vec<Edit> = Vec::new();
    for (i, record) in records.records.iter().enumerate() {
        let edit = decode(record).map_err(|e| format!("VersionEdit {i}: {e}"))?;
        let remaining = edit.atomic_remaining;
        group.push(edit);
        if remaining.unwrap_or(0) == 0 {
            for edit in group.drain(..) {
                apply(&mut m, edit)?;
            }
        }
    }
    // An atomic group cut short by a crash never happened.
    Ok(m)
}

fn apply(m: &mut Manifest, edit: Edit) -> Result<(), String> {
    if edit.column_family != 0 {
        return Ok(());
    }
    if edit.blob_files {
        return Err("unsupported: blob files (enable_blob_files / BlobDB)".into());
    }
    if let Some(c) = edit.comparator {
        m.comparator = Some(c);
    }
    if let Some(n) = edit.log_number {
        m.log_number = n;
    }
    for (level, number) in edit.deleted {
        let before = m.files.len();
        m.files
            .retain(|f| !(f.number == number && f.level == level));
        if m.files.len() == before {
            return Err(format!(
                "deletes file {number} at L{level}, which is not live"
            ));
        }
    }
    m.files.extend(edit.added);
    Ok(())
}

fn decode(record: &[u8]) -> Result<Edit, String> {
    let mut e = Edit::default();
    let mut input = Input::new(record);
    while !input.is_empty() {
        let tag = input.varint32().ok_or("bad tag")?;
        let bad = || format!("bad field of tag {tag}");
        let i = &mut input;
        match tag {
            COMPARATOR => {
                let name = i.length_prefixed().ok_or_else(bad)?;
                e.comparator = Some(String::from_utf8_lossy(name).into_owned());
            }
            LOG_NUMBER => e.log_number = Some(i.varint64().ok_or_else(bad)?),
            NEXT_FILE_NUMBER | LAST_SEQUENCE | PREV_LOG_NUMBER | MIN_LOG_NUMBER_TO_KEEP => {
                i.varint64().ok_or_else(bad)?;
            }
            MAX_COLUMN_FAMILY => {
                i.varint32().ok_or_else(bad)?;
            }
            COMPACT_CURSOR => {
                i.varint32().ok_or_else(bad)?;
                i.length_prefixed().ok_or_else(bad)?;
            }
            DELETED_FILE => {
                let level = i.varint32().ok_or_else(bad)?;
                e.deleted.push((level, i.varint64().ok_or_else(bad)?));
            }
            NEW_FILE | NEW_FILE2 | NEW_FILE3 | NEW_FILE4 => {
                e.added.push(new_file(tag, i).ok_or_else(bad)??);
            }
            COLUMN_FAMILY => e.column_family = i.varint32().ok_or_else(bad)?,
            COLUMN_FAMILY_ADD => {
                i.length_prefixed().ok_or_else(bad)?;
            }
            COLUMN_FAMILY_DROP => {}
            IN_ATOMIC_GROUP => e.atomic_remaining = Some(i.varint32().ok_or_else(bad)?),
            BLOB_FILE_ADDITION
            | BLOB_FILE_GARBAGE
            | BLOB_FILE_ADDITION_OLD
            | BLOB_FILE_GARBAGE_OLD => {
                // Number, count, bytes; an addition also has its checksum
                // method and value; then custom fields up to tag 0.
                for _ in 0..3 {
                    i.varint64().ok_or_else(bad)?;
                }
                if matches!(tag, BLOB_FILE_ADDITION | BLOB_FILE_ADDITION_OLD) {
                    i.length_prefixed().ok_or_else(bad)?;
                    i.length_prefixed().ok_or_else(bad)?;
                }
                while i.varint32().ok_or_else(bad)? != 0 {
                    i.length_prefixed().ok_or_else(bad)?;
                }
                e.blob_files = true;
            }
            WAL_ADDITION => {
                i.varint64().ok_or_else(bad)?;
                // Fields up to kTerminate (1); kSyncedSize (2) is a varint64.
                loop {
                    match i.varint32().ok_or_else(bad)? {
                        1 => break,
                        2 => {
                            i.varint64().ok_or_else(bad)?;
                        }
                        t => return Err(format!("unknown WalAddition field {t}")),
                    }
                }
            }
            WAL_DELETION => {
                i.varint64().ok_or_else(bad)?;
            }
            t if t & SAFE_IGNORE != 0 => {
                // DB id, WAL additions/deletions (v2), timestamps...
                i.length_prefixed().ok_or_else(bad)?;
            }
            t => return Err(format!("unsupported: unknown MANIFEST tag {t}")),
        }
    }
    Ok(e)
}

/// A NewFile (7), NewFile2 (100), NewFile3 (102) or NewFile4 (103) field;
/// `None` if it is cut short, `Some(Err)` if it is not supported.
fn new_file(tag: u32, i: &mut Input<'_>) -> Option<Result<FileMeta, String>> {
    let level = i.varint32()?;
    let number = i.varint64()?;
    let mut path_id = 0;
    if tag == NEW_FILE3 {
        path_id = i.varint32()?;
    }
    let size = i.varint64()?;
    let smallest = i.length_prefixed()?.to_vec();
    let largest = i.length_prefixed()?.to_vec();
    let (smallest_seqno, largest_seqno) = if tag == NEW_FILE {
        (0, u64::MAX >> 8)
    } else {
        (i.varint64()?, i.varint64()?)
    };
    let mut epoch = 0;
    if tag == NEW_FILE4 {
        loop {
            let custom = i.varint32()?;
            if custom == CUSTOM_TERMINATE {
                break;
            }
            let field = i.length_prefixed()?;
            match custom {
                CUSTOM_EPOCH_NUMBER => epoch = Input::new(field).varint64()?,
                CUSTOM_PATH_ID => path_id = u32::from(*field.first()?),
                c if c & CUSTOM_MUST_UNDERSTAND != 0 => {
                    return Some(Err(format!(
                        "unsupported: NewFile4 field {c} that must be understood"
                    )))
                }
                _ => {}
            }
        }
    }
    if path_id != 0 {
        return Some(Err(format!(
            "unsupported: file {number} is in db_paths[{path_id}], not the DB directory"
        )));
    }
    if smallest.len() < 8 || largest.len() < 8 {
        return None;
    }
    Some(Ok(FileMeta {
        number,
        level,
        size,
        smallest,
        largest,
        smallest_seqno,
        largest_seqno,
        epoch,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engines::rocksdb::coding::put_varint;

    fn ikey(user: &[u8], seq: u64) -> Vec<u8> {
        let mut k = user.to_vec();
        k.extend_from_slice(&(seq << 8 | 1).to_le_bytes());
        k
    }

    fn new_file4(
        level: u64,
        number: u64,
        lo: &[u8],
        hi: &[u8],
        custom: &[(u64, &[u8])],
    ) -> Vec<u8> {
        let mut b = Vec::new();
        for v in [NEW_FILE4 as u64, level, number, 1000] {
            put_varint(&mut b, v);
        }
        for k in [ikey(lo, 5), ikey(hi, 9)] {
            put_varint(&mut b, k.len() as u64);
            b.extend(k);
        }
        put_varint(&mut b, 5);
        put_varint(&mut b, 9);
        for (t, v) in custom {
            put_varint(&mut b, *t);
            put_varint(&mut b, v.len() as u64);
            b.extend_from_slice(v);
        }
        put_varint(&mut b, 1);
        b
    }

    fn comparator_edit() -> Vec<u8> {
        let mut b = vec![COMPARATOR as u8, 26];
        b.extend_from_slice(b"leveldb.BytewiseComparator");
        b.extend([LOG_NUMBER as u8, 4]);
        // A DB id: safe-ignore tag 8193, length-prefixed.
        put_varint(&mut b, u64::from(SAFE_IGNORE + 1));
        b.extend([2, b'i', b'd']);
        b
    }

    #[test]
    fn edits_replay_to_the_live_files() {
        let e1 = comparator_edit();
        let mut e2 = new_file4(0, 7, b"a", b"m", &[(13, &[3]), (2, &[0])]);
        e2.extend(new_file4(1, 8, b"c", b"z", &[]));
        let mut e3 = vec![DELETED_FILE as u8, 0, 7];
        e3.extend(new_file4(1, 9, b"a", b"b", &[]));
        let m = replay(&log::tests::write(&[&e1, &e2, &e3])).unwrap();
        assert_eq!(m.comparator.as_deref(), Some("leveldb.BytewiseComparator"));
        assert_eq!(m.log_number, 4);
        let live: Vec<(u32, u64)> = m.files.iter().map(|f| (f.level, f.number)).collect();
        assert_eq!(live, [(1, 8), (1, 9)]);
        assert_eq!(m.files[0].smallest, ikey(b"c", 5));
        assert_eq!(
            (m.files[0].smallest_seqno, m.files[0].largest_seqno),
            (5, 9)
        );
    }

    #[test]
    fn other_column_families_and_torn_atomic_groups_do_not_count() {
        let mut other = vec![0xc8, 0x01, 2]; // column family 2
        other.extend(new_file4(0, 20, b"a", b"b", &[]));
        let mut torn = vec![0xac, 0x02, 1]; // in an atomic group, 1 more to come
        torn.extend(new_file4(0, 21, b"a", b"b", &[]));
        let m = replay(&log::tests::write(&[&comparator_edit(), &other, &torn])).unwrap();
        assert!(m.files.is_empty());
    }

    #[test]
    fn unknown_tags_and_fields_are_refused_unless_ignorable() {
        let must = new_file4(
            0,
            7,
            b"a",
            b"b",
            &[(CUSTOM_MUST_UNDERSTAND as u64 + 9, &[1])],
        );
        let err = replay(&log::tests::write(&[&must])).unwrap_err();
        assert!(err.contains("must be understood"), "{err}");
        let ignorable = new_file4(0, 7, b"a", b"b", &[(30, &[1, 2])]);
        assert_eq!(
            replay(&log::tests::write(&[&ignorable]))
                .unwrap()
                .files
                .len(),
            1
        );
        let err = replay(&log::tests::write(&[&[99, 0]])).unwrap_err();
        assert!(err.contains("unknown MANIFEST tag 99"), "{err}");
        let blob = [0x90, 0x03, 1, 2, 3, 0, 0, 0];
        let err = replay(&log::tests::write(&[&blob])).unwrap_err();
        assert!(err.contains("blob files"), "{err}");
        let path = new_file4(0, 7, b"a", b"b", &[(CUSTOM_PATH_ID as u64, &[1])]);
        assert!(replay(&log::tests::write(&[&path]))
            .unwrap_err()
            .contains("db_paths"));
    }
}
