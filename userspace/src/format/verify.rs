// SPDX-License-Identifier: GPL-2.0 OR MIT

//! Checking a file against the description it was built from, as
//! `rnvme mkdb --verify` does: the same bytes as a fresh build (for a
//! B+-tree, also every key found by the reference lookup). A B+-tree
//! updated since is checked by its structure alone ([`check_tree_file`]).

use std::{
    io,
    path::{Path, PathBuf},
};

use super::{
    bptree::{self, TreeSpec},
    chain::{self, ChainSpec},
    records::{self, RecordSpec},
};

/// A file of one of the built-in formats, as described to its builder.
#[derive(Clone, Copy, Debug)]
pub enum Description {
    Chain(ChainSpec),
    Bptree(TreeSpec),
    Records(RecordSpec),
}

impl Description {
    /// Checks `bytes` against the description.
    pub fn check(&self, bytes: &[u8]) -> Result<(), String> {
        match self {
            Self::Chain(spec) => {
                // The file must start with a fresh build (a fragmented one
                // is padded).
                let want = chain::build(spec).bytes;
                match bytes.get(..want.len()) == Some(&want[..]) {
                    true => Ok(()),
                    false => Err("does not match the description".into()),
                }
            }
            Self::Bptree(spec) => bptree::verify(bytes, spec),
            Self::Records(spec) => records::verify(bytes, spec),
        }
    }
}

/// Why a file does not pass [`verify_file`].
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The file cannot be read.
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        cause: io::Error,
    },
    /// The file differs from its description, or is not well-formed.
    #[error("{}: {reason}", path.display())]
    Mismatch { path: PathBuf, reason: String },
}

/// Reads the file at `path` and checks it against `description`.
pub fn verify_file(path: &Path, description: &Description) -> Result<(), VerifyError> {
    read_and_check(path, |bytes| description.check(bytes))
}

/// Reads the B+-tree file at `path`, fresh or updated by
/// [`bptree::Writer`], and checks its structure ([`bptree::check`]): no
/// description needed. Returns its keys in order.
pub fn check_tree_file(path: &Path) -> Result<Vec<u64>, VerifyError> {
    read_and_check(path, bptree::check)
}

/// Reads the file at `path` and runs `check` on its bytes; errors name the
/// file.
fn read_and_check<T>(
    path: &Path,
    check: impl FnOnce(&[u8]) -> Result<T, String>,
) -> Result<T, VerifyError> {
    let bytes = std::fs::read(path).map_err(|cause| VerifyError::Read {
        path: path.to_owned(),
        cause,
    })?;
    check(&bytes).map_err(|reason| VerifyError::Mismatch {
        path: path.to_owned(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHAIN: ChainSpec = ChainSpec {
        hops: 5,
        block_size: 512,
        file_blocks: 20,
        seed: 1,
    };

    #[test]
    fn a_fresh_chain_passes_and_a_changed_one_does_not() {
        let mut bytes = chain::build(&CHAIN).bytes;
        let d = Description::Chain(CHAIN);
        assert_eq!(d.check(&bytes), Ok(()));
        // Padding after the build (a fragmented file) is allowed.
        bytes.extend_from_slice(&[0; 512]);
        assert_eq!(d.check(&bytes), Ok(()));
        bytes[0] ^= 1;
        assert!(d.check(&bytes).is_err());
        assert!(d.check(&bytes[1..100]).is_err());
    }

    #[test]
    fn records_are_checked_against_their_seed() {
        let spec = RecordSpec {
            blocks: 4,
            block_size: 512,
            key_space: 1000,
            seed: 1,
        };
        let bytes = records::build(&spec).unwrap();
        assert_eq!(Description::Records(spec).check(&bytes), Ok(()));
        let other = RecordSpec { seed: 2, ..spec };
        assert!(Description::Records(other).check(&bytes).is_err());
    }

    #[test]
    fn errors_name_the_file() {
        let missing = Path::new("/nonexistent/rnvme-verify.db");
        let e = verify_file(missing, &Description::Chain(CHAIN)).unwrap_err();
        assert!(matches!(e, VerifyError::Read { .. }));
        assert_eq!(e.to_string(), "cannot read /nonexistent/rnvme-verify.db");
    }
}
