// SPDX-License-Identifier: GPL-2.0 OR MIT

//! What can go wrong reading a SQLite database: each error names the file.

use std::{io, path::PathBuf};

/// Result of the SQLite engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A SQLite database that cannot be read, or read by the chain, and why.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the file failed.
    #[error("{}: {cause}", path.display())]
    Io { path: PathBuf, cause: io::Error },

    /// The file is not what SQLite writes: a header field, a page or a
    /// record is malformed.
    #[error("{}: corrupted: {what}", path.display())]
    Corrupt { path: PathBuf, what: String },

    /// The database uses a feature this reader does not implement.
    #[error("{}: not supported: {what}", path.display())]
    Unsupported { path: PathBuf, what: String },

    /// The database is in WAL mode and its write-ahead log holds frames:
    /// the newest versions of some pages are not in the main file.
    #[error("{} is in WAL mode with frames not yet checkpointed in {}: its newest pages are not in the main file; run PRAGMA wal_checkpoint(TRUNCATE)", path.display(), wal.display())]
    WalFrames { path: PathBuf, wal: PathBuf },

    /// A rollback journal is left over from an interrupted transaction:
    /// the main file may hold half of it.
    #[error("{} has a hot rollback journal {}: a transaction was interrupted; open the database with sqlite3 once to roll it back", path.display(), journal.display())]
    HotJournal { path: PathBuf, journal: PathBuf },

    /// No table (or no column of the table) of that name.
    #[error("{}: no such {what}", path.display())]
    NoSuch { path: PathBuf, what: String },

    /// A lookup needs something the schema does not offer: an index on
    /// the column, a rowid table.
    #[error("{}: {what}", path.display())]
    Unusable { path: PathBuf, what: String },

    /// The storage function aborted the chain (ECANCELED): the read it
    /// was given was not the page it asked for, or the inputs were wrong.
    #[error("{}: the sqlite storage function aborted the chain (try --pread)", path.display())]
    Aborted { path: PathBuf },

    /// Tagging the file or running the chain failed.
    #[error("{}: {cause}", path.display())]
    Kernel { path: PathBuf, cause: crate::Error },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, cause: io::Error) -> Self {
        Error::Io {
            path: path.into(),
            cause,
        }
    }

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

    pub(crate) fn no_such(path: impl Into<PathBuf>, what: impl Into<String>) -> Self {
        Error::NoSuch {
            path: path.into(),
            what: what.into(),
        }
    }

    pub(crate) fn unusable(path: impl Into<PathBuf>, what: impl Into<String>) -> Self {
        Error::Unusable {
            path: path.into(),
            what: what.into(),
        }
    }
}
