// SPDX-License-Identifier: GPL-2.0

//! Chain reads on the block layer: the bios of a chain and their
//! completion. What a chain reads, and how the driver's hook translates its
//! next read, is [`Translate`] (in `hook.rs`).
//!
//! C headers: [`include/linux/rnvme.h`](srctree/include/linux/rnvme.h),
//! [`include/linux/bio.h`](srctree/include/linux/bio.h).

use core::{
    cell::UnsafeCell,
    ptr::addr_of_mut,
    sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicU32, AtomicU64, Ordering},
};
use kernel::{bindings, prelude::*, sync::Arc, types::Opaque};

pub(crate) use super::{
    chain_buf::MAX_READ,
    hook::{Route, Translate, Window},
};
use super::{
    chain_buf::{add_to_bio, bio_vecs, ChainBuf},
    chain_hold::Holds,
    poller,
    uring::{PollBatch, Waker},
};
use crate::extent::Piece;

pub(crate) const SCRATCH_SIZE: usize = bindings::RNVME_SCRATCH_SIZE as usize;
/// The most bytes one read may ask for (a window).
pub(crate) const MAX_WINDOW: u32 = bindings::RNVME_MAX_WINDOW;
/// The largest logical block size of a device we read.
pub(crate) const MAX_LBA: u32 = 4096;
/// The most files in a tag set.
pub(crate) const MAX_FILES: u32 = bindings::RNVME_MAX_FILES;
/// The kernel's bound on reads per chain.
pub(crate) const MAX_HOPS: u32 = bindings::RNVME_MAX_HOPS;
/// The verdict of a function that is done.
pub(crate) const RNVME_DONE: u32 = bindings::rnvme_verdict_RNVME_DONE;
/// `RNVME_CHAIN_RAN` and `RNVME_CHAIN_CONTINUE` (`BIT()` is not bound).
const CHAIN_RAN: u32 = 1 << 0;
const CHAIN_CONTINUE: u32 = 1 << 1;
/// Why a read was left to process context (`enum rnvme_fallback`).
pub(crate) const FALLBACK_EXTENTS: u32 = bindings::rnvme_fallback_RNVME_FALLBACK_EXTENTS;
pub(crate) const FALLBACK_DEVICE: u32 = bindings::rnvme_fallback_RNVME_FALLBACK_DEVICE;
pub(crate) const FALLBACK_BUDGET: u32 = bindings::rnvme_fallback_RNVME_FALLBACK_BUDGET;
pub(crate) const FALLBACK_REMAPPED: u32 = bindings::rnvme_fallback_RNVME_FALLBACK_REMAPPED;
const FALLBACK_SPLIT: u32 = bindings::rnvme_fallback_RNVME_FALLBACK_SPLIT;
const FALLBACK_OTHER: u32 = bindings::rnvme_fallback_RNVME_FALLBACK_OTHER;

/// A test switch (`/sys/kernel/debug/rnvme/test_tag_splits`, root only):
/// submit a read the block layer will split with the hook's tag anyway, so
/// that tests can show the hook leaves split bios alone (the clone is not
/// the chain's bio, the rest of it is shorter than the window) and the
/// function still runs, in process context.
pub(crate) static TAG_SPLITS: AtomicBool = AtomicBool::new(false);

/// Reads in flight, for module teardown.
static INFLIGHT: AtomicU64 = AtomicU64::new(0);

/// Waits until no read of the module is in flight (module teardown).
pub(crate) fn wait_idle() {
    while INFLIGHT.load(Ordering::Acquire) != 0 {
        // SAFETY: Sleeping is allowed in module teardown.
        unsafe { bindings::msleep(10) };
    }
    // Let a completion that just dropped the count return from our code.
    // SAFETY: Process context.
    unsafe { bindings::synchronize_rcu() };
}

// The ioctl ABI repeats these kernel UAPI bounds.
const _: () = assert!(crate::abi::MAX_WINDOW == MAX_WINDOW);
const _: () = assert!(crate::abi::MAX_FILES == MAX_FILES);
const _: () =
    assert!(crate::abi::FALLBACKS.len() == bindings::rnvme_fallback_RNVME_FALLBACK_NR as usize);

/// The state of one chain read on `T`, shared by the submitter, the driver's
/// hook and the bio completion.
///
/// # Invariants
///
/// While `in_flight` is set a bio that owns one reference to `self` is
/// submitted: the driver may write `chain`, `scratch` and `block`, and the
/// submitter touches none of them until it has waited for the completion
/// (or been woken by it). `waker` is written by the submitter before it
/// submits and taken by the completion.
#[repr(C)]
pub(crate) struct ChainIo<T: Translate> {
    chain: Opaque<bindings::rnvme_chain>,
    done: Opaque<bindings::completion>,
    status: AtomicI32,
    in_flight: AtomicBool,
    /// Reads are polled ([`crate::abi::CHAIN_POLLED`]).
    polled: bool,
    /// The polled bio in flight, with a reference of ours (`bio_get`).
    polled_bio: AtomicPtr<bindings::bio>,
    /// Why the hook did not see the read in flight (`enum rnvme_fallback`).
    unseen: AtomicU32,
    /// Who the completion of the read in flight wakes instead of `done`:
    /// an io_uring command.
    waker: UnsafeCell<Option<Waker>>,
    /// Direct I/O counts the chain holds (`chain_hold.rs`).
    pub(super) holds: Holds,
    buf: ChainBuf,
    source: Arc<T>,
}

// SAFETY: Shared state is either atomic or handed over through the bio's
// completion (see the type invariant).
unsafe impl<T: Translate> Send for ChainIo<T> {}
// SAFETY: See `Send`.
unsafe impl<T: Translate> Sync for ChainIo<T> {}

/// The outcome of a read, as the hook left it.
pub(crate) struct Outcome {
    pub(crate) more: bool,
    pub(crate) verdict: u32,
    pub(crate) error: i32,
    pub(crate) hop: u32,
    pub(crate) file: u32,
    pub(crate) file_offset: u64,
    pub(crate) len: u32,
    pub(crate) next_file: u32,
    pub(crate) next_offset: u64,
    pub(crate) next_len: u32,
    pub(crate) driver_hops: u32,
    /// Bytes the last read read (its window).
    pub(crate) win_bytes: u32,
    /// With `more`: why the driver did not issue the next read.
    pub(crate) fallback: u32,
}

/// A read of a chain: `len` bytes at `offset` of file `file`, read number
/// `hop`, lying at `win` on the file's device.
pub(crate) struct Read {
    pub(crate) file: u32,
    pub(crate) offset: u64,
    pub(crate) len: u32,
    pub(crate) hop: u32,
    pub(crate) win: Window,
}

impl<T: Translate> ChainIo<T> {
    /// A chain on `source`, with its function and hop limit; `polled`
    /// selects polled I/O where the device has poll queues (elsewhere a
    /// polled bio would fail: the chain falls back to interrupts).
    pub(crate) fn new(source: Arc<T>, polled: bool) -> Result<Arc<Self>> {
        // INVARIANT: `in_flight` is clear: nothing is submitted yet.
        let io = Arc::new(
            Self {
                chain: Opaque::new(bindings::rnvme_chain::default()),
                done: Opaque::uninit(),
                status: AtomicI32::new(0),
                in_flight: AtomicBool::new(false),
                polled,
                polled_bio: AtomicPtr::new(core::ptr::null_mut()),
                unseen: AtomicU32::new(FALLBACK_OTHER),
                waker: UnsafeCell::new(None),
                holds: Holds::new(),
                buf: ChainBuf::new()?,
                source,
            },
            GFP_KERNEL_ACCOUNT,
        )?;
        // SAFETY: Nothing is in flight; the chain lives inside `io`. The
        // source holds the program reference for as long as `io` lives.
        unsafe {
            let c = io.chain.get();
            (*c).prog = io.source.prog().as_ptr();
            (*c).scratch = io.buf.scratch().cast();
            (*c).max_hops = io.source.max_hops().min(MAX_HOPS);
        }
        Ok(io)
    }

    /// What the chain reads.
    pub(super) fn source(&self) -> &T {
        &self.source
    }

    /// The scratch, when nothing is in flight.
    pub(crate) fn scratch_mut(&self) -> Result<&mut [u8]> {
        if self.in_flight.load(Ordering::Acquire) {
            return Err(EBUSY);
        }
        // SAFETY: Nothing is in flight (type invariant) and `ChainIo` is only
        // used by the one task running the chain.
        Ok(unsafe { &mut *core::ptr::slice_from_raw_parts_mut(self.buf.scratch(), SCRATCH_SIZE) })
    }

    /// The bytes the function asked for last, when nothing is in flight.
    pub(crate) fn data(&self) -> Result<&[u8]> {
        if self.in_flight.load(Ordering::Acquire) {
            return Err(EBUSY);
        }
        // SAFETY: Nothing is in flight, so we own the chain and its buffer;
        // `start_read` put `buf` at a buffer of at least `data_off + len`
        // bytes, which lives as long as `self`.
        unsafe {
            let c = &*self.chain.get();
            Ok(core::slice::from_raw_parts(
                c.buf.cast::<u8>().add(c.data_off as usize),
                c.len as usize,
            ))
        }
    }

    /// Issues `read` as one bio the driver's hook sees, and may continue.
    pub(crate) fn read_tagged(self: &Arc<Self>, read: &Read) -> Result {
        self.start_read(read)?;
        self.submit(read.file, read.win.sector, 0, read.win.bytes, true)?;
        self.wait()
    }

    /// [`ChainIo::read_tagged`] without waiting: the completion wakes
    /// `waker`; then [`ChainIo::reap`] gives the read's status.
    pub(crate) fn start_tagged(self: &Arc<Self>, read: &Read, waker: Waker) -> Result {
        self.start_read(read)?;
        // SAFETY: Nothing is in flight: the cell is ours until `submit`.
        unsafe { *self.waker.get() = Some(waker) };
        let submitted = self.submit(read.file, read.win.sector, 0, read.win.bytes, true);
        if submitted.is_err() {
            // SAFETY: Not submitted, so still ours.
            unsafe { *self.waker.get() = None };
        }
        submitted
    }

    /// The status of the read that completed last (after [`ChainIo::wait`]
    /// or a wake-up): 0 or its I/O error. Drops the polled bio's reference.
    pub(crate) fn reap(&self) -> Result {
        let bio = self
            .polled_bio
            .swap(core::ptr::null_mut(), Ordering::Relaxed);
        if !bio.is_null() {
            // SAFETY: `bio` carries the reference `submit` took.
            unsafe { bindings::bio_put(bio) };
        }
        match self.status.load(Ordering::Acquire) {
            0 => Ok(()),
            e => Err(Error::from_errno(e)),
        }
    }

    /// Polls the queue of the polled read in flight, if there is one, for an
    /// IOPOLL ring; the completions found. The caller keeps [`ChainIo::reap`]
    /// from running meanwhile (it holds the bio's reference).
    pub(crate) fn poll(&self, batch: &PollBatch) -> i32 {
        let bio = self.polled_bio.load(Ordering::Relaxed);
        if bio.is_null() || !self.in_flight.load(Ordering::Acquire) {
            return 0;
        }
        // SAFETY: `bio` carries the reference `submit` took, which only
        // `reap` drops; the batch is io_uring's.
        unsafe { bindings::bio_poll(bio, batch.iob, batch.flags) }
    }

    /// Issues `read` in pieces (each `Piece::buf_offset` from the start of
    /// its window); the hook does not see them, [`ChainIo::run_if_needed`]
    /// runs the function.
    pub(crate) fn read_pieces(
        self: &Arc<Self>,
        read: &Read,
        pieces: impl Iterator<Item = Piece>,
    ) -> Result {
        self.start_read(read)?;
        self.unseen.store(FALLBACK_EXTENTS, Ordering::Relaxed);
        for p in pieces {
            self.submit(
                read.file,
                p.sector,
                p.buf_offset as u32,
                p.len as u32,
                false,
            )?;
            self.wait()?;
        }
        Ok(())
    }

    /// Describes `read` in the chain, with a buffer large enough for its
    /// window, and clears what the last one left.
    fn start_read(&self, read: &Read) -> Result {
        // SAFETY: Nothing is in flight, and one task runs the chain.
        let buf = unsafe { self.buf.for_read(read.win.bytes)? };
        self.unseen.store(FALLBACK_OTHER, Ordering::Relaxed);
        // SAFETY: Nothing is in flight (`wait` returned or nothing was
        // submitted yet), so we own the chain.
        unsafe {
            let c = self.chain.get();
            (*c).buf = buf.cast();
            (*c).file = read.file;
            (*c).file_offset = read.offset;
            (*c).len = read.len;
            (*c).data_off = read.win.data_off;
            (*c).win_bytes = read.win.bytes;
            (*c).hop = read.hop;
            (*c).flags = 0;
            (*c).error = 0;
        }
        Ok(())
    }

    fn submit(
        self: &Arc<Self>,
        file: u32,
        sector: u64,
        buf_offset: u32,
        len: u32,
        tagged: bool,
    ) -> Result {
        // SAFETY: Nothing is in flight; `start_read` sized the buffer.
        let bytes = unsafe { (*self.chain.get()).win_bytes };
        if buf_offset.checked_add(len).map_or(true, |end| end > bytes) {
            return Err(EINVAL);
        }
        let f = self.source.file(file).ok_or(EINVAL)?;
        let polled = self.polled && f.can_poll();
        let mut opf = bindings::req_op_REQ_OP_READ
            | 1 << bindings::req_flag_bits___REQ_SYNC
            | 1 << bindings::req_flag_bits___REQ_NOMERGE;
        if tagged {
            opf |= 1 << bindings::req_flag_bits___REQ_RNVME;
        }
        if polled {
            opf |= 1 << bindings::req_flag_bits___REQ_POLLED;
        }
        let bdev = f.bdev();
        let vecs = bio_vecs(len);
        // SAFETY: `bdev` lives as long as the source's file; `fs_bio_set` is
        // the kernel's shared bio set; with GFP_KERNEL this does not fail,
        // but be careful anyway.
        let bio = unsafe {
            bindings::bio_alloc_bioset(
                bdev,
                vecs,
                opf,
                bindings::GFP_KERNEL,
                addr_of_mut!(bindings::fs_bio_set),
            )
        };
        if bio.is_null() {
            return Err(ENOMEM);
        }
        // SAFETY: `bio` is ours, with `bio_vecs(len)` vectors; the range is
        // inside the window's buffer (checked above), which lives as long as
        // `self`, and the bio holds a reference to `self`.
        let added = unsafe {
            let start = (*self.chain.get())
                .buf
                .cast::<u8>()
                .add(buf_offset as usize);
            add_to_bio(bio, start, len)
        };
        if let Err(e) = added {
            // SAFETY: Not submitted; this frees it.
            unsafe { bindings::bio_put(bio) };
            return Err(e);
        }
        // SAFETY: `done` is inside `self`, which lives on the heap; no one
        // waits on it now.
        unsafe { bindings::init_completion(self.done.get()) };
        self.status.store(0, Ordering::Relaxed);
        self.in_flight.store(true, Ordering::Release);
        INFLIGHT.fetch_add(1, Ordering::AcqRel);
        let owner = Arc::into_raw(self.clone());
        // SAFETY: `bio` is ours until `submit_bio`; its pages are the chain's
        // buffer, which lives until the completion drops the reference
        // `owner` stands for. The kernel's `rnvme_bio_end_io` hands the
        // completion to `end_io::<T>` (the registered ops) and marks the bio
        // as a chain's own for the hook.
        unsafe {
            (*bio).bi_iter.bi_sector = sector;
            (*bio).bi_private = owner.cast_mut().cast();
            (*bio).bi_end_io = Some(bindings::rnvme_bio_end_io);
            // A bio the block layer would split must not reach the hook in
            // pieces: read it untagged; `run_if_needed` runs the function.
            if tagged && !bindings::rnvme_bio_fits(bio) {
                self.unseen.store(FALLBACK_SPLIT, Ordering::Relaxed);
                if !TAG_SPLITS.load(Ordering::Relaxed) {
                    (*bio).bi_opf &= !(1 << bindings::req_flag_bits___REQ_RNVME);
                }
            }
            if polled {
                // Keep the bio alive for `bio_poll` after it completes.
                bindings::bio_get(bio);
                self.polled_bio.store(bio, Ordering::Relaxed);
            }
            self.hold_submitted(file);
            bindings::submit_bio(bio);
        }
        Ok(())
    }

    /// Waits for the bio submitted last. `EINTR` on a fatal signal (the bio
    /// completes later on its own), the I/O error otherwise.
    fn wait(&self) -> Result {
        let bio = self.polled_bio.load(Ordering::Relaxed);
        if !bio.is_null() {
            self.poll_until_done(bio);
        // SAFETY: `done` was initialised by `submit`.
        } else if unsafe { bindings::wait_for_completion_killable(self.done.get()) } != 0 {
            return Err(EINTR);
        }
        self.reap()
    }

    /// Waits for `bio`, a chain's polled read in flight, polling or
    /// letting the task that polls do it ([`poller`]); the hook runs in
    /// whichever task finds the completion.
    fn poll_until_done(&self, bio: *mut bindings::bio) {
        // SAFETY: `bio` carries the reference `submit` took, which only
        // `reap` (after this) drops; `done` was initialised by `submit` and
        // lives in `self`.
        unsafe {
            poller::wait(bio, self.done.get(), || {
                !self.in_flight.load(Ordering::Acquire)
            })
        };
    }

    /// Runs the function on the window just read, if the hook did not; the
    /// next read is then left to us for the reason the hook did not see
    /// this one.
    pub(crate) fn run_if_needed(&self) {
        let c = self.chain.get();
        // SAFETY: Nothing is in flight; the chain's buffer holds the window.
        unsafe {
            if (*c).flags & CHAIN_RAN == 0 && (*c).error == 0 {
                (*c).fallback = self.unseen.load(Ordering::Relaxed);
                if bindings::rnvme_chain_run(c) {
                    (*c).flags |= CHAIN_CONTINUE;
                }
            }
        }
    }

    /// What the last read and run left, when nothing is in flight.
    pub(crate) fn outcome(&self) -> Outcome {
        // SAFETY: Nothing is in flight, so the chain is ours to read.
        let c = unsafe { &*self.chain.get() };
        Outcome {
            more: c.flags & CHAIN_CONTINUE != 0 && c.error == 0,
            verdict: c.verdict,
            error: c.error,
            hop: c.hop,
            file: c.file,
            file_offset: c.file_offset,
            len: c.len,
            next_file: c.next_file,
            next_offset: c.next_offset,
            next_len: c.next_len,
            driver_hops: c.driver_hops,
            win_bytes: c.win_bytes,
            fallback: c.fallback,
        }
    }

    /// Ends the chain with `err` (a translation the submitter refused).
    pub(crate) fn fail(&self, err: Error) {
        // SAFETY: Nothing is in flight.
        unsafe { (*self.chain.get()).error = err.to_errno() };
    }
}

/// # Safety
///
/// The completion of a bio submitted by [`ChainIo::submit`]: `bi_private`
/// is the reference `Arc::into_raw` made there. Runs in any context, called
/// by the kernel's `rnvme_bio_end_io` inside an RCU read-side critical
/// section, so unregistering the hook ([`HookRegistration`]'s drop) waits
/// until it has returned.
pub(super) unsafe extern "C" fn end_io<T: Translate>(bio: *mut bindings::bio) {
    // SAFETY: See the function's safety section.
    let io = unsafe { Arc::from_raw((*bio).bi_private as *const ChainIo<T>) };
    // SAFETY: `bio` is valid until `bio_put`.
    let status = unsafe { (*bio).bi_status };
    // Every device error is EIO to the caller: the block layer's own mapping
    // would turn a medium error into ENODATA, which here means a hole.
    let errno = if status == 0 { 0 } else { EIO.to_errno() };
    // SAFETY: The submitter wrote the cell before submitting and does not
    // touch it while the read is in flight (type invariant).
    let waker = unsafe { (*io.waker.get()).take() };
    io.release_holds();
    io.status.store(errno, Ordering::Relaxed);
    io.in_flight.store(false, Ordering::Release);
    // SAFETY: The bio is ours to release; `done` is initialised.
    unsafe {
        bindings::bio_put(bio);
        match waker {
            Some(w) => w.wake(),
            None => bindings::complete(io.done.get()),
        }
    }
    drop(io);
    INFLIGHT.fetch_sub(1, Ordering::AcqRel);
}
