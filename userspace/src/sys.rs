// SPDX-License-Identifier: GPL-2.0 OR MIT

//! The crate's only `unsafe` code: raw ioctls on the control device and the
//! `bpf(2)` system call.

use std::{io, os::fd::AsRawFd};

use crate::abi;

/// `ioctl(fd, IOC_VERSION, &mut version)`.
pub(crate) fn ioc_version(fd: &impl AsRawFd) -> io::Result<abi::Version> {
    let mut version = abi::Version::default();
    // SAFETY: `IOC_VERSION` is `_IOR` of `abi::Version`: the kernel writes at
    // most `size_of::<Version>()` bytes into `version`, which is valid and
    // writable for that many bytes for the duration of the call.
    let ret = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            abi::IOC_VERSION as libc::Ioctl,
            &mut version as *mut abi::Version,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(version)
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_TYPE_SOCKET_FILTER: u32 = 1;

/// The prefix of `union bpf_attr` that `BPF_PROG_LOAD` reads, up to
/// `prog_flags`; the kernel treats the missing tail as zero. No implicit
/// padding: every byte the kernel reads is one we set.
#[repr(C)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
}

const _: () = assert!(std::mem::size_of::<ProgLoadAttr>() == 48);

/// Loads the smallest valid program (`r0 = 0; exit`) as a socket filter and
/// closes it: proves that the `bpf(2)` syscall and the verifier work.
pub(crate) fn bpf_load_trivial() -> io::Result<()> {
    // `mov64 r0, 0` and `exit`, as raw 8-byte instructions.
    let insns: [u64; 2] = [0x0000_0000_0000_00b7, 0x0000_0000_0000_0095];
    let license = c"GPL";
    let attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_SOCKET_FILTER,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 0,
        log_size: 0,
        log_buf: 0,
        kern_version: 0,
        prog_flags: 0,
    };
    // SAFETY: `attr` is a valid `bpf_attr` prefix of the size passed; the
    // pointers in it (`insns`, `license`) outlive the call.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_LOAD,
            &attr as *const ProgLoadAttr,
            std::mem::size_of::<ProgLoadAttr>(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a program fd the kernel just returned to us, and
    // nothing else owns it.
    unsafe { libc::close(fd as libc::c_int) };
    Ok(())
}
