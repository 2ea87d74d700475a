// SPDX-License-Identifier: GPL-2.0 OR MIT

//! Block reads of one SST file with pread: each block read with its
//! trailer, its checksum verified, then decompressed and parsed.

use std::{
    fs::File,
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
    sync::atomic::{AtomicU64, Ordering::Relaxed},
};

use super::{
    block::{Block, Handle, TRAILER},
    checksum, compression,
    footer::{Footer, FOOTER_LEN},
    Error, Result,
};

/// Blocks read by pread, and how many had their checksum verified.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub blocks: AtomicU64,
    pub verified: AtomicU64,
    pub bytes: AtomicU64,
}

/// Block reads of one SST file.
#[derive(Debug)]
pub(crate) struct Reader {
    pub path: PathBuf,
    pub file: File,
    size: u64,
    footer: Footer,
}

impl Reader {
    /// Opens the SST at `path`, which the MANIFEST says has `size` bytes,
    /// and decodes its footer.
    pub(crate) fn open(path: PathBuf, size: u64) -> Result<Self> {
        let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
        let actual = file.metadata().map_err(|e| Error::io(&path, e))?.len();
        if actual != size || size < FOOTER_LEN {
            return Err(Error::corrupt(
                &path,
                format!("{actual} bytes, the MANIFEST says {size}"),
            ));
        }
        let mut raw = [0u8; FOOTER_LEN as usize];
        file.read_exact_at(&mut raw, size - FOOTER_LEN)
            .map_err(|e| Error::io(&path, e))?;
        let footer = Footer::decode(&raw, size - FOOTER_LEN).map_err(|e| refusal(&path, e))?;
        Ok(Self {
            path,
            file,
            size,
            footer,
        })
    }

    /// The decoded footer.
    pub(crate) fn footer(&self) -> Footer {
        self.footer
    }

    pub(crate) fn corrupt(&self, what: impl Into<String>) -> Error {
        Error::corrupt(&self.path, what)
    }

    pub(crate) fn unsupported(&self, what: impl Into<String>) -> Error {
        Error::unsupported(&self.path, what)
    }

    pub(crate) fn parsed<T>(&self, r: Result<T, String>) -> Result<T> {
        r.map_err(|e| refusal(&self.path, e))
    }

    /// Reads the block at `h` with its trailer, verifies its checksum and
    /// decompresses it.
    fn read_block(&self, h: Handle, counters: &Counters) -> Result<Vec<u8>> {
        let end = h
            .size
            .checked_add(TRAILER)
            .and_then(|n| h.offset.checked_add(n));
        if end.is_none_or(|e| e > self.size - FOOTER_LEN) || h.size > u64::from(u32::MAX) {
            return Err(self.corrupt(format!(
                "block handle {}+{} past the end of the file",
                h.offset, h.size
            )));
        }
        let mut raw = vec![0u8; (h.size + TRAILER) as usize];
        self.file
            .read_exact_at(&mut raw, h.offset)
            .map_err(|e| Error::io(&self.path, e))?;
        counters.blocks.fetch_add(1, Relaxed);
        counters.bytes.fetch_add(raw.len() as u64, Relaxed);
        let f = &self.footer;
        match checksum::verify_block(f.checksum, f.base_context_checksum, h.offset, &raw) {
            Ok(true) => {
                counters.verified.fetch_add(1, Relaxed);
            }
            Ok(false) => {}
            Err((stored, computed)) => {
                return Err(self.corrupt(format!(
                    "{} checksum mismatch of the block at {} ({} bytes): \
                     stored 0x{stored:08x}, computed 0x{computed:08x}",
                    f.checksum.name(),
                    h.offset,
                    h.size
                )))
            }
        }
        let ctype = raw[h.size as usize];
        raw.truncate(h.size as usize);
        if ctype == compression::NONE {
            return Ok(raw);
        }
        compression::decompress(ctype, &raw).map_err(|e| match e {
            compression::Failure::Unsupported(w) => self.unsupported(w),
            compression::Failure::Corrupt(w) => self.corrupt(format!("block at {}: {w}", h.offset)),
        })
    }

    /// [`Reader::read_block`], parsed.
    pub(crate) fn block(&self, h: Handle, counters: &Counters) -> Result<Block> {
        let data = self.read_block(h, counters)?;
        Block::parse(data).map_err(|e| refusal(&self.path, format!("block at {}: {e}", h.offset)))
    }
}

/// `unsupported: ...` from a parser as [`Error::Unsupported`], the rest as
/// [`Error::Corrupt`].
pub(crate) fn refusal(path: &Path, what: String) -> Error {
    match what.strip_prefix("unsupported: ") {
        Some(w) => Error::unsupported(path, w),
        None => Error::corrupt(path, what),
    }
}
