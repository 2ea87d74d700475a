// SPDX-License-Identifier: GPL-2.0 OR MIT

//! A bounded fuzzer of `URING_CHAIN_READ` commands: random ops, payloads
//! and `ChainRead`s (bad tags, flags, lengths, offsets, file indexes,
//! reserved fields; scratch, out and argument pointers that are null,
//! unmapped, in a guard page or in the kernel), on interrupt and IOPOLL
//! rings. Every CQE must be 0 or an errno the ABI names; afterwards no
//! chain is in flight and a real one still works.

use std::{collections::BTreeMap, os::fd::AsRawFd};

use anyhow::{ensure, Result};
use rnvme::{
    abi::{self, ChainRead, UringChainRead},
    format::chain::{ChainResult, ChainSpec},
    ChainRequest, ChainRing, Control, StorageFunction, Window, DEFAULT_DEVICE,
};

use super::{raw::RawRing, wait_no_uring_chains};
use crate::{
    engine_files::debug_kernel,
    files,
    fixtures::write_chain,
    random::{Guard, Rng, KERNEL_ADDR},
};

/// Buffers one fuzzed command may name, kept until its CQE.
struct Buffers {
    args: Box<ChainRead>,
    scratch: Vec<u8>,
    out: Vec<u8>,
}

/// Errnos a command may end with.
const ALLOWED: [i32; 12] = [
    0,
    libc::EINVAL,
    libc::EFAULT,
    libc::ENOENT,
    libc::ENXIO,
    libc::ENODATA,
    libc::ECANCELED,
    libc::ELOOP,
    libc::ENOSPC,
    libc::EOPNOTSUPP,
    libc::EIO,
    libc::EBADMSG,
];

pub fn fuzz_uring() -> Result<()> {
    let seed = std::env::var("RNVME_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_0000_0000_0001 ^ std::process::id() as u64);
    println!("seed {seed} (RNVME_FUZZ_SEED to repeat)");
    let mut rng = Rng(seed | 1);
    let rounds: usize = if debug_kernel() { 600 } else { 2000 };
    let spec = ChainSpec {
        hops: 8,
        block_size: 512,
        file_blocks: 64,
        seed: 8,
    };
    let (path, start) = write_chain("/mnt/nvme", "uring-fuzz", &spec)?;
    let control = Control::open(DEFAULT_DEVICE)?;
    let f = StorageFunction::builtin("chain")?;
    let fd = files::open_ro(&path)?;
    let tag = control.attach(&fd, &f, 0)?;
    let guard_page = Guard::new()?;
    let (guard, kernel) = (guard_page.addr(), KERNEL_ADDR);
    let mut seen: BTreeMap<i32, u32> = BTreeMap::new();
    for iopoll in [false, true] {
        let mut ring = RawRing::new(64, iopoll)?;
        let mut batch: Vec<Buffers> = Vec::new();
        for round in 0..rounds {
            let mut b = Buffers {
                args: Box::default(),
                scratch: vec![0; 8192],
                out: vec![0; 70_000],
            };
            let r: [u64; 16] = std::array::from_fn(|_| rng.next());
            let (scratch, out) = (b.scratch.as_mut_ptr() as u64, b.out.as_mut_ptr() as u64);
            let a = &mut *b.args;
            // Each field is good 7 times in 8, so that a good share of the
            // commands gets past the checks into real chains.
            a.tag = rng.or(tag.id(), &[0, tag.id() + 1, r[0] as u32]);
            a.flags = rng.or(0, &[abi::CHAIN_POLLED, 2, r[1] as u32]);
            a.offset = rng.or(start, &[0, 512 * 63, 512 * 64, 1 << 40, u64::MAX, r[2]]);
            a.len = rng.or(512, &[1, 0, 4096, 65536, 65537, r[3] as u32]);
            a.file = rng.or(0, &[1, 64, r[4] as u32]);
            a.scratch_len = rng.or(
                ChainResult::SIZE as u32,
                &[0, 4096, 4097, (r[11] % 8192) as u32],
            );
            a.scratch = rng.or(scratch, &[0, guard, kernel, 1]);
            a.out_len = rng.or(512, &[0, 4096, 65536, (r[12] % 70_000) as u32]);
            a.out = rng.or(out, &[0, guard, kernel]);
            if r[13].is_multiple_of(8) {
                a.reserved[(r[14] % 7) as usize] = r[5] as u32;
            }
            let args = a as *mut ChainRead as u64;
            let cmd = UringChainRead {
                args: rng.or(args, &[0, guard, kernel]),
                flags: rng.or(0, &[1, r[6] as u32]),
                reserved: rng.or(0, &[r[7] as u32]),
            };
            let op = rng.or(abi::URING_CHAIN_READ, &[abi::IOC_CHAIN_READ, r[8] as u32]);
            // SAFETY: `b` (the ChainRead and its buffers, no shorter than
            // the lengths it gives) stays in `batch` until the batch is
            // reaped; the other addresses are bad on purpose and name no
            // memory of ours.
            unsafe { ring.push_cmd(control.file().as_raw_fd(), op, cmd.to_bytes(), round as u64) }?;
            batch.push(b);
            if batch.len() == 32 || round + 1 == rounds {
                for (_, res) in ring.reap(batch.len())? {
                    ensure!(ALLOWED.contains(&-res), "a fuzzed command gave {res}");
                    *seen.entry(-res).or_default() += 1;
                }
                batch.clear();
            }
        }
    }
    println!(
        "ok: {} fuzzed commands; CQEs by errno: {seen:?}",
        2 * rounds
    );
    ensure!(
        seen.get(&0).copied().unwrap_or(0) > 0,
        "no fuzzed chain succeeded"
    );
    wait_no_uring_chains(&control)?;
    let mut ring = ChainRing::new(&control, 8, false)?;
    let want = {
        let mut s = vec![0u8; ChainResult::SIZE];
        tag.chain_read(start, 512, &mut s, None)?;
        s
    };
    let reqs = (0..16).map(|_| ChainRequest {
        tag: tag.id(),
        first: Window::first(start, 512),
        scratch: vec![0; ChainResult::SIZE],
        out_len: 0,
    });
    for c in ring.run_all(reqs)? {
        ensure!(
            c.result.is_ok() && c.scratch == want,
            "chain after fuzzing: {:?}",
            c.result
        );
    }
    println!("ok: chains after the fuzzing are exact");
    drop(tag);
    std::fs::remove_file(&path)?;
    Ok(())
}
