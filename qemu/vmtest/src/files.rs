// SPDX-License-Identifier: GPL-2.0 OR MIT

//! Test files on the VM's ext4 file systems, O_DIRECT reference reads,
//! where files and file systems lie, and sysfs settings changed for a test.

use std::{
    fs::{self, File, OpenOptions},
    os::{
        fd::AsRawFd,
        unix::fs::{FileExt, MetadataExt, OpenOptionsExt},
    },
    path::{Path, PathBuf},
};

use anyhow::{ensure, Context, Result};
use rnvme::format::{write_file, Layout};

/// The file systems: (mount point, logical block size of the namespace).
/// `/mnt/part` is in a partition starting 1 MiB into its namespace;
/// `/mnt/xfs` is XFS, the others ext4.
pub const MOUNTS: [(&str, u32); 4] = [
    ("/mnt/nvme", 512),
    ("/mnt/nvme4k", 4096),
    ("/mnt/part", 512),
    ("/mnt/xfs", 512),
];

/// Whether [`write_fragmented`] fragments files on `mount` for sure: ext4's
/// allocator interleaves the file with its spacer; XFS's often places the
/// two apart, leaving the file one extent (its many-extent maps are proven
/// by `vmtest/large-sparse` instead).
pub fn fragments(mount: &str) -> bool {
    mount != "/mnt/xfs"
}

/// A 4 KiB-aligned buffer for O_DIRECT.
pub struct Aligned {
    buf: Vec<u8>,
    start: usize,
    len: usize,
}

impl Aligned {
    pub fn new(len: usize) -> Self {
        let buf = vec![0u8; len + 4096];
        let start = buf.as_ptr().align_offset(4096);
        Self { buf, start, len }
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.buf[self.start..self.start + self.len]
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..self.start + self.len]
    }
}

/// A path under `mount`, removed first if it exists.
pub fn fresh(mount: &str, name: &str) -> PathBuf {
    let p = Path::new(mount).join(name);
    let _ = fs::remove_file(&p);
    p
}

/// Writes `bytes` to a new file, flushed, in one extent if it can.
pub fn write_contiguous(path: &Path, bytes: &[u8]) -> Result<()> {
    write_file(path, bytes, Layout::Contiguous).with_context(|| format!("write {}", path.display()))
}

/// Writes `bytes` to a new file fragmented on purpose (see
/// [`rnvme::format::Layout::Fragmented`]).
pub fn write_fragmented(path: &Path, bytes: &[u8]) -> Result<()> {
    write_file(path, bytes, Layout::Fragmented).with_context(|| format!("write {}", path.display()))
}

/// Reads `len` bytes at `offset` of `path` with O_DIRECT: the user-space
/// reference every chain result is compared with.
pub fn pread_direct(path: &Path, offset: u64, len: usize) -> Result<Vec<u8>> {
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)?;
    let mut buf = Aligned::new(len);
    f.read_exact_at(buf.as_mut_slice(), offset)
        .with_context(|| format!("pread {len} at {offset}"))?;
    Ok(buf.as_slice().to_vec())
}

/// Opens `path` read-only.
pub fn open_ro(path: &Path) -> Result<File> {
    File::open(path).with_context(|| format!("open {}", path.display()))
}

/// truncate(2) of `path` to 0 bytes (by path: no open file is needed, so a
/// refusal comes from truncate itself).
pub fn truncate(path: &Path) -> std::io::Result<()> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())?;
    // SAFETY: `c` is a valid C string; truncate(2) only reads it.
    if unsafe { libc::truncate(c.as_ptr(), 0) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Reads all of `path` with O_DIRECT, whatever its size (the last block
/// comes back short).
pub fn pread_all(path: &Path) -> Result<Vec<u8>> {
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
        .with_context(|| format!("open {}", path.display()))?;
    let len = f.metadata()?.len() as usize;
    let mut buf = Aligned::new(len.next_multiple_of(4096));
    let mut done = 0;
    while done < len {
        let n = f
            .read_at(&mut buf.as_mut_slice()[done..], done as u64)
            .with_context(|| format!("pread {} at {done}", path.display()))?;
        ensure!(n > 0, "{}: end of file at {done} of {len}", path.display());
        done += n;
    }
    Ok(buf.as_slice()[..len].to_vec())
}

/// XORed into every word of [`pattern`]: no byte of it is zero.
const PATTERN_SALT: u64 = 0xa55a_3cc3_9669_0ff0;

/// `len` bytes of test data for file `id`: the 8-byte word at offset `o`
/// is `((id << 48) | o) ^ PATTERN_SALT`, little-endian, so that any 8 bytes
/// of it tell which file and which offset they came from: a wrong byte, a
/// shifted window or another file's data shows in every sample.
pub fn pattern(id: u16, len: usize) -> Vec<u8> {
    (0..len.div_ceil(8) as u64)
        .flat_map(|w| (((u64::from(id) << 48) | (w * 8)) ^ PATTERN_SALT).to_le_bytes())
        .take(len)
        .collect()
}

/// A test file, open read-only, and its bytes as an O_DIRECT pread of the
/// whole file returned them: the user-space reference chains are compared
/// with.
pub struct DataFile {
    pub path: PathBuf,
    pub file: File,
    pub bytes: Vec<u8>,
}

impl DataFile {
    /// Writes `len` bytes of [`pattern`] `id` to a new file `name` under
    /// `mount`, laid out as `layout` says and flushed, and reads it back;
    /// the read must give what was written.
    pub fn create(mount: &str, name: &str, id: u16, len: usize, layout: Layout) -> Result<Self> {
        let path = fresh(mount, name);
        let bytes = pattern(id, len);
        write_file(&path, &bytes, layout).with_context(|| format!("write {}", path.display()))?;
        let data = Self::open(path)?;
        ensure!(
            data.bytes == bytes,
            "{}: pread differs from what was written",
            data.path.display()
        );
        Ok(data)
    }

    /// Opens the file at `path` and reads all of it.
    pub fn open(path: PathBuf) -> Result<Self> {
        let file = open_ro(&path)?;
        let bytes = pread_all(&path)?;
        Ok(Self { path, file, bytes })
    }

    /// The reference bytes of the `len` at `offset`, which must be inside
    /// the file.
    pub fn slice(&self, offset: u64, len: u32) -> &[u8] {
        &self.bytes[offset as usize..][..len as usize]
    }

    /// A pread(2) of `len` bytes at `offset`, of its own.
    pub fn pread(&self, offset: u64, len: u32) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; len as usize];
        self.file
            .read_exact_at(&mut buf, offset)
            .with_context(|| format!("pread {} of {len} at {offset}", self.path.display()))?;
        Ok(buf)
    }

    /// Closes and removes the file.
    pub fn remove(self) -> Result<()> {
        drop(self.file);
        fs::remove_file(&self.path).with_context(|| format!("remove {}", self.path.display()))
    }
}

/// The block device the file system at `mount` is on, as `/sys/block`
/// names it (`nvme1n1`; a partition's is `nvme2n1p1`).
pub fn block_device(mount: &str) -> Result<String> {
    let dev = fs::metadata(mount)?.dev();
    let link = format!("/sys/dev/block/{}:{}", libc::major(dev), libc::minor(dev));
    let target = fs::read_link(&link).with_context(|| link.clone())?;
    Ok(target
        .file_name()
        .context("device name")?
        .to_string_lossy()
        .into_owned())
}

/// Where `path` lies on its device: its extents in file order, as (byte
/// offset on the device, bytes), from FS_IOC_FIEMAP (at most 32).
pub fn physical_extents(path: &Path) -> Result<Vec<(u64, u64)>> {
    const FS_IOC_FIEMAP: libc::c_ulong = 0xc020_660b;
    const FIEMAP_FLAG_SYNC: u32 = 1;
    const COUNT: usize = 32;
    // struct fiemap (32 bytes), then COUNT struct fiemap_extent (56 each).
    let mut arg = vec![0u8; 32 + 56 * COUNT];
    arg[8..16].copy_from_slice(&u64::MAX.to_ne_bytes()); // fm_length
    arg[16..20].copy_from_slice(&FIEMAP_FLAG_SYNC.to_ne_bytes()); // fm_flags
    arg[24..28].copy_from_slice(&(COUNT as u32).to_ne_bytes()); // fm_extent_count
    let f = open_ro(path)?;
    // SAFETY: `arg` is a struct fiemap followed by room for the
    // fm_extent_count extents it asks for; the kernel writes no further.
    if unsafe { libc::ioctl(f.as_raw_fd(), FS_IOC_FIEMAP, arg.as_mut_ptr()) } < 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("FIEMAP of {}", path.display()));
    }
    let u64_at = |b: &[u8], at: usize| u64::from_ne_bytes(b[at..at + 8].try_into().unwrap());
    let mapped = u32::from_ne_bytes(arg[20..24].try_into().unwrap()) as usize;
    Ok(arg[32..]
        .chunks(56)
        .take(mapped)
        .map(|e| (u64_at(e, 8), u64_at(e, 16)))
        .collect())
}

/// A sysfs setting changed for a test. Dropping it puts the old value
/// back, also when the test fails or panics.
pub struct Setting {
    path: PathBuf,
    old: String,
}

impl Setting {
    /// Writes `value` to `path`, keeping what was there.
    pub fn set(path: impl Into<PathBuf>, value: &str) -> Result<Self> {
        let path = path.into();
        let old = fs::read_to_string(&path)
            .with_context(|| format!("read {}", path.display()))?
            .trim()
            .to_string();
        fs::write(&path, value).with_context(|| format!("echo {value} > {}", path.display()))?;
        Ok(Self { path, old })
    }

    /// Puts the old value back and checks that it is there.
    pub fn restore(self) -> Result<()> {
        let (path, old) = (self.path.clone(), self.old.clone());
        drop(self);
        let now = fs::read_to_string(&path)?;
        ensure!(
            now.trim() == old,
            "{} is {}, not {old} as before",
            path.display(),
            now.trim()
        );
        Ok(())
    }
}

impl Drop for Setting {
    fn drop(&mut self) {
        if let Err(e) = fs::write(&self.path, &self.old) {
            println!(
                "FAIL: could not put {} back to {}: {e}",
                self.path.display(),
                self.old
            );
        }
    }
}

/// What a file next door to a tagged one is full of, in the tests that
/// show another file's data never comes back.
pub const MARKER: &[u8; 8] = b"MARKER!!";

/// Whether `b` holds [`MARKER`].
pub fn has_marker(b: &[u8]) -> bool {
    b.windows(8).any(|w| w == MARKER)
}
