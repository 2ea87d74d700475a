// SPDX-License-Identifier: GPL-2.0 OR MIT

//! The library's typed errors: each carries the errno (where there is one) and
//! says what to do about it.

use std::{io, path::PathBuf};

/// Result of the rnvme library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, in terms a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The control device does not exist or has no driver behind it.
    #[error("{}: no rnvme control device ({cause}); is the module loaded? try: insmod rnvme_hook.ko", path.display())]
    NoModule { path: PathBuf, cause: io::Error },

    /// The control device exists but cannot be opened.
    #[error("{}: cannot open the rnvme control device: {cause}", path.display())]
    Open { path: PathBuf, cause: io::Error },

    /// An ioctl was refused by the module.
    #[error("{what} failed: {cause}{}", hint(what, cause))]
    Ioctl {
        what: &'static str,
        cause: io::Error,
    },

    /// The module refused a tag set because of one of its files (no tag
    /// was made): `failed` is that file's index in the set.
    #[error(
        "attach failed: file {failed} of the set: {cause}{}",
        hint("attach", cause)
    )]
    AttachSet { failed: u32, cause: io::Error },

    /// A storage function could not be loaded (the verifier's log, if any,
    /// went to standard error).
    #[error("loading storage function {name}: {cause}")]
    Load { name: String, cause: String },

    /// No storage function of that name is built in.
    #[error("no built-in storage function {0:?} (see `rnvme load --help`)")]
    UnknownFunction(String),

    /// Pinning, or opening a pinned function, failed.
    #[error("{}: {cause} (is a BPF file system mounted there? mount -t bpf bpf /sys/fs/bpf)", path.display())]
    Pin { path: PathBuf, cause: io::Error },

    /// The metrics exporter cannot listen where it was asked to.
    #[error("cannot listen on {addr}: {cause} (is the port in use? pick another with --listen)")]
    Listen {
        addr: std::net::SocketAddr,
        cause: String,
    },

    /// A chain read ended with an error after `hops` reads.
    #[error(
        "chain read failed after {hops} reads: {cause}{}",
        hint("chain read", cause)
    )]
    Chain { hops: u32, cause: io::Error },

    /// The loaded module speaks an ABI this library does not.
    #[error("the loaded rnvme_hook speaks ABI {major}.{minor}, this rnvme needs {}.x: rebuild and reload the module (make module)", crate::abi::ABI_MAJOR)]
    AbiMismatch { major: u32, minor: u32 },
}

impl Error {
    /// The errno behind this error, if it came from the kernel.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::NoModule { cause, .. }
            | Error::Open { cause, .. }
            | Error::Ioctl { cause, .. }
            | Error::AttachSet { cause, .. }
            | Error::Chain { cause, .. }
            | Error::Pin { cause, .. } => cause.raw_os_error(),
            Error::Load { .. }
            | Error::UnknownFunction(_)
            | Error::AbiMismatch { .. }
            | Error::Listen { .. } => None,
        }
    }
}

/// What to do about an errno of the module, by operation.
fn hint(what: &str, cause: &io::Error) -> &'static str {
    match (what, cause.raw_os_error().unwrap_or(0)) {
        ("attach", libc::EBADF) => " (the file must be open for reading)",
        ("attach", libc::EINVAL) => " (give a regular file and a storage function)",
        ("attach", libc::EOPNOTSUPP) => {
            " (the file must be on ext4 or XFS, not fs-verity, encrypted, reflinked or realtime)"
        }
        ("attach", libc::ENODEV) => {
            " (the file system must be on an NVMe namespace of the nvme-pci driver)"
        }
        ("attach", libc::EACCES) => {
            " (chains hold off truncation: you must be able to write the file, or own it)"
        }
        ("chain read", libc::EAGAIN) => {
            " (the range kept being truncated or remapped while its block map was rebuilt)"
        }
        ("attach", libc::EFBIG) => " (the file has more than 65536 extents; defragment it)",
        ("chain read", libc::EOPNOTSUPP) => {
            " (the file became reflinked, or fs-verity was enabled on it, since it was tagged)"
        }
        ("attach", libc::ENOSPC) => " (64 tags per open control device)",
        ("attach set", libc::EINVAL) => " (give 1..=64 regular files and a storage function)",
        ("attach set", _) => hint("attach", cause),
        ("chain read", libc::ENXIO) => {
            " (a read reaches past the end of the file, or the device went away)"
        }
        ("chain read", libc::ENODATA) => " (a read touches a hole or an unwritten extent)",
        ("chain read", libc::EINVAL) => {
            " (a read is 1..=65536 bytes at an offset up to 2^63 - 1 of a file inside the tag set)"
        }
        ("chain read", libc::ECANCELED) => " (the storage function aborted the chain)",
        ("chain read", libc::ELOOP) => {
            " (the chain reached its hop limit; attach with a larger max_hops)"
        }
        ("chain read", libc::EIO) => " (the device failed a read)",
        ("chain read", libc::ENOENT) => " (no such tag on this control device)",
        ("chain read", libc::EBUSY) => {
            " (4096 io_uring chains of this tag already wait for its budget of chains in flight)"
        }
        ("set budgets", libc::EPERM) => " (setting budgets needs CAP_SYS_ADMIN)",
        ("tags", libc::EPERM) => {
            " (listing every process's tags needs CAP_PERFMON or CAP_SYS_ADMIN)"
        }
        ("tags", libc::ENOTTY) => {
            " (the loaded module is older than ABI 1.3: rebuild and reload it)"
        }
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_set_names_its_file_and_keeps_the_hint() {
        let e = Error::AttachSet {
            failed: 2,
            cause: io::Error::from_raw_os_error(libc::EACCES),
        };
        let text = e.to_string();
        assert!(
            text.starts_with("attach failed: file 2 of the set: "),
            "{text}"
        );
        assert!(text.ends_with(
            "(chains hold off truncation: you must be able to write the file, or own it)"
        ));
        assert_eq!(e.errno(), Some(libc::EACCES));
        let whole = Error::Ioctl {
            what: "attach set",
            cause: io::Error::from_raw_os_error(libc::EINVAL),
        };
        assert!(whole.to_string().contains("1..=64 regular files"));
    }
}
