// SPDX-License-Identifier: GPL-2.0 OR MIT

//! The databases the real RocksDB and SQLite libraries wrote on the host
//! (`make fixtures`), with the libraries' own answers: `qemu/run.sh` puts
//! them under `/fixtures` of the 512 B and 4 KiB disks; the XFS disk gets a
//! copy of the 512 B disk's in the guest.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, ensure, Context, Result};

/// The fixture directories of `engine` (`rocksdb`, `sqlite`), one per disk
/// (the XFS one copied from the 512 B disk's the first time).
pub fn dirs(engine: &str) -> Result<Vec<PathBuf>> {
    let xfs = Path::new("/mnt/xfs/fixtures");
    let src = Path::new("/mnt/nvme/fixtures").join(engine);
    if !xfs.join(engine).is_dir() && src.is_dir() {
        fs::create_dir_all(xfs)?;
        let ok = Command::new("cp")
            .arg("-a")
            .arg(&src)
            .arg(xfs)
            .status()?
            .success();
        ensure!(ok, "copying {} to XFS failed", src.display());
    }
    let dirs: Vec<PathBuf> = ["/mnt/nvme", "/mnt/nvme4k", "/mnt/xfs"]
        .iter()
        .map(|m| Path::new(m).join("fixtures").join(engine))
        .collect();
    for d in &dirs {
        if !d.is_dir() {
            bail!(
                "{}: missing (make fixtures, qemu/run.sh FIXTURES)",
                d.display()
            );
        }
    }
    Ok(dirs)
}

/// The `<name>.expect` files of a fixture directory, sorted.
pub fn expect_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .with_context(|| dir.display().to_string())?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    v.retain(|p| p.extension().is_some_and(|e| e == "expect"));
    v.sort();
    if v.is_empty() {
        bail!("{}: no .expect files", dir.display());
    }
    Ok(v)
}

/// Bytes written as `x` and lowercase hex (`x` alone is empty).
pub fn unhex(s: &str) -> Result<Vec<u8>> {
    let h = s
        .strip_prefix('x')
        .with_context(|| format!("{s:?}: not x<hex>"))?;
    if h.len() % 2 != 0 {
        bail!("{s:?}: odd hex");
    }
    (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&h[i..i + 2], 16).with_context(|| format!("{s:?}: bad hex")))
        .collect()
}

/// Whether this is the debug kernel (KASAN, lockdep: several times slower
/// under TCG), where long scenarios run fewer rounds of the same checks.
pub fn debug_kernel() -> bool {
    fs::read_to_string("/proc/cmdline")
        .unwrap_or_default()
        .contains("rnvme.flavour=debug")
}

/// The lines of an `.expect` file under `path` that run, numbered from 0
/// in the order they run: every 2nd line (the even ones) on the 512 B disk,
/// every 10th from the second line on the 4 KiB and XFS disks (the same
/// files on other sectors and another file system: a sample of the lines
/// the 512 B disk skips), every 100th on the debug kernel (several times
/// slower under TCG). Keeps the suite's time in check.
pub fn sample<'a>(text: &'a str, path: &Path) -> impl Iterator<Item = (usize, &'a str)> + 'a {
    let (first, step) = if debug_kernel() {
        (0, 100)
    } else if path.starts_with("/mnt/nvme4k") || path.starts_with("/mnt/xfs") {
        (1, 10)
    } else {
        (0, 2)
    };
    text.lines().skip(first).step_by(step).enumerate()
}

/// Where the hostile-input scenarios write damaged copies: round `i` on
/// ext4 or XFS, alternately.
pub fn hostile_dir(i: usize, name: &str) -> PathBuf {
    Path::new(["/mnt/nvme", "/mnt/xfs"][i % 2]).join(name)
}

/// Rounds of the hostile-input scenarios: fewer lookups on the debug kernel.
pub fn hostile_stride() -> usize {
    if debug_kernel() {
        250
    } else {
        50
    }
}
