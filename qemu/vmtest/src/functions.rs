// SPDX-License-Identifier: GPL-2.0 OR MIT

//! Storage functions without I/O: the verifier refuses the bad fixtures and
//! loads the good ones; BPF_PROG_TEST_RUN of the built-in functions on
//! crafted blocks.

use anyhow::{bail, ensure, Result};
use rnvme::{
    format::{
        bptree::{self, Shape, TreeSpec},
        chain::{self, ChainResult},
        memory_reader,
        records::{self, RecordSpec},
    },
    Error, StorageFunction, Verdict,
};

use crate::fixtures::{chain_block, fixture};

/// Every fixture the verifier must refuse is refused; the others load.
pub fn verifier_rejects() -> Result<()> {
    for name in [
        "reject_oob_read",
        "reject_block_write",
        "reject_ro_field",
        "reject_scratch_oob",
        "reject_scratch_unbounded",
        "reject_bad_verdict",
    ] {
        match fixture(name) {
            Err(e) if matches!(e.downcast_ref::<Error>(), Some(Error::Load { .. })) => {
                println!("ok: {name} refused at load");
            }
            Err(e) => bail!("{name}: unexpected error {e:#}"),
            Ok(_) => bail!("{name} loaded, but the verifier must refuse it"),
        }
    }
    for name in ["jump", "abort", "loop"] {
        fixture(name)?;
    }
    StorageFunction::builtin("chain")?;
    println!("ok: jump, abort, loop and the built-in chain load");
    Ok(())
}

/// BPF_PROG_TEST_RUN of the built-in chain function on crafted blocks.
pub fn test_run() -> Result<()> {
    let f = StorageFunction::builtin("chain")?;
    let mut scratch = vec![0u8; 64];
    let r = f.test_run(&chain_block(chain::MAGIC, 8192, 40, 0), 0, 0, &mut scratch)?;
    ensure!(
        r.verdict == Some(Verdict::Next) && r.next_offset == 8192 && r.next_len == 512,
        "{r:?}"
    );
    let r = f.test_run(
        &chain_block(chain::MAGIC, chain::END, 2, 1),
        8192,
        1,
        &mut scratch,
    )?;
    ensure!(r.verdict == Some(Verdict::Done), "{r:?}");
    let got = ChainResult::from_scratch(&scratch);
    ensure!(
        got == ChainResult {
            sum: 42,
            count: 2,
            last_value: 2,
            last_index: 1
        },
        "scratch after two blocks: {got:?}"
    );
    let r = f.test_run(&chain_block(0xdead, 0, 0, 0), 0, 0, &mut scratch)?;
    ensure!(r.verdict == Some(Verdict::Abort), "bad magic: {r:?}");
    let r = f.test_run(&[0u8; 16], 0, 0, &mut scratch)?;
    ensure!(r.verdict == Some(Verdict::Abort), "short block: {r:?}");
    println!("ok: NEXT, DONE with the sum in the scratch, ABORT on bad magic and on a short block");
    Ok(())
}

/// BPF_PROG_TEST_RUN of bptree and scan on crafted blocks.
pub fn test_run_bptree_scan() -> Result<()> {
    let spec = TreeSpec {
        keys: 100,
        node_size: 512,
        shape: Shape::Depth(2),
        value_log: false,
        seed: 5,
    };
    let tree = bptree::build(&spec).map_err(anyhow::Error::msg)?;
    let node = |off: u64| &tree.bytes[off as usize..off as usize + 512];
    let f = StorageFunction::builtin("bptree")?;
    let key = bptree::present_keys(&spec)[57];
    let mut q = bptree::query(key);
    let r = f.test_run(node(tree.sup.root), tree.sup.root, 0, &mut q)?;
    ensure!(r.verdict == Some(Verdict::Next), "root: {r:?}");
    let r2 = f.test_run(node(r.next_offset), r.next_offset, 1, &mut q)?;
    ensure!(r2.verdict == Some(Verdict::Done), "leaf: {r2:?}");
    let found = bptree::parse_query(&q);
    ensure!(found.found && found.depth == 2, "{found:?}");
    let mut q = bptree::query(key);
    let r = f.test_run(&[0u8; 512], 0, 0, &mut q)?;
    ensure!(r.verdict == Some(Verdict::Abort), "garbage node: {r:?}");

    let rspec = RecordSpec {
        blocks: 2,
        block_size: 512,
        key_space: 10,
        seed: 6,
    };
    let bytes = records::build(&rspec).map_err(anyhow::Error::msg)?;
    let f = StorageFunction::builtin("scan")?;
    let mut q = records::query(0, 9, 1024);
    let r = f.test_run(&bytes[..512], 0, 0, &mut q)?;
    ensure!(
        r.verdict == Some(Verdict::Next) && r.next_offset == 512,
        "{r:?}"
    );
    let r = f.test_run(&bytes[512..], 512, 1, &mut q)?;
    ensure!(r.verdict == Some(Verdict::Done), "{r:?}");
    let want =
        records::scan(memory_reader(&bytes), 512, 0, 1024, 0, 9).map_err(anyhow::Error::msg)?;
    ensure!(
        records::parse_query(&q) == want,
        "aggregate {:?} != {want:?}",
        records::parse_query(&q)
    );
    println!("ok: bptree descends, finds, aborts on garbage; scan aggregates two blocks");
    Ok(())
}
