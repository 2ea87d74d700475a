// SPDX-License-Identifier: GPL-2.0 OR MIT

//! Chain reads through io_uring (`URING_CHAIN_READ`): byte for byte the
//! same as the ioctl's for every function, at queue depths 1 to 64, on
//! interrupt and IOPOLL rings; and what a ring's user can do to them (exit,
//! SIGKILL, cancel, module unload, another user, garbage) leaves the
//! kernel sound ([`hostile`], [`fuzz`]).

mod budgets;
mod fuzz;
mod hostile;
mod raw;

pub use budgets::uring_budgets;
pub use fuzz::fuzz_uring;
pub use hostile::{uring_as_user, uring_flood, uring_teardown, uring_unprivileged};

use std::{fs, path::PathBuf};

use anyhow::{ensure, Context, Result};
use rnvme::{
    format::{
        bptree::{self, Shape, TreeSpec},
        chain::{self as chainfmt, ChainResult, ChainSpec},
        records::{self, RecordSpec},
    },
    ChainCompletion, ChainOutcome, ChainRequest, ChainRing, Control, StorageFunction, Tag, Window,
    DEFAULT_DEVICE,
};

use crate::{
    files,
    fixtures::{fixture, jump_scratch, write_test_file},
};

/// Queue depths every comparison runs at.
pub const DEPTHS: [u32; 4] = [1, 4, 16, 64];

/// A chain and what the ioctl answered for it.
pub struct Case {
    pub what: String,
    pub req: ChainRequest,
    pub want: Answer,
}

/// What a chain gave: its outcome or errno, its scratch and last bytes.
#[derive(Debug, PartialEq, Eq)]
pub struct Answer {
    /// Verdict, hops, last file, offset and length; or the errno and hops.
    pub end: std::result::Result<(u32, u32, u64, u32), (i32, u32)>,
    pub scratch: Vec<u8>,
    pub out: Vec<u8>,
}

fn end_of(
    r: &rnvme::Result<ChainOutcome>,
) -> std::result::Result<(u32, u32, u64, u32), (i32, u32)> {
    match r {
        Ok(o) => Ok((o.hops, o.last_file, o.last_offset, o.last_len)),
        Err(rnvme::Error::Chain { hops, cause }) => Err((cause.raw_os_error().unwrap_or(0), *hops)),
        Err(e) => Err((e.errno().unwrap_or(-1), u32::MAX)),
    }
}

/// Runs `req` on `tag` with the blocking ioctl.
pub fn sync_answer(tag: &Tag, req: &ChainRequest) -> Answer {
    let mut scratch = req.scratch.clone();
    let mut out = vec![0u8; req.out_len as usize];
    let r = tag.chain(
        req.first,
        &mut scratch,
        (!out.is_empty()).then_some(&mut out[..]),
        false,
    );
    let keep = match &r {
        Ok(o) if req.out_len > 0 => o.last_len as usize,
        _ => 0,
    };
    out.truncate(keep);
    Answer {
        end: end_of(&r),
        scratch,
        out,
    }
}

/// What a ring's completion gave.
pub fn ring_answer(c: &ChainCompletion) -> Answer {
    Answer {
        end: end_of(&c.result),
        scratch: c.scratch.clone(),
        out: c.out.clone(),
    }
}

/// Runs every case on a ring of each depth, interrupt and polled; each
/// answer must equal the ioctl's. Returns the chains run and the reads the
/// driver resubmitted for them.
pub fn compare_on_rings(control: &Control, cases: &[Case]) -> Result<(u64, u64)> {
    let (mut chains, mut driver_hops) = (0, 0);
    for polled in [false, true] {
        for depth in DEPTHS {
            let mut ring = ChainRing::new(control, depth, polled)?;
            let done = ring.run_all(cases.iter().map(|c| c.req.clone()))?;
            ensure!(
                done.len() == cases.len(),
                "{} of {} chains came back",
                done.len(),
                cases.len()
            );
            for (case, c) in cases.iter().zip(&done) {
                let got = ring_answer(c);
                ensure!(
                    got == case.want,
                    "{} (depth {depth}, polled {polled}): ring {:?} != ioctl {:?}",
                    case.what,
                    got.end,
                    case.want.end
                );
                driver_hops += c.result.as_ref().map_or(0, |o| u64::from(o.driver_hops));
                chains += 1;
            }
            println!(
                "ok: {} chains at depth {depth}{} equal the ioctl's",
                cases.len(),
                if polled { ", IOPOLL ring" } else { "" }
            );
        }
    }
    Ok((chains, driver_hops))
}

/// A case: `req` on `tag`, answered by the ioctl now.
fn case(tag: &Tag, what: String, first: Window, scratch: Vec<u8>, out_len: u32) -> Case {
    let req = ChainRequest {
        tag: tag.id(),
        first,
        scratch,
        out_len,
    };
    let want = sync_answer(tag, &req);
    Case { what, req, want }
}

/// Files of the cases, removed at the end.
struct Files(Vec<PathBuf>);

impl Drop for Files {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = fs::remove_file(p);
        }
    }
}

/// Async chains equal the ioctl's for the chain, B+-tree and scan
/// functions and the fixtures that end in errors (ABORT, the hop limit,
/// offsets past EOF) or read windows split across extents, at every depth,
/// interrupt and IOPOLL rings.
pub fn uring_exact() -> Result<()> {
    let control = Control::open(DEFAULT_DEVICE)?;
    let mut paths = Files(Vec::new());
    let mut tags = Vec::new();
    let mut fds = Vec::new();
    let mut cases = Vec::new();
    let functions = [
        StorageFunction::builtin("chain")?,
        StorageFunction::builtin("bptree")?,
        StorageFunction::builtin("scan")?,
        fixture("jump")?,
        fixture("abort")?,
        fixture("loop")?,
    ];
    let [chain_f, tree_f, scan_f, jump_f, abort_f, loop_f] = &functions;
    let mut attach = |path: PathBuf, f: &StorageFunction, max_hops: u32| -> Result<usize> {
        let fd = files::open_ro(&path)?;
        let tag = control.attach(&fd, f, max_hops)?;
        paths.0.push(path);
        fds.push(fd);
        tags.push(tag);
        Ok(tags.len() - 1)
    };

    // Chains of 1 to 31 hops, both namespaces, one of each fragmented.
    let mut chain_tags = Vec::new();
    for (mount, bs) in [("/mnt/nvme", 512u32), ("/mnt/nvme4k", 4096)] {
        for hops in [1u32, 2, 8, 31] {
            let spec = ChainSpec {
                hops,
                block_size: bs,
                file_blocks: (hops * 4).max(64) * 4096 / bs,
                seed: u64::from(hops) * 77 + u64::from(bs),
            };
            let file = chainfmt::build(&spec);
            let path = files::fresh(mount, &format!("uring-chain-{bs}-{hops}"));
            write_test_file(&path, &file.bytes, hops % 2 == 0)?;
            chain_tags.push((attach(path, chain_f, 0)?, file.start, bs, hops));
        }
    }
    // A B+-tree with a value log, fragmented.
    let spec = TreeSpec {
        keys: 5000,
        node_size: 512,
        shape: Shape::Depth(3),
        value_log: true,
        seed: 91,
    };
    let tree = bptree::build(&spec).map_err(anyhow::Error::msg)?;
    let path = files::fresh("/mnt/nvme", "uring-tree");
    write_test_file(&path, &tree.bytes, true)?;
    let tree_tag = attach(path, tree_f, 0)?;
    // Records for scans.
    let rspec = RecordSpec {
        blocks: 64,
        block_size: 4096,
        key_space: 10_000,
        seed: 92,
    };
    let path = files::fresh("/mnt/nvme4k", "uring-records");
    write_test_file(
        &path,
        &records::build(&rspec).map_err(anyhow::Error::msg)?,
        false,
    )?;
    let scan_tag = attach(path, scan_f, 0)?;
    // Windows at 2 KiB offsets across fragmented 4 KiB blocks: read in
    // pieces, in the ring's task work.
    let mut bytes = vec![0u8; 64 * 4096];
    for (i, c) in bytes.chunks_mut(8).enumerate() {
        c.copy_from_slice(&(i as u64).to_le_bytes());
    }
    let path = files::fresh("/mnt/nvme", "uring-split");
    files::write_fragmented(&path, &bytes)?;
    let split_tag = attach(path, jump_f, 0)?;
    let path = files::fresh("/mnt/nvme", "uring-abort");
    files::write_contiguous(&path, &[1u8; 4096])?;
    let abort_tag = attach(path, abort_f, 0)?;
    let path = files::fresh("/mnt/nvme", "uring-loop");
    files::write_contiguous(&path, &[7u8; 8192])?;
    let loop_tag = attach(path, loop_f, 5)?;

    for &(t, start, bs, hops) in &chain_tags {
        let tag = &tags[t];
        cases.push(case(
            tag,
            format!("chain {bs} B x {hops}"),
            Window::first(start, bs),
            vec![0; ChainResult::SIZE],
            4096,
        ));
        // Past EOF: refused before any read.
        cases.push(case(
            tag,
            format!("chain {bs} B past EOF"),
            Window::first(1 << 40, bs),
            vec![0; ChainResult::SIZE],
            0,
        ));
    }
    let present = bptree::present_keys(&spec);
    for key in present
        .iter()
        .step_by(present.len() / 40)
        .copied()
        .chain([1, u64::MAX])
    {
        cases.push(case(
            &tags[tree_tag],
            format!("tree key {key}"),
            Window::first(tree.sup.root, tree.sup.node_size),
            bptree::query(key),
            0,
        ));
    }
    for (start, end, lo, hi) in [
        (0u64, 32u64, 0u64, u64::MAX),
        (10, 30, 2000, 2999),
        (40, 64, 5, 9000),
    ] {
        cases.push(case(
            &tags[scan_tag],
            format!("scan blocks {start}..{end}"),
            Window::first(start * 4096, 4096),
            records::query(lo, hi, end * 4096),
            0,
        ));
    }
    for block in (0..63u64).step_by(3) {
        let offset = block * 4096 + 2048;
        cases.push(case(
            &tags[split_tag],
            format!("split window at {offset}"),
            Window::first(0, 4096),
            jump_scratch(offset, 4096, 1),
            4096,
        ));
    }
    cases.push(case(
        &tags[abort_tag],
        "abort".into(),
        Window::first(0, 4096),
        vec![],
        0,
    ));
    cases.push(case(
        &tags[loop_tag],
        "hop limit".into(),
        Window::first(0, 512),
        vec![],
        0,
    ));
    for c in &cases {
        if let Err((errno, hops)) = c.want.end {
            println!("   {}: ioctl errno {errno} after {hops} reads", c.what);
        }
    }
    ensure!(
        cases.iter().filter(|c| c.want.end.is_err()).count() == chain_tags.len() + 2,
        "the error cases did not all fail"
    );
    let (chains, driver_hops) = compare_on_rings(&control, &cases)?;
    ensure!(
        driver_hops > 0,
        "no read of an async chain was resubmitted by the driver"
    );
    let m = control.metrics()?;
    ensure!(
        m.uring_in_flight == 0,
        "{} io_uring chains still counted in flight",
        m.uring_in_flight
    );
    ensure!(
        m.uring_chains >= chains,
        "metrics count {} io_uring chains, ran {chains}",
        m.uring_chains
    );
    println!("ok: {chains} io_uring chains equal the ioctl's; {driver_hops} reads resubmitted in the driver");
    drop(tags);
    Ok(())
}

/// The `uring_in_flight` gauge, waited on until it is 0 (chains of a ring
/// that went away end at their next read).
pub fn wait_no_uring_chains(control: &Control) -> Result<()> {
    for _ in 0..600 {
        if control.metrics()?.uring_in_flight == 0 {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let m = control.metrics().context("metrics")?;
    anyhow::bail!(
        "{} io_uring chains still in flight after 60 s",
        m.uring_in_flight
    )
}
