// SPDX-License-Identifier: GPL-2.0 OR MIT

//! Windows the module must refuse, each with its documented errno, as the
//! first read of a chain and as what a function asks for: over holes, past
//! and across EOF, too long or empty, of a file the set does not have, at
//! offsets no file has; a file full of a marker right behind a small file
//! on disk, which no window may reveal; tag sets of 0, 64 and 65 files; a
//! set holding a file its user can neither write nor own.

use std::{
    fs::{self, File, OpenOptions},
    os::{
        fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd},
        unix::fs::{chown, FileExt, MetadataExt, PermissionsExt},
    },
    path::PathBuf,
    process::ExitCode,
};

use anyhow::{bail, ensure, Context, Result};
use rnvme::{abi, format::Layout, Control, Error, StorageFunction, Tag, Window, DEFAULT_DEVICE};

use super::{at, check_left, mode, run_checked, MAX_HOPS};
use crate::{
    children::{exit_code, run_as_user, USER},
    expect::expect_set_refused,
    files::{self, has_marker, DataFile, MARKER},
    fixtures::{fixture, windows_scratch, UNWRITTEN, WINDOWS_MAX},
};

/// Windows over holes, past EOF, too long, empty, of files not in the set
/// and at impossible offsets end with ENODATA, ENXIO or EINVAL; a file
/// next door on disk never shows; tag sets of 0 and 65 files, and sets
/// with a file the caller may not tag, are refused.
pub fn windows_errors() -> Result<()> {
    let control = Control::open(DEFAULT_DEVICE)?;
    let f = fixture("windows")?;
    holes_and_limits(&control, &f)?;
    for mount in ["/mnt/nvme", "/mnt/nvme4k"] {
        marker_next_door(&control, &f, mount)?;
    }
    set_sizes(&control, &f)?;
    foreign_file_in_set(&control, &f)
}

/// The chain over `list` ends with errno `want` once it has read every
/// window but the last, interrupt-driven and polled: the last is refused,
/// as the first read when it is alone, else as what the function asks
/// for. Nothing comes back but bytes of the windows read (see
/// [`check_left`]), never the marker.
fn expect_refused(
    tag: &Tag<'_>,
    files: &[&DataFile],
    list: &[Window],
    want: i32,
    what: &str,
) -> Result<()> {
    let read = list.len() - 1;
    for polled in [false, true] {
        let what = format!("{what} ({})", mode(polled));
        let mut scratch = windows_scratch(list);
        let mut out = vec![UNWRITTEN; abi::MAX_WINDOW as usize];
        match tag.chain(list[0], &mut scratch, Some(&mut out), polled) {
            Err(Error::Chain { hops, cause }) => ensure!(
                cause.raw_os_error() == Some(want) && hops as usize == read,
                "{what}: {cause} after {hops} reads; want errno {want} after {read}"
            ),
            other => bail!("{what}: {other:?}; want errno {want}"),
        }
        ensure!(
            !has_marker(&scratch) && !has_marker(&out),
            "{what}: the marker file's bytes came back"
        );
        check_left(files, list, read, &scratch, &out, false).with_context(|| what.clone())?;
    }
    println!("ok: {what} -> errno {want}");
    Ok(())
}

/// `bad` is refused with `want` as a first read, and as what the function
/// asks for after reading `good`.
fn expect_refused_both(
    tag: &Tag<'_>,
    files: &[&DataFile],
    good: Window,
    bad: Window,
    want: i32,
    what: &str,
) -> Result<()> {
    expect_refused(tag, files, &[bad], want, &format!("first read: {what}"))?;
    expect_refused(
        tag,
        files,
        &[good, bad],
        want,
        &format!("asked for: {what}"),
    )
}

/// Bytes of the sparse file: data, a hole from 16 to 32 KiB, data.
const SPARSE_LEN: u64 = 128 * 1024;

/// The errnos of the module's documentation, on a sparse file tagged alone.
fn holes_and_limits(control: &Control, f: &StorageFunction) -> Result<()> {
    let path = files::fresh("/mnt/nvme", "windows-sparse");
    let bytes = files::pattern(40, SPARSE_LEN as usize);
    let w = File::create(&path)?;
    w.write_all_at(&bytes[..16384], 0)?;
    w.write_all_at(&bytes[32768..], 32768)?;
    w.sync_all()?;
    drop(w);
    let sparse = DataFile::open(path)?;
    ensure!(
        sparse.bytes[..16384] == bytes[..16384]
            && sparse.bytes[16384..32768].iter().all(|&b| b == 0)
            && sparse.bytes[32768..] == bytes[32768..],
        "pread of the sparse file"
    );
    let tag = control.attach(&sparse.file, f, MAX_HOPS)?;
    let files = [&sparse];
    let end = SPARSE_LEN;
    for (what, bad, want) in [
        ("a window in the hole", at(0, 20000, 100), libc::ENODATA),
        ("data into the hole", at(0, 16000, 1000), libc::ENODATA),
        ("the hole into data", at(0, 32000, 1000), libc::ENODATA),
        ("a window over the hole", at(0, 10000, 30000), libc::ENODATA),
        ("a window past EOF", at(0, end + 4096, 100), libc::ENXIO),
        ("a window at EOF", at(0, end, 1), libc::ENXIO),
        ("a window crossing EOF", at(0, end - 100, 101), libc::ENXIO),
        ("65537 bytes", at(0, 40000, 65537), libc::EINVAL),
        ("u32::MAX bytes", at(0, 40000, u32::MAX), libc::EINVAL),
        ("file 1 of a set of 1", at(1, 40000, 8), libc::EINVAL),
        ("file u32::MAX (-1)", at(u32::MAX, 40000, 8), libc::EINVAL),
        ("offset i64::MAX + 1", at(0, 1 << 63, 8), libc::EINVAL),
        ("offset -4096", at(0, (-4096i64) as u64, 8), libc::EINVAL),
    ] {
        expect_refused_both(&tag, &files, at(0, 40000, 100), bad, want, what)?;
    }
    expect_refused(
        &tag,
        &files,
        &[at(0, 40000, 0)],
        libc::EINVAL,
        "first read: 0 bytes",
    )?;
    // Right next to the hole, and as long as windows get, data reads right.
    let around = [
        at(0, 16376, 8),
        at(0, 32768, 8),
        at(0, 0, 16384),
        at(0, 40000, 65536),
        at(0, end - 1, 1),
    ];
    for polled in [false, true] {
        run_checked(&tag, &files, &around, WINDOWS_MAX, polled)?;
    }
    println!("ok: the bytes around the hole and up to EOF equal pread");
    drop(tag);
    sparse.remove()
}

/// Bytes of the small file with the marker file behind it.
const DOOR_LEN: u64 = 3000;

/// Writes a small file, then a file full of [`MARKER`], until the marker
/// file's first block lies right behind the small file's only block on
/// disk (ext4 packs a process's small files together: usually at once).
/// Returns the small file and the other files written, to remove later.
fn next_door(mount: &str) -> Result<(DataFile, Vec<PathBuf>)> {
    let mut others = Vec::new();
    for attempt in 0..8 {
        let door = files::fresh(mount, &format!("door-{attempt}"));
        let marker = files::fresh(mount, &format!("marker-{attempt}"));
        files::write_contiguous(&door, &files::pattern(50, DOOR_LEN as usize))?;
        files::write_contiguous(&marker, &MARKER.repeat(4096))?;
        let d = files::physical_extents(&door)?;
        let m = files::physical_extents(&marker)?;
        others.push(marker);
        if let ([(start, len)], Some(&(next, _))) = (&d[..], m.first()) {
            if start + len == next {
                return Ok((DataFile::open(door)?, others));
            }
        }
        others.push(door);
    }
    bail!("{mount}: no marker file landed right behind the small file on disk")
}

/// A small file with a file full of a marker right behind it on disk:
/// windows that reach past its end (across EOF, at EOF, into the next
/// block, far past it, at the largest offsets) are refused with ENXIO, or
/// EINVAL past i64::MAX, and never bring the marker back; its own bytes up
/// to EOF read right.
fn marker_next_door(control: &Control, f: &StorageFunction, mount: &str) -> Result<()> {
    let (door, others) = next_door(mount)?;
    let tag = control.attach(&door.file, f, MAX_HOPS)?;
    let files = [&door];
    let max = i64::MAX as u64;
    for (what, bad, want) in [
        ("crossing EOF", at(0, DOOR_LEN - 10, 20), libc::ENXIO),
        ("one byte past EOF", at(0, DOOR_LEN - 1, 2), libc::ENXIO),
        ("at EOF", at(0, DOOR_LEN, 1), libc::ENXIO),
        ("into the next block", at(0, 4000, 200), libc::ENXIO),
        ("the next block", at(0, 4096, 4096), libc::ENXIO),
        ("64 KiB further on", at(0, 8192 + 5, 65536), libc::ENXIO),
        ("at 1 TiB", at(0, 1 << 40, 8), libc::ENXIO),
        ("ending at i64::MAX", at(0, max - 8, 8), libc::ENXIO),
        ("at i64::MAX", at(0, max, 1), libc::ENXIO),
        ("crossing i64::MAX", at(0, max - 10, 100), libc::ENXIO),
        ("at i64::MAX + 1", at(0, max + 1, 1), libc::EINVAL),
        ("crossing u64::MAX", at(0, u64::MAX - 10, 100), libc::EINVAL),
        ("at u64::MAX", at(0, u64::MAX, 1), libc::EINVAL),
    ] {
        let what = format!("{mount}, a marker next door: {what}");
        expect_refused_both(&tag, &files, at(0, DOOR_LEN - 8, 8), bad, want, &what)?;
    }
    let own = [
        at(0, 0, DOOR_LEN as u32),
        at(0, DOOR_LEN - 1, 1),
        at(0, 1000, 2000),
        at(0, 4, 2996),
    ];
    for polled in [false, true] {
        run_checked(&tag, &files, &own, WINDOWS_MAX, polled)?;
    }
    println!("ok: {mount}: the small file's bytes up to its EOF equal pread");
    drop(tag);
    door.remove()?;
    for p in others {
        fs::remove_file(p)?;
    }
    Ok(())
}

/// Tag sets of 0 and 65 files are refused with EINVAL; one of 64 works: a
/// chain visits every file of it, and file 64 is refused.
fn set_sizes(control: &Control, f: &StorageFunction) -> Result<()> {
    let n = abi::MAX_FILES;
    let set = (0..=n as u16)
        .map(|i| {
            DataFile::create(
                "/mnt/nvme",
                &format!("set-{i}"),
                100 + i,
                4096,
                Layout::Contiguous,
            )
        })
        .collect::<Result<Vec<_>>>()?;
    let all: Vec<&File> = set.iter().map(|d| &d.file).collect();
    expect_set_refused(
        "a set of 0 files",
        control.attach_set(&[], f, MAX_HOPS),
        libc::EINVAL,
        u32::MAX,
    )?;
    expect_set_refused(
        "a set of 65 files",
        control.attach_set(&all, f, MAX_HOPS),
        libc::EINVAL,
        u32::MAX,
    )?;
    let tag = control.attach_set(&all[..n as usize], f, MAX_HOPS)?;
    ensure!(tag.files() == n, "a set of {} files", tag.files());
    let files: Vec<&DataFile> = set.iter().take(n as usize).collect();
    let visit: Vec<Window> = (0..n)
        .rev()
        .map(|i| at(i, u64::from(i) * 61, 64 + i))
        .collect();
    for polled in [false, true] {
        run_checked(&tag, &files, &visit, WINDOWS_MAX, polled)?;
    }
    println!("ok: chains visit all {n} files of a set of {n}, last first");
    expect_refused_both(
        &tag,
        &files,
        at(n - 1, 0, 8),
        at(n, 0, 8),
        libc::EINVAL,
        "file 64 of a set of 64",
    )?;
    drop(tag);
    for d in set {
        d.remove()?;
    }
    Ok(())
}

/// Sets holding root's 0644 file, tagged by uid 1000, who can neither
/// write nor own it: refused whole with EACCES naming that file, wherever
/// it sits (see [`attach_set_as_user`]); root's file keeps its writers and
/// no tag is left.
fn foreign_file_in_set(control: &Control, f: &StorageFunction) -> Result<()> {
    let root = files::fresh("/mnt/nvme", "set-root");
    files::write_contiguous(&root, &files::pattern(60, 4096))?;
    fs::set_permissions(&root, fs::Permissions::from_mode(0o644))?;
    let own = [
        files::fresh("/mnt/nvme", "set-user"),
        files::fresh("/mnt/nvme4k", "set-user"),
    ];
    for (i, p) in own.iter().enumerate() {
        files::write_contiguous(p, &files::pattern(61 + i as u16, 4096))?;
        chown(p, Some(USER), Some(USER))?;
    }
    let tags_before = control.stats()?.tags;
    let (r, u0, u1) = (root.as_os_str(), own[0].as_os_str(), own[1].as_os_str());
    for order in [[u0, r, u1], [u0, u1, r], [r, u0, u1]] {
        run_as_user("attach-set-as-user", f, &order)?;
    }
    OpenOptions::new()
        .write(true)
        .open(&root)
        .context("root opens its file for writing")?;
    ensure!(
        control.stats()?.tags == tags_before,
        "a tag was left behind"
    );
    println!("ok: root's file keeps its writers; no tag is left");
    fs::remove_file(&root)?;
    for p in own {
        fs::remove_file(p)?;
    }
    Ok(())
}

/// The `attach-set-as-user PROG_FD FILE...` child of [`windows_errors`],
/// running as uid 1000: tagging the files as a set is refused with EACCES
/// naming the first file the user does not own (root's); none of the
/// user's files was left tagged (they open for writing), and they tag
/// fine as a set of their own.
pub fn attach_set_as_user(args: &[String]) -> ExitCode {
    let run = || -> Result<()> {
        let prog: i32 = args.first().context("prog fd")?.parse()?;
        // SAFETY: The parent passed this descriptor open across exec, for
        // this process to own.
        let prog = unsafe { OwnedFd::from_raw_fd(prog) };
        let paths = &args[1..];
        let opened = paths
            .iter()
            .map(|p| File::open(p).with_context(|| p.clone()))
            .collect::<Result<Vec<_>>>()?;
        let own = opened
            .iter()
            .map(|f| Ok(f.metadata()?.uid() == USER))
            .collect::<Result<Vec<bool>>>()?;
        let foreign = own
            .iter()
            .position(|o| !o)
            .context("no file of another user")? as u32;
        let fds: Vec<BorrowedFd<'_>> = opened.iter().map(AsFd::as_fd).collect();
        let control = Control::open(DEFAULT_DEVICE)?;
        expect_set_refused(
            &format!("uid {USER} tags a set with root's file as file {foreign}"),
            control.attach_set_fds(&fds, prog.as_fd(), 0),
            libc::EACCES,
            foreign,
        )?;
        for (p, _) in paths.iter().zip(&own).filter(|(_, &o)| o) {
            OpenOptions::new()
                .write(true)
                .open(p)
                .with_context(|| format!("{p}: open for writing after the refusal"))?;
        }
        let mine: Vec<BorrowedFd<'_>> = fds
            .iter()
            .zip(&own)
            .filter(|(_, &o)| o)
            .map(|(fd, _)| *fd)
            .collect();
        let tag = control.attach_set_fds(&mine, prog.as_fd(), 0)?;
        ensure!(
            tag.files() as usize == mine.len(),
            "a set of {} files",
            tag.files()
        );
        println!("ok: uid {USER} tags its own {} files as a set", mine.len());
        Ok(())
    };
    exit_code(run())
}
