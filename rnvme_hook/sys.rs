// SPDX-License-Identifier: GPL-2.0

//! Safe wrappers over the C APIs the module uses besides the misc device:
//! files and their block map, storage-function programs and the kernel's
//! rnvme chain hook, read bios, and debugfs counters.
//!
//! Every raw `bindings::` call outside `miscdev.rs` is in this file.
//!
//! C headers: [`include/linux/rnvme.h`](srctree/include/linux/rnvme.h),
//! [`include/linux/fs.h`](srctree/include/linux/fs.h),
//! [`include/linux/bio.h`](srctree/include/linux/bio.h).

use core::{
    ffi::c_void,
    ptr::{addr_of_mut, NonNull},
    sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicU64, Ordering},
};
use kernel::{
    bindings, c_str,
    error::{from_err_ptr, to_result},
    ffi::{c_int, c_uint},
    new_mutex,
    prelude::*,
    str::CStr,
    sync::{Arc, Mutex},
    types::{AsBytes, FromBytes, Opaque},
};

use crate::{
    abi,
    tag::{Tag, TagStats},
};

const FMODE_READ: u32 = 1 << 0;
const SCRATCH_SIZE: usize = bindings::RNVME_SCRATCH_SIZE as usize;
/// The largest block one read may carry.
pub(crate) const MAX_BLOCK: u32 = bindings::RNVME_MAX_BLOCK_SIZE;
/// The kernel's bound on reads per chain.
pub(crate) const MAX_HOPS: u32 = bindings::RNVME_MAX_HOPS;
/// `RNVME_CHAIN_RAN` and `RNVME_CHAIN_CONTINUE` (`BIT()` is not bound).
const CHAIN_RAN: u32 = 1 << 0;
const CHAIN_CONTINUE: u32 = 1 << 1;

// SAFETY: These ABI structures are `#[repr(C)]` with only integer fields and
// no padding (sizes asserted in `abi.rs`): every byte is initialised and every
// bit pattern is valid.
unsafe impl AsBytes for abi::Attach {}
// SAFETY: As above.
unsafe impl FromBytes for abi::Attach {}
// SAFETY: As above.
unsafe impl FromBytes for abi::Detach {}
// SAFETY: As above.
unsafe impl AsBytes for abi::ChainRead {}
// SAFETY: As above.
unsafe impl FromBytes for abi::ChainRead {}
// SAFETY: As above.
unsafe impl AsBytes for abi::Stats {}
// SAFETY: As above (arrays of `u64`, no padding).
unsafe impl AsBytes for abi::Metrics {}
// SAFETY: As above (integers and byte arrays, no padding).
unsafe impl AsBytes for abi::TagInfo {}
// SAFETY: As above.
unsafe impl AsBytes for abi::TagList {}
// SAFETY: As above.
unsafe impl FromBytes for abi::TagList {}

/// Errnos this kernel crate does not name.
pub(crate) mod errno {
    use kernel::{bindings, error::Error};

    fn from(errno: u32) -> Error {
        Error::from_errno(-(errno as i32))
    }

    pub(crate) fn ecanceled() -> Error {
        from(bindings::ECANCELED)
    }

    pub(crate) fn enodata() -> Error {
        from(bindings::ENODATA)
    }

    pub(crate) fn eopnotsupp() -> Error {
        from(bindings::EOPNOTSUPP)
    }
}

/// An open regular file, readable by its opener, whose writers are denied
/// (as for an executing binary): its block map cannot change while this lives.
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
    /// regular file), `EOPNOTSUPP` (not on ext4), `ENODEV` (not on an NVMe
    /// namespace driven by the rnvme-capable driver), `ETXTBSY` (open for
    /// writing somewhere), or the error of flushing its dirty pages.
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
            // SAFETY: `ptr` is a referenced file.
            to_result(unsafe { bindings::deny_write_access(ptr.as_ptr()) })
        };
        if let Err(e) = check() {
            // SAFETY: Drops the reference `fget` gave us; no denial was taken.
            unsafe { bindings::fput(ptr.as_ptr()) };
            return Err(e);
        }
        let file = Self { ptr };
        // Allocate delayed blocks and write dirty pages now, with errors
        // reported, so that `bmap` sees the final mapping.
        // SAFETY: `ptr` is a referenced file.
        to_result(unsafe { bindings::file_write_and_wait_range(ptr.as_ptr(), 0, i64::MAX) })?;
        Ok(file)
    }

    fn inode(&self) -> *mut bindings::inode {
        // SAFETY: By the type invariant the file is referenced.
        unsafe { (*self.ptr.as_ptr()).f_inode }
    }

    pub(crate) fn bdev(&self) -> *mut bindings::block_device {
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
        let mut buf = KVec::from_elem(0u8, bindings::PATH_MAX as usize, GFP_KERNEL)?;
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

/// A loaded storage function.
///
/// # Invariants
///
/// `ptr` is a `BPF_PROG_TYPE_RNVME` program we hold a reference on.
pub(crate) struct Prog {
    ptr: NonNull<bindings::bpf_prog>,
}

// SAFETY: Program references may be used and dropped on any thread.
unsafe impl Send for Prog {}
// SAFETY: See `Send`.
unsafe impl Sync for Prog {}

impl Prog {
    /// Takes program fd `fd`: `EBADF` if it is no fd, `EINVAL` if it is not
    /// a storage function.
    pub(crate) fn get(fd: i32) -> Result<Self> {
        let fd = u32::try_from(fd).map_err(|_| EBADF)?;
        // SAFETY: Returns a referenced program of the type asked for, or an
        // error pointer.
        let ptr = from_err_ptr(unsafe {
            bindings::bpf_prog_get_type_dev(fd, bindings::bpf_prog_type_BPF_PROG_TYPE_RNVME, false)
        })?;
        Ok(Self {
            ptr: NonNull::new(ptr).ok_or(EINVAL)?,
        })
    }
}

impl Prog {
    /// The program's id and name, as `bpftool prog` shows them.
    pub(crate) fn id_and_name(&self) -> (u32, [u8; abi::FUNCTION_NAME_LEN]) {
        // SAFETY: We hold a reference (type invariant); a loaded program's
        // `aux`, id and name do not change.
        unsafe {
            let aux = (*self.ptr.as_ptr()).aux;
            ((*aux).id, (*aux).name.map(|c| c as u8))
        }
    }
}

impl Drop for Prog {
    fn drop(&mut self) {
        // SAFETY: We hold a reference (type invariant); safe in any context.
        unsafe { bindings::bpf_prog_put(self.ptr.as_ptr()) };
    }
}

/// The calling process's id (thread group id), in its own pid namespace.
pub(crate) fn current_tgid() -> u32 {
    // SAFETY: `current` is valid while it runs this; a null namespace means
    // the task's own.
    let tgid = unsafe {
        bindings::__task_pid_nr_ns(
            bindings::get_current(),
            bindings::pid_type_PIDTYPE_TGID,
            core::ptr::null_mut(),
        )
    };
    tgid as u32
}

/// Whether the caller may see every tag (`perfmon_capable()`).
pub(crate) fn perfmon_capable() -> bool {
    // SAFETY: `capable` only checks the current task's credentials.
    unsafe {
        bindings::capable(bindings::CAP_PERFMON as c_int)
            || bindings::capable(bindings::CAP_SYS_ADMIN as c_int)
    }
}

/// Every attached tag's statistics, for `IOC_TAGS`; used from process
/// context only. A slot is `None` once its tag was detached.
#[pin_data]
struct Registry {
    #[pin]
    tags: Mutex<KVec<Option<Arc<TagStats>>>>,
}

/// The registry of the loaded module (see [`TagRegistry`]).
static REGISTRY: AtomicPtr<Registry> = AtomicPtr::new(core::ptr::null_mut());

/// Owns the tag registry, which lives from before `/dev/rnvme` is registered
/// until after it is gone.
///
/// # Invariants
///
/// `REGISTRY` points at the same pinned, live allocation as `self.0`.
pub(crate) struct TagRegistry(NonNull<Registry>);

// SAFETY: The registry is a mutex; it may be freed from any thread.
unsafe impl Send for TagRegistry {}
// SAFETY: `&TagRegistry` exposes nothing.
unsafe impl Sync for TagRegistry {}

impl TagRegistry {
    pub(crate) fn create() -> Result<Self> {
        let r = KBox::pin_init(
            pin_init!(Registry { tags <- new_mutex!(KVec::new()) }),
            GFP_KERNEL,
        )?;
        // SAFETY: The registry is never moved: only shared references to it
        // are handed out (`registry`), and `drop` frees it in place.
        let ptr = KBox::into_raw(unsafe { Pin::into_inner_unchecked(r) });
        REGISTRY.store(ptr, Ordering::Release);
        // `KBox::into_raw` never returns null.
        Ok(Self(NonNull::new(ptr).ok_or(ENOMEM)?))
    }
}

impl Drop for TagRegistry {
    fn drop(&mut self) {
        REGISTRY.store(core::ptr::null_mut(), Ordering::Release);
        // SAFETY: From `KBox::into_raw` in `create`. Nobody uses it any
        // more: its users are the ioctls and releases of `/dev/rnvme` files,
        // each of which holds a module reference, so all are closed before
        // the module unloads and this runs.
        drop(unsafe { KBox::from_raw(self.0.as_ptr()) });
    }
}

fn registry() -> &'static Registry {
    // SAFETY: Only `/dev/rnvme`'s ioctls and releases call this, while the
    // module (and so the registry, see `TagRegistry`) is alive.
    unsafe { &*REGISTRY.load(Ordering::Acquire) }
}

/// A tag's entry in the registry, removed when this is dropped — at detach
/// or the release of its `/dev/rnvme`, both in process context (the tag
/// itself may end later, in a completion interrupt).
pub(crate) struct Listed(Arc<TagStats>);

impl Listed {
    pub(crate) fn new(stats: Arc<TagStats>) -> Result<Self> {
        crate::store_in_free_slot(&mut registry().tags.lock(), stats.clone())?;
        Ok(Self(stats))
    }
}

impl Drop for Listed {
    fn drop(&mut self) {
        let mut tags = registry().tags.lock();
        if let Some(slot) = tags
            .iter_mut()
            .find(|s| s.as_ref().is_some_and(|s| Arc::ptr_eq(s, &self.0)))
        {
            *slot = None;
        }
    }
}

/// Snapshots of at most `max` listed tags, and how many are listed.
pub(crate) fn listed_tags(max: usize) -> Result<(KVec<abi::TagInfo>, usize)> {
    let tags = registry().tags.lock();
    let count = tags.iter().flatten().count();
    let mut out = KVec::with_capacity(count.min(max), GFP_KERNEL)?;
    for s in tags.iter().flatten().take(max) {
        out.push(s.snapshot(), GFP_KERNEL)?;
    }
    Ok((out, count))
}

/// Registration of the module's translation with the kernel's rnvme hook.
pub(crate) struct HookRegistration(());

static OPS: bindings::rnvme_ops = bindings::rnvme_ops {
    translate: Some(translate_callback),
};

impl HookRegistration {
    pub(crate) fn register() -> Result<Self> {
        // SAFETY: `OPS` is static.
        to_result(unsafe { bindings::rnvme_register_ops(&OPS) })?;
        Ok(Self(()))
    }
}

impl Drop for HookRegistration {
    fn drop(&mut self) {
        // SAFETY: Registered in `register`; this waits until no hook runs
        // `translate_callback` any more.
        unsafe { bindings::rnvme_unregister_ops(&OPS) };
    }
}

/// # Safety
///
/// Called by the hook for a chain of ours: `chain` is the first field of a
/// live [`ChainIo`] (its bio is in flight, and the bio holds a reference).
unsafe extern "C" fn translate_callback(
    chain: *mut bindings::rnvme_chain,
    offset: u64,
    len: u32,
    sector: *mut bindings::sector_t,
) -> c_int {
    // SAFETY: See the function's safety section; `ChainIo` is `repr(C)`.
    let io = unsafe { &*(chain as *const ChainIo) };
    match io.tag.translate_atomic(offset, len) {
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
        let mut b = KBox::<Self>::new_uninit(GFP_KERNEL)?;
        // SAFETY: Zeroes the allocation, and any bytes are a valid `Block`
        // (it is an `Opaque`).
        Ok(unsafe {
            core::ptr::write_bytes(b.as_mut_ptr(), 0, 1);
            b.assume_init()
        })
    }
}

const _: () = assert!(SCRATCH_SIZE == MAX_BLOCK as usize);

/// The state of one chain read, shared by the submitter, the driver's hook
/// and the bio completion.
///
/// # Invariants
///
/// While `in_flight` is set a bio that owns one reference to `self` is
/// submitted: the driver may write `chain`, `scratch` and `block`, and the
/// submitter touches none of them until it has waited for the completion.
#[repr(C)]
pub(crate) struct ChainIo {
    chain: Opaque<bindings::rnvme_chain>,
    done: Opaque<bindings::completion>,
    status: AtomicI32,
    in_flight: AtomicBool,
    /// Reads are polled ([`abi::CHAIN_POLLED`]).
    polled: bool,
    /// The polled bio in flight, with a reference of ours (`bio_get`).
    polled_bio: AtomicPtr<bindings::bio>,
    scratch: KBox<Block>,
    block: KBox<Block>,
    tag: Arc<Tag>,
}

// SAFETY: Shared state is either atomic or handed over through the bio's
// completion (see the type invariant).
unsafe impl Send for ChainIo {}
// SAFETY: See `Send`.
unsafe impl Sync for ChainIo {}

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

impl ChainIo {
    /// A chain on `tag`, with the tag's function and hop limit; `polled`
    /// selects polled I/O.
    pub(crate) fn new(tag: Arc<Tag>, polled: bool) -> Result<Arc<Self>> {
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
                tag,
            },
            GFP_KERNEL,
        )?;
        // SAFETY: Nothing is in flight; the chain lives inside `io`. The tag
        // holds the program reference for as long as `io` lives.
        unsafe {
            let c = io.chain.get();
            (*c).prog = io.tag.prog().ptr.as_ptr();
            (*c).scratch = io.scratch.0.get().cast();
            (*c).max_hops = io.tag.max_hops().min(MAX_HOPS);
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
    /// pieces; the hook does not see them, [`ChainIo::run`] runs the function.
    pub(crate) fn read_pieces(
        self: &Arc<Self>,
        offset: u64,
        len: u32,
        hop: u32,
        pieces: impl Iterator<Item = crate::extent::Piece>,
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
        let bdev = self.tag.bdev();
        // SAFETY: `bdev` lives as long as the tag's file; `fs_bio_set` is the
        // kernel's shared bio set; with GFP_KERNEL this does not fail, but be
        // careful anyway.
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
        // completion drops the reference `owner` stands for.
        unsafe {
            (*bio).bi_iter.bi_sector = sector;
            (*bio).bi_private = owner.cast_mut().cast();
            (*bio).bi_end_io = Some(end_io);
            let buf: *mut u8 = self.block.0.get().cast();
            bindings::bio_add_virt_nofail(bio, buf.add(buf_offset as usize).cast(), len);
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
/// is the reference `Arc::into_raw` made there. Runs in any context.
unsafe extern "C" fn end_io(bio: *mut bindings::bio) {
    // SAFETY: See the function's safety section.
    let io = unsafe { Arc::from_raw((*bio).bi_private as *const ChainIo) };
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

/// What chains count, module-wide (in [`COUNTERS`]) and per tag.
pub(crate) struct ChainCounters {
    pub(crate) chains: AtomicU64,
    pub(crate) done: AtomicU64,
    pub(crate) aborts: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) hops: AtomicU64,
    pub(crate) driver_hops: AtomicU64,
}

impl ChainCounters {
    pub(crate) const fn new() -> Self {
        Self {
            chains: AtomicU64::new(0),
            done: AtomicU64::new(0),
            aborts: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            hops: AtomicU64::new(0),
            driver_hops: AtomicU64::new(0),
        }
    }

    fn started(&self) {
        self.chains.fetch_add(1, Ordering::Relaxed);
    }

    /// A chain ended with `result` (ECANCELED: the function aborted it)
    /// after `reads` reads, `driver_hops` of them resubmitted by the driver.
    fn ended(&self, result: &Result, reads: u32, driver_hops: u32) {
        let outcome = match result {
            Ok(()) => &self.done,
            Err(e) if *e == errno::ecanceled() => &self.aborts,
            Err(_) => &self.errors,
        };
        outcome.fetch_add(1, Ordering::Relaxed);
        self.hops.fetch_add(u64::from(reads), Ordering::Relaxed);
        self.driver_hops
            .fetch_add(u64::from(driver_hops), Ordering::Relaxed);
    }
}

/// The module's counters (see `abi::Stats`), also shown in debugfs.
pub(crate) struct Counters {
    pub(crate) chain: ChainCounters,
    pub(crate) process_hops: AtomicU64,
    pub(crate) cache_hits: AtomicU64,
    pub(crate) cache_misses: AtomicU64,
    pub(crate) tags: AtomicU64,
    pub(crate) hops_hist: [AtomicU64; 9],
    pub(crate) latency_hist: [AtomicU64; 11],
    pub(crate) latency_sum_ns: AtomicU64,
    pub(crate) errors_by_errno: [AtomicU64; 8],
    pub(crate) extent_maps: AtomicU64,
}

pub(crate) static COUNTERS: Counters = Counters {
    chain: ChainCounters::new(),
    process_hops: AtomicU64::new(0),
    cache_hits: AtomicU64::new(0),
    cache_misses: AtomicU64::new(0),
    tags: AtomicU64::new(0),
    hops_hist: [const { AtomicU64::new(0) }; 9],
    latency_hist: [const { AtomicU64::new(0) }; 11],
    latency_sum_ns: AtomicU64::new(0),
    errors_by_errno: [const { AtomicU64::new(0) }; 8],
    extent_maps: AtomicU64::new(0),
};

impl Counters {
    /// Records a chain started on a tag with counters `tag`.
    pub(crate) fn chain_started(&self, tag: &ChainCounters) {
        self.chain.started();
        tag.started();
    }

    /// Records a finished chain of a tag with counters `tag`: its result,
    /// its reads (`driver_hops` of them resubmitted by the driver), its time.
    pub(crate) fn chain_ended(
        &self,
        tag: &ChainCounters,
        result: &Result,
        reads: u32,
        driver_hops: u32,
        ns: u64,
    ) {
        self.chain.ended(result, reads, driver_hops);
        tag.ended(result, reads, driver_hops);
        let b = abi::HOP_BUCKETS
            .iter()
            .position(|&b| u64::from(reads) <= b)
            .unwrap_or(8);
        self.hops_hist[b].fetch_add(1, Ordering::Relaxed);
        let us = ns / 1000;
        let l = abi::LATENCY_BUCKETS_US
            .iter()
            .position(|&b| us <= b)
            .unwrap_or(10);
        self.latency_hist[l].fetch_add(1, Ordering::Relaxed);
        self.latency_sum_ns.fetch_add(ns, Ordering::Relaxed);
        if let Err(e) = result {
            let errno = e.to_errno().unsigned_abs();
            let i = abi::ERRNOS.iter().position(|&x| x == errno).unwrap_or(7);
            self.errors_by_errno[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    fn named(&self) -> [(&'static CStr, &AtomicU64); 10] {
        [
            (c_str!("chains"), &self.chain.chains),
            (c_str!("done"), &self.chain.done),
            (c_str!("aborts"), &self.chain.aborts),
            (c_str!("errors"), &self.chain.errors),
            (c_str!("hops"), &self.chain.hops),
            (c_str!("driver_hops"), &self.chain.driver_hops),
            (c_str!("process_hops"), &self.process_hops),
            (c_str!("cache_hits"), &self.cache_hits),
            (c_str!("cache_misses"), &self.cache_misses),
            (c_str!("tags"), &self.tags),
        ]
    }
}

/// `/sys/kernel/debug/rnvme/`, one read-only file per counter.
///
/// # Invariants
///
/// `dir` is a debugfs directory we created (or an error pointer, which
/// debugfs accepts and ignores).
pub(crate) struct DebugfsCounters {
    dir: *mut bindings::dentry,
}

// SAFETY: Debugfs entries may be removed from any thread.
unsafe impl Send for DebugfsCounters {}
// SAFETY: `&DebugfsCounters` exposes nothing.
unsafe impl Sync for DebugfsCounters {}

impl DebugfsCounters {
    pub(crate) fn create() -> Self {
        // SAFETY: Creates a top-level directory; failure yields an error
        // pointer that the other debugfs calls accept.
        let dir = unsafe {
            bindings::debugfs_create_dir(c_str!("rnvme").as_char_ptr(), core::ptr::null_mut())
        };
        for (name, counter) in COUNTERS.named() {
            // SAFETY: `counter` is static; debugfs reads it as a `u64`, which
            // has the layout of `AtomicU64`, with an atomic 64-bit load.
            unsafe {
                bindings::debugfs_create_u64(name.as_char_ptr(), 0o444, dir, counter.as_ptr())
            };
        }
        Self { dir }
    }
}

impl Drop for DebugfsCounters {
    fn drop(&mut self) {
        // SAFETY: `dir` came from `debugfs_create_dir` (type invariant).
        unsafe { bindings::debugfs_remove(self.dir) };
    }
}
