// SPDX-License-Identifier: GPL-2.0 OR MIT

//! The table properties a reader needs (`table/meta_blocks.cc`,
//! `table/table_properties.cc`): the properties block (metaindex entry
//! `rocksdb.properties`) maps names to values, integers as varint64,
//! names as bytes; the index type is a fixed32.

use super::coding::Input;

/// How a table's index is organised (`BlockBasedTableOptions::IndexType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexType {
    /// One index block, binary searched (0).
    BinarySearch,
    /// A binary-search index block plus prefix hash metadata (1), read
    /// as a binary-search index.
    HashSearch,
    /// A top-level index over index partitions (2).
    TwoLevel,
    /// Binary search, each entry also carrying the block's first key (3):
    /// read in user space only.
    WithFirstKey,
}

impl IndexType {
    fn from_raw(v: u32) -> Option<Self> {
        Some(match v {
            0 => Self::BinarySearch,
            1 => Self::HashSearch,
            2 => Self::TwoLevel,
            3 => Self::WithFirstKey,
            _ => return None,
        })
    }

    /// RocksDB's name of it.
    pub fn name(self) -> &'static str {
        match self {
            Self::BinarySearch => "kBinarySearch",
            Self::HashSearch => "kHashSearch",
            Self::TwoLevel => "kTwoLevelIndexSearch",
            Self::WithFirstKey => "kBinarySearchWithFirstKey",
        }
    }
}

/// What a reader takes from the properties block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Properties {
    pub index_type: IndexType,
    /// Index separators are user keys (else internal keys).
    pub index_key_is_user_key: bool,
    /// Index entries omit value lengths and delta-encode handles.
    pub index_value_is_delta_encoded: bool,
    /// The compression name the writer recorded (e.g. `NoCompression`,
    /// `LZ4`); blocks may still be stored uncompressed.
    pub compression: String,
    /// The comparator the writer used (refused unless bytewise).
    pub comparator: String,
    /// Entries (all versions, deletions included).
    pub num_entries: u64,
    pub num_data_blocks: u64,
    /// Range tombstones (refused when not 0).
    pub num_range_deletions: u64,
    /// Index partitions (two-level index), else 0.
    pub index_partitions: u64,
}

/// Decodes the (name, value) entries of a properties block. The error says
/// what is wrong or unsupported (`unsupported:` first).
pub(crate) fn decode(entries: &[(Vec<u8>, Vec<u8>)]) -> Result<Properties, String> {
    let get = |name: &str| {
        entries
            .iter()
            .find(|(k, _)| k == name.as_bytes())
            .map(|(_, v)| v.as_slice())
    };
    let int = |name: &str| -> Result<u64, String> {
        match get(name) {
            None => Ok(0),
            Some(v) => Input::new(v)
                .varint64()
                .ok_or_else(|| format!("bad property {name}")),
        }
    };
    let text = |name: &str| String::from_utf8_lossy(get(name).unwrap_or_default()).into_owned();
    let raw_type = match get("rocksdb.block.based.table.index.type") {
        None => 0,
        Some(v) => Input::new(v).fixed32().ok_or("bad index type property")?,
    };
    let index_type = IndexType::from_raw(raw_type)
        .ok_or_else(|| format!("unsupported: index type {raw_type}"))?;
    if int("rocksdb.udi.is.primary.index")? != 0 {
        return Err("unsupported: a user-defined index is the primary index".into());
    }
    if int("rocksdb.separate.key.value.in.data.block")? != 0 {
        return Err(
            "unsupported: separated key/value data blocks (separate_key_value_in_data_block)"
                .into(),
        );
    }
    Ok(Properties {
        index_type,
        index_key_is_user_key: int("rocksdb.index.key.is.user.key")? != 0,
        index_value_is_delta_encoded: int("rocksdb.index.value.is.delta.encoded")? != 0,
        compression: text("rocksdb.compression"),
        comparator: text("rocksdb.comparator"),
        num_entries: int("rocksdb.num.entries")?,
        num_data_blocks: int("rocksdb.num.data.blocks")?,
        num_range_deletions: int("rocksdb.num.range-deletions")?,
        index_partitions: int("rocksdb.index.partitions")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(k: &str, v: &[u8]) -> (Vec<u8>, Vec<u8>) {
        (k.as_bytes().to_vec(), v.to_vec())
    }

    #[test]
    fn integers_are_varints_and_the_index_type_a_fixed32() {
        let p = decode(&[
            entry("rocksdb.block.based.table.index.type", &[2, 0, 0, 0]),
            entry("rocksdb.comparator", b"leveldb.BytewiseComparator"),
            entry("rocksdb.index.key.is.user.key", &[1]),
            entry("rocksdb.index.value.is.delta.encoded", &[1]),
            entry("rocksdb.num.entries", &[0xac, 0x02]),
        ])
        .unwrap();
        assert_eq!(p.index_type, IndexType::TwoLevel);
        assert!(p.index_key_is_user_key && p.index_value_is_delta_encoded);
        assert_eq!(p.num_entries, 300);
        assert_eq!(p.comparator, "leveldb.BytewiseComparator");
        assert_eq!(p.compression, "");
    }

    #[test]
    fn unknown_index_types_and_layouts_are_refused() {
        let e = decode(&[entry("rocksdb.block.based.table.index.type", &[9, 0, 0, 0])]);
        assert!(e.unwrap_err().contains("index type 9"));
        let e = decode(&[entry("rocksdb.separate.key.value.in.data.block", &[1])]);
        assert!(e.unwrap_err().contains("separated"));
    }
}
