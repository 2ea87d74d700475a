// SPDX-License-Identifier: GPL-2.0 OR MIT

//! Windows larger than the device takes in one request: the module reads
//! them through the block layer, which splits them, and runs the function
//! in process context. Forced to tag them anyway (a root-only debugfs test
//! switch), the split pieces reach the driver's hook, which must leave them
//! alone: the answers are the same.

use anyhow::{ensure, Result};
use rnvme::{format::Layout, Control, Window, DEFAULT_DEVICE};

use super::{fallbacks, mix, mode, placed, run_checked, FILE_LEN, MAX_HOPS};
use crate::{
    files::{self, DataFile, Setting},
    fixtures::{fixture, WINDOWS_MAX},
};

/// With the 4 KiB namespace's reads limited to 4 KiB (`max_sectors_kb`),
/// windows of 8 and 16 KiB, aligned and not, would be split by the block
/// layer: the driver resubmits none of them, the module reads them and runs
/// the function in process context, counting each as a "split" fallback,
/// and every answer equals pread; 4 KiB windows still go through the
/// driver. Then the same with the module's `test_tag_splits` switch on:
/// the split bios carry the hook's tag, and the hook's guard (a clone the
/// block layer split off is not the chain's bio; the rest of the chain's
/// bio is shorter than its window) keeps it from running the function on a
/// piece or resubmitting one. The limit and the switch are put back, also
/// when the test fails.
pub fn windows_split() -> Result<()> {
    let mount = "/mnt/nvme4k";
    let data = DataFile::create(mount, "windows-split", 31, FILE_LEN, Layout::Contiguous)?;
    let dev = files::block_device(mount)?;
    let limit = Setting::set(format!("/sys/block/{dev}/queue/max_sectors_kb"), "4")?;
    let r = split_chains(&data, &dev);
    let tagged = r.and_then(|()| {
        let switch = Setting::set("/sys/kernel/debug/rnvme/test_tag_splits", "Y")?;
        let r = split_chains(&data, &dev);
        switch.restore()?;
        r.map(|()| println!("ok: the same with split bios tagged: the hook left every piece alone"))
    });
    limit.restore()?;
    tagged?;
    data.remove()
}

/// The chains of [`windows_split`], on `data`, a file on `dev`.
fn split_chains(data: &DataFile, dev: &str) -> Result<()> {
    let control = Control::open(DEFAULT_DEVICE)?;
    let f = fixture("windows")?;
    let tag = control.attach(&data.file, &f, MAX_HOPS)?;
    ensure!(
        tag.extents() == 1,
        "{} extents: splits would be reads in pieces",
        tag.extents()
    );
    let files = [data];
    let before = fallbacks(&control, "split")?;
    let mut want = 0;
    for polled in [false, true] {
        for (k, (len, aligned)) in [(8192, true), (8192, false), (16384, true), (16384, false)]
            .into_iter()
            .enumerate()
        {
            let list: Vec<Window> = (0..24u64)
                .map(|i| {
                    let r = mix(0x5b1 ^ ((k as u64) << 8) ^ i);
                    let residue = if aligned { 0 } else { 1 + r % 4095 };
                    placed(0, residue, len, r >> 12)
                })
                .collect();
            let ran = run_checked(&tag, &files, &list, WINDOWS_MAX, polled)?;
            ensure!(
                ran.driver_hops == 0,
                "{} of {len} B windows: {} resubmitted by the driver past max_sectors_kb 4",
                mode(polled),
                ran.driver_hops
            );
            want += u64::from(ran.reads - ran.chains);
        }
    }
    let split = fallbacks(&control, "split")? - before;
    ensure!(split == want, "{split} split fallbacks, want {want}");
    println!("ok: {dev} limited to 4 KiB reads: 8 and 16 KiB windows equal pread, {split} reads split in process context, none in the driver");
    let fitting: Vec<Window> = (0..24)
        .map(|i| placed(0, 0, 4096, mix(0x5b2 ^ i)))
        .collect();
    for polled in [false, true] {
        let ran = run_checked(&tag, &files, &fitting, WINDOWS_MAX, polled)?;
        ensure!(
            ran.driver_hops > 0,
            "{}: no 4 KiB window resubmitted by the driver",
            mode(polled)
        );
    }
    println!("ok: 4 KiB windows still resubmitted by the driver");
    Ok(())
}
