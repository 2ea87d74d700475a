// SPDX-License-Identifier: GPL-2.0 OR MIT

//! What a storage function may do in the completion path: every construct
//! whose run time the verifier does not walk is refused with the verifier's
//! reason, the slowest function that still loads is timed, and no function
//! can hand a kernel address to whoever runs its chains.

use std::{
    os::fd::{AsFd, AsRawFd},
    time::Instant,
};

use anyhow::{bail, ensure, Context, Result};
use rnvme::{Control, Error, StorageFunction, Verdict, DEFAULT_DEVICE};

use crate::{
    bpf_syscall::{insn, load_raw, test_run},
    files,
    fixtures::fixture,
};

// Opcodes of the raw programs below.
const MOV64_IMM: u8 = 0xb7;
const MOV64_REG: u8 = 0xbf;
const ADD64_IMM: u8 = 0x07;
const CALL: u8 = 0x85;
const JA: u8 = 0x05;
const JEQ_IMM: u8 = 0x15;
const EXIT: u8 = 0x95;
/// `BPF_JMP | BPF_JCOND`, with src_reg `BPF_MAY_GOTO` (0).
const MAY_GOTO: u8 = 0xe5;
/// src_reg of a call to a kernel function (kfunc).
const PSEUDO_KFUNC_CALL: u8 = 2;

/// What clang emits for `bpf_for(i, 0, 1 << 23)`: the open-coded iterator
/// kfuncs bpf_iter_num_new/next/destroy on a stack slot. (The BTF ids are
/// placeholders: the program must be refused before they are looked up.)
fn bpf_for_program() -> Vec<u64> {
    let it = |dst| {
        [
            insn(MOV64_REG, dst, 10, 0, 0),
            insn(ADD64_IMM, dst, 0, 0, -8),
        ]
    };
    let mut p = Vec::new();
    p.extend(it(1));
    p.push(insn(MOV64_IMM, 2, 0, 0, 0));
    p.push(insn(MOV64_IMM, 3, 0, 0, 1 << 23));
    p.push(insn(CALL, 0, PSEUDO_KFUNC_CALL, 0, 1)); // bpf_iter_num_new
    p.extend(it(1)); // loop:
    p.push(insn(CALL, 0, PSEUDO_KFUNC_CALL, 0, 2)); // bpf_iter_num_next
    p.push(insn(JEQ_IMM, 0, 0, 1, 0)); // if r0 == NULL goto end
    p.push(insn(JA, 0, 0, -5, 0)); // goto loop
    p.extend(it(1)); // end:
    p.push(insn(CALL, 0, PSEUDO_KFUNC_CALL, 0, 3)); // bpf_iter_num_destroy
    p.push(insn(MOV64_IMM, 0, 0, 0, 1));
    p.push(insn(EXIT, 0, 0, 0, 0));
    p
}

/// `while (can_loop) n++;`: a may_goto loop, whose budget is 8 million
/// iterations.
fn may_goto_program() -> Vec<u64> {
    vec![
        insn(MOV64_IMM, 0, 0, 0, 0),
        insn(MAY_GOTO, 0, 0, 2, 0), // loop: may_goto end
        insn(ADD64_IMM, 0, 0, 0, 1),
        insn(JA, 0, 0, -3, 0),       // goto loop
        insn(MOV64_IMM, 0, 0, 0, 1), // end:
        insn(EXIT, 0, 0, 0, 0),
    ]
}

/// The fixture must be refused, and the verifier's reason must say `why`.
fn refused(name: &str, why: &str) -> Result<()> {
    match fixture(name) {
        Err(e) => match e.downcast_ref::<Error>() {
            Some(Error::Load { cause, .. }) if cause.contains(why) => {
                println!("ok: {name} refused: {cause}");
                Ok(())
            }
            _ => bail!("{name}: refused, but not for /{why}/: {e:#}"),
        },
        Ok(_) => bail!("{name} loaded, but the verifier must refuse it"),
    }
}

/// A raw program must be refused, and the verifier's log must say `why`.
fn raw_refused(what: &str, insns: &[u64], why: &str) -> Result<()> {
    match load_raw(insns) {
        Ok(_) => bail!("{what} loaded, but the verifier must refuse it"),
        Err((errno, log)) => {
            let line = log
                .lines()
                .find(|l| l.contains(why))
                .with_context(|| format!("{what}: errno {errno}, log without /{why}/:\n{log}"))?;
            println!("ok: {what} refused (errno {errno}): {line}");
            Ok(())
        }
    }
}

/// Nested bpf_loop, a bpf_for iterator loop, a may_goto loop, task helpers,
/// hash maps, a loop calling a global function (verified once, run many
/// times) and a loop walked past the kernel's bound are all refused with
/// the verifier's reason; the slowest functions that still load are timed
/// per invocation, by BPF_PROG_TEST_RUN and in a real chain.
pub fn bounded_functions() -> Result<()> {
    refused("reject_bpf_loop", "callbacks")?;
    raw_refused("bpf_for loop", &bpf_for_program(), "kernel function calls")?;
    raw_refused("may_goto loop", &may_goto_program(), "may_goto")?;
    refused("reject_helper_task", "helper")?;
    refused("reject_hash_map", "array maps only")?;
    refused("reject_too_complex", "too complex")?;
    refused("reject_global_func", "is global")?;

    let control = Control::open(DEFAULT_DEVICE)?;
    let path = files::fresh("/mnt/nvme", "slowest");
    files::write_contiguous(&path, &[5u8; 4096])?;
    let fd = files::open_ro(&path)?;
    let mut slowest = 0f64;
    for name in ["slowest_div", "slowest_ktime"] {
        let t = Instant::now();
        let f = fixture(name)?;
        let verified = t.elapsed();
        let mut scratch = vec![0u8; 4096];
        scratch[0..8].copy_from_slice(&u64::MAX.to_le_bytes());
        scratch[8..16].copy_from_slice(&3u64.to_le_bytes());
        let (ret, ns) = test_run(f.as_fd().as_raw_fd(), &[0u8; 512], &scratch, 5)
            .map_err(|e| anyhow::anyhow!("test run of {name}: errno {e}"))?;
        ensure!(ret == Verdict::Done as u32, "{name} returned {ret}");
        // The same function as the one run of a real chain, in the
        // completion interrupt.
        let tag = control.attach(&fd, &f, 0)?;
        let t = Instant::now();
        let out = tag.chain_read(0, 4096, &mut scratch, None)?;
        let chain = t.elapsed();
        ensure!(
            out.verdict == Verdict::Done && out.hops == 1,
            "{name}: {out:?}"
        );
        let ms = f64::from(ns) / 1e6;
        slowest = slowest.max(ms);
        println!(
            "ok: {name} loads (verified in {verified:.2?}): {ms:.2} ms per invocation (test run, mean of 5); one-read chain {chain:.2?}"
        );
    }
    println!("slowest loadable function: {slowest:.2} ms per invocation");
    Ok(())
}

/// A function loaded by root (CAP_PERFMON, so pointer leaks would otherwise
/// be allowed) cannot store a kernel address into the scratch or the
/// context; the scratch that comes back holds only what the function
/// computed from data.
pub fn no_pointer_leaks() -> Result<()> {
    refused("reject_ptr_to_scratch", "leaks addr")?;
    refused("reject_ptr_to_ctx", "leaks addr")?;
    // A function that may do pointer arithmetic still loads and works: the
    // built-in ones.
    for name in rnvme::builtin_functions() {
        StorageFunction::builtin(name).with_context(|| format!("built-in {name}"))?;
    }
    println!("ok: the built-in functions load with pointer leaks forbidden");
    Ok(())
}
