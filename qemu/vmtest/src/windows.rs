// SPDX-License-Identifier: GPL-2.0 OR MIT

//! Read windows: chains whose reads are any number of bytes from 1 to
//! 64 KiB at any byte offset of any file of a tag set. The `windows` fixture
//! (`bpf/tests/windows.bpf.c`) checks that each read is the window it
//! listed and samples its first and last bytes; every sample, and the last
//! window of every chain whole, must equal a pread of the same bytes. The
//! windows the module must refuse are in [`errors`], windows the block
//! layer would split in [`split`].

mod errors;
mod split;

pub use errors::{attach_set_as_user, windows_errors};
pub use split::windows_split;

use std::os::unix::fs::MetadataExt;

use anyhow::{bail, ensure, Context, Result};
use rnvme::{abi, format::Layout, Control, Tag, Verdict, Window, DEFAULT_DEVICE};

use crate::{
    files::{fragments, DataFile, MOUNTS},
    fixtures::{
        fixture, windows_entry, windows_scratch, windows_seen, windows_visited, UNWRITTEN,
        WINDOWS_MAX,
    },
};

/// The window lengths the tests go through: one byte, around a 512 B and a
/// 4 KiB block, a 4 KiB block and a bit, 16 KiB, and the most there is.
const SIZES: [u32; 8] = [1, 511, 512, 4095, 4096, 4101, 16384, 65536];
/// Bytes of each test file.
const FILE_LEN: usize = 512 * 1024;
/// The hop limit of every tag here: no chain reaches it.
const MAX_HOPS: u32 = 256;

/// What a run of checked chains did.
#[derive(Default)]
struct Ran {
    chains: u32,
    reads: u32,
    driver_hops: u32,
}

/// `len` bytes at `offset` of file number `file` of a tag set.
fn at(file: u32, offset: u64, len: u32) -> Window {
    Window { file, offset, len }
}

/// A window of `len` bytes of file `file` that starts at `residue` modulo
/// 4 KiB, in a 4 KiB block picked with `r`, wholly inside a test file.
fn placed(file: u32, residue: u64, len: u32, r: u64) -> Window {
    let blocks = (FILE_LEN as u64 - residue - u64::from(len)) / 4096 + 1;
    at(file, residue + 4096 * (r % blocks), len)
}

/// A pseudo-random number for `x`, the same on every run (the splitmix64
/// finaliser).
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn mode(polled: bool) -> &'static str {
    if polled {
        "polled"
    } else {
        "interrupt"
    }
}

/// Runs `list` on `tag` in chains of at most `per_chain` windows, each
/// checked: it ends with DONE after reading its windows in order, the
/// outcome names its last window, and what came back is right (see
/// [`check_left`]). `files[i]` is file number `i` of the tag set.
fn run_checked(
    tag: &Tag<'_>,
    files: &[&DataFile],
    list: &[Window],
    per_chain: usize,
    polled: bool,
) -> Result<Ran> {
    let mut ran = Ran::default();
    for chunk in list.chunks(per_chain.min(WINDOWS_MAX)) {
        let what = || {
            format!(
                "{} chain of {} windows from {:?}",
                mode(polled),
                chunk.len(),
                chunk[0]
            )
        };
        let mut scratch = windows_scratch(chunk);
        let mut out = vec![UNWRITTEN; abi::MAX_WINDOW as usize];
        let o = tag
            .chain(chunk[0], &mut scratch, Some(&mut out), polled)
            .with_context(what)?;
        let last = chunk[chunk.len() - 1];
        ensure!(
            o.verdict == Verdict::Done
                && o.hops as usize == chunk.len()
                && (o.last_file, o.last_offset, o.last_len) == (last.file, last.offset, last.len),
            "{}: {o:?}, but its last window is {last:?}",
            what()
        );
        check_left(files, chunk, chunk.len(), &scratch, &out, true).with_context(what)?;
        ran.chains += 1;
        ran.reads += o.hops;
        ran.driver_hops += o.driver_hops;
    }
    Ok(ran)
}

/// Checks what a chain over `list` left once the fixture saw its first
/// `visited` windows: the scratch holds exactly their samples, each equal
/// to the reference bytes of its file, and nothing else changed; `out`
/// holds the last window seen, whole, equal to a pread of it, and nothing
/// after it — or, unless `out_required`, nothing at all.
fn check_left(
    files: &[&DataFile],
    list: &[Window],
    visited: usize,
    scratch: &[u8],
    out: &[u8],
    out_required: bool,
) -> Result<()> {
    let want = windows_seen(list, visited, |w| {
        files[w.file as usize].slice(w.offset, w.len)
    });
    if scratch != want {
        let seen = windows_visited(scratch);
        ensure!(
            seen as usize == visited,
            "the fixture saw {seen} windows, not {visited}"
        );
        for (i, w) in list.iter().enumerate() {
            let (got, want) = (windows_entry(scratch, i), windows_entry(&want, i));
            ensure!(
                got == want,
                "window {i}, {w:?}: sampled {:02x?}, pread {:02x?}",
                &got[16..],
                &want[16..]
            );
        }
        bail!("the scratch's header differs");
    }
    let unwritten = |b: &[u8]| b.iter().all(|&x| x == UNWRITTEN);
    let last_whole = match visited.checked_sub(1).map(|i| list[i]) {
        Some(w) => {
            let len = w.len as usize;
            out[..len] == files[w.file as usize].pread(w.offset, w.len)?[..]
                && unwritten(&out[len..])
        }
        None => false,
    };
    ensure!(
        last_whole || (!out_required && unwritten(out)),
        "out is not the last window read, {:?}, followed by nothing",
        visited.checked_sub(1).map(|i| list[i])
    );
    Ok(())
}

/// Windows at every residue modulo 4 KiB in quarter `quarter` (1024 of
/// them: each residue modulo 512 twice), each of a size of [`SIZES`]
/// picked at random, in random blocks of a test file.
fn residue_sweep(quarter: u64, seed: u64) -> Vec<Window> {
    (0..1024)
        .map(|i| {
            let r = mix(seed ^ (i << 20));
            placed(0, quarter * 1024 + i, SIZES[(r % 8) as usize], r >> 3)
        })
        .collect()
}

/// Every size at residues 0, 1, 511, 4095 and three random ones, and every
/// size ending at the end of the file.
fn spot_windows(file: u32, seed: u64) -> Vec<Window> {
    let residues = [
        0,
        1,
        511,
        4095,
        mix(seed) % 4096,
        mix(seed + 1) % 4096,
        mix(seed + 2) % 4096,
    ];
    SIZES
        .iter()
        .flat_map(|&len| {
            let end = at(file, (FILE_LEN as u64) - u64::from(len), len);
            residues
                .iter()
                .map(move |&res| placed(file, res, len, mix(seed ^ res ^ (u64::from(len) << 32))))
                .chain([end])
        })
        .collect()
}

/// Windows of one length at one residue: each covers as many logical
/// blocks as the one before it, so the driver may resubmit it.
fn same_length(file: u32, seed: u64) -> Vec<Window> {
    (0..48)
        .map(|i| placed(file, 100, 4101, mix(seed ^ i)))
        .collect()
}

/// Windows of 1 B to 64 KiB at every residue modulo 512 and 4096 on the
/// 512 B and 4 KiB namespaces and the partition, in a contiguous and a
/// fragmented file, interrupt-driven and polled: multi-hop chains of the
/// `windows` fixture sample every window and the last comes back whole,
/// one-read chains bring every size back whole at residues that matter,
/// all equal to pread. Same-length windows of a contiguous file are
/// resubmitted by the driver.
pub fn windows_exact() -> Result<()> {
    let control = Control::open(DEFAULT_DEVICE)?;
    let f = fixture("windows")?;
    let mut total = Ran::default();
    for (m, (mount, lba)) in MOUNTS.into_iter().enumerate() {
        for (l, layout) in [Layout::Contiguous, Layout::Fragmented]
            .into_iter()
            .enumerate()
        {
            let id = (10 + 2 * m + l) as u16;
            let data = DataFile::create(mount, "windows-exact", id, FILE_LEN, layout)?;
            let tag = control.attach(&data.file, &f, MAX_HOPS)?;
            if layout == Layout::Fragmented && fragments(mount) {
                ensure!(tag.extents() > 1, "{}: not fragmented", data.path.display());
            }
            let files = [&data];
            for (p, polled) in [false, true].into_iter().enumerate() {
                // The four runs on a namespace share the 4096 residues.
                let quarter = (2 * l + p) as u64;
                let seed = (u64::from(id) << 8) | quarter;
                let swept = run_checked(
                    &tag,
                    &files,
                    &residue_sweep(quarter, seed),
                    WINDOWS_MAX,
                    polled,
                )?;
                let whole = run_checked(&tag, &files, &spot_windows(0, seed), 1, polled)?;
                let mut line = format!(
                    "ok: {mount} ({lba} B LBA), {layout:?} file ({} extents), {}: residues {}..{} in {} windows ({} chains, {} in the driver), {} windows whole",
                    tag.extents(),
                    mode(polled),
                    quarter * 1024,
                    quarter * 1024 + 1023,
                    swept.reads,
                    swept.chains,
                    swept.driver_hops,
                    whole.chains
                );
                if layout == Layout::Contiguous {
                    let same =
                        run_checked(&tag, &files, &same_length(0, seed), WINDOWS_MAX, polled)?;
                    ensure!(
                        same.driver_hops > 0,
                        "{mount}, {}: no window of the same length was resubmitted by the driver",
                        mode(polled)
                    );
                    line += &format!(
                        "; {} of {} same-length windows in the driver",
                        same.driver_hops, same.reads
                    );
                    total.driver_hops += same.driver_hops;
                }
                println!("{line}");
                total.chains += swept.chains + whole.chains;
                total.reads += swept.reads + whole.reads;
            }
            drop(tag);
            data.remove()?;
        }
    }
    println!(
        "ok: {} chains, {} windows equal pread; {} same-length windows resubmitted by the driver",
        total.chains, total.reads, total.driver_hops
    );
    Ok(())
}

/// Reads of a chain after its first that the module issued for `reason`
/// (one of [`abi::FALLBACKS`]), so far.
fn fallbacks(control: &Control, reason: &str) -> Result<u64> {
    let i = abi::FALLBACKS
        .iter()
        .position(|&n| n == reason)
        .with_context(|| format!("no fallback reason {reason}"))?;
    Ok(control.metrics()?.fallbacks[i])
}

/// The order in which chains on a tag set of files 0 and 1 (one namespace)
/// and 2 (another) visit them: every kind of step, several times.
const FILE_ORDER: [u32; 16] = [0, 1, 2, 0, 2, 1, 1, 0, 0, 2, 2, 1, 0, 1, 2, 0];

/// A tag set of three files, two on the 512 B namespace and one on the
/// 4 KiB one: chains that switch files and devices again and again read
/// the right bytes of the right file, first reads of every file too; the
/// outcome names the last window's file; reads between the two files of
/// one namespace are resubmitted by the driver, and each change of device
/// is counted as a "device" fallback.
pub fn windows_files() -> Result<()> {
    let control = Control::open(DEFAULT_DEVICE)?;
    let f = fixture("windows")?;
    let set = [
        DataFile::create("/mnt/nvme", "set-a", 21, FILE_LEN, Layout::Contiguous)?,
        DataFile::create("/mnt/nvme", "set-b", 22, FILE_LEN, Layout::Contiguous)?,
        DataFile::create("/mnt/nvme4k", "set-c", 23, FILE_LEN, Layout::Contiguous)?,
    ];
    let files: Vec<&DataFile> = set.iter().collect();
    let devices = set
        .iter()
        .map(|d| Ok(d.file.metadata()?.dev()))
        .collect::<Result<Vec<_>>>()?;
    ensure!(
        devices[0] == devices[1] && devices[1] != devices[2],
        "devices {devices:?}"
    );
    let tag = control.attach_set(&[&set[0].file, &set[1].file, &set[2].file], &f, MAX_HOPS)?;
    ensure!(tag.files() == 3, "a set of {} files", tag.files());
    // One extent each, and windows the devices take whole: nothing but a
    // change of device can keep a read from the driver's hook, so each
    // change counts as a "device" fallback and nothing else does.
    ensure!(tag.extents() == 3, "{} extents in 3 files", tag.extents());
    let aligned: Vec<Window> = (0..64u64)
        .map(|i| placed(FILE_ORDER[i as usize % 16], 0, 4096, mix(0x5e7 ^ i)))
        .collect();
    let mixed: Vec<Window> = (0..64u64)
        .map(|i| {
            let r = mix(0x5e8 ^ i);
            placed(
                FILE_ORDER[i as usize % 16],
                r % 4096,
                SIZES[(r >> 12) as usize % 8],
                r >> 15,
            )
        })
        .collect();
    let firsts: Vec<Window> = (0..3)
        .flat_map(|i| spot_windows(i, 0x5e9 + u64::from(i)))
        .collect();
    let changes = |l: &[Window]| {
        l.windows(2)
            .filter(|p| devices[p[0].file as usize] != devices[p[1].file as usize])
            .count() as u64
    };
    let before = fallbacks(&control, "device")?;
    let mut want = 0;
    for polled in [false, true] {
        let same = run_checked(&tag, &files, &aligned, WINDOWS_MAX, polled)?;
        ensure!(
            same.driver_hops > 0,
            "{}: no read of 4 KiB windows was resubmitted by the driver",
            mode(polled)
        );
        let any = run_checked(&tag, &files, &mixed, WINDOWS_MAX, polled)?;
        let first = run_checked(&tag, &files, &firsts, 1, polled)?;
        want += changes(&aligned) + changes(&mixed);
        println!(
            "ok: {}: 4 KiB windows across 3 files ({} reads, {} in the driver), windows of every size ({} reads), {} first reads of every file: all equal pread",
            mode(polled),
            same.reads,
            same.driver_hops,
            any.reads,
            first.chains
        );
    }
    let device = fallbacks(&control, "device")? - before;
    ensure!(
        device == want,
        "{device} reads counted as device fallbacks; the chains changed device {want} times"
    );
    println!("ok: {want} changes of device, each counted as a device fallback");
    drop(tag);
    for d in set {
        d.remove()?;
    }
    Ok(())
}
