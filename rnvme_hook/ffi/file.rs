// SPDX-License-Identifier: GPL-2.0

//! Tagged open files: their block map, their page cache and their direct
//! I/O count (which holds off truncation and remapping, see
//! `dio_notify.h`).
//!
//! C headers: [`include/linux/fs.h`](srctree/include/linux/fs.h),
//! [`include/linux/pagemap.h`](srctree/include/linux/pagemap.h).

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

/// An open regular file on ext4 or XFS, readable by its opener, who could
/// also write it. Others may write, truncate and remap it meanwhile.
///
/// # Invariants
///
/// `ptr` holds a reference taken by `fget()`.
pub(crate) struct LiveFile {
    ptr: NonNull<bindings::file>,
}

// SAFETY: The file reference may be dropped on any thread; the accessors
// only read fields that are fixed while the file is open, or call functions
// that take the locks they need.
unsafe impl Send for LiveFile {}
// SAFETY: See `Send`.
unsafe impl Sync for LiveFile {}

/// The geometry of a tagged file (fixed while it is open).
pub(crate) struct FileLayout {
    pub(crate) blkbits: u32,
    pub(crate) lba_size: u32,
}

impl LiveFile {
    /// Takes file descriptor `fd` of the calling process.
    ///
    /// Errors: `EBADF` (not open, or not open for reading), `EINVAL` (not a
    /// regular file), `EOPNOTSUPP` (not on ext4 or XFS, or an fs-verity or
    /// encrypted file), `ENODEV` (not on an NVMe namespace driven by the
    /// rnvme-capable driver), `EACCES` (the caller could not write the file,
    /// and does not own it), or the LSM's refusal.
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
            if !matches!(fs.as_bytes(), b"ext4" | b"xfs") {
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
            to_result(unsafe { bindings::rnvme_may_attach(ptr.as_ptr()) })
        };
        if let Err(e) = check() {
            // SAFETY: Drops the reference `fget` gave us.
            unsafe { bindings::fput(ptr.as_ptr()) };
            return Err(e);
        }
        // INVARIANT: `fget` gave us a reference.
        Ok(Self { ptr })
    }

    /// Writes back the file's dirty page cache in `[start, end]` (bytes,
    /// inclusive) and waits for it, so that the device holds what a read
    /// of the range must return (and delayed blocks are allocated); the
    /// error of the writeback.
    pub(crate) fn write_back(&self, start: u64, end: u64) -> Result {
        let (start, end) = (start.min(i64::MAX as u64), end.min(i64::MAX as u64));
        // SAFETY: `ptr` is a referenced file (type invariant); process
        // context (the callers are).
        to_result(unsafe {
            bindings::file_write_and_wait_range(self.ptr.as_ptr(), start as i64, end as i64)
        })
    }

    /// Whether `[start, end]` (bytes, inclusive) has page cache that is
    /// dirty or under writeback, which a read of the device would miss. Any
    /// context: a lockless look at the page cache's tags.
    pub(crate) fn needs_write_back(&self, start: u64, end: u64) -> bool {
        let (start, end) = (start.min(i64::MAX as u64), end.min(i64::MAX as u64));
        // SAFETY: The inode and its mapping live as long as the file; the
        // check walks the mapping's xarray under RCU and takes no lock.
        unsafe {
            bindings::filemap_range_needs_writeback(
                (*self.inode()).i_mapping,
                start as i64,
                end as i64,
            )
        }
    }

    /// Counts a read of the file's blocks as direct I/O in flight, then
    /// orders the caller's next loads after the count (so that a
    /// `dio_wait_notify` callback's mark before a drain is seen, or the
    /// drain waits for this read). Any context; [`LiveFile::dio_end`]
    /// undoes it.
    pub(crate) fn dio_begin(&self) {
        // SAFETY: The inode is alive (see `bdev`).
        unsafe { bindings::rnvme_inode_dio_begin(self.inode()) }
    }

    /// Ends what one [`LiveFile::dio_begin`] counted. Any context; the
    /// caller pairs it with a begin.
    pub(crate) fn dio_end(&self) {
        // SAFETY: The inode is alive; paired with a begin (see above), so
        // the count does not drop below zero.
        unsafe { bindings::inode_dio_end(self.inode()) }
    }

    /// [`LiveFile::dio_begin`] until the guard is dropped.
    pub(crate) fn dio_hold(&self) -> DioHold<'_> {
        self.dio_begin();
        DioHold(self)
    }

    /// Runs `f` while no operation that holds the inode's lock exclusive
    /// (truncation, fallocate, extent moves, reflink) is under way: such an
    /// operation that started before this returns has finished. Sleeps.
    pub(crate) fn quiesced<R>(&self, f: impl FnOnce() -> R) -> R {
        // SAFETY: The inode is alive; process context.
        unsafe { bindings::inode_lock_shared(self.inode()) };
        let r = f();
        // SAFETY: Taken just above.
        unsafe { bindings::inode_unlock_shared(self.inode()) };
        r
    }

    /// The file's size now.
    pub(crate) fn size(&self) -> u64 {
        // SAFETY: The inode is alive.
        unsafe { bindings::i_size_read(self.inode()) as u64 }
    }

    /// Calls `f` with the extents of the file's first `size` bytes, in file
    /// order, as the file system's `->fiemap` gives them (process context:
    /// sleeps, and the file system takes the inode's locks it needs, so the
    /// caller must hold none). `f`'s error stops the walk.
    pub(crate) fn extents(&self, size: u64, mut f: impl FnMut(&FileExtent) -> Result) -> Result {
        const BATCH: usize = 32;
        let mut buf = KVec::from_elem(
            bindings::fiemap_extent::default(),
            BATCH,
            GFP_KERNEL_ACCOUNT,
        )?;
        let mut start = 0;
        while start < size {
            // SAFETY: The inode is alive (the file is referenced); `buf`
            // holds `BATCH` extents; process context, no inode lock held
            // (the caller's duty, above).
            let n = unsafe {
                bindings::fiemap_kernel(
                    self.inode(),
                    start,
                    size - start,
                    0,
                    buf.as_mut_ptr(),
                    BATCH as u32,
                )
            };
            to_result(n)?;
            let Some(last) = buf.get(..n as usize).and_then(|b| b.last()) else {
                return Ok(());
            };
            for e in &buf[..n as usize] {
                f(&FileExtent {
                    logical: e.fe_logical,
                    physical: e.fe_physical,
                    length: e.fe_length,
                    flags: e.fe_flags,
                })?;
            }
            let next = last.fe_logical.saturating_add(last.fe_length);
            if last.fe_flags & bindings::FIEMAP_EXTENT_LAST != 0 || n < BATCH as i32 {
                return Ok(());
            }
            // A file system that does not move on would loop for ever.
            if next <= start {
                return Err(EIO);
            }
            start = next;
        }
        Ok(())
    }

    /// The inode, as the key `dio_wait_notify` callbacks name it by.
    pub(crate) fn inode_key(&self) -> usize {
        self.inode() as usize
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
    pub(crate) fn same_device(&self, other: &LiveFile) -> bool {
        self.bdev() == other.bdev()
    }

    /// The block device the file's file system is on.
    pub(super) fn bdev(&self) -> *mut bindings::block_device {
        // SAFETY: The inode and super block live as long as the file;
        // `get` checked that `s_bdev` is set.
        unsafe { (*(*self.inode()).i_sb).s_bdev }
    }

    /// The file's block geometry.
    pub(crate) fn layout(&self) -> FileLayout {
        let inode = self.inode();
        // SAFETY: The inode and block device are alive (see `bdev`).
        unsafe {
            FileLayout {
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

/// A run of a file's bytes as its file system maps them: `length` bytes
/// at file offset `logical` are at byte `physical` of the file system's
/// device, with `FIEMAP_EXTENT_*` `flags`.
pub(crate) struct FileExtent {
    pub(crate) logical: u64,
    pub(crate) physical: u64,
    pub(crate) length: u64,
    flags: u32,
}

impl FileExtent {
    /// Whether the bytes are written data at that place of the device, in
    /// the clear: not delayed, unwritten, inline, tail-packed, encoded or
    /// encrypted.
    pub(crate) fn is_written(&self) -> bool {
        let not = bindings::FIEMAP_EXTENT_UNKNOWN
            | bindings::FIEMAP_EXTENT_DELALLOC
            | bindings::FIEMAP_EXTENT_UNWRITTEN
            | bindings::FIEMAP_EXTENT_ENCODED
            | bindings::FIEMAP_EXTENT_DATA_ENCRYPTED
            | bindings::FIEMAP_EXTENT_NOT_ALIGNED
            | bindings::FIEMAP_EXTENT_DATA_INLINE
            | bindings::FIEMAP_EXTENT_DATA_TAIL;
        self.flags & not == 0
    }

    /// Whether other files share the blocks (a write copies them first).
    pub(crate) fn is_shared(&self) -> bool {
        self.flags & bindings::FIEMAP_EXTENT_SHARED != 0
    }
}

/// One count of direct I/O in flight on a file, ended when dropped.
pub(crate) struct DioHold<'a>(&'a LiveFile);

impl Drop for DioHold<'_> {
    fn drop(&mut self) {
        self.0.dio_end();
    }
}

impl Drop for LiveFile {
    fn drop(&mut self) {
        // SAFETY: By the type invariant we hold one reference; `fput` is safe
        // in any context (it defers its work).
        unsafe { bindings::fput(self.ptr.as_ptr()) };
    }
}
