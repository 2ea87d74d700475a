// SPDX-License-Identifier: GPL-2.0 OR MIT

//! The 100-byte file header at the start of a SQLite database, and the
//! files beside it (a rollback journal, a write-ahead log) that would make
//! the main file alone an incomplete picture.

use std::{
    fs::File,
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
};

use super::{Error, Result};

/// Bytes of the file header.
pub const HEADER_SIZE: usize = 100;
const MAGIC: &[u8; 16] = b"SQLite format 3\0";
/// Bytes of a write-ahead log's header; frames follow it.
const WAL_HEADER: u64 = 32;
/// Bytes of a rollback journal's header that are zero when it is not hot.
const JOURNAL_HEADER: usize = 28;

/// What the file header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Bytes per page, 512 to 65536.
    pub page_size: u32,
    /// Bytes at the end of each page reserved for extensions.
    pub reserved: u8,
    /// Pages in the database.
    pub pages: u32,
    /// Pages on the freelist.
    pub freelist_pages: u32,
    /// The database is in WAL mode (file format versions 2).
    pub wal: bool,
    /// The schema format number (1 to 4).
    pub schema_format: u32,
}

impl Header {
    /// Parses the header of a file of `file_len` bytes.
    pub fn parse(b: &[u8; HEADER_SIZE], file_len: u64) -> Result<Self, String> {
        let be16 = |o: usize| u16::from_be_bytes([b[o], b[o + 1]]);
        let be32 = |o: usize| u32::from_be_bytes(b[o..o + 4].try_into().unwrap());
        if &b[..16] != MAGIC {
            return Err("not a SQLite 3 database (bad magic)".into());
        }
        let page_size = match be16(16) {
            1 => 65536,
            n if n >= 512 && n.is_power_of_two() => u32::from(n),
            n => return Err(format!("bad page size {n}")),
        };
        let reserved = b[20];
        if page_size - u32::from(reserved) < 480 {
            return Err(format!("{reserved} reserved bytes leave pages too small"));
        }
        if b[21..24] != [64, 32, 32] {
            return Err("payload fractions are not 64, 32, 32".into());
        }
        let (write, read) = (b[18], b[19]);
        if !matches!(write, 1 | 2) || !matches!(read, 1 | 2) {
            return Err(format!("file format versions {write}/{read} are unknown"));
        }
        let in_file = u32::try_from(file_len / u64::from(page_size)).unwrap_or(u32::MAX);
        // The size in the header counts only if the change counter matches
        // version-valid-for (and no file is smaller than it says).
        let pages = match be32(28) {
            n if n != 0 && be32(24) == be32(92) && n <= in_file => n,
            _ => in_file,
        };
        Ok(Self {
            page_size,
            reserved,
            pages,
            freelist_pages: be32(36),
            wal: write == 2 || read == 2,
            schema_format: be32(44),
        })
    }

    /// Bytes of each page that hold B-tree data.
    pub fn usable(&self) -> u32 {
        self.page_size - u32::from(self.reserved)
    }

    /// Reads and checks the header of the database `file` at `path`: text
    /// in UTF-8, no hot journal, no WAL frames the main file lacks.
    pub(crate) fn read(path: &Path, file: &File) -> Result<Self> {
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        let mut b = [0u8; HEADER_SIZE];
        file.read_exact_at(&mut b, 0)
            .map_err(|e| Error::corrupt(path, format!("no file header: {e}")))?;
        let header = Self::parse(&b, len).map_err(|what| Error::corrupt(path, what))?;
        // The side files first: what the main file holds may be stale.
        let journal = beside(path, "-journal");
        if is_hot_journal(&journal)? {
            return Err(Error::HotJournal {
                path: path.to_path_buf(),
                journal,
            });
        }
        let wal = beside(path, "-wal");
        if header.wal && std::fs::metadata(&wal).is_ok_and(|m| m.len() > WAL_HEADER) {
            return Err(Error::WalFrames {
                path: path.to_path_buf(),
                wal,
            });
        }
        let encoding = u32::from_be_bytes(b[56..60].try_into().unwrap());
        if encoding != 1 {
            return Err(Error::unsupported(
                path,
                format!("text encoding {encoding} (only UTF-8, 1, is read)"),
            ));
        }
        if !(1..=4).contains(&header.schema_format) && header.pages > 1 {
            return Err(Error::unsupported(
                path,
                format!("schema format {}", header.schema_format),
            ));
        }
        Ok(header)
    }
}

/// `<path><suffix>`: where SQLite keeps a database's journal or WAL.
fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

/// A journal that exists and whose header is not zeroed (a journal that
/// is empty, or zeroed by journal_mode=PERSIST, is not hot).
fn is_hot_journal(journal: &Path) -> Result<bool> {
    let file = match File::open(journal) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::io(journal, e)),
    };
    let mut head = [0u8; JOURNAL_HEADER];
    let n = file
        .read_at(&mut head, 0)
        .map_err(|e| Error::io(journal, e))?;
    Ok(head[..n].iter().any(|&b| b != 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(page_size: u16, reserved: u8) -> [u8; HEADER_SIZE] {
        let mut b = [0u8; HEADER_SIZE];
        b[..16].copy_from_slice(MAGIC);
        b[16..18].copy_from_slice(&page_size.to_be_bytes());
        b[18] = 1;
        b[19] = 1;
        b[20] = reserved;
        b[21..24].copy_from_slice(&[64, 32, 32]);
        b[24..28].copy_from_slice(&7u32.to_be_bytes());
        b[28..32].copy_from_slice(&3u32.to_be_bytes());
        b[92..96].copy_from_slice(&7u32.to_be_bytes());
        b[44..48].copy_from_slice(&4u32.to_be_bytes());
        b[56..60].copy_from_slice(&1u32.to_be_bytes());
        b
    }

    #[test]
    fn page_sizes_and_counts() {
        let h = Header::parse(&header(4096, 8), 5 * 4096).unwrap();
        assert_eq!(
            (h.page_size, h.usable(), h.pages, h.wal),
            (4096, 4088, 3, false)
        );
        // 1 means 65536; a stale size in the header gives way to the file's.
        let mut b = header(1, 0);
        b[92..96].copy_from_slice(&6u32.to_be_bytes());
        let h = Header::parse(&b, 2 * 65536).unwrap();
        assert_eq!((h.page_size, h.pages), (65536, 2));
        let mut b = header(4096, 0);
        b[18] = 2;
        assert!(Header::parse(&b, 4096).unwrap().wal);
    }

    #[test]
    fn bad_headers_are_refused() {
        assert!(Header::parse(&header(1000, 0), 4096).is_err());
        assert!(Header::parse(&header(512, 40), 4096).is_err());
        let mut b = header(4096, 0);
        b[21] = 65;
        assert!(Header::parse(&b, 4096).is_err());
        b = header(4096, 0);
        b[0] = b'X';
        assert!(Header::parse(&b, 4096).is_err());
    }
}
