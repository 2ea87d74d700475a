// SPDX-License-Identifier: GPL-2.0 OR MIT

//! The scratch of `rocksdb.bpf.c` as bytes: a lookup written in, the
//! result read out, each field placed by `offset_of!` on the bindgen
//! layout of `bpf/include/rocksdb_format.h`.

use core::mem::{offset_of, size_of};

use super::scratch::{self as s, rdb_file, rdb_query};

/// Bytes of the scratch.
pub(crate) const SIZE: usize = size_of::<rdb_query>();
const _: () = assert!(SIZE <= crate::uapi::RNVME_SCRATCH_SIZE as usize);

/// One candidate file of a lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FileRef {
    /// Index of the SST in the tag set.
    pub file: u16,
    pub index_off: u64,
    pub index_size: u32,
    /// `RDB_F_*`.
    pub flags: u8,
}

/// What the function left in the scratch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub status: u32,
    pub reason: u32,
    /// The candidate (index into the lookup's files) that ended the chain.
    pub cur: u32,
    pub reads: u32,
    /// Whether `found_*` describe an entry.
    pub have: bool,
    pub found_file: u32,
    pub found_key: Vec<u8>,
    pub kind: u32,
    pub value_len: u32,
    pub value_off: u64,
    /// The value bytes in the scratch (all of them, or none).
    pub value: Vec<u8>,
}

fn put(b: &mut [u8], at: usize, v: &[u8]) {
    b[at..at + v.len()].copy_from_slice(v);
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// The scratch of a lookup (`op` `RDB_GET` or `RDB_SEEK`) of `key`
/// (at most `RDB_KEY_MAX` bytes) over `files` (1..=`RDB_FILES_MAX`).
pub(crate) fn encode(op: u32, key: &[u8], files: &[FileRef]) -> Vec<u8> {
    debug_assert!(key.len() <= s::RDB_KEY_MAX as usize);
    debug_assert!(!files.is_empty() && files.len() <= s::RDB_FILES_MAX as usize);
    let mut b = vec![0u8; SIZE];
    put(&mut b, offset_of!(rdb_query, op), &op.to_le_bytes());
    put(
        &mut b,
        offset_of!(rdb_query, key_len),
        &(key.len() as u32).to_le_bytes(),
    );
    put(
        &mut b,
        offset_of!(rdb_query, nfiles),
        &(files.len() as u32).to_le_bytes(),
    );
    put(&mut b, offset_of!(rdb_query, key), key);
    for (i, f) in files.iter().enumerate() {
        let at = offset_of!(rdb_query, files) + i * size_of::<rdb_file>();
        put(
            &mut b,
            at + offset_of!(rdb_file, index_off),
            &f.index_off.to_le_bytes(),
        );
        put(
            &mut b,
            at + offset_of!(rdb_file, index_size),
            &f.index_size.to_le_bytes(),
        );
        put(
            &mut b,
            at + offset_of!(rdb_file, file),
            &f.file.to_le_bytes(),
        );
        b[at + offset_of!(rdb_file, flags)] = f.flags;
    }
    b
}

/// Reads the result out of a scratch the function returned.
pub(crate) fn decode(b: &[u8]) -> Outcome {
    let key_len =
        (u32_at(b, offset_of!(rdb_query, found_key_len)) as usize).min(s::RDB_KEY_MAX as usize);
    let copied =
        (u32_at(b, offset_of!(rdb_query, value_copied)) as usize).min(s::RDB_VALUE_MAX as usize);
    let key_at = offset_of!(rdb_query, found_key);
    let value_at = offset_of!(rdb_query, value);
    Outcome {
        status: u32_at(b, offset_of!(rdb_query, status)),
        reason: u32_at(b, offset_of!(rdb_query, reason)),
        cur: u32_at(b, offset_of!(rdb_query, cur)),
        reads: u32_at(b, offset_of!(rdb_query, reads)),
        have: u32_at(b, offset_of!(rdb_query, have)) != 0,
        found_file: u32_at(b, offset_of!(rdb_query, found_file)),
        found_key: b[key_at..key_at + key_len].to_vec(),
        kind: u32_at(b, offset_of!(rdb_query, type_)),
        value_len: u32_at(b, offset_of!(rdb_query, value_len)),
        value_off: u64_at(b, offset_of!(rdb_query, value_off)),
        value: b[value_at..value_at + copied].to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_land_where_the_header_says() {
        let f = FileRef {
            file: 3,
            index_off: 0x1122_3344_5566,
            index_size: 999,
            flags: s::RDB_F_INDEX_VALUE_DELTA as u8 | s::RDB_F_PARTITIONED as u8,
        };
        let b = encode(s::RDB_SEEK, b"key", &[f, f]);
        assert_eq!(u32_at(&b, 0), s::RDB_SEEK);
        assert_eq!(u32_at(&b, 4), 3);
        assert_eq!(u32_at(&b, 8), 2);
        // files[1] starts at 16 + 16.
        assert_eq!(u64_at(&b, 32), 0x1122_3344_5566);
        assert_eq!(u32_at(&b, 40), 999);
        assert_eq!(&b[44..48], &[3, 0, 3, 0]);
        let key = offset_of!(rdb_query, key);
        assert_eq!(key, 16 + 16 * s::RDB_FILES_MAX as usize);
        assert_eq!(&b[key..key + 4], b"key\0");
    }

    #[test]
    fn a_result_reads_back() {
        let mut b = vec![0u8; SIZE];
        put(
            &mut b,
            offset_of!(rdb_query, status),
            &s::RDB_FOUND.to_le_bytes(),
        );
        put(&mut b, offset_of!(rdb_query, have), &1u32.to_le_bytes());
        put(
            &mut b,
            offset_of!(rdb_query, found_key_len),
            &2u32.to_le_bytes(),
        );
        put(&mut b, offset_of!(rdb_query, found_key), b"ab");
        put(
            &mut b,
            offset_of!(rdb_query, value_len),
            &5000u32.to_le_bytes(),
        );
        put(
            &mut b,
            offset_of!(rdb_query, value_off),
            &77u64.to_le_bytes(),
        );
        let o = decode(&b);
        assert_eq!(o.status, s::RDB_FOUND);
        assert!(o.have);
        assert_eq!(o.found_key, b"ab");
        assert_eq!((o.value_len, o.value_off, o.value.len()), (5000, 77, 0));
    }
}
