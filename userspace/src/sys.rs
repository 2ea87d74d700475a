// SPDX-License-Identifier: GPL-2.0 OR MIT

//! The crate's `unsafe` code, with `ring.rs` (io_uring commands): ioctls
//! on the control device, the `bpf(2)` system call, and the two libbpf
//! calls libbpf-rs does not wrap for a program type it does not know.

use std::{
    io,
    os::fd::{AsRawFd, BorrowedFd},
};

use libbpf_rs::{libbpf_sys, AsRawLibbpf, OpenProgramMut};

use crate::{abi, uapi};

/// `ioctl(fd, request, arg)` for a request that reads and/or writes one `T`.
///
/// # Safety
///
/// `request` must encode `size_of::<T>()` (all of `abi`'s requests are built
/// from their argument type), so the kernel touches only `*arg`.
unsafe fn ioctl<T>(fd: &impl AsRawFd, request: u32, arg: &mut T) -> io::Result<()> {
    // SAFETY: `arg` is valid for reads and writes of a `T`; see the caller.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), request as libc::Ioctl, arg as *mut T) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

pub(crate) fn ioc_version(fd: &impl AsRawFd) -> io::Result<abi::Version> {
    let mut version = abi::Version::default();
    // SAFETY: IOC_VERSION is `_IOR` of `abi::Version`.
    unsafe { ioctl(fd, abi::IOC_VERSION, &mut version) }?;
    Ok(version)
}

pub(crate) fn ioc_attach(fd: &impl AsRawFd, args: &mut abi::Attach) -> io::Result<()> {
    // SAFETY: IOC_ATTACH is `_IOWR` of `abi::Attach`.
    unsafe { ioctl(fd, abi::IOC_ATTACH, args) }
}

pub(crate) fn ioc_detach(fd: &impl AsRawFd, mut args: abi::Detach) -> io::Result<()> {
    // SAFETY: IOC_DETACH is `_IOW` of `abi::Detach`.
    unsafe { ioctl(fd, abi::IOC_DETACH, &mut args) }
}

/// The length of a buffer as the kernel is told it: a buffer longer than
/// `u32::MAX` bytes is valid for that many.
fn len_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// Tags the files `fds` (set index i is `fds[i]`) together; fills in
/// `args.fds` and `args.nr_files` from the slice.
pub(crate) fn ioc_attach_set(
    fd: &impl AsRawFd,
    args: &mut abi::AttachSet,
    fds: &[i32],
) -> io::Result<()> {
    args.fds = fds.as_ptr() as u64;
    args.nr_files = len_u32(fds.len());
    // SAFETY: IOC_ATTACH_SET is `_IOWR` of `abi::AttachSet`; the kernel also
    // reads (never writes) at most `nr_files` `i32`s at `fds`, which is a
    // live slice of at least that many.
    unsafe { ioctl(fd, abi::IOC_ATTACH_SET, args) }
}

/// Runs a chain with `scratch` as its scratch and `out`, if given, for the
/// bytes of its last read; fills in the buffer fields of `args` from them.
pub(crate) fn ioc_chain_read(
    fd: &impl AsRawFd,
    args: &mut abi::ChainRead,
    scratch: &mut [u8],
    out: Option<&mut [u8]>,
) -> io::Result<()> {
    args.scratch = scratch.as_mut_ptr() as u64;
    args.scratch_len = len_u32(scratch.len());
    (args.out, args.out_len) = match out {
        Some(o) => (o.as_mut_ptr() as u64, len_u32(o.len())),
        None => (0, 0),
    };
    // SAFETY: IOC_CHAIN_READ is `_IOWR` of `abi::ChainRead`; the kernel also
    // reads and writes at most `scratch_len` bytes at `scratch` and writes
    // at most `out_len` bytes at `out`, which are live `&mut [u8]`s of at
    // least those lengths (or 0 and no buffer).
    unsafe { ioctl(fd, abi::IOC_CHAIN_READ, args) }
}

pub(crate) fn ioc_metrics(fd: &impl AsRawFd) -> io::Result<abi::Metrics> {
    let mut m = abi::Metrics::default();
    // SAFETY: IOC_METRICS is `_IOR` of `abi::Metrics`.
    unsafe { ioctl(fd, abi::IOC_METRICS, &mut m) }?;
    Ok(m)
}

/// Lists attached tags into `entries`; returns how many are attached (which
/// may be more than `entries` holds).
pub(crate) fn ioc_tags(fd: &impl AsRawFd, entries: &mut [abi::TagInfo]) -> io::Result<usize> {
    let mut list = abi::TagList {
        entries: entries.as_mut_ptr() as u64,
        capacity: u32::try_from(entries.len()).unwrap_or(u32::MAX),
        count: 0,
    };
    // SAFETY: IOC_TAGS is `_IOWR` of `abi::TagList`; the kernel also writes
    // up to `capacity` `TagInfo`s at `entries`, which is a live `&mut` slice
    // of that many.
    unsafe { ioctl(fd, abi::IOC_TAGS, &mut list) }?;
    Ok(list.count as usize)
}

pub(crate) fn ioc_get_budgets(fd: &impl AsRawFd) -> io::Result<abi::Budgets> {
    let mut b = abi::Budgets::default();
    // SAFETY: IOC_GET_BUDGETS is `_IOR` of `abi::Budgets`.
    unsafe { ioctl(fd, abi::IOC_GET_BUDGETS, &mut b) }?;
    Ok(b)
}

pub(crate) fn ioc_set_budgets(fd: &impl AsRawFd, mut b: abi::Budgets) -> io::Result<()> {
    // SAFETY: IOC_SET_BUDGETS is `_IOW` of `abi::Budgets`.
    unsafe { ioctl(fd, abi::IOC_SET_BUDGETS, &mut b) }
}

pub(crate) fn ioc_stats(fd: &impl AsRawFd) -> io::Result<abi::Stats> {
    let mut stats = abi::Stats::default();
    // SAFETY: IOC_STATS is `_IOR` of `abi::Stats`.
    unsafe { ioctl(fd, abi::IOC_STATS, &mut stats) }?;
    Ok(stats)
}

/// Pins program `fd` at `path` in a BPF file system.
pub(crate) fn pin(fd: BorrowedFd<'_>, path: &std::ffi::CStr) -> io::Result<()> {
    // SAFETY: `path` is a valid C string for the duration of the call.
    let ret = unsafe { libbpf_sys::bpf_obj_pin(fd.as_raw_fd(), path.as_ptr()) };
    if ret < 0 {
        return Err(io::Error::from_raw_os_error(-ret));
    }
    Ok(())
}

/// Opens the BPF object pinned at `path`.
pub(crate) fn pinned(path: &std::ffi::CStr) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: `path` is a valid C string for the duration of the call.
    let fd = unsafe { libbpf_sys::bpf_obj_get(path.as_ptr()) };
    if fd < 0 {
        return Err(io::Error::from_raw_os_error(-fd));
    }
    // SAFETY: `bpf_obj_get` returned a new descriptor that nothing else owns.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// Makes an opened (not yet loaded) program a storage function.
pub(crate) fn set_storage_function_type(prog: &mut OpenProgramMut<'_>) -> io::Result<()> {
    // SAFETY: The pointer is the live `bpf_program` of `prog`, which is not
    // loaded yet (libbpf-rs only hands out `OpenProgramMut` before load).
    let ret = unsafe {
        libbpf_sys::bpf_program__set_type(
            prog.as_libbpf_object().as_ptr(),
            uapi::BPF_PROG_TYPE_RNVME,
        )
    };
    if ret < 0 {
        return Err(io::Error::from_raw_os_error(-ret));
    }
    // BPF_LOG_STATS: the verifier's statistics after a successful load too
    // (RNVME_VERIFIER_STATS, bpf/README.md).
    if std::env::var_os("RNVME_VERIFIER_STATS").is_some() {
        prog.set_log_level(4);
    }
    Ok(())
}

/// `BPF_PROG_TEST_RUN` of program `fd` on `data`, with `ctx` (an
/// `rnvme_md` followed by scratch) as context in and out.
pub(crate) fn test_run(fd: BorrowedFd<'_>, data: &[u8], ctx: &mut [u8]) -> io::Result<(u32, u32)> {
    let mut opts = libbpf_sys::bpf_test_run_opts {
        sz: std::mem::size_of::<libbpf_sys::bpf_test_run_opts>() as _,
        data_in: data.as_ptr().cast(),
        data_size_in: data.len() as u32,
        ctx_in: ctx.as_ptr().cast(),
        ctx_size_in: ctx.len() as u32,
        ctx_out: ctx.as_mut_ptr().cast(),
        ctx_size_out: ctx.len() as u32,
        repeat: 1,
        ..Default::default()
    };
    // SAFETY: The pointers in `opts` refer to `data` and `ctx`, which outlive
    // the call; the kernel writes at most `ctx_size_out` bytes to `ctx_out`
    // (it reads `ctx_in` before it writes `ctx_out`, which alias).
    let ret = unsafe { libbpf_sys::bpf_prog_test_run_opts(fd.as_raw_fd(), &mut opts) };
    if ret < 0 {
        return Err(io::Error::from_raw_os_error(-ret));
    }
    Ok((opts.retval, opts.duration))
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
