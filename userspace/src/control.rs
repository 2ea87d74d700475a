// SPDX-License-Identifier: GPL-2.0 OR MIT

//! The `/dev/rnvme` control device.

use std::{
    fs::{File, OpenOptions},
    io,
    path::{Path, PathBuf},
};

use crate::{abi, sys, Error, Result};

/// Where the module's control device appears.
pub const DEFAULT_DEVICE: &str = "/dev/rnvme";

/// An open control device of a module whose ABI this library speaks.
#[derive(Debug)]
pub struct Control {
    file: File,
    version: abi::Version,
}

impl Control {
    /// Opens the control device at `path` and checks the module's ABI version.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|cause| open_error(path.to_path_buf(), cause))?;
        let version = sys::ioc_version(&file).map_err(|cause| {
            if cause.raw_os_error() == Some(libc::ENOTTY) {
                // Something else answers at this path.
                Error::NoModule {
                    path: path.to_path_buf(),
                    cause,
                }
            } else {
                Error::Ioctl {
                    what: "IOC_VERSION",
                    cause,
                }
            }
        })?;
        if version.major != abi::ABI_MAJOR {
            return Err(Error::AbiMismatch {
                major: version.major,
                minor: version.minor,
            });
        }
        Ok(Self { file, version })
    }

    /// The budgets tags get when they are attached ([`abi::Budgets`]).
    pub fn budgets(&self) -> Result<abi::Budgets> {
        sys::ioc_get_budgets(&self.file).map_err(|cause| Error::Ioctl {
            what: "budgets",
            cause,
        })
    }

    /// Sets the budgets of tags attached from now on (CAP_SYS_ADMIN).
    pub fn set_budgets(&self, b: abi::Budgets) -> Result<()> {
        sys::ioc_set_budgets(&self.file, b).map_err(|cause| Error::Ioctl {
            what: "set budgets",
            cause,
        })
    }

    /// The ABI version the loaded module reported.
    pub fn version(&self) -> abi::Version {
        self.version
    }

    /// The open device file, for the ioctls of later ABI versions.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Every tag attached through any open control device, with its
    /// counters (needs CAP_PERFMON or CAP_SYS_ADMIN, and ABI 1.3).
    pub fn tags(&self) -> Result<Vec<abi::TagInfo>> {
        let mut entries = Vec::new();
        loop {
            let count = sys::ioc_tags(&self.file, &mut entries).map_err(|cause| Error::Ioctl {
                what: "tags",
                cause,
            })?;
            if count <= entries.len() {
                entries.truncate(count);
                return Ok(entries);
            }
            // More tags than room: make room for them and a few more.
            entries.resize(count + 16, abi::TagInfo::default());
        }
    }
}

impl abi::TagInfo {
    /// The storage function's name.
    pub fn function_name(&self) -> String {
        nul_padded(&self.function)
    }

    /// The file's path at attach time (its tail, behind "...", if long).
    pub fn file_path(&self) -> String {
        nul_padded(&self.file)
    }
}

fn nul_padded(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

fn open_error(path: PathBuf, cause: io::Error) -> Error {
    match cause.raw_os_error() {
        // No node (devtmpfs removes it on rmmod), or a stale node with no
        // driver behind it.
        Some(libc::ENOENT | libc::ENXIO | libc::ENODEV) => Error::NoModule { path, cause },
        _ => Error::Open { path, cause },
    }
}

/// Whether this kernel can load BPF programs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BpfSupport {
    /// `bpf_jit_enable` as the kernel reports it, if readable.
    pub jit_enabled: Option<bool>,
}

/// Loads and unloads a trivial BPF program to prove that the `bpf(2)` syscall
/// and the verifier work here.
pub fn bpf_probe() -> Result<BpfSupport> {
    sys::bpf_load_trivial().map_err(|cause| Error::Ioctl {
        what: "bpf(BPF_PROG_LOAD)",
        cause,
    })?;
    let jit_enabled = std::fs::read_to_string("/proc/sys/net/core/bpf_jit_enable")
        .ok()
        .map(|s| s.trim() != "0");
    Ok(BpfSupport { jit_enabled })
}
