// SPDX-License-Identifier: GPL-2.0 OR MIT

//! What a ring's user can do to its chains in flight: exit, be killed,
//! cancel them, race a module unload, be another user, send garbage.
//! Each ends with no chain left in flight, the module's counters adding
//! up, and a chain that still works; the host watches the console for
//! kernel reports.

use std::{
    os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd},
    path::Path,
    process::{Command, ExitCode},
    time::{Duration, Instant},
};

use anyhow::{bail, ensure, Context, Result};
use rnvme::{
    abi::{self, ChainRead, UringChainRead},
    format::chain::{ChainResult, ChainSpec},
    ChainRequest, ChainRing, Control, StorageFunction, Tag, Window, DEFAULT_DEVICE,
};

use super::{raw::RawRing, wait_no_uring_chains};
use crate::{
    children::{exit_code, run_as_user, spawn_ready, USER},
    files,
    fixtures::write_chain,
};

/// The chain the flooding children run: 31 hops of 4 KiB blocks.
pub(super) fn long_chain(name: &str) -> Result<(std::path::PathBuf, u64)> {
    let spec = ChainSpec {
        hops: 31,
        block_size: 4096,
        file_blocks: 256,
        seed: 4242,
    };
    write_chain("/mnt/nvme4k", name, &spec)
}

pub(super) fn request(tag: u32, start: u64) -> ChainRequest {
    ChainRequest {
        tag,
        first: Window::first(start, 4096),
        scratch: vec![0; ChainResult::SIZE],
        out_len: 0,
    }
}

/// What the chain from `start` leaves in the scratch, by the ioctl.
pub(super) fn want(tag: &Tag, start: u64) -> Result<Vec<u8>> {
    let mut want = vec![0u8; ChainResult::SIZE];
    tag.chain_read(start, 4096, &mut want, None)?;
    Ok(want)
}

/// `n` chains of `tag` from `start` on a ring of `depth`: each must leave
/// `want`.
pub(super) fn exact_on_ring(
    control: &Control,
    tag: &Tag,
    start: u64,
    want: &[u8],
    (n, depth, polled): (usize, u32, bool),
) -> Result<()> {
    let mut ring = ChainRing::new(control, depth, polled)?;
    for c in ring.run_all((0..n).map(|_| request(tag.id(), start)))? {
        ensure!(
            c.result.is_ok() && c.scratch == want,
            "chain {}: {:?}",
            c.id,
            c.result
        );
    }
    Ok(())
}

/// Module-wide chains started = done + aborted + failed.
fn counters_add_up(control: &Control) -> Result<()> {
    let s = control.stats()?;
    ensure!(
        s.chains == s.done + s.aborts + s.errors,
        "chains {} != done {} + aborts {} + errors {}",
        s.chains,
        s.done,
        s.aborts,
        s.errors
    );
    Ok(())
}

/// The `uring-flood PATH START DEPTH irq|polled exit|loop` child: keeps
/// DEPTH chains in flight on a ring; prints "flying" once they are; then
/// exits with them in flight, or reaps, checks and resubmits them until
/// killed.
pub fn uring_flood(args: &[String]) -> ExitCode {
    exit_code((|| {
        let path = Path::new(args.first().context("path")?);
        let start: u64 = args.get(1).context("start")?.parse()?;
        let depth: u32 = args.get(2).context("depth")?.parse()?;
        let polled = args.get(3).is_some_and(|a| a == "polled");
        let control = Control::open(DEFAULT_DEVICE)?;
        let f = StorageFunction::builtin("chain")?;
        let fd = files::open_ro(path)?;
        let tag = control.attach(&fd, &f, 0)?;
        let want = want(&tag, start)?;
        let mut ring = ChainRing::new(&control, depth, polled)?;
        for i in 0..u64::from(depth) {
            ring.push(i, request(tag.id(), start))?;
        }
        ring.submit()?;
        println!("flying");
        if args.get(4).is_some_and(|a| a == "exit") {
            // Leave without the ring's destructor: the kernel tears the
            // ring down with the chains in flight.
            std::process::exit(0);
        }
        loop {
            for c in ring.reap(1)? {
                c.result?;
                ensure!(c.scratch == want, "chain {} differs", c.id);
                ring.push(c.id, request(tag.id(), start))?;
            }
        }
    })())
}

fn spawn_flood(path: &Path, start: u64, polled: bool, end: &str) -> Result<std::process::Child> {
    let path = path.to_str().context("path")?;
    let mode = if polled { "polled" } else { "irq" };
    spawn_ready(
        &["uring-flood", path, &start.to_string(), "256", mode, end],
        "flying",
    )
}

/// 256 chains in flight when their process exits or is killed (interrupt
/// and IOPOLL rings): they end by themselves, nothing is left in flight and
/// the counters add up. `IORING_OP_ASYNC_CANCEL` of chains in flight is
/// answered (ENOENT or EALREADY) and the chains complete exactly. While a
/// process keeps 256 chains in flight the module cannot be unloaded; once
/// it is killed, the module unloads and loads again.
pub fn uring_teardown() -> Result<()> {
    let (path, start) = long_chain("uring-teardown")?;
    for polled in [false, true] {
        for end in ["exit", "loop"] {
            let mut child = spawn_flood(&path, start, polled, end)?;
            if end == "loop" {
                std::thread::sleep(Duration::from_millis(300));
                ensure!(
                    child.try_wait()?.is_none(),
                    "the flood child died on its own"
                );
                child.kill()?;
            }
            let status = child.wait()?;
            ensure!(end == "loop" || status.success(), "flood child: {status}");
            let control = Control::open(DEFAULT_DEVICE)?;
            wait_no_uring_chains(&control)?;
            counters_add_up(&control)?;
            println!(
                "ok: 256 chains in flight ({}) when the process {}: none left, counters add up",
                if polled { "IOPOLL" } else { "interrupts" },
                if end == "exit" {
                    "exited"
                } else {
                    "was killed"
                }
            );
        }
    }
    cancel_in_flight(&path, start)?;
    unload_under_load(&path, start)?;
    std::fs::remove_file(&path)?;
    Ok(())
}

fn cancel_in_flight(path: &Path, start: u64) -> Result<()> {
    let control = Control::open(DEFAULT_DEVICE)?;
    let f = StorageFunction::builtin("chain")?;
    let fd = files::open_ro(path)?;
    let tag = control.attach(&fd, &f, 0)?;
    let want = want(&tag, start)?;
    const N: usize = 128;
    let mut scratches = vec![[0u8; ChainResult::SIZE]; N];
    let mut args: Vec<ChainRead> = scratches
        .iter_mut()
        .map(|s| ChainRead {
            tag: tag.id(),
            offset: start,
            len: 4096,
            scratch: s.as_mut_ptr() as u64,
            scratch_len: ChainResult::SIZE as u32,
            ..Default::default()
        })
        .collect();
    let mut ring = RawRing::new(2 * N as u32, false)?;
    for (i, a) in args.iter_mut().enumerate() {
        let cmd = UringChainRead {
            args: a as *mut ChainRead as u64,
            ..Default::default()
        };
        // SAFETY: `args` and `scratches` outlive the reaping below.
        unsafe {
            ring.push_cmd(
                control.file().as_raw_fd(),
                abi::URING_CHAIN_READ,
                cmd.to_bytes(),
                i as u64,
            )
        }?;
    }
    for i in 0..N as u64 {
        ring.push_cancel(i, 1 << 32 | i)?;
    }
    let cqes = ring.reap(2 * N)?;
    let (mut cancels, mut chains) = (0, 0);
    for (data, res) in cqes {
        if data >> 32 == 1 {
            ensure!(
                res == -libc::ENOENT || res == -libc::EALREADY,
                "cancel of chain {} gave {res}",
                data & 0xffff_ffff
            );
            cancels += 1;
        } else {
            ensure!(res == 0, "chain {data}: {res}");
            ensure!(
                scratches[data as usize][..] == want[..],
                "chain {data} differs"
            );
            chains += 1;
        }
    }
    ensure!(
        cancels == N && chains == N,
        "{cancels} cancels, {chains} chains"
    );
    println!(
        "ok: {N} cancels of chains in flight answered ENOENT/EALREADY; the {N} chains are exact"
    );
    drop(args);
    wait_no_uring_chains(&control)?;
    counters_add_up(&control)
}

fn module_loaded() -> bool {
    std::fs::read_to_string("/proc/modules")
        .is_ok_and(|m| m.lines().any(|l| l.starts_with("rnvme_hook ")))
}

fn run(cmd: &str, args: &[&str]) -> Result<std::process::Output> {
    Ok(Command::new(cmd).args(args).output()?)
}

/// While a process keeps 256 chains in flight, `rmmod` fails and its chains
/// go on; after it is killed with them in flight, `rmmod` works (once the
/// ring is torn down), and the module loads again.
fn unload_under_load(path: &Path, start: u64) -> Result<()> {
    let mut child = spawn_flood(path, start, false, "loop")?;
    for _ in 0..3 {
        let out = run("rmmod", &["rnvme_hook"])?;
        ensure!(
            !out.status.success(),
            "rmmod succeeded under 256 chains in flight"
        );
        ensure!(
            child.try_wait()?.is_none(),
            "the flood child died during rmmod"
        );
    }
    println!("ok: rmmod refused while chains are in flight; the chains go on");
    child.kill()?;
    child.wait()?;
    let t = Instant::now();
    loop {
        let out = run("rmmod", &["rnvme_hook"])?;
        if out.status.success() {
            break;
        }
        if t.elapsed() > Duration::from_secs(60) {
            bail!(
                "rmmod still refused 60 s after the flood was killed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    ensure!(!module_loaded(), "rmmod said yes but the module is listed");
    println!(
        "ok: module unloaded {} ms after the process was killed with chains in flight",
        t.elapsed().as_millis()
    );
    let out = run("insmod", &["/rnvme/rnvme_hook.ko"])?;
    ensure!(
        out.status.success(),
        "insmod: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let control = Control::open(DEFAULT_DEVICE)?;
    let f = StorageFunction::builtin("chain")?;
    let fd = files::open_ro(path)?;
    let tag = control.attach(&fd, &f, 0)?;
    exact_on_ring(&control, &tag, start, &want(&tag, start)?, (8, 4, false))?;
    println!("ok: reloaded; io_uring chains work");
    Ok(())
}

/// As uid 1000, on its own file: io_uring chains (interrupt and IOPOLL)
/// equal its ioctl chains, and a tag it does not hold is ENOENT.
pub fn uring_unprivileged() -> Result<()> {
    let (path, start) = long_chain("uring-user")?;
    std::os::unix::fs::chown(&path, Some(USER), Some(USER))?;
    let f = StorageFunction::builtin("chain")?;
    // Root holds a tag too: the user's ring cannot name it.
    let control = Control::open(DEFAULT_DEVICE)?;
    let fd = files::open_ro(&path)?;
    let root_tag = control.attach(&fd, &f, 0)?;
    run_as_user(
        "uring-as-user",
        &f,
        &[
            path.as_os_str(),
            start.to_string().as_ref(),
            root_tag.id().to_string().as_ref(),
        ],
    )?;
    drop(root_tag);
    std::fs::remove_file(&path)?;
    Ok(())
}

/// The `uring-as-user PROG_FD PATH START ROOT_TAG` child of
/// [`uring_unprivileged`].
pub fn uring_as_user(args: &[String]) -> ExitCode {
    exit_code((|| {
        let prog: i32 = args.first().context("prog fd")?.parse()?;
        // SAFETY: The parent passed this descriptor open across exec.
        let prog = unsafe { OwnedFd::from_raw_fd(prog) };
        let path = Path::new(args.get(1).context("path")?);
        let start: u64 = args.get(2).context("start")?.parse()?;
        let root_tag: u32 = args.get(3).context("root tag")?.parse()?;
        let control = Control::open(DEFAULT_DEVICE)?;
        let file = files::open_ro(path)?;
        let tag = control.attach_fds(file.as_fd(), prog.as_fd(), 0)?;
        let want = want(&tag, start)?;
        for polled in [false, true] {
            exact_on_ring(&control, &tag, start, &want, (64, 16, polled))?;
            let mut ring = ChainRing::new(&control, 16, polled)?;
            let foreign = (root_tag..root_tag + 4)
                .filter(|&t| t != tag.id())
                .map(|t| request(t, start));
            for c in ring.run_all(foreign)? {
                ensure!(
                    c.result.as_ref().err().and_then(|e| e.errno()) == Some(libc::ENOENT),
                    "a tag the user does not hold gave {:?}",
                    c.result
                );
            }
        }
        ensure!(
            control
                .set_budgets(Default::default())
                .err()
                .and_then(|e| e.errno())
                == Some(libc::EPERM),
            "uid {USER} could set the budgets"
        );
        println!("ok: uid {USER}: 128 io_uring chains exact; tags it does not hold are ENOENT; setting budgets is EPERM");
        Ok(())
    })())
}
