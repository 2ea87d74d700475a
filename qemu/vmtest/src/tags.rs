// SPDX-License-Identifier: GPL-2.0 OR MIT

//! Tags: bad offsets end chains with a clear errno and never leak another
//! file's data, attach refuses what it must (writers are no reason: see
//! `live.rs`), a tag is usable only through its own open, and detach, kill and the counters
//! behave while chains run.

use std::{
    fs::{self, OpenOptions},
    path::Path,
    process::Command,
    sync::atomic::{AtomicU64, Ordering},
    thread,
    time::Duration,
};

use anyhow::{bail, ensure, Result};
use rnvme::{
    format::chain::{self, ChainResult, ChainSpec},
    Control, StorageFunction, DEFAULT_DEVICE,
};

use crate::{
    children::spawn_chain_loop,
    expect::expect_errno,
    files::{self, has_marker, MARKER},
    fixtures::{fixture, jump_scratch},
};

/// Next offsets past EOF, into a hole, unaligned, huge or negative, and the
/// same as first reads, end with a clear errno; a file full of a marker that
/// sits next to the tagged one on disk never shows up in any result. On
/// ext4 and XFS.
pub fn bad_offsets() -> Result<()> {
    for mount in ["/mnt/nvme", "/mnt/xfs"] {
        bad_offsets_on(mount)?;
    }
    Ok(())
}

fn bad_offsets_on(mount: &str) -> Result<()> {
    println!("on {mount}:");
    let control = Control::open(DEFAULT_DEVICE)?;
    let f = fixture("jump")?;
    let secret = files::fresh(mount, "secret");
    files::write_contiguous(&secret, &MARKER.repeat(64 * 512))?;
    // 16 KiB of data, a 16 KiB hole, 4 KiB of data: 36 KiB.
    let path = files::fresh(mount, "holey");
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
        ("next unaligned, into the hole", 16000, 1000, libc::ENODATA),
        ("next unaligned, past EOF", 36864 - 100, 101, libc::ENXIO),
        ("next huge", u64::MAX - 4095, 512, libc::EINVAL),
        ("next negative", (-4096i64) as u64, 512, libc::EINVAL),
        ("next too long", 0, 65537, libc::EINVAL),
    ];
    for (what, target, len, want) in next_cases {
        let mut scratch = jump_scratch(target, len, 1);
        let mut last = vec![0u8; 4096];
        let r = tag.chain_read(0, 512, &mut scratch, Some(&mut last));
        ensure!(
            !has_marker(&scratch) && !has_marker(&last),
            "{what}: another file's data leaked"
        );
        expect_errno(what, r, want)?;
    }
    let first_cases: [(&str, u64, u32, i32); 5] = [
        ("first read past EOF", 40960, 512, libc::ENXIO),
        ("first read in the hole", 16384, 4096, libc::ENODATA),
        ("first read too long", 0, 65537, libc::EINVAL),
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
/// ext4 or XFS on NVMe, not a storage function; a file with writers is fine.
pub fn attach_checks() -> Result<()> {
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
    // Writers do not stop a tag (nor a tag writers).
    let writer = OpenOptions::new().read(true).write(true).open(&path)?;
    // A descriptor that is not a storage function.
    use std::os::fd::AsFd;
    expect_errno(
        "prog fd that is a file",
        control.attach_fds(fd.as_fd(), fd.as_fd(), 0),
        libc::EINVAL,
    )?;
    let tag = control.attach(&fd, &f, 0)?;
    drop(OpenOptions::new().write(true).open(&path)?);
    println!("ok: a readable ext4 file on NVMe open for writing attaches, and opens for writing");
    drop(tag);
    drop(writer);
    fs::remove_file(&path)?;
    fs::remove_file(&tmp)?;
    Ok(())
}

/// A tag works only through the open /dev/rnvme that made it: another open
/// file description, in this process or another, gets ENOENT.
pub fn foreign_tag() -> Result<()> {
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

/// Detaching while other threads run chains on the tag: every chain either
/// completes correctly or is refused with ENOENT; the file is writable once
/// they are done; nothing leaks a tag.
pub fn detach_under_load() -> Result<()> {
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
    fs::remove_file(&path)?;
    Ok(())
}

/// The counters move by exactly what a run of chains did, and debugfs shows
/// the same numbers as the STATS ioctl.
pub fn counters() -> Result<()> {
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

/// Processes killed (SIGKILL) in the middle of chains, interrupt-driven and
/// polled: their tags go away once their last read completes, other chains
/// are unaffected, and no tag leaks.
pub fn kill_under_load() -> Result<()> {
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
        println!(
            "ok: round {round} ({mode}): killed after {} chains in all, tag released",
            chains_before_kill
        );
    }
    fs::remove_file(&path)?;
    Ok(())
}
