// SPDX-License-Identifier: GPL-2.0 OR MIT

//! What runs in a child process (another process, another user) and how a
//! test starts one: the bodies of the `try-tag`, `chain-loop` and
//! `unprivileged` subcommands, which `main` dispatches.

use std::{
    ffi::OsStr,
    fs,
    os::{
        fd::{AsFd, AsRawFd},
        unix::process::CommandExt,
    },
    path::Path,
    process::{Command, ExitCode},
};

use anyhow::{ensure, Context, Result};
use rnvme::{format::chain::ChainResult, Control, Error, StorageFunction, DEFAULT_DEVICE};

use crate::files;

/// The `try-tag` helper process of the `foreign-tag` test: succeeds iff tag
/// `args[0]` is refused.
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

/// The exit code of a test or a helper process that ran `r`: on an error,
/// it prints "FAIL:" and the error's chain first.
pub fn exit_code(r: Result<()>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            println!("FAIL: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The `chain-loop` helper process (`kill-under-load`, `slow-device`, and
/// `qemu/guest/late/device-removal.sh`): attaches `args[0]` and runs the
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

/// Starts `rnvme-vmtest chain-loop PATH START MODE` in a child process and
/// returns once it runs chains (it printed "looping").
pub fn spawn_chain_loop(path: &Path, start: u64, mode: &str) -> Result<std::process::Child> {
    let path = path.to_str().context("path")?;
    spawn_ready(&["chain-loop", path, &start.to_string(), mode], "looping")
}

/// Starts `rnvme-vmtest ARGS...` in a child process and returns once its
/// first line is `ready`.
pub fn spawn_ready(args: &[&str], ready: &str) -> Result<std::process::Child> {
    let mut child = Command::new(std::env::current_exe()?)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().context("child stdout")?),
        &mut line,
    )?;
    ensure!(line.trim() == ready, "child {} said {line:?}", args[0]);
    Ok(child)
}

/// The unprivileged user of the guest (`user` in its /etc/passwd).
pub const USER: u32 = 1000;

/// Runs `rnvme-vmtest SUBCOMMAND PROG_FD ARGS...` as [`USER`], who could not
/// load `function` itself: the child inherits a descriptor of it, number
/// PROG_FD. Prints the child's output; fails unless the child succeeded.
pub fn run_as_user(subcommand: &str, function: &StorageFunction, args: &[&OsStr]) -> Result<()> {
    let prog = function.as_fd().try_clone_to_owned()?;
    // SAFETY: F_SETFD on a descriptor we own changes only its flags: no
    // close-on-exec, so that the child inherits it.
    if unsafe { libc::fcntl(prog.as_raw_fd(), libc::F_SETFD, 0) } < 0 {
        return Err(std::io::Error::last_os_error()).context("F_SETFD");
    }
    let out = Command::new("/proc/self/exe")
        .arg(subcommand)
        .arg(prog.as_raw_fd().to_string())
        .args(args)
        .uid(USER)
        .gid(USER)
        .output()?;
    print!("{}", String::from_utf8_lossy(&out.stdout));
    ensure!(
        out.status.success(),
        "the uid {USER} child {subcommand} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
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

/// The `rcu-watch` helper the guest's runner keeps in the background: it
/// waits for an RCU grace period every second (membarrier's global command
/// does), so that a CPU held in interrupt context shows up as an RCU stall
/// report, which fails the run. An idle guest requests no grace period, and
/// the stall detector watches only grace periods in progress.
pub fn rcu_watch() -> ExitCode {
    const MEMBARRIER_CMD_GLOBAL: libc::c_long = 1;
    loop {
        // SAFETY: membarrier takes no pointers.
        let r = unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) };
        if r < 0 {
            eprintln!("rcu-watch: membarrier: {}", std::io::Error::last_os_error());
            return ExitCode::FAILURE;
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}
