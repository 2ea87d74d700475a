// SPDX-License-Identifier: GPL-2.0 OR MIT

//! What can go wrong reading a RocksDB DB: each error names the file.

use std::{io, path::PathBuf};

/// Result of the RocksDB engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A RocksDB DB that cannot be read, or read by the chain, and why.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading a file failed.
    #[error("{}: {cause}", path.display())]
    Io { path: PathBuf, cause: io::Error },

    /// A file is not what RocksDB writes: a checksum, a length or an
    /// encoding is wrong.
    #[error("{}: corrupted: {what}", path.display())]
    Corrupt { path: PathBuf, what: String },

    /// A file uses a feature this reader does not implement.
    #[error("{}: not supported: {what}", path.display())]
    Unsupported { path: PathBuf, what: String },

    /// The storage function aborted a chain (ECANCELED): one of the files
    /// it read is corrupted, or laid out in a way it cannot walk.
    #[error("{}: the rocksdb storage function aborted the chain: a block of one of {files} is corrupted or cannot be walked (try --pread)", db.display())]
    Aborted { db: PathBuf, files: String },

    /// Tagging the files or running the chain failed.
    #[error("{}: {cause}", db.display())]
    Kernel { db: PathBuf, cause: crate::Error },
}

impl Error {
    pub(crate) fn corrupt(path: impl Into<PathBuf>, what: impl Into<String>) -> Self {
        Error::Corrupt {
            path: path.into(),
            what: what.into(),
        }
    }

    pub(crate) fn unsupported(path: impl Into<PathBuf>, what: impl Into<String>) -> Self {
        Error::Unsupported {
            path: path.into(),
            what: what.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, cause: io::Error) -> Self {
        Error::Io {
            path: path.into(),
            cause,
        }
    }
}
