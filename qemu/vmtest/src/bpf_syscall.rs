// SPDX-License-Identifier: GPL-2.0 OR MIT

//! The `bpf(2)` system call without libbpf: programs given as raw
//! instructions (what clang cannot emit here, or what the fuzzer mutates),
//! with the verifier's log, and `BPF_PROG_TEST_RUN` with a repeat count.

use std::os::fd::{FromRawFd, OwnedFd};

pub const BPF_PROG_LOAD: libc::c_long = 5;
pub const BPF_PROG_TEST_RUN: libc::c_long = 10;

/// `bpf(cmd, attr)` with a zeroed 128-byte attribute block, `set` filling
/// it; returns the result or the errno. `attr` is handed back for fields
/// the kernel writes.
pub fn bpf(cmd: libc::c_long, set: impl FnOnce(&mut [u64; 16])) -> Result<i64, i32> {
    bpf_attr(cmd, set).0
}

/// [`bpf`] that also returns the attribute block after the call.
pub fn bpf_attr(
    cmd: libc::c_long,
    set: impl FnOnce(&mut [u64; 16]),
) -> (Result<i64, i32>, [u64; 16]) {
    let mut attr = [0u64; 16];
    set(&mut attr);
    // SAFETY: `attr` is a valid 128-byte `union bpf_attr`; every pointer
    // `set` put in it refers to memory the caller keeps alive and sized as
    // the attribute says.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr.as_mut_ptr(),
            std::mem::size_of_val(&attr),
        )
    };
    if r < 0 {
        (
            Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0)),
            attr,
        )
    } else {
        (Ok(r), attr)
    }
}

/// One instruction as `struct bpf_insn` in a little-endian u64.
pub const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> u64 {
    code as u64
        | (dst as u64) << 8
        | (src as u64) << 12
        | (off as u16 as u64) << 16
        | (imm as u32 as u64) << 32
}

/// Loads `insns` as a storage function; on refusal, the errno and the
/// verifier's log.
pub fn load_raw(insns: &[u64]) -> Result<OwnedFd, (i32, String)> {
    let license = c"GPL";
    let mut log = vec![0u8; 1 << 16];
    let r = bpf(BPF_PROG_LOAD, |a| {
        a[0] = u64::from(rnvme::uapi::BPF_PROG_TYPE_RNVME) | (insns.len() as u64) << 32;
        a[1] = insns.as_ptr() as u64;
        a[2] = license.as_ptr() as u64;
        a[3] = 1 | (log.len() as u64) << 32; // log_level 1, log_size
        a[4] = log.as_mut_ptr() as u64;
    });
    match r {
        // SAFETY: The kernel just returned this new program descriptor.
        Ok(fd) => Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) }),
        Err(e) => {
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            Err((e, String::from_utf8_lossy(&log[..end]).into_owned()))
        }
    }
}

/// Runs program `fd` `repeat` times on `data` with a zeroed context and
/// `scratch`; returns (return value, mean nanoseconds per run as the kernel
/// measured it).
pub fn test_run(fd: i32, data: &[u8], scratch: &[u8], repeat: u32) -> Result<(u32, u32), i32> {
    // struct rnvme_md (all zero on input) followed by the scratch.
    let md = std::mem::size_of::<rnvme::uapi::rnvme_md>();
    let mut ctx = vec![0u8; md + scratch.len()];
    ctx[md..].copy_from_slice(scratch);
    let mut out = vec![0u8; md + 4096];
    let (r, attr) = bpf_attr(BPF_PROG_TEST_RUN, |a| {
        a[0] = fd as u32 as u64;
        a[1] = data.len() as u64;
        a[2] = data.as_ptr() as u64;
        a[4] = u64::from(repeat);
        a[5] = (ctx.len() as u64) | (out.len() as u64) << 32;
        a[6] = ctx.as_ptr() as u64;
        a[7] = out.as_mut_ptr() as u64;
    });
    r?;
    Ok(((attr[0] >> 32) as u32, (attr[4] >> 32) as u32))
}
