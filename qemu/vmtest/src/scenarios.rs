// SPDX-License-Identifier: GPL-2.0 OR MIT

//! The scenarios. Each sets up its own files, checks every result against a
//! user-space reference, and cleans up.

use std::{
    fs::{self, OpenOptions},
    os::unix::fs::OpenOptionsExt,
    path::Path,
    process::{Command, ExitCode},
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
    thread,
    time::Duration,
};

use anyhow::{bail, ensure, Context, Result};
use rnvme::{
    format::{
        bptree::{self, Shape, TreeSpec},
        chain::{self, ChainResult, ChainSpec},
        memory_reader,
        records::{self, RecordSpec},
    },
    Control, Error, StorageFunction, Verdict, DEFAULT_DEVICE,
};

use crate::files::{self, MOUNTS};

type Scenario = fn() -> Result<()>;

pub const ALL: &[(&str, Scenario)] = &[
    ("verifier-rejects", verifier_rejects),
    ("test-run", test_run),
    ("chain-correct", chain_correct),
    ("chain-polled", chain_polled),
    ("split-read", split_read),
    ("hop-limit", hop_limit),
    ("abort", abort),
    ("bad-offsets", bad_offsets),
    ("attach-checks", attach_checks),
    ("writers-denied", writers_denied),
    ("foreign-tag", foreign_tag),
    ("detach-under-load", detach_under_load),
    ("counters", counters),
    ("kill-under-load", kill_under_load),
    ("bptree-correct", bptree_correct),
    ("scan-correct", scan_correct),
    ("test-run-bptree-scan", test_run_bptree_scan),
    ("fuzz-ioctl", crate::fuzz::fuzz_ioctl),
    ("fuzz-verifier", crate::fuzz::fuzz_verifier),
    ("device-error", crate::hardening::device_error),
    ("slow-device", crate::hardening::slow_device),
    ("stress", crate::hardening::stress),
    ("metrics", crate::metrics::metrics_scrape),
];

/// The scratch of the `jump` fixture (`bpf/tests/jump.bpf.c`): on every hop
/// below `hops` read `len` bytes at `target`; it records the first 8 bytes
/// of each block it sees from byte 16 on.
pub(crate) fn jump_scratch(target: u64, len: u32, hops: u32) -> Vec<u8> {
    let mut s = vec![0u8; 16 + 64 * 8];
    s[0..8].copy_from_slice(&target.to_le_bytes());
    s[8..12].copy_from_slice(&len.to_le_bytes());
    s[12..16].copy_from_slice(&hops.to_le_bytes());
    s
}

fn fixture(name: &str) -> Result<StorageFunction> {
    let object = rnvme::fixture(name).with_context(|| format!("no fixture {name}"))?;
    Ok(StorageFunction::from_object(name, object)?)
}

fn errno_of(r: Result<impl std::fmt::Debug, Error>) -> Result<i32> {
    match r {
        Ok(v) => bail!("succeeded ({v:?}) where an error was expected"),
        Err(e) => e
            .errno()
            .with_context(|| format!("error without errno: {e}")),
    }
}

fn expect_errno(what: &str, r: Result<impl std::fmt::Debug, Error>, want: i32) -> Result<()> {
    let got = errno_of(r).with_context(|| what.to_string())?;
    ensure!(got == want, "{what}: errno {got}, want {want}");
    println!("ok: {what} -> errno {got}");
    Ok(())
}

/// Every fixture the verifier must refuse is refused; the others load.
fn verifier_rejects() -> Result<()> {
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

fn chain_block(magic: u64, next: u64, value: u64, index: u32) -> Vec<u8> {
    let mut b = vec![0u8; 512];
    b[0..8].copy_from_slice(&magic.to_le_bytes());
    b[8..16].copy_from_slice(&next.to_le_bytes());
    b[16..24].copy_from_slice(&value.to_le_bytes());
    b[24..28].copy_from_slice(&index.to_le_bytes());
    b[28..32].copy_from_slice(&512u32.to_le_bytes());
    b
}

/// BPF_PROG_TEST_RUN of the built-in chain function on crafted blocks.
fn test_run() -> Result<()> {
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

/// Chains of 1, 2, 8 and 31 hops, 512 B and 4 KiB blocks, contiguous and
/// fragmented files, on both namespaces: the function's result and the last
/// block equal a user-space O_DIRECT walk, byte for byte.
fn chain_correct() -> Result<()> {
    let (reads, irqs) = chains_match_pread(false)?;
    println!("ok: {reads} reads, {irqs} NVMe interrupts during the chain reads");
    // The interrupt count below is a valid witness: here each read raises one.
    ensure!(
        irqs * 2 >= reads,
        "only {irqs} interrupts for {reads} interrupt-driven reads"
    );
    Ok(())
}

/// The same, with polled reads on the namespaces' poll queues: the storage
/// function runs and the driver resubmits from the polling task. Polled
/// completions raise no interrupt, so the NVMe interrupt counts barely move
/// while hundreds of reads complete (in interrupt mode each read raises one).
fn chain_polled() -> Result<()> {
    let (reads, irqs) = chains_match_pread(true)?;
    println!("ok: {reads} polled reads, {irqs} NVMe interrupts during the chain reads");
    ensure!(
        irqs * 4 < reads,
        "polled reads raised {irqs} interrupts for {reads} reads"
    );
    Ok(())
}

/// Interrupts of the NVMe queue vectors so far, all CPUs.
fn nvme_interrupts() -> Result<u64> {
    let text = fs::read_to_string("/proc/interrupts")?;
    Ok(text
        .lines()
        .filter(|l| l.contains("nvme"))
        .flat_map(|l| {
            l.split_whitespace()
                .skip(1)
                .map_while(|w| w.parse::<u64>().ok())
        })
        .sum())
}

/// Runs the chain matrix; returns the number of reads done and the NVMe
/// interrupts counted during the chain reads themselves.
fn chains_match_pread(polled: bool) -> Result<(u64, u64)> {
    let control = Control::open(DEFAULT_DEVICE)?;
    let f = StorageFunction::builtin("chain")?;
    let mut driver_hops = 0;
    let mut cases = 0;
    let mut reads = 0;
    let mut irqs = 0;
    for (mount, lba) in MOUNTS {
        for bs in [512u32, 4096] {
            if bs < lba {
                continue;
            }
            for fragmented in [false, true] {
                for (i, hops) in [1u32, 2, 8, 31].into_iter().enumerate() {
                    let spec = ChainSpec {
                        hops,
                        block_size: bs,
                        file_blocks: (hops * 4).max(64) * 4096 / bs,
                        seed: u64::from(hops) * 1000 + u64::from(bs) + u64::from(fragmented),
                    };
                    let file = chain::build(&spec);
                    let path = files::fresh(mount, &format!("chain-{bs}-{hops}-{fragmented}"));
                    if fragmented {
                        files::write_fragmented(&path, &file.bytes)?;
                    } else {
                        files::write_contiguous(&path, &file.bytes)?;
                    }
                    let reference = chain::walk(direct_reader(&path), file.start, bs, 256)
                        .map_err(|e| anyhow::anyhow!("reference walk: {e:?}"))?;
                    let fd = files::open_ro(&path)?;
                    let tag = control.attach(&fd, &f, 0)?;
                    if fragmented && i == 0 {
                        ensure!(
                            tag.extents() > 1,
                            "{}: not fragmented ({} extent)",
                            path.display(),
                            tag.extents()
                        );
                    }
                    let mut scratch = vec![0u8; ChainResult::SIZE];
                    let mut last = vec![0u8; 4096];
                    let irqs_before = nvme_interrupts()?;
                    let out = if polled {
                        tag.chain_read_polled(file.start, bs, &mut scratch, Some(&mut last))?
                    } else {
                        tag.chain_read(file.start, bs, &mut scratch, Some(&mut last))?
                    };
                    irqs += nvme_interrupts()? - irqs_before;
                    let got = ChainResult::from_scratch(&scratch);
                    ensure!(
                        got == reference,
                        "{}: kernel {got:?} != pread {reference:?}",
                        path.display()
                    );
                    ensure!(out.verdict == Verdict::Done && out.hops == hops, "{out:?}");
                    let want_last =
                        files::pread_direct(&path, out.last_offset, out.last_len as usize)?;
                    ensure!(
                        last[..out.last_len as usize] == want_last[..],
                        "last block differs"
                    );
                    driver_hops += out.driver_hops;
                    reads += u64::from(out.hops);
                    cases += 1;
                    println!(
                        "ok: {mount} {bs} B x {hops} hops, {} extents: {} reads in the driver",
                        tag.extents(),
                        out.driver_hops
                    );
                    drop(tag);
                    fs::remove_file(&path)?;
                }
            }
        }
    }
    // Every chain with more than one hop could be resubmitted in the driver;
    // if none was, the hook is not doing its job.
    ensure!(driver_hops > 0, "no read was resubmitted by the driver");
    println!("ok: {cases} chains, {reads} reads, {driver_hops} resubmitted in the driver");
    Ok((reads, irqs))
}

/// A 4 KiB read at a 2 KiB offset over two blocks that are not contiguous on
/// disk is read in pieces in process context, and matches pread.
fn split_read() -> Result<()> {
    let control = Control::open(DEFAULT_DEVICE)?;
    let f = fixture("jump")?;
    let mut bytes = vec![0u8; 64 * 4096];
    for (i, c) in bytes.chunks_mut(8).enumerate() {
        c.copy_from_slice(&(i as u64).to_le_bytes());
    }
    let path = files::fresh("/mnt/nvme", "split");
    files::write_fragmented(&path, &bytes)?;
    let fd = files::open_ro(&path)?;
    let tag = control.attach(&fd, &f, 0)?;
    ensure!(tag.extents() > 1, "file not fragmented");
    let mut checked = 0;
    for block in 0..63u64 {
        let offset = block * 4096 + 2048;
        // jump: read 4 KiB at `offset`, then stop; seen[1] = first 8 bytes.
        let mut scratch = jump_scratch(offset, 4096, 1);
        let mut last = vec![0u8; 4096];
        let out = tag.chain_read(0, 4096, &mut scratch, Some(&mut last))?;
        ensure!(out.hops == 2 && out.last_offset == offset, "{out:?}");
        ensure!(
            last == files::pread_direct(&path, offset, 4096)?,
            "block at {offset} differs"
        );
        checked += 1;
    }
    let stats = control.stats()?;
    ensure!(
        stats.cache_misses > 0,
        "no read needed splitting: {stats:?}"
    );
    println!(
        "ok: {checked} reads across block boundaries match pread; cache misses so far {}",
        stats.cache_misses
    );
    drop(tag);
    fs::remove_file(&path)?;
    Ok(())
}

/// A function that never stops ends at the hop limit with ELOOP.
fn hop_limit() -> Result<()> {
    let control = Control::open(DEFAULT_DEVICE)?;
    let f = fixture("loop")?;
    let path = files::fresh("/mnt/nvme", "loop");
    files::write_contiguous(&path, &vec![7u8; 8192])?;
    let fd = files::open_ro(&path)?;
    for (max_hops, want) in [(0u32, rnvme::abi::DEFAULT_MAX_HOPS), (5, 5), (256, 256)] {
        let tag = control.attach(&fd, &f, max_hops)?;
        match tag.chain_read(0, 512, &mut [], None) {
            Err(Error::Chain { hops, cause }) => {
                ensure!(cause.raw_os_error() == Some(libc::ELOOP), "errno {cause}");
                ensure!(hops == want, "stopped after {hops} reads, limit {want}");
                println!("ok: max_hops {max_hops}: ELOOP after {hops} reads");
            }
            other => bail!("endless chain returned {other:?}"),
        }
    }
    expect_errno("max_hops 257", control.attach(&fd, &f, 257), libc::EINVAL)?;
    drop(fd);
    fs::remove_file(&path)?;
    Ok(())
}

/// ABORT ends the chain with ECANCELED after its first read.
fn abort() -> Result<()> {
    let control = Control::open(DEFAULT_DEVICE)?;
    let f = fixture("abort")?;
    let path = files::fresh("/mnt/nvme", "abort");
    files::write_contiguous(&path, &[1u8; 4096])?;
    let fd = files::open_ro(&path)?;
    let tag = control.attach(&fd, &f, 0)?;
    match tag.chain_read(0, 4096, &mut [], None) {
        Err(Error::Chain { hops: 1, cause }) if cause.raw_os_error() == Some(libc::ECANCELED) => {}
        other => bail!("abort returned {other:?}"),
    }
    println!("ok: ABORT -> ECANCELED after 1 read");
    drop(tag);
    fs::remove_file(&path)?;
    Ok(())
}

const MARKER: &[u8; 8] = b"SECRET!!";

fn contains_marker(b: &[u8]) -> bool {
    b.windows(8).any(|w| w == MARKER)
}

/// Next offsets past EOF, into a hole, unaligned, huge or negative, and the
/// same as first reads, end with a clear errno; a file full of a marker that
/// sits next to the tagged one on disk never shows up in any result.
fn bad_offsets() -> Result<()> {
    let control = Control::open(DEFAULT_DEVICE)?;
    let f = fixture("jump")?;
    let secret = files::fresh("/mnt/nvme", "secret");
    files::write_contiguous(&secret, &MARKER.repeat(64 * 512))?;
    // 16 KiB of data, a 16 KiB hole, 4 KiB of data: 36 KiB.
    let path = files::fresh("/mnt/nvme", "holey");
    {
        use std::os::unix::fs::FileExt;
        let file = fs::File::create(&path)?;
        file.write_all_at(&[0x11u8; 16384], 0)?;
        file.write_all_at(&[0x22u8; 4096], 32768)?;
        file.sync_all()?;
    }
    let fd = files::open_ro(&path)?;
    let tag = control.attach(&fd, &f, 0)?;
    let next_cases: [(&str, u64, u32, i32); 8] = [
        ("next past EOF", 36864, 512, libc::ENXIO),
        ("next straddling EOF", 36864 - 512, 1024, libc::ENXIO),
        ("next into the hole", 20480, 512, libc::ENODATA),
        ("next unaligned", 100, 512, libc::EINVAL),
        (
            "next length not a multiple of the LBA",
            0,
            100,
            libc::EINVAL,
        ),
        ("next huge", u64::MAX - 4095, 512, libc::EINVAL),
        ("next negative", (-4096i64) as u64, 512, libc::EINVAL),
        ("next too long", 0, 8192, libc::EINVAL),
    ];
    for (what, target, len, want) in next_cases {
        let mut scratch = jump_scratch(target, len, 1);
        let mut last = vec![0u8; 4096];
        let r = tag.chain_read(0, 512, &mut scratch, Some(&mut last));
        ensure!(
            !contains_marker(&scratch) && !contains_marker(&last),
            "{what}: another file's data leaked"
        );
        expect_errno(what, r, want)?;
    }
    let first_cases: [(&str, u64, u32, i32); 5] = [
        ("first read past EOF", 40960, 512, libc::ENXIO),
        ("first read in the hole", 16384, 4096, libc::ENODATA),
        ("first read unaligned", 1, 512, libc::EINVAL),
        ("first read empty", 0, 0, libc::EINVAL),
        ("first read negative", (-512i64) as u64, 512, libc::EINVAL),
    ];
    for (what, offset, len, want) in first_cases {
        let mut scratch = vec![0u8; 16 + 64 * 8];
        expect_errno(what, tag.chain_read(offset, len, &mut scratch, None), want)?;
    }
    // The data around the hole is still read correctly.
    let mut scratch = jump_scratch(32768, 4096, 1);
    tag.chain_read(0, 4096, &mut scratch, None)?;
    ensure!(
        scratch[16..24] == [0x11; 8] && scratch[24..32] == [0x22; 8],
        "data around the hole"
    );
    expect_errno(
        "unknown tag",
        control.chain_read(9999, 0, 512, &mut [], None),
        libc::ENOENT,
    )?;
    drop(tag);
    fs::remove_file(&path)?;
    fs::remove_file(&secret)?;
    Ok(())
}

/// Attach refuses what it must: no read access, not a regular file, not on
/// ext4-on-NVMe, not a storage function, a file with writers.
fn attach_checks() -> Result<()> {
    let control = Control::open(DEFAULT_DEVICE)?;
    let f = fixture("jump")?;
    let path = files::fresh("/mnt/nvme", "attach");
    files::write_contiguous(&path, &[0u8; 4096])?;
    let wronly = OpenOptions::new().write(true).open(&path)?;
    expect_errno("write-only fd", control.attach(&wronly, &f, 0), libc::EBADF)?;
    drop(wronly);
    let dir = fs::File::open("/mnt/nvme")?;
    expect_errno("directory", control.attach(&dir, &f, 0), libc::EINVAL)?;
    let tmp = files::fresh("/tmp", "rnvme-tmpfs-file");
    files::write_contiguous(&tmp, &[0u8; 4096])?;
    expect_errno(
        "file on tmpfs",
        control.attach(&files::open_ro(&tmp)?, &f, 0),
        libc::EOPNOTSUPP,
    )?;
    let fd = files::open_ro(&path)?;
    let writer = OpenOptions::new().read(true).write(true).open(&path)?;
    expect_errno(
        "file open for writing",
        control.attach(&fd, &f, 0),
        libc::ETXTBSY,
    )?;
    drop(writer);
    // A descriptor that is not a storage function.
    use std::os::fd::AsFd;
    expect_errno(
        "prog fd that is a file",
        control.attach_fds(fd.as_fd(), fd.as_fd(), 0),
        libc::EINVAL,
    )?;
    let tag = control.attach(&fd, &f, 0)?;
    println!("ok: a readable, writer-free ext4 file on NVMe attaches");
    drop(tag);
    fs::remove_file(&path)?;
    fs::remove_file(&tmp)?;
    Ok(())
}

/// While a file is tagged nothing can change its block map: opening it for
/// writing, truncating it (by path or O_TRUNC) fail with ETXTBSY, also while
/// chains run on it; after detach writing works again.
fn writers_denied() -> Result<()> {
    let control = Control::open(DEFAULT_DEVICE)?;
    let f = StorageFunction::builtin("chain")?;
    let spec = ChainSpec {
        hops: 8,
        block_size: 4096,
        file_blocks: 64,
        seed: 5,
    };
    let file = chain::build(&spec);
    let path = files::fresh("/mnt/nvme", "frozen");
    files::write_contiguous(&path, &file.bytes)?;
    let want = chain::walk(memory_reader(&file.bytes), file.start, 4096, 64)
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let fd = files::open_ro(&path)?;
    let tag = control.attach(&fd, &f, 0)?;
    let stop = AtomicBool::new(false);
    let runs = AtomicU64::new(0);
    thread::scope(|s| -> Result<()> {
        let reader = s.spawn(|| -> Result<()> {
            while !stop.load(Ordering::Relaxed) {
                let mut scratch = vec![0u8; ChainResult::SIZE];
                tag.chain_read(file.start, 4096, &mut scratch, None)?;
                ensure!(
                    ChainResult::from_scratch(&scratch) == want,
                    "chain result changed"
                );
                runs.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        });
        let result = (|| -> Result<()> {
            for _ in 0..20 {
                let e = OpenOptions::new().write(true).open(&path).unwrap_err();
                ensure!(
                    e.raw_os_error() == Some(libc::ETXTBSY),
                    "open for write: {e}"
                );
                let e = OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_TRUNC)
                    .open(&path)
                    .unwrap_err();
                ensure!(e.raw_os_error() == Some(libc::ETXTBSY), "O_TRUNC: {e}");
                let r = files::truncate(&path);
                ensure!(
                    r.as_ref()
                        .is_err_and(|e| e.raw_os_error() == Some(libc::ETXTBSY)),
                    "truncate: {r:?}"
                );
                thread::sleep(Duration::from_millis(5));
            }
            Ok(())
        })();
        stop.store(true, Ordering::Relaxed);
        reader.join().unwrap()?;
        result
    })?;
    println!(
        "ok: writes, O_TRUNC and truncate refused (ETXTBSY) during {} correct chains",
        runs.load(Ordering::Relaxed)
    );
    tag.detach()?;
    drop(fd);
    OpenOptions::new()
        .write(true)
        .open(&path)
        .context("open for write after detach")?;
    fs::remove_file(&path)?;
    println!("ok: writable again after detach");
    Ok(())
}

/// A tag works only through the open /dev/rnvme that made it: another open
/// file description, in this process or another, gets ENOENT.
fn foreign_tag() -> Result<()> {
    let control = Control::open(DEFAULT_DEVICE)?;
    let f = fixture("jump")?;
    let path = files::fresh("/mnt/nvme", "foreign");
    files::write_contiguous(&path, &[3u8; 4096])?;
    let fd = files::open_ro(&path)?;
    let tag = control.attach(&fd, &f, 0)?;
    let other = Control::open(DEFAULT_DEVICE)?;
    expect_errno(
        "tag through another open",
        other.chain_read(tag.id(), 0, 512, &mut [], None),
        libc::ENOENT,
    )?;
    let exe = std::env::current_exe()?;
    let status = Command::new(exe)
        .args(["try-tag", &tag.id().to_string()])
        .status()?;
    ensure!(status.success(), "the other process could use the tag");
    tag.chain_read(0, 512, &mut [], None)?;
    println!("ok: the owner still can");
    drop(tag);
    fs::remove_file(&path)?;
    Ok(())
}

/// Helper process for [`foreign_tag`]: succeeds iff tag `args[0]` is refused.
pub fn try_foreign_tag(args: &[String]) -> ExitCode {
    let Some(id) = args.first().and_then(|a| a.parse().ok()) else {
        return ExitCode::from(2);
    };
    let Ok(control) = Control::open(DEFAULT_DEVICE) else {
        return ExitCode::from(2);
    };
    match control.chain_read(id, 0, 512, &mut [], None) {
        Err(e) if e.errno() == Some(libc::ENOENT) => {
            println!("ok: another process gets ENOENT");
            ExitCode::SUCCESS
        }
        other => {
            println!("FAIL: another process got {other:?}");
            ExitCode::FAILURE
        }
    }
}

/// Detaching while other threads run chains on the tag: every chain either
/// completes correctly or is refused with ENOENT; the file is writable once
/// they are done; nothing leaks a tag.
fn detach_under_load() -> Result<()> {
    let control = Control::open(DEFAULT_DEVICE)?;
    let f = StorageFunction::builtin("chain")?;
    let spec = ChainSpec {
        hops: 16,
        block_size: 512,
        file_blocks: 256,
        seed: 11,
    };
    let file = chain::build(&spec);
    let path = files::fresh("/mnt/nvme", "detach");
    files::write_contiguous(&path, &file.bytes)?;
    let tags_before = control.stats()?.tags;
    for round in 0..5 {
        let fd = files::open_ro(&path)?;
        let tag = control.attach(&fd, &f, 0)?;
        let id = tag.id();
        let (ok, refused) = (AtomicU64::new(0), AtomicU64::new(0));
        thread::scope(|s| -> Result<()> {
            let workers: Vec<_> = (0..3)
                .map(|_| {
                    s.spawn(|| -> Result<()> {
                        loop {
                            let mut scratch = vec![0u8; ChainResult::SIZE];
                            match control.chain_read(id, file.start, 512, &mut scratch, None) {
                                Ok(o) => {
                                    ensure!(o.hops == 16, "{o:?}");
                                    ok.fetch_add(1, Ordering::Relaxed);
                                }
                                Err(e) if e.errno() == Some(libc::ENOENT) => {
                                    refused.fetch_add(1, Ordering::Relaxed);
                                    return Ok(());
                                }
                                Err(e) => bail!("chain during detach: {e}"),
                            }
                        }
                    })
                })
                .collect();
            thread::sleep(Duration::from_millis(50 + 20 * round));
            tag.detach()?;
            for w in workers {
                w.join().unwrap()?;
            }
            Ok(())
        })?;
        println!(
            "ok: round {round}: {} chains completed, {} refused after detach",
            ok.into_inner(),
            refused.into_inner()
        );
    }
    ensure!(control.stats()?.tags == tags_before, "tags leaked");
    OpenOptions::new()
        .write(true)
        .open(&path)
        .context("writable after detach")?;
    fs::remove_file(&path)?;
    Ok(())
}

/// The counters move by exactly what a run of chains did, and debugfs shows
/// the same numbers as the STATS ioctl.
fn counters() -> Result<()> {
    let control = Control::open(DEFAULT_DEVICE)?;
    let f = StorageFunction::builtin("chain")?;
    let spec = ChainSpec {
        hops: 6,
        block_size: 4096,
        file_blocks: 32,
        seed: 21,
    };
    let file = chain::build(&spec);
    let path = files::fresh("/mnt/nvme", "counters");
    files::write_contiguous(&path, &file.bytes)?;
    let fd = files::open_ro(&path)?;
    let tag = control.attach(&fd, &f, 0)?;
    let before = control.stats()?;
    let mut driver = 0;
    for _ in 0..10 {
        let mut scratch = vec![0u8; ChainResult::SIZE];
        driver += tag
            .chain_read(file.start, 4096, &mut scratch, None)?
            .driver_hops;
    }
    let after = control.stats()?;
    ensure!(
        after.chains - before.chains == 10,
        "chains {before:?} -> {after:?}"
    );
    ensure!(after.done - before.done == 10, "done");
    ensure!(after.hops - before.hops == 60, "hops");
    ensure!(
        after.driver_hops - before.driver_hops == u64::from(driver),
        "driver hops"
    );
    ensure!(
        after.process_hops - before.process_hops == 60 - u64::from(driver),
        "process hops: every read is issued by the driver or the module"
    );
    ensure!(
        after.cache_hits - before.cache_hits >= u64::from(driver),
        "cache hits"
    );
    for (name, value) in [
        ("chains", after.chains),
        ("done", after.done),
        ("hops", after.hops),
        ("driver_hops", after.driver_hops),
        ("tags", after.tags),
    ] {
        let text = fs::read_to_string(Path::new("/sys/kernel/debug/rnvme").join(name))?;
        ensure!(
            text.trim() == value.to_string(),
            "debugfs {name} {} != {value}",
            text.trim()
        );
    }
    println!("ok: 10 chains x 6 hops, {driver} in the driver; counters now {after:?}");
    drop(tag);
    fs::remove_file(&path)?;
    Ok(())
}

/// Helper process for [`kill_under_load`]: attaches `args[0]` and runs the
/// chain at `args[1]` (4 KiB blocks) until killed; `args[2]` == "polled"
/// selects polled reads.
pub fn chain_loop(args: &[String]) -> ExitCode {
    let run = || -> Result<()> {
        let path = Path::new(args.first().context("path")?);
        let start: u64 = args.get(1).context("start")?.parse()?;
        let polled = args.get(2).is_some_and(|a| a == "polled");
        let control = Control::open(DEFAULT_DEVICE)?;
        let f = StorageFunction::builtin("chain")?;
        let fd = files::open_ro(path)?;
        let tag = control.attach(&fd, &f, 0)?;
        println!("looping");
        loop {
            let mut scratch = vec![0u8; ChainResult::SIZE];
            if polled {
                tag.chain_read_polled(start, 4096, &mut scratch, None)?;
            } else {
                tag.chain_read(start, 4096, &mut scratch, None)?;
            }
        }
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            println!("chain-loop: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Processes killed (SIGKILL) in the middle of chains, interrupt-driven and
/// polled: their tags go away once their last read completes, the file's
/// writers are allowed again, other chains are unaffected, and no tag leaks.
fn kill_under_load() -> Result<()> {
    let control = Control::open(DEFAULT_DEVICE)?;
    let spec = ChainSpec {
        hops: 31,
        block_size: 4096,
        file_blocks: 64,
        seed: 31,
    };
    let file = chain::build(&spec);
    let path = files::fresh("/mnt/nvme", "killed");
    files::write_contiguous(&path, &file.bytes)?;
    let tags_before = control.stats()?.tags;
    for round in 0..6u64 {
        let mode = if round % 2 == 1 { "polled" } else { "irq" };
        // Once it is looping, let it run a little.
        let mut child = spawn_chain_loop(&path, file.start, mode)?;
        thread::sleep(Duration::from_millis(30 + 40 * round));
        let chains_before_kill = control.stats()?.chains;
        child.kill()?;
        let status = child.wait()?;
        ensure!(status.code().is_none(), "child exited by itself: {status}");
        // Its tag ends when its last read has completed.
        let mut waited = 0;
        while control.stats()?.tags != tags_before {
            ensure!(
                waited < 200,
                "tag of a killed process still alive after 2 s"
            );
            thread::sleep(Duration::from_millis(10));
            waited += 1;
        }
        OpenOptions::new()
            .write(true)
            .open(&path)
            .context("writable after the killed tag ended")?;
        println!(
            "ok: round {round} ({mode}): killed after {} chains in all, tag released",
            chains_before_kill
        );
    }
    fs::remove_file(&path)?;
    Ok(())
}

/// Starts `rnvme-vmtest chain-loop PATH START MODE` in a child process and
/// returns once it runs chains (it printed "looping").
pub(crate) fn spawn_chain_loop(path: &Path, start: u64, mode: &str) -> Result<std::process::Child> {
    let mut child = Command::new(std::env::current_exe()?)
        .args([
            "chain-loop",
            path.to_str().context("path")?,
            &start.to_string(),
            mode,
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().context("child stdout")?),
        &mut line,
    )?;
    ensure!(line.trim() == "looping", "child said {line:?}");
    Ok(child)
}

/// Run as an unprivileged user (see `qemu/guest/tests/70-unprivileged.sh`):
/// loading a storage function is refused with EPERM.
pub fn unprivileged() -> ExitCode {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1).map(str::to_string));
    if euid.as_deref() != Some("1000") {
        println!("FAIL: run this as an unprivileged user");
        return ExitCode::FAILURE;
    }
    match StorageFunction::builtin("chain") {
        Err(Error::Load { cause, .. })
            if cause.contains("Operation not permitted") || cause.contains("EPERM") =>
        {
            println!("ok: loading without CAP_BPF refused: {cause}");
            ExitCode::SUCCESS
        }
        other => {
            println!("FAIL: unprivileged load gave {other:?}");
            ExitCode::FAILURE
        }
    }
}

/// A reader of `path` for the reference implementations (O_DIRECT).
fn direct_reader(path: &Path) -> impl FnMut(u64, &mut [u8]) -> bool + '_ {
    move |off, buf| match files::pread_direct(path, off, buf.len()) {
        Ok(b) => {
            buf.copy_from_slice(&b);
            true
        }
        Err(e) => {
            println!("reference read of {} B at {off}: {e:#}", buf.len());
            false
        }
    }
}

/// Writes `bytes` contiguously or fragmented.
fn write_test_file(path: &Path, bytes: &[u8], fragmented: bool) -> Result<()> {
    if fragmented {
        files::write_fragmented(path, bytes)
    } else {
        files::write_contiguous(path, bytes)
    }
}

/// B+-tree lookups (512 B and 4 KiB nodes, depths 1 to 6, inline values and
/// a value log, contiguous and fragmented files, three namespaces) equal the
/// user-space reference lookup: found or not, value, record data, depth;
/// reads per lookup = depth (+1 with a value log).
fn bptree_correct() -> Result<()> {
    let control = Control::open(DEFAULT_DEVICE)?;
    let f = StorageFunction::builtin("bptree")?;
    let mut lookups = 0;
    let shapes = [
        (512u32, 30u64, 1u32),
        (512, 400, 2),
        (512, 2000, 6),
        (512, 5000, 3),
        (4096, 200, 1),
        (4096, 20_000, 2),
        (4096, 30_000, 3),
    ];
    for (mount, lba) in MOUNTS {
        for (i, (ns, keys, depth)) in shapes.into_iter().enumerate() {
            if ns < lba {
                continue;
            }
            let value_log = i % 2 == 1;
            let fragmented = i % 3 == 0;
            let spec = TreeSpec {
                keys,
                node_size: ns,
                shape: Shape::Depth(depth),
                value_log,
                seed: i as u64 + 40,
            };
            let tree = bptree::build(&spec).map_err(anyhow::Error::msg)?;
            let path = files::fresh(mount, &format!("tree-{ns}-{depth}"));
            write_test_file(&path, &tree.bytes, fragmented)?;
            let fd = files::open_ro(&path)?;
            let tag = control.attach(&fd, &f, 0)?;
            let present = bptree::present_keys(&spec);
            let step = (present.len() / 12).max(1);
            let probes = present
                .iter()
                .step_by(step)
                .copied()
                .chain([0, 4 * (keys / 2), u64::MAX]);
            for (j, key) in probes.enumerate() {
                let (got, out) = tag.lookup(&tree.sup, key, j % 2 == 1)?;
                let want = bptree::lookup(direct_reader(&path), &tree.sup, key)
                    .map_err(anyhow::Error::msg)?;
                ensure!(
                    got == want,
                    "{} key {key}: kernel {got:?} != reference {want:?}",
                    path.display()
                );
                let reads = want.depth + u32::from(want.found && value_log);
                ensure!(
                    out.hops == reads && want.depth == tree.sup.depth,
                    "key {key}: {out:?}, depth {}",
                    want.depth
                );
                lookups += 1;
            }
            println!(
                "ok: {mount} {ns} B nodes, depth {depth}, {keys} keys{}{}",
                if value_log { ", value log" } else { "" },
                if fragmented { ", fragmented" } else { "" }
            );
            drop(tag);
            fs::remove_file(&path)?;
        }
    }
    println!("ok: {lookups} lookups equal the reference");
    Ok(())
}

/// Scans over record files (512 B and 4 KiB blocks, ranges longer than one
/// chain's hop limit, contiguous and fragmented) equal the reference scan.
fn scan_correct() -> Result<()> {
    let control = Control::open(DEFAULT_DEVICE)?;
    let f = StorageFunction::builtin("scan")?;
    for (mount, lba) in MOUNTS {
        for (i, bs) in [512u32, 4096].into_iter().enumerate() {
            if bs < lba {
                continue;
            }
            let spec = RecordSpec {
                blocks: 300,
                block_size: bs,
                key_space: 10_000,
                seed: 70 + i as u64,
            };
            let bytes = records::build(&spec).map_err(anyhow::Error::msg)?;
            let path = files::fresh(mount, &format!("records-{bs}"));
            write_test_file(&path, &bytes, i == 1)?;
            let fd = files::open_ro(&path)?;
            let tag = control.attach(&fd, &f, 0)?;
            let b = u64::from(bs);
            for (start, end, lo, hi) in [
                (0, 300, 0, u64::MAX),
                (10, 50, 2000, 2999),
                (0, 300, 5000, 5000),
                (299, 300, 0, 9999),
                (0, 1, 1, 0),
            ] {
                let got = tag.scan(bs, start * b, end * b, lo, hi)?;
                let want = records::scan(direct_reader(&path), bs, start * b, end * b, lo, hi)
                    .map_err(anyhow::Error::msg)?;
                ensure!(
                    got == want,
                    "{}: blocks {start}..{end} keys {lo}..={hi}: {got:?} != {want:?}",
                    path.display()
                );
            }
            println!("ok: {mount} {bs} B blocks: 5 scans (up to 300 blocks, {} chains) equal the reference", 300u32.div_ceil(tag.max_hops()));
            drop(tag);
            fs::remove_file(&path)?;
        }
    }
    Ok(())
}

/// BPF_PROG_TEST_RUN of bptree and scan on crafted blocks.
fn test_run_bptree_scan() -> Result<()> {
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
