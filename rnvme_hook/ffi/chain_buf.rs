// SPDX-License-Identifier: GPL-2.0

//! The memory of a chain: its scratch, and the buffer its reads land in.
//!
//! A read of up to a page lands in a page-aligned kmalloc block; a larger
//! window (up to `RNVME_MAX_WINDOW` and its covering logical blocks) in a
//! vmalloc buffer allocated by the chain's first such read: virtually
//! contiguous for the function, added to the bio page by page.
//!
//! C headers: [`include/linux/bio.h`](srctree/include/linux/bio.h),
//! [`include/linux/vmalloc.h`](srctree/include/linux/vmalloc.h).

use core::cell::UnsafeCell;
use kernel::{alloc::Allocator, bindings, prelude::*, types::Opaque};

use super::chain_io::{MAX_LBA, MAX_WINDOW, SCRATCH_SIZE};

/// The most bytes one read reads: a window and its covering blocks.
pub(crate) const MAX_READ: usize = (MAX_WINDOW + MAX_LBA) as usize;
/// Bytes of a page.
pub(super) const PAGE: usize = bindings::PAGE_SIZE as usize;

/// A 4 KiB, page-aligned, physically contiguous buffer (kmalloc aligns
/// power-of-two sizes).
#[repr(C, align(4096))]
struct Block(Opaque<[u8; 4096]>);

/// A buffer for reads of more than a page.
#[repr(C, align(4096))]
struct Large(Opaque<[u8; MAX_READ]>);

const _: () = assert!(SCRATCH_SIZE == 4096 && PAGE == 4096);

/// A zeroed `T` (an `Opaque`, any bytes valid), allocated without passing
/// through the stack.
fn new_zeroed<T, A: Allocator>() -> Result<Box<T, A>> {
    let mut b = Box::<T, A>::new_uninit(GFP_KERNEL_ACCOUNT)?;
    // SAFETY: Zeroes the allocation, and any bytes are a valid `T` (callers
    // use `Block` and `Large`, which are `Opaque`).
    Ok(unsafe {
        core::ptr::write_bytes(b.as_mut_ptr(), 0, 1);
        b.assume_init()
    })
}

/// The scratch and the read buffers of one chain.
///
/// The owner ([`super::chain_io::ChainIo`]) hands out pointers into them to
/// the driver and the function while a read is in flight, and touches them
/// itself only while none is.
pub(super) struct ChainBuf {
    scratch: KBox<Block>,
    block: KBox<Block>,
    /// Allocated by the first read of more than a page.
    large: UnsafeCell<Option<VBox<Large>>>,
}

impl ChainBuf {
    pub(super) fn new() -> Result<Self> {
        Ok(Self {
            scratch: new_zeroed()?,
            block: new_zeroed()?,
            large: UnsafeCell::new(None),
        })
    }

    /// The scratch (`RNVME_SCRATCH_SIZE` bytes).
    pub(super) fn scratch(&self) -> *mut u8 {
        self.scratch.0.get().cast()
    }

    /// A buffer for a read of `bytes`: the block, or the large buffer,
    /// allocated on first use.
    ///
    /// # Safety
    ///
    /// No read is in flight, and no other task uses `self`.
    pub(super) unsafe fn for_read(&self, bytes: u32) -> Result<*mut u8> {
        if bytes as usize > MAX_READ {
            return Err(EINVAL);
        }
        if bytes as usize <= PAGE {
            return Ok(self.block.0.get().cast());
        }
        // SAFETY: No one else looks at `large` (the caller's guarantee).
        let large = unsafe { &mut *self.large.get() };
        if large.is_none() {
            *large = Some(new_zeroed()?);
        }
        Ok(large
            .as_ref()
            .map_or(core::ptr::null_mut(), |l| l.0.get().cast()))
    }
}

/// Vectors a bio needs for `len` bytes of a chain buffer.
pub(super) fn bio_vecs(len: u32) -> u16 {
    // At most MAX_READ / PAGE + 1 = 18.
    ((len as usize).div_ceil(PAGE) + 1) as u16
}

/// Adds `len` bytes at `start` to `bio`, page by page.
///
/// # Safety
///
/// `bio` is ours, allocated with [`bio_vecs`]`(len)` vectors, and the range
/// lies inside a buffer of a [`ChainBuf`] that outlives the bio.
pub(super) unsafe fn add_to_bio(bio: *mut bindings::bio, start: *mut u8, len: u32) -> Result {
    let mut done = 0usize;
    while done < len as usize {
        // SAFETY: Inside the range (the caller's guarantee).
        let at = unsafe { start.add(done) };
        let in_page = at as usize % PAGE;
        let n = (PAGE - in_page).min(len as usize - done);
        // SAFETY: `at` is in the kmalloc'd block (physically contiguous) or
        // the vmalloc'd large buffer; `n` bytes from `at` are in one page;
        // `bio` has a free vector for each page of the range.
        unsafe {
            if bindings::is_vmalloc_addr(at.cast()) {
                let page = bindings::vmalloc_to_page(at.cast());
                if bindings::bio_add_page(bio, page, n as u32, in_page as u32) as usize != n {
                    return Err(ENOMEM);
                }
            } else {
                bindings::bio_add_virt_nofail(bio, at.cast(), n as u32);
            }
        }
        done += n;
    }
    Ok(())
}
