// SPDX-License-Identifier: GPL-2.0 OR MIT

//! Bounded in-VM fuzzers: the ioctl ABI of `/dev/rnvme`, and the storage-
//! function verifier (random and mutated programs, loaded and, if accepted,
//! run). The kernel must stay healthy (the host scans the console for oops,
//! KASAN, lockdep and WARN reports); afterwards a real chain must still work.

use std::{
    collections::BTreeMap,
    fs,
    mem::offset_of,
    os::fd::{AsFd, AsRawFd},
};

use anyhow::{ensure, Context, Result};
use rnvme::{
    abi::{self, AttachSet, ChainRead},
    format::chain::ChainResult,
    Control, StorageFunction, DEFAULT_DEVICE,
};

use crate::{
    bpf_syscall::{bpf, BPF_PROG_LOAD, BPF_PROG_TEST_RUN},
    files,
    fixtures::jump_scratch,
    random::{Guard, Rng, KERNEL_ADDR},
};

/// Random and mutated ioctls on the control device.
pub fn fuzz_ioctl() -> Result<()> {
    const ITERATIONS: u32 = 20_000;
    let seed = 0x5eed_0001;
    let control = Control::open(DEFAULT_DEVICE)?;
    let dev = control.file().as_raw_fd();
    let path = files::fresh("/mnt/nvme", "fuzz-ioctl");
    files::write_contiguous(&path, &[0x42u8; 64 * 1024])?;
    let file = files::open_ro(&path)?;
    let f = StorageFunction::from_object("jump", rnvme::fixture("jump").context("fixture")?)?;
    let guard = Guard::new()?;
    let mut scratch = vec![0u8; 4096];
    let mut out = vec![0u8; 4096];
    // The fds of an IOC_ATTACH_SET: ours, the program's, bad ones.
    let set_fds: Vec<i32> = (0..abi::MAX_FILES + 1)
        .map(|i| match i % 4 {
            3 => -1,
            2 if i > 32 => 9999,
            _ => file.as_raw_fd(),
        })
        .collect();
    let mut rng = Rng(seed);
    let mut results: BTreeMap<String, u64> = BTreeMap::new();
    let mut attached: Vec<u32> = Vec::new();
    let cmds = [
        abi::IOC_VERSION,
        abi::IOC_ATTACH,
        abi::IOC_DETACH,
        abi::IOC_CHAIN_READ,
        abi::IOC_STATS,
        abi::IOC_METRICS,
        abi::IOC_TAGS,
        abi::IOC_ATTACH_SET,
    ];
    for _ in 0..ITERATIONS {
        // The command: a real one, a real one with another size or
        // direction, or anything.
        let cmd = match rng.below(10) {
            0..=6 => rng.pick(&cmds),
            7 => rng.pick(&cmds) ^ (1 << (16 + rng.below(14))),
            8 => rng.pick(&cmds) ^ (3 << 30),
            _ => rng.next() as u32,
        };
        // The argument: 512 bytes of ours (more than any ABI struct), mostly
        // plausible, sometimes garbage.
        const _: () = assert!(std::mem::size_of::<abi::Metrics>() <= 512);
        let mut buf = [0u8; 512];
        for b in buf.iter_mut() {
            *b = rng.next() as u8;
        }
        if rng.below(4) != 0 {
            let fds = [file.as_raw_fd(), f.as_fd().as_raw_fd(), dev, -1, 0, 9999];
            let ptrs = [
                scratch.as_mut_ptr() as u64,
                0,
                guard.addr(),
                KERNEL_ADDR,
                scratch.as_mut_ptr() as u64 + 1,
            ];
            let put32 = |b: &mut [u8; 512], at: usize, v: u32| {
                b[at..at + 4].copy_from_slice(&v.to_ne_bytes())
            };
            let put64 = |b: &mut [u8; 512], at: usize, v: u64| {
                b[at..at + 8].copy_from_slice(&v.to_ne_bytes())
            };
            match cmd {
                abi::IOC_ATTACH => {
                    put32(&mut buf, 0, rng.pick(&fds) as u32);
                    put32(&mut buf, 4, rng.pick(&fds) as u32);
                    put32(&mut buf, 8, rng.pick(&[0, 0, 0, 1, u32::MAX]));
                    put32(&mut buf, 12, rng.pick(&[0, 1, 32, 256, 257, u32::MAX]));
                    put32(&mut buf, 20, rng.pick(&[0, 0, 0, 7]));
                }
                abi::IOC_DETACH => {
                    let tag = if attached.is_empty() {
                        rng.next() as u32
                    } else {
                        rng.pick(&attached)
                    };
                    put32(&mut buf, 0, tag);
                }
                abi::IOC_ATTACH_SET => {
                    put32(
                        &mut buf,
                        offset_of!(AttachSet, prog_fd),
                        rng.pick(&fds) as u32,
                    );
                    put32(&mut buf, offset_of!(AttachSet, flags), rng.pick(&[0, 0, 1]));
                    put32(
                        &mut buf,
                        offset_of!(AttachSet, max_hops),
                        rng.pick(&[0, 1, 257]),
                    );
                    let n = rng.pick(&[0, 1, 2, 3, 64, 65, u32::MAX]);
                    put32(&mut buf, offset_of!(AttachSet, nr_files), n);
                    // The fds: ours (`set_fds`, 65 of them), or a bad pointer.
                    let fds_ptr =
                        rng.pick(&[set_fds.as_ptr() as u64, 0, guard.addr(), KERNEL_ADDR]);
                    put64(&mut buf, offset_of!(AttachSet, fds), fds_ptr);
                    let reserved = offset_of!(AttachSet, reserved);
                    buf[reserved..reserved + 20].fill(0);
                    if rng.below(8) == 0 {
                        put32(&mut buf, reserved, 1);
                    }
                }
                abi::IOC_CHAIN_READ => {
                    put32(
                        &mut buf,
                        offset_of!(ChainRead, tag),
                        *attached.last().unwrap_or(&(rng.next() as u32)),
                    );
                    put32(
                        &mut buf,
                        offset_of!(ChainRead, flags),
                        rng.pick(&[0, 0, abi::CHAIN_POLLED, 2, u32::MAX]),
                    );
                    put64(
                        &mut buf,
                        offset_of!(ChainRead, offset),
                        rng.pick(&[0, 512, 4096, 65536, 65024, 100, u64::MAX, 1 << 63]),
                    );
                    put32(
                        &mut buf,
                        offset_of!(ChainRead, len),
                        rng.pick(&[0, 1, 512, 4096, 4097, 100, 65536, 65537, u32::MAX]),
                    );
                    put32(
                        &mut buf,
                        offset_of!(ChainRead, file),
                        rng.pick(&[0, 0, 0, 1, 64, u32::MAX]),
                    );
                    // scratch_len stays within our 4096-byte scratch.
                    put32(
                        &mut buf,
                        offset_of!(ChainRead, scratch_len),
                        rng.pick(&[0, 16, 528, 4096, 4097, u32::MAX]).min(4097),
                    );
                    put64(&mut buf, offset_of!(ChainRead, scratch), rng.pick(&ptrs));
                    put64(
                        &mut buf,
                        offset_of!(ChainRead, out),
                        rng.pick(&[out.as_mut_ptr() as u64, 0, guard.addr(), KERNEL_ADDR]),
                    );
                    put32(
                        &mut buf,
                        offset_of!(ChainRead, out_len),
                        rng.pick(&[0, 512, 4096]),
                    );
                    let reserved = offset_of!(ChainRead, reserved);
                    buf[reserved..reserved + 28].fill(0);
                    if rng.below(8) == 0 {
                        put32(&mut buf, reserved + 4 * rng.below(7) as usize, 1);
                    }
                }
                abi::IOC_TAGS => {
                    put64(&mut buf, 0, rng.pick(&ptrs));
                    put32(&mut buf, 8, rng.pick(&[0, 1, 4, 1000, u32::MAX]));
                }
                _ => {}
            }
            // A scratch pointer into our buffer with a length past its end
            // would let the kernel write our memory: keep them consistent.
            if cmd == abi::IOC_TAGS {
                let p = u64::from_ne_bytes(buf[0..8].try_into().unwrap());
                if p == scratch.as_mut_ptr() as u64 || p == scratch.as_mut_ptr() as u64 + 1 {
                    let fits = (4095 / std::mem::size_of::<abi::TagInfo>()) as u64;
                    put32(&mut buf, 8, rng.below(fits + 1) as u32);
                }
            }
            if cmd == abi::IOC_CHAIN_READ {
                let at = offset_of!(ChainRead, scratch);
                let sp = u64::from_ne_bytes(buf[at..at + 8].try_into().unwrap());
                if sp == scratch.as_mut_ptr() as u64 + 1 {
                    put32(
                        &mut buf,
                        offset_of!(ChainRead, scratch_len),
                        rng.below(4095) as u32,
                    );
                }
                let at = offset_of!(ChainRead, out_len);
                let l = u32::from_ne_bytes(buf[at..at + 4].try_into().unwrap()).min(4096);
                put32(&mut buf, at, l);
            }
            if cmd == abi::IOC_ATTACH_SET {
                // At most the 65 fds of `set_fds` are read from it.
                let at = offset_of!(AttachSet, fds);
                if u64::from_ne_bytes(buf[at..at + 8].try_into().unwrap())
                    == set_fds.as_ptr() as u64
                {
                    let n = offset_of!(AttachSet, nr_files);
                    let v = u32::from_ne_bytes(buf[n..n + 4].try_into().unwrap());
                    put32(&mut buf, n, v.min(set_fds.len() as u32));
                }
            }
        }
        let arg = match rng.below(20) {
            0 => std::ptr::null_mut(),
            1 => guard.addr() as *mut libc::c_void,
            2 => KERNEL_ADDR as *mut libc::c_void,
            _ => buf.as_mut_ptr().cast(),
        };
        // SAFETY: `arg` is null, unmapped, a kernel address (the kernel
        // refuses those with EFAULT), or `buf`, 512 bytes of ours; any user
        // pointer inside `buf` of a command the kernel knows is null,
        // unmapped, kernel, or into `scratch` / `out` (4096 bytes each) with
        // a length (or IOC_TAGS capacity) that fits, or `set_fds` with at
        // most its length (see above; fields are placed by `offset_of!` on
        // the ABI structures), and the kernel writes no more than it is
        // given. A mutated command number has another size, which the
        // module does not know (ENOTTY).
        let ret = unsafe { libc::ioctl(dev, cmd as libc::Ioctl, arg) };
        let key = if ret < 0 {
            std::io::Error::last_os_error()
                .raw_os_error()
                .map_or("?".into(), |e| format!("errno {e}"))
        } else {
            "ok".into()
        };
        *results.entry(key).or_default() += 1;
        if ret == 0 && arg == buf.as_mut_ptr().cast() {
            let tag = match cmd {
                abi::IOC_ATTACH => Some(offset_of!(abi::Attach, tag)),
                abi::IOC_ATTACH_SET => Some(offset_of!(AttachSet, tag)),
                _ => None,
            };
            if let Some(at) = tag {
                attached.push(u32::from_ne_bytes(buf[at..at + 4].try_into().unwrap()));
            }
        }
    }
    println!("ok: {ITERATIONS} ioctls (seed {seed:#x}): {results:?}");
    // Still healthy: a clean chain on a fresh tag.
    drop(control);
    let control = Control::open(DEFAULT_DEVICE)?;
    ensure!(
        control.stats()?.tags <= 1,
        "tags left behind: {:?}",
        control.stats()?
    );
    let tag = control.attach(&file, &f, 0)?;
    let mut s = jump_scratch(4096, 4096, 1);
    tag.chain_read(0, 4096, &mut s, None)?;
    ensure!(
        s[16..24] == [0x42; 8] && s[24..32] == [0x42; 8],
        "chain after fuzzing"
    );
    println!("ok: the module still runs chains correctly");
    drop(tag);
    fs::remove_file(&path)?;
    Ok(())
}

/// Random and mutated storage functions: each must be refused by the
/// verifier or, once loaded, run on random blocks and scratch without harm.
pub fn fuzz_verifier() -> Result<()> {
    const PROGRAMS: u32 = 3000;
    let seed = 0x5eed_0002;
    let mut rng = Rng(seed);
    // Real programs to mutate: the instructions of the fixtures.
    let mut bases: Vec<Vec<u64>> = Vec::new();
    for name in ["jump", "loop", "abort"] {
        let obj = libbpf_rs::ObjectBuilder::default()
            .open_memory(rnvme::fixture(name).context("fixture")?)?;
        for prog in obj.progs() {
            bases.push(
                prog.insns()
                    .iter()
                    .map(|i| {
                        // struct bpf_insn as one little-endian u64.
                        u64::from(i.code)
                            | u64::from(i.dst_reg()) << 8
                            | u64::from(i.src_reg()) << 12
                            | (i.off as u16 as u64) << 16
                            | (i.imm as u32 as u64) << 32
                    })
                    .collect(),
            );
        }
    }
    ensure!(!bases.is_empty(), "no base programs");
    let license = c"GPL";
    let (mut refused, mut loaded, mut runs) = (0u32, 0u32, 0u32);
    for _ in 0..PROGRAMS {
        let mut insns = if rng.below(5) == 0 {
            // A random program ending in exit.
            let mut v: Vec<u64> = (0..1 + rng.below(40)).map(|_| rng.next()).collect();
            v.push(0x95);
            v
        } else {
            rng.pick(&bases.iter().collect::<Vec<_>>()).clone()
        };
        for _ in 0..1 + rng.below(4) {
            let i = rng.below(insns.len() as u64) as usize;
            match rng.below(5) {
                0 => insns[i] ^= 1 << rng.below(64),
                1 => insns[i] = rng.next(),
                2 => insns[i] = (insns[i] & !0xffff_0000) | ((rng.next() & 0xffff) << 16),
                3 => {
                    let j = rng.below(insns.len() as u64) as usize;
                    insns.swap(i, j);
                }
                _ => insns.truncate(i.max(1)),
            }
        }
        let loaded_fd = bpf(BPF_PROG_LOAD, |a| {
            a[0] = u64::from(rnvme::uapi::BPF_PROG_TYPE_RNVME) | (insns.len() as u64) << 32;
            a[1] = insns.as_ptr() as u64;
            a[2] = license.as_ptr() as u64;
        });
        let fd = match loaded_fd {
            Err(_) => {
                refused += 1;
                continue;
            }
            Ok(fd) => fd as i32,
        };
        loaded += 1;
        for _ in 0..4 {
            let len = 1 + rng.below(4096) as usize;
            let data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            let mut ctx: Vec<u8> = vec![0u8; 40 + 4096];
            for b in ctx[40..].iter_mut() {
                *b = rng.next() as u8;
            }
            ctx[16..24].copy_from_slice(&(rng.below(1 << 20) * 512).to_ne_bytes());
            let r = bpf(BPF_PROG_TEST_RUN, |a| {
                a[0] = fd as u32 as u64;
                a[1] = len as u64; // data_size_in (data_size_out 0)
                a[2] = data.as_ptr() as u64;
                a[5] = (ctx.len() as u64) | (ctx.len() as u64) << 32;
                a[6] = ctx.as_ptr() as u64;
                a[7] = ctx.as_mut_ptr() as u64;
            });
            if r.is_ok() {
                runs += 1;
            }
        }
        // SAFETY: `fd` is the program fd the kernel just returned.
        unsafe { libc::close(fd) };
    }
    println!("ok: {PROGRAMS} programs (seed {seed:#x}): {refused} refused by the verifier, {loaded} loaded, {runs} test runs");
    ensure!(
        refused > 0 && loaded > 0,
        "the fuzzer did not reach both outcomes"
    );
    // Still healthy: the real function still loads and runs.
    let f = StorageFunction::builtin("chain")?;
    let mut s = vec![0u8; ChainResult::SIZE];
    let mut block = vec![0u8; 512];
    block[0..8].copy_from_slice(&rnvme::format::chain::MAGIC.to_le_bytes());
    block[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
    block[16..24].copy_from_slice(&5u64.to_le_bytes());
    let r = f.test_run(&block, 0, 0, &mut s)?;
    ensure!(
        r.verdict == Some(rnvme::Verdict::Done) && ChainResult::from_scratch(&s).sum == 5,
        "{r:?}"
    );
    println!("ok: the verifier and test runs still behave");
    Ok(())
}
