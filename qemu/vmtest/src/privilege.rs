// SPDX-License-Identifier: GPL-2.0 OR MIT

//! Who may tag what: a tag's chains hold off truncation and remapping as
//! direct I/O does, so only a caller who could write a file may tag it; tags are bounded per user; files whose raw
//! blocks are not what a read returns (fs-verity, fscrypt) are refused; an
//! attach whose answer cannot be copied back leaves no tag behind.

use std::{
    fs::{self, File, OpenOptions},
    io::Write,
    os::{
        fd::{AsFd, AsRawFd, FromRawFd, OwnedFd},
        unix::fs::{chown, PermissionsExt},
    },
    path::Path,
    process::ExitCode,
};

use anyhow::{bail, ensure, Context, Result};
use rnvme::{abi, Control, Error, DEFAULT_DEVICE};

use crate::{
    children::{exit_code, run_as_user, USER},
    expect::expect_errno,
    files,
    fixtures::{fixture, write_test_file},
};

/// As uid 1000, holding a storage function root loaded: tagging root's
/// 0644 file is refused with EACCES and root can still open it for writing;
/// tagging the user's own file works, up to the per-user bound, where
/// attach fails with EDQUOT; the module stays healthy.
pub fn unprivileged_attach() -> Result<()> {
    let root_file = files::fresh("/mnt/nvme", "root-owned");
    files::write_contiguous(&root_file, &[1u8; 4096])?;
    fs::set_permissions(&root_file, fs::Permissions::from_mode(0o644))?;
    let own_file = files::fresh("/mnt/nvme", "user-owned");
    files::write_contiguous(&own_file, &[2u8; 4096])?;
    chown(&own_file, Some(USER), Some(USER))?;
    let f = fixture("jump")?;
    let tags_before = Control::open(DEFAULT_DEVICE)?.stats()?.tags;
    run_as_user(
        "attach-as-user",
        &f,
        &[root_file.as_os_str(), own_file.as_os_str()],
    )?;
    // Root's writes were never denied, and nothing is left attached.
    OpenOptions::new()
        .write(true)
        .open(&root_file)
        .context("root opens its file for writing")?;
    println!("ok: root opens its file for writing");
    let tags_after = Control::open(DEFAULT_DEVICE)?.stats()?.tags;
    ensure!(
        tags_after == tags_before,
        "tags {tags_before} -> {tags_after}"
    );
    fs::remove_file(&root_file)?;
    fs::remove_file(&own_file)?;
    Ok(())
}

/// The `attach-as-user PROG_FD ROOT_FILE OWN_FILE` child of
/// [`unprivileged_attach`], running as uid 1000.
pub fn attach_as_user(args: &[String]) -> ExitCode {
    let run = || -> Result<()> {
        let prog: i32 = args.first().context("prog fd")?.parse()?;
        // SAFETY: The parent passed this descriptor open across exec.
        let prog = unsafe { OwnedFd::from_raw_fd(prog) };
        let root_file = File::open(args.get(1).context("root file")?)?;
        let own_file = File::open(args.get(2).context("own file")?)?;
        let control = Control::open(DEFAULT_DEVICE)?;
        expect_errno(
            "uid 1000 tags root's 0644 file",
            control.attach_fds(root_file.as_fd(), prog.as_fd(), 0),
            libc::EACCES,
        )?;
        // Attach its own file again and again, over as many opens as it
        // takes, until the per-user bound.
        let mut controls = vec![control];
        let mut tags = 0u32;
        loop {
            // A tag lives until its control closes: forget the handle.
            let r = controls
                .last()
                .unwrap()
                .attach_fds(own_file.as_fd(), prog.as_fd(), 0)
                .map(std::mem::forget);
            match r {
                Ok(()) => tags += 1,
                Err(Error::Ioctl { cause, .. }) if cause.raw_os_error() == Some(libc::ENOSPC) => {
                    controls.push(Control::open(DEFAULT_DEVICE)?);
                }
                Err(e) if e.errno() == Some(libc::EDQUOT) => break,
                Err(e) => bail!("attach {tags}: {e}"),
            }
            ensure!(
                tags <= abi::MAX_TAGS_PER_USER,
                "{tags} tags, over the bound"
            );
        }
        ensure!(
            tags == abi::MAX_TAGS_PER_USER,
            "EDQUOT after {tags} tags, the bound is {}",
            abi::MAX_TAGS_PER_USER
        );
        println!(
            "ok: uid 1000 attached {tags} tags over {} opens, then EDQUOT",
            controls.len()
        );
        // Still healthy: a chain on one of them works.
        let stats = controls[0].stats()?;
        ensure!(stats.tags >= u64::from(tags), "stats: {stats:?}");
        Ok(())
    };
    exit_code(run())
}

/// `FS_IOC_ENABLE_VERITY` with SHA-256 and 4 KiB blocks.
fn enable_verity(file: &File) -> std::io::Result<()> {
    const FS_IOC_ENABLE_VERITY: libc::c_ulong = 0x4080_6685;
    let mut arg = [0u8; 128];
    arg[0..4].copy_from_slice(&1u32.to_ne_bytes()); // version
    arg[4..8].copy_from_slice(&1u32.to_ne_bytes()); // FS_VERITY_HASH_ALG_SHA256
    arg[8..12].copy_from_slice(&4096u32.to_ne_bytes()); // block_size
                                                        // SAFETY: `arg` is a struct fsverity_enable_arg with no pointers set.
    let r = unsafe { libc::ioctl(file.as_raw_fd(), FS_IOC_ENABLE_VERITY, arg.as_ptr()) };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Makes `dir` an fscrypt v2 encrypted directory with a fresh raw key.
fn encrypt_dir(dir: &Path) -> Result<()> {
    const FS_IOC_ADD_ENCRYPTION_KEY: libc::c_ulong = 0xc050_6617;
    const FS_IOC_SET_ENCRYPTION_POLICY: libc::c_ulong = 0x800c_6613;
    fs::create_dir(dir)?;
    let d = File::open(dir)?;
    // struct fscrypt_add_key_arg (80 bytes) followed by a 64-byte raw key.
    let mut add = [0u8; 80 + 64];
    add[0..4].copy_from_slice(&2u32.to_ne_bytes()); // FSCRYPT_KEY_SPEC_TYPE_IDENTIFIER
    add[40..44].copy_from_slice(&64u32.to_ne_bytes()); // raw_size
    for (i, b) in add[80..].iter_mut().enumerate() {
        *b = i as u8 ^ 0x5a;
    }
    // SAFETY: `add` is the argument struct with its raw key appended.
    let r = unsafe { libc::ioctl(d.as_raw_fd(), FS_IOC_ADD_ENCRYPTION_KEY, add.as_mut_ptr()) };
    ensure!(r == 0, "add key: {}", std::io::Error::last_os_error());
    // struct fscrypt_policy_v2: AES-256-XTS contents, AES-256-CTS names.
    let mut policy = [0u8; 24];
    policy[0] = 2;
    policy[1] = 1;
    policy[2] = 4;
    policy[8..24].copy_from_slice(&add[8..24]); // the key's identifier
                                                // SAFETY: `policy` is a struct fscrypt_policy_v2.
    let r = unsafe { libc::ioctl(d.as_raw_fd(), FS_IOC_SET_ENCRYPTION_POLICY, policy.as_ptr()) };
    ensure!(r == 0, "set policy: {}", std::io::Error::last_os_error());
    Ok(())
}

/// fs-verity and fscrypt files are refused at attach with EOPNOTSUPP (their
/// raw blocks are unverified data or ciphertext); a file that gets verity
/// while tagged has its next chains refused the same way.
pub fn verity_and_encryption() -> Result<()> {
    let control = Control::open(DEFAULT_DEVICE)?;
    let f = fixture("jump")?;

    let verity = files::fresh("/mnt/nvme", "verity");
    files::write_contiguous(&verity, &[3u8; 8192])?;
    enable_verity(&File::open(&verity)?).context("enable verity")?;
    expect_errno(
        "attach a verity file",
        control.attach(&files::open_ro(&verity)?, &f, 0),
        libc::EOPNOTSUPP,
    )?;

    let dir = files::fresh("/mnt/nvme", "encrypted");
    encrypt_dir(&dir)?;
    let secret = dir.join("secret");
    let mut w = File::create(&secret)?;
    w.write_all(&[4u8; 8192])?;
    w.sync_all()?;
    drop(w);
    expect_errno(
        "attach an encrypted file",
        control.attach(&files::open_ro(&secret)?, &f, 0),
        libc::EOPNOTSUPP,
    )?;

    // Verity enabled on a file already tagged: the file's data blocks do
    // not change, and the next chain is refused.
    let late = files::fresh("/mnt/nvme", "verity-late");
    write_test_file(&late, &[5u8; 8192], false)?;
    let fd = files::open_ro(&late)?;
    let tag = control.attach(&fd, &f, 0)?;
    let mut s = crate::fixtures::jump_scratch(0, 512, 0);
    tag.chain_read(0, 512, &mut s, None)?;
    enable_verity(&File::open(&late)?).context("enable verity on a tagged file")?;
    expect_errno(
        "chain after verity was enabled",
        tag.chain_read(0, 512, &mut s, None),
        libc::EOPNOTSUPP,
    )?;
    drop(tag);
    for p in [&verity, &secret, &late] {
        fs::remove_file(p)?;
    }
    Ok(())
}

/// An attach whose result cannot be copied back (the argument is in
/// read-only memory) fails with EFAULT and leaves no tag behind.
pub fn attach_efault() -> Result<()> {
    let control = Control::open(DEFAULT_DEVICE)?;
    let f = fixture("jump")?;
    let path = files::fresh("/mnt/nvme", "efault");
    files::write_contiguous(&path, &[6u8; 4096])?;
    let fd = files::open_ro(&path)?;
    let args = abi::Attach {
        file_fd: fd.as_raw_fd(),
        prog_fd: f.as_fd().as_raw_fd(),
        ..Default::default()
    };
    let size = std::mem::size_of::<abi::Attach>();
    let before = control.stats()?.tags;
    // SAFETY: A fresh anonymous mapping of one page, filled, then made
    // read-only, and unmapped below.
    let r = unsafe {
        let page = libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        ensure!(page != libc::MAP_FAILED, "mmap");
        std::ptr::copy_nonoverlapping(
            std::ptr::from_ref(&args).cast::<u8>(),
            page.cast::<u8>(),
            size,
        );
        libc::mprotect(page, 4096, libc::PROT_READ);
        let r = libc::ioctl(
            control.file().as_raw_fd(),
            abi::IOC_ATTACH as libc::c_ulong,
            page,
        );
        let errno = std::io::Error::last_os_error().raw_os_error();
        libc::munmap(page, 4096);
        (r, errno)
    };
    ensure!(
        r.0 < 0 && r.1 == Some(libc::EFAULT),
        "attach into read-only memory: {r:?}"
    );
    let after = control.stats()?.tags;
    ensure!(
        after == before,
        "a tag was left behind: tags {before} -> {after}"
    );
    // The file is not denied to writers: nothing holds it.
    OpenOptions::new()
        .write(true)
        .open(&path)
        .context("open for writing after EFAULT")?;
    println!("ok: attach with a read-only argument -> EFAULT, no tag left, file writable");
    drop(fd);
    fs::remove_file(&path)?;
    Ok(())
}
