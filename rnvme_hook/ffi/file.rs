// SPDX-License-Identifier: GPL-2.0

//! Open files frozen against block-map changes, and their block map.
//!
//! C header: [`include/linux/fs.h`](srctree/include/linux/fs.h).

use core::ptr::NonNull;
use kernel::{
    bindings,
    error::{from_err_ptr, to_result},
    ffi::{c_int, c_uint},
    prelude::*,
    str::CStr,
};

use super::errno;

const FMODE_READ: u32 = 1 << 0;

/// An open regular file, readable by its opener, who could also write it,
/// whose writers are denied (as for an executing binary): its block map
/// cannot change while this lives.
///
/// # Invariants
///
/// `ptr` holds a reference taken by `fget()` and one `deny_write_access()`.
pub(crate) struct FrozenFile {
    ptr: NonNull<bindings::file>,
}

// SAFETY: The file reference and the denial may be dropped on any thread; the
// accessors only read fields that are fixed while the file is open.
unsafe impl Send for FrozenFile {}
// SAFETY: See `Send`.
unsafe impl Sync for FrozenFile {}

/// What a tag needs to know about a frozen file.
pub(crate) struct FileLayout {
    pub(crate) size: u64,
    pub(crate) blkbits: u32,
    pub(crate) lba_size: u32,
}

impl FrozenFile {
    /// Takes file descriptor `fd` of the calling process.
    ///
    /// Errors: `EBADF` (not open, or not open for reading), `EINVAL` (not a
    /// regular file), `EOPNOTSUPP` (not on ext4, or an fs-verity or
    /// encrypted file), `ENODEV` (not on an NVMe namespace driven by the
    /// rnvme-capable driver), `EACCES` (the caller could not write the file,
    /// and does not own it), the LSM's refusal, `ETXTBSY` (open for writing
    /// somewhere), or the error of flushing its dirty pages.
    pub(crate) fn get(fd: i32) -> Result<Self> {
        let fd = c_uint::try_from(fd).map_err(|_| EBADF)?;
        // SAFETY: `fget` accepts any number and returns NULL or a file with
        // a reference for us.
        let ptr = NonNull::new(unsafe { bindings::fget(fd) }).ok_or(EBADF)?;
        // SAFETY: `ptr` is a referenced file, so its inode and super block
        // are alive; these fields do not change while it is open.
        let (mode, imode, sb) = unsafe {
            let f = ptr.as_ptr();
            ((*f).f_mode, (*(*f).f_inode).i_mode, (*(*f).f_inode).i_sb)
        };
        let check = || -> Result {
            if mode & FMODE_READ == 0 {
                return Err(EBADF);
            }
            if u32::from(imode) & bindings::S_IFMT != bindings::S_IFREG {
                return Err(EINVAL);
            }
            // SAFETY: The super block of an open file is alive and its type
            // name is a static string.
            let fs = unsafe { CStr::from_char_ptr((*(*sb).s_type).name) };
            if fs.as_bytes() != b"ext4" {
                return Err(errno::eopnotsupp());
            }
            // SAFETY: As above; `s_bdev` is set for a block file system.
            let bdev = unsafe { (*sb).s_bdev };
            // SAFETY: `bdev` is the live block device of a mounted fs.
            if bdev.is_null() || !unsafe { bindings::nvme_rnvme_bdev_supported(bdev) } {
                return Err(ENODEV);
            }
            // SAFETY: `ptr` is a referenced file; the check reads its inode
            // and the caller's credentials.
            to_result(unsafe { bindings::rnvme_may_attach(ptr.as_ptr()) })?;
            // SAFETY: `ptr` is a referenced file.
            to_result(unsafe { bindings::deny_write_access(ptr.as_ptr()) })
        };
        if let Err(e) = check() {
            // SAFETY: Drops the reference `fget` gave us; no denial was taken.
            unsafe { bindings::fput(ptr.as_ptr()) };
            return Err(e);
        }
        // INVARIANT: `fget` gave us a reference and `check` took the denial.
        let file = Self { ptr };
        // Allocate delayed blocks and write dirty pages now, with errors
        // reported, so that `bmap` sees the final mapping.
        // SAFETY: `ptr` is a referenced file.
        to_result(unsafe { bindings::file_write_and_wait_range(ptr.as_ptr(), 0, i64::MAX) })?;
        Ok(file)
    }

    /// `EOPNOTSUPP` once the file's raw blocks are no longer its contents
    /// (fs-verity was enabled on it since it was tagged).
    pub(crate) fn raw_reads_ok(&self) -> Result {
        // SAFETY: By the type invariant the file is referenced.
        to_result(unsafe { bindings::rnvme_raw_reads_ok(self.ptr.as_ptr()) })
    }

    /// Whether the file's device has poll queues for polled reads.
    pub(crate) fn can_poll(&self) -> bool {
        // SAFETY: The block device is alive (see `bdev`).
        unsafe { bindings::rnvme_bdev_can_poll(self.bdev()) }
    }

    fn inode(&self) -> *mut bindings::inode {
        // SAFETY: By the type invariant the file is referenced.
        unsafe { (*self.ptr.as_ptr()).f_inode }
    }

    /// Whether `other` is on the same block device (partition) as this.
    pub(crate) fn same_device(&self, other: &FrozenFile) -> bool {
        self.bdev() == other.bdev()
    }

    /// The block device the file's file system is on.
    pub(super) fn bdev(&self) -> *mut bindings::block_device {
        // SAFETY: The inode and super block live as long as the file;
        // `get` checked that `s_bdev` is set.
        unsafe { (*(*self.inode()).i_sb).s_bdev }
    }

    /// The file's size and block geometry (fixed while frozen).
    pub(crate) fn layout(&self) -> FileLayout {
        let inode = self.inode();
        // SAFETY: The inode and block device are alive (see `bdev`).
        unsafe {
            FileLayout {
                size: bindings::i_size_read(inode) as u64,
                blkbits: u32::from((*inode).i_blkbits),
                lba_size: bindings::bdev_logical_block_size(self.bdev()),
            }
        }
    }

    /// The physical block (of the file system's device) of logical block
    /// `lblk`, or 0 when it is not mapped to written data.
    pub(crate) fn bmap(&self, lblk: u64) -> Result<u64> {
        let mut block: bindings::sector_t = lblk;
        // SAFETY: The inode is alive; `bmap` takes the locks it needs and
        // writes only `block`.
        to_result(unsafe { bindings::bmap(self.inode(), &mut block) })?;
        Ok(block)
    }

    /// The file's inode number.
    pub(crate) fn ino(&self) -> u64 {
        // SAFETY: The inode is alive (see `bdev`); its number is fixed.
        unsafe { (*self.inode()).i_ino as u64 }
    }

    /// Calls `f` with the file's path, as `/proc/PID/fd` shows it.
    pub(crate) fn with_path<R>(&self, f: impl FnOnce(&[u8]) -> R) -> Result<R> {
        let mut buf = KVec::from_elem(0u8, bindings::PATH_MAX as usize, GFP_KERNEL_ACCOUNT)?;
        // SAFETY: The file is referenced; `file_path` writes at most
        // `PATH_MAX` bytes into `buf` and returns a pointer into it, or an
        // error pointer.
        let p = from_err_ptr(unsafe {
            bindings::file_path(
                self.ptr.as_ptr(),
                buf.as_mut_ptr().cast(),
                bindings::PATH_MAX as c_int,
            )
        })?;
        // SAFETY: On success `p` is a NUL-terminated string inside `buf`.
        Ok(f(unsafe { CStr::from_char_ptr(p) }.as_bytes()))
    }
}

impl Drop for FrozenFile {
    fn drop(&mut self) {
        // SAFETY: By the type invariant we hold one denial and one reference;
        // both calls are safe in any context (fput defers its work).
        unsafe {
            bindings::allow_write_access(self.ptr.as_ptr());
            bindings::fput(self.ptr.as_ptr());
        }
    }
}
