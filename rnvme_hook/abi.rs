// SPDX-License-Identifier: GPL-2.0 OR MIT

//! The ioctl ABI of `/dev/rnvme`.
//!
//! This file is the one definition of that ABI. It is compiled into both the
//! kernel module (`mod abi;` in `rnvme_hook.rs`) and user space (the `rnvme`
//! crate includes it with `#[path]`), so it may use `core` only. Every
//! structure is `#[repr(C)]`, has no padding, and its size is asserted below;
//! an incompatible change bumps [`ABI_MAJOR`].

/// Incompatible changes to the ioctl ABI bump this.
pub const ABI_MAJOR: u32 = 1;
/// Compatible additions (new ioctls) bump this.
pub const ABI_MINOR: u32 = 0;

/// The ioctl "type" byte of `/dev/rnvme` (free in
/// `Documentation/userspace-api/ioctl/ioctl-number.rst`).
pub const IOC_MAGIC: u32 = 0xB9;

// The generic Linux ioctl number layout (`include/uapi/asm-generic/ioctl.h`),
// used by x86-64 and arm64.
const IOC_NRSHIFT: u32 = 0;
const IOC_TYPESHIFT: u32 = 8;
const IOC_SIZESHIFT: u32 = 16;
const IOC_DIRSHIFT: u32 = 30;
const IOC_SIZEMASK: usize = (1 << 14) - 1;
const IOC_READ: u32 = 2;

const fn ioc(dir: u32, nr: u32, size: usize) -> u32 {
    assert!(size <= IOC_SIZEMASK);
    (dir << IOC_DIRSHIFT)
        | ((size as u32) << IOC_SIZESHIFT)
        | (IOC_MAGIC << IOC_TYPESHIFT)
        | (nr << IOC_NRSHIFT)
}

/// `_IOR(IOC_MAGIC, nr, T)`: the kernel writes a `T` to user space.
const fn ior<T>(nr: u32) -> u32 {
    ioc(IOC_READ, nr, core::mem::size_of::<T>())
}

/// The answer of [`IOC_VERSION`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Version {
    /// [`ABI_MAJOR`] of the running module.
    pub major: u32,
    /// [`ABI_MINOR`] of the running module.
    pub minor: u32,
}

impl Version {
    /// The version this file describes.
    pub const CURRENT: Version = Version {
        major: ABI_MAJOR,
        minor: ABI_MINOR,
    };
}

/// Reports the ABI version of the loaded module: `ioctl(fd, IOC_VERSION, &mut Version)`.
pub const IOC_VERSION: u32 = ior::<Version>(0x00);

// Layout asserts: these sizes are the ABI.
const _: () = assert!(core::mem::size_of::<Version>() == 8);
const _: () = assert!(core::mem::align_of::<Version>() == 4);
const _: () = assert!(IOC_VERSION == 0x8008_b900);
