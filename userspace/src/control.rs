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

    /// The ABI version the loaded module reported.
    pub fn version(&self) -> abi::Version {
        self.version
    }

    /// The open device file, for the ioctls of later ABI versions.
    pub fn file(&self) -> &File {
        &self.file
    }
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
