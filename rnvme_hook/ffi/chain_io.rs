// SPDX-License-Identifier: GPL-2.0

//! Chain reads on the block layer: the bios of a chain, their completion,
//! and the translation the NVMe driver's rnvme hook asks for when a function
//! wants another read.
//!
//! The logic above provides what a chain reads by implementing
//! [`Translate`]; the C callbacks here are generic over it.
//!
//! C headers: [`include/linux/rnvme.h`](srctree/include/linux/rnvme.h),
//! [`include/linux/bio.h`](srctree/include/linux/bio.h).

use core::{
    ffi::c_void,
    marker::PhantomData,
    ptr::addr_of_mut,
    sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicU64, Ordering},
};
use kernel::{bindings, error::to_result, ffi::c_int, prelude::*, sync::Arc, types::Opaque};

use super::{bpf::Prog, file::FrozenFile};
use crate::extent::Piece;

const SCRATCH_SIZE: usize = bindings::RNVME_SCRATCH_SIZE as usize;
/// The largest block one read may carry.
pub(crate) const MAX_BLOCK: u32 = bindings::RNVME_MAX_BLOCK_SIZE;
/// The kernel's bound on reads per chain.
pub(crate) const MAX_HOPS: u32 = bindings::RNVME_MAX_HOPS;
/// The verdict of a function that is done.
pub(crate) const RNVME_DONE: u32 = bindings::rnvme_verdict_RNVME_DONE;
/// `RNVME_CHAIN_RAN` and `RNVME_CHAIN_CONTINUE` (`BIT()` is not bound).
const CHAIN_RAN: u32 = 1 << 0;
const CHAIN_CONTINUE: u32 = 1 << 1;

/// What a chain reads: a frozen file, with the function to run on it, and
/// the translation of its file offsets to sectors.
///
/// The kernel admits one translation at a time: the module registers a
/// [`HookRegistration`] and builds its chains ([`ChainIo`]) with one and the
/// same implementation of this trait.
pub(crate) trait Translate: Send + Sync + 'static {
    /// The file the chain reads.
    fn file(&self) -> &FrozenFile;

    /// The function the chain runs.
    fn prog(&self) -> &Prog;

    /// The chain's hop limit (the kernel's [`MAX_HOPS`] bounds it too).
    fn max_hops(&self) -> u32;

    /// Translation from completion context (no sleeping, no allocation):
    /// the first sector of a read of `len` bytes at file offset `offset`,
    /// `EAGAIN` when it must be read in process context, or the error that
    /// ends the chain.
    fn translate(&self, offset: u64, len: u32) -> Result<u64>;
}

/// The operations of the kernel's rnvme hook for chains on `T`.
struct OpsTable<T>(PhantomData<T>);

impl<T: Translate> OpsTable<T> {
    const OPS: bindings::rnvme_ops = bindings::rnvme_ops {
        translate: Some(translate_callback::<T>),
        end_io: Some(end_io::<T>),
    };
}

/// Registration of the translation of `T` with the kernel's rnvme hook.
///
/// # Invariants
///
/// `ops` is registered with the hook for the whole life of `self`.
pub(crate) struct HookRegistration<T: Translate> {
    ops: &'static bindings::rnvme_ops,
    _translate: PhantomData<T>,
}

impl<T: Translate> HookRegistration<T> {
    pub(crate) fn register() -> Result<Self> {
        let ops: &'static bindings::rnvme_ops = &OpsTable::<T>::OPS;
        // SAFETY: `ops` is static.
        to_result(unsafe { bindings::rnvme_register_ops(ops) })?;
        // INVARIANT: Registered just now; `drop` unregisters the same `ops`.
        Ok(Self {
            ops,
            _translate: PhantomData,
        })
    }
}

impl<T: Translate> Drop for HookRegistration<T> {
    fn drop(&mut self) {
        // SAFETY: Registered in `register` (type invariant); this waits until
        // no hook runs `translate_callback` any more.
        unsafe { bindings::rnvme_unregister_ops(self.ops) };
    }
}

/// # Safety
///
/// Called by the hook for a chain of ours: `chain` is the first field of a
/// live [`ChainIo<T>`] (its bio is in flight, and the bio holds a reference;
/// the module builds its chains with the `T` it registered, see
/// [`Translate`]).
unsafe extern "C" fn translate_callback<T: Translate>(
    chain: *mut bindings::rnvme_chain,
    offset: u64,
    len: u32,
    sector: *mut bindings::sector_t,
) -> c_int {
    // SAFETY: See the function's safety section; `ChainIo` is `repr(C)`.
    let io = unsafe { &*(chain as *const ChainIo<T>) };
    match io.source.translate(offset, len) {
        Ok(s) => {
            // SAFETY: The hook passes a valid out pointer.
            unsafe { *sector = s };
            0
        }
        Err(e) => e.to_errno(),
    }
}

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

/// A 4 KiB, page-aligned buffer (kmalloc aligns power-of-two sizes).
#[repr(C, align(4096))]
struct Block(Opaque<[u8; MAX_BLOCK as usize]>);

impl Block {
    /// A zeroed buffer, allocated without passing through the stack.
    fn new_zeroed() -> Result<KBox<Self>> {
        let mut b = KBox::<Self>::new_uninit(GFP_KERNEL_ACCOUNT)?;
        // SAFETY: Zeroes the allocation, and any bytes are a valid `Block`
        // (it is an `Opaque`).
        Ok(unsafe {
            core::ptr::write_bytes(b.as_mut_ptr(), 0, 1);
            b.assume_init()
        })
    }
}

const _: () = assert!(SCRATCH_SIZE == MAX_BLOCK as usize);

/// The state of one chain read on `T`, shared by the submitter, the driver's
/// hook and the bio completion.
///
/// # Invariants
///
/// While `in_flight` is set a bio that owns one reference to `self` is
/// submitted: the driver may write `chain`, `scratch` and `block`, and the
/// submitter touches none of them until it has waited for the completion.
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
    scratch: KBox<Block>,
    block: KBox<Block>,
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
    pub(crate) file_offset: u64,
    pub(crate) len: u32,
    pub(crate) next_offset: u64,
    pub(crate) next_len: u32,
    pub(crate) driver_hops: u32,
}

impl<T: Translate> ChainIo<T> {
    /// A chain on `source`, with its function and hop limit; `polled`
    /// selects polled I/O where the device has poll queues (elsewhere a
    /// polled bio would fail: the chain falls back to interrupts).
    pub(crate) fn new(source: Arc<T>, polled: bool) -> Result<Arc<Self>> {
        let polled = polled && source.file().can_poll();
        // INVARIANT: `in_flight` is clear: nothing is submitted yet.
        let io = Arc::new(
            Self {
                chain: Opaque::new(bindings::rnvme_chain::default()),
                done: Opaque::uninit(),
                status: AtomicI32::new(0),
                in_flight: AtomicBool::new(false),
                polled,
                polled_bio: AtomicPtr::new(core::ptr::null_mut()),
                scratch: Block::new_zeroed()?,
                block: Block::new_zeroed()?,
                source,
            },
            GFP_KERNEL_ACCOUNT,
        )?;
        // SAFETY: Nothing is in flight; the chain lives inside `io`. The
        // source holds the program reference for as long as `io` lives.
        unsafe {
            let c = io.chain.get();
            (*c).prog = io.source.prog().as_ptr();
            (*c).scratch = io.scratch.0.get().cast();
            (*c).max_hops = io.source.max_hops().min(MAX_HOPS);
        }
        Ok(io)
    }

    /// The scratch, when nothing is in flight.
    pub(crate) fn scratch_mut(&self) -> Result<&mut [u8]> {
        if self.in_flight.load(Ordering::Acquire) {
            return Err(EBUSY);
        }
        // SAFETY: Nothing is in flight (type invariant) and `ChainIo` is only
        // used by the one task running the chain.
        Ok(unsafe { &mut *self.scratch.0.get() })
    }

    /// The block of the last read, when nothing is in flight.
    pub(crate) fn block(&self, len: u32) -> Result<&[u8]> {
        if self.in_flight.load(Ordering::Acquire) {
            return Err(EBUSY);
        }
        // SAFETY: As in `scratch_mut`; `len` is at most the buffer size.
        let all = unsafe { &*self.block.0.get() };
        all.get(..len as usize).ok_or(EINVAL)
    }

    /// Reads `len` bytes at file offset `offset` (read number `hop` of the
    /// chain) from `sector`: one bio the driver's hook sees, and may continue.
    pub(crate) fn read_tagged(
        self: &Arc<Self>,
        offset: u64,
        len: u32,
        hop: u32,
        sector: u64,
    ) -> Result {
        self.start_read(offset, len, hop);
        self.submit(sector, 0, len, true)?;
        self.wait()
    }

    /// Reads `len` bytes at file offset `offset` (read number `hop`) in
    /// pieces; the hook does not see them, [`ChainIo::run_if_needed`] runs
    /// the function.
    pub(crate) fn read_pieces(
        self: &Arc<Self>,
        offset: u64,
        len: u32,
        hop: u32,
        pieces: impl Iterator<Item = Piece>,
    ) -> Result {
        self.start_read(offset, len, hop);
        for p in pieces {
            self.submit(p.sector, p.buf_offset as u32, p.len as u32, false)?;
            self.wait()?;
        }
        Ok(())
    }

    /// Describes the next read (read number `hop`, `len` bytes at `offset`)
    /// in the chain and clears what the last one left.
    fn start_read(&self, offset: u64, len: u32, hop: u32) {
        // SAFETY: Nothing is in flight (`wait` returned or nothing was
        // submitted yet), so we own the chain.
        unsafe {
            let c = self.chain.get();
            (*c).file_offset = offset;
            (*c).len = len;
            (*c).hop = hop;
            (*c).flags = 0;
            (*c).error = 0;
        }
    }

    fn submit(self: &Arc<Self>, sector: u64, buf_offset: u32, len: u32, tagged: bool) -> Result {
        if buf_offset + len > MAX_BLOCK {
            return Err(EINVAL);
        }
        let mut opf = bindings::req_op_REQ_OP_READ
            | 1 << bindings::req_flag_bits___REQ_SYNC
            | 1 << bindings::req_flag_bits___REQ_NOMERGE;
        if tagged {
            opf |= 1 << bindings::req_flag_bits___REQ_RNVME;
        }
        if self.polled {
            opf |= 1 << bindings::req_flag_bits___REQ_POLLED;
        }
        let bdev = self.source.file().bdev();
        // SAFETY: `bdev` lives as long as the source's file; `fs_bio_set` is
        // the kernel's shared bio set; with GFP_KERNEL this does not fail,
        // but be careful anyway.
        let bio = unsafe {
            bindings::bio_alloc_bioset(
                bdev,
                1,
                opf,
                bindings::GFP_KERNEL,
                addr_of_mut!(bindings::fs_bio_set),
            )
        };
        if bio.is_null() {
            return Err(ENOMEM);
        }
        // SAFETY: `done` is inside `self`, which lives on the heap; no one
        // waits on it now.
        unsafe { bindings::init_completion(self.done.get()) };
        self.status.store(0, Ordering::Relaxed);
        self.in_flight.store(true, Ordering::Release);
        INFLIGHT.fetch_add(1, Ordering::AcqRel);
        let owner = Arc::into_raw(self.clone());
        // SAFETY: `bio` is ours until `submit_bio`; the buffer range is
        // inside `block`, physically contiguous (kmalloc) and lives until the
        // completion drops the reference `owner` stands for. The kernel's
        // `rnvme_bio_end_io` hands the completion to `end_io::<T>` (the
        // registered ops) and marks the bio as a chain's own for the hook.
        unsafe {
            (*bio).bi_iter.bi_sector = sector;
            (*bio).bi_private = owner.cast_mut().cast();
            (*bio).bi_end_io = Some(bindings::rnvme_bio_end_io);
            let buf: *mut u8 = self.block.0.get().cast();
            bindings::bio_add_virt_nofail(bio, buf.add(buf_offset as usize).cast(), len);
            // A bio the block layer would split must not reach the hook in
            // pieces: read it untagged; `run_if_needed` runs the function.
            if tagged && !bindings::rnvme_bio_fits(bio) {
                (*bio).bi_opf &= !(1 << bindings::req_flag_bits___REQ_RNVME);
            }
            if self.polled {
                // Keep the bio alive for `bio_poll` after it completes.
                bindings::bio_get(bio);
                self.polled_bio.store(bio, Ordering::Relaxed);
            }
            bindings::submit_bio(bio);
        }
        Ok(())
    }

    /// Waits for the bio submitted last. `EINTR` on a fatal signal (the bio
    /// completes later on its own), the I/O error otherwise.
    fn wait(&self) -> Result {
        let bio = self
            .polled_bio
            .swap(core::ptr::null_mut(), Ordering::Relaxed);
        if !bio.is_null() {
            // SAFETY: `bio` carries the reference `submit` took, so it stays
            // valid until our `bio_put`; `done` was initialised by `submit`.
            // Polling runs the completion (and the hook) in this task.
            unsafe {
                while !bindings::try_wait_for_completion(self.done.get()) {
                    bindings::bio_poll(bio, core::ptr::null_mut(), 0);
                    bindings::cond_resched();
                }
                bindings::bio_put(bio);
            }
        // SAFETY: `done` was initialised by `submit`.
        } else if unsafe { bindings::wait_for_completion_killable(self.done.get()) } != 0 {
            return Err(EINTR);
        }
        match self.status.load(Ordering::Acquire) {
            0 => Ok(()),
            e => Err(Error::from_errno(e)),
        }
    }

    /// Runs the function on the block just read, if the hook did not.
    pub(crate) fn run_if_needed(&self) {
        let c = self.chain.get();
        // SAFETY: Nothing is in flight; `block` holds the read of `len` bytes.
        unsafe {
            if (*c).flags & CHAIN_RAN == 0 && (*c).error == 0 {
                let more =
                    bindings::rnvme_chain_run(c, self.block.0.get().cast::<c_void>(), (*c).len);
                if more {
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
            file_offset: c.file_offset,
            len: c.len,
            next_offset: c.next_offset,
            next_len: c.next_len,
            driver_hops: c.driver_hops,
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
unsafe extern "C" fn end_io<T: Translate>(bio: *mut bindings::bio) {
    // SAFETY: See the function's safety section.
    let io = unsafe { Arc::from_raw((*bio).bi_private as *const ChainIo<T>) };
    // SAFETY: `bio` is valid until `bio_put`.
    let status = unsafe { (*bio).bi_status };
    // Every device error is EIO to the caller: the block layer's own mapping
    // would turn a medium error into ENODATA, which here means a hole.
    let errno = if status == 0 { 0 } else { EIO.to_errno() };
    io.status.store(errno, Ordering::Relaxed);
    io.in_flight.store(false, Ordering::Release);
    // SAFETY: The bio is ours to release; `done` is initialised.
    unsafe {
        bindings::bio_put(bio);
        bindings::complete(io.done.get());
    }
    drop(io);
    INFLIGHT.fetch_sub(1, Ordering::AcqRel);
}
