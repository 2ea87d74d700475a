// SPDX-License-Identifier: GPL-2.0 OR MIT

//! Large sparse files: a 64 GiB file with a chain's blocks scattered past
//! 4 GiB is mapped extent by extent (`fiemap_kernel()`), not block by block,
//! so it attaches; its map is exactly the file's written extents, and
//! chains over it read the right blocks and end with ENODATA at a hole.

use anyhow::{ensure, Result};
use rnvme::{
    format::chain::{header, END, HEADER},
    Control, StorageFunction, DEFAULT_DEVICE,
};

use super::{run_chain, write_direct, BS, LIVE_MOUNTS};
use crate::files;

const GIB: u64 = 1 << 30;

/// A chain block pointing to `next`, with `value` and hop `index`.
fn block(next: u64, value: u64, index: u32) -> Vec<u8> {
    let mut b = vec![0x5au8; BS as usize];
    b[..HEADER].copy_from_slice(&header(next, value, index, BS));
    b
}

/// On ext4 and XFS: 8 hops at offsets from 12 KiB to 63 GiB of a 64 GiB
/// file with nothing else written; then a block whose next hop is a hole.
pub fn large_sparse() -> Result<()> {
    let hops = [
        3 * 4096,
        5 * GIB,
        9 * GIB + 8192,
        17 * GIB,
        4 * GIB + 4096,
        33 * GIB + 5 * 4096,
        40 * GIB,
        63 * GIB,
    ];
    let orphan = 50 * GIB;
    for mount in LIVE_MOUNTS {
        let path = files::fresh(mount, "sparse-64g");
        std::fs::File::create(&path)?.set_len(64 * GIB)?;
        let mut want = 0u64;
        for (i, &at) in hops.iter().enumerate() {
            let next = hops.get(i + 1).copied().unwrap_or(END);
            let value = (i as u64 + 1) << 20;
            want += value;
            write_direct(&path, at, &block(next, value, i as u32))?;
        }
        write_direct(&path, orphan, &block(7 * GIB, 1, 0))?;
        let control = Control::open(DEFAULT_DEVICE)?;
        let f = StorageFunction::builtin("chain")?;
        let tag = control.attach(&files::open_ro(&path)?, &f, 0)?;
        let theirs = files::physical_extents(&path)?.len();
        ensure!(
            tag.extents() as usize == hops.len() + 1 && theirs == hops.len() + 1,
            "{mount}: the module maps {} extents, FIEMAP shows {theirs}, {} blocks were written",
            tag.extents(),
            hops.len() + 1
        );
        for polled in [false, true] {
            let r = run_chain(&tag, hops[0], polled)
                .map_err(|e| anyhow::anyhow!("{mount}: chain failed with errno {e}"))?;
            ensure!(
                r.count == hops.len() as u64 && r.sum == want && r.last_index == 7,
                "{mount}: chain read {r:?}, want {} hops summing to {want}",
                hops.len()
            );
        }
        let r = run_chain(&tag, orphan, false).err();
        ensure!(
            r == Some(libc::ENODATA),
            "{mount}: a hop into a hole: {r:?}"
        );
        println!(
            "ok: {mount}: 64 GiB sparse file, 9 blocks written up to 63 GiB: {} extents mapped \
             (FIEMAP: {theirs}); 8-hop chains exact, interrupt and polled; a hop into a hole \
             ENODATA",
            tag.extents()
        );
        drop(tag);
        std::fs::remove_file(&path)?;
    }
    Ok(())
}
