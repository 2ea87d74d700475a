// SPDX-License-Identifier: GPL-2.0 OR MIT

//! The ioctl ABI of `/dev/rnvme`.
//!
//! This file is the one definition of that ABI. It is compiled into both the
//! kernel module (`mod abi;` in `rnvme_hook.rs`) and user space (the `rnvme`
//! crate includes it with `#[path]`), so it may use `core` only. Every
//! structure is `#[repr(C)]`, has no padding, and its size is asserted below;
//! an incompatible change bumps [`ABI_MAJOR`].

/// Incompatible changes to the ioctl ABI bump this.
pub const ABI_MAJOR: u32 = 4;
/// Compatible additions (new ioctls) bump this.
pub const ABI_MINOR: u32 = 0;

/// The ioctl "type" byte of `/dev/rnvme` (free in
/// `Documentation/userspace-api/ioctl/ioctl-number.rst`).
pub const IOC_MAGIC: u32 = 0xB9;

// The generic Linux ioctl number layout (`include/uapi/asm-generic/ioctl.h`),
// used by x86-64 and arm64.
const IOC_NRSHIFT: u32 = 0;
const IOC_TYPESHIFT: u32 = 8;
const IOC_SIZESHIFT: u32 = 16;
const IOC_DIRSHIFT: u32 = 30;
const IOC_SIZEMASK: usize = (1 << 14) - 1;
const IOC_WRITE: u32 = 1;
const IOC_READ: u32 = 2;

const fn ioc(dir: u32, nr: u32, size: usize) -> u32 {
    assert!(size <= IOC_SIZEMASK);
    (dir << IOC_DIRSHIFT)
        | ((size as u32) << IOC_SIZESHIFT)
        | (IOC_MAGIC << IOC_TYPESHIFT)
        | (nr << IOC_NRSHIFT)
}

/// `_IOR(IOC_MAGIC, nr, T)`: the kernel writes a `T` to user space.
const fn ior<T>(nr: u32) -> u32 {
    ioc(IOC_READ, nr, core::mem::size_of::<T>())
}

/// `_IOW(IOC_MAGIC, nr, T)`: the kernel reads a `T` from user space.
const fn iow<T>(nr: u32) -> u32 {
    ioc(IOC_WRITE, nr, core::mem::size_of::<T>())
}

/// `_IOWR(IOC_MAGIC, nr, T)`: the kernel reads a `T` and writes it back.
const fn iowr<T>(nr: u32) -> u32 {
    ioc(IOC_READ | IOC_WRITE, nr, core::mem::size_of::<T>())
}

/// The answer of [`IOC_VERSION`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Version {
    /// [`ABI_MAJOR`] of the running module.
    pub major: u32,
    /// [`ABI_MINOR`] of the running module.
    pub minor: u32,
}

impl Version {
    /// The version this file describes.
    pub const CURRENT: Version = Version {
        major: ABI_MAJOR,
        minor: ABI_MINOR,
    };
}

/// Reports the ABI version of the loaded module: `ioctl(fd, IOC_VERSION, &mut Version)`.
pub const IOC_VERSION: u32 = ior::<Version>(0x00);

/// Chains of a tag may have at most this many reads unless [`Attach::max_hops`]
/// says otherwise; the kernel caps every chain at `RNVME_MAX_HOPS` (256).
pub const DEFAULT_MAX_HOPS: u32 = 32;

/// Tags attached by one user (real uid of the caller), over all opens of
/// `/dev/rnvme`; the next attach fails with EDQUOT.
pub const MAX_TAGS_PER_USER: u32 = 256;

/// Tags a file with a storage function: `ioctl(fd, IOC_ATTACH, &mut Attach)`,
/// a tag set of one file (see [`AttachSet`] for several).
///
/// The file: regular, on ext4 or XFS on an NVMe namespace, open for reading.
/// It may be written and remapped while tagged; a chain's reads return what
/// O_DIRECT would and hold off block freeing as direct I/O does
/// (`docs/chain-reads.md`), so the caller must be able to write the file or
/// own it (EACCES). fs-verity, encrypted, XFS reflinked or realtime files:
/// EOPNOTSUPP (their raw blocks are not what a read returns, or may move).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Attach {
    /// In: an fd of the file, open for reading.
    pub file_fd: i32,
    /// In: an fd of a loaded `BPF_PROG_TYPE_RNVME` program.
    pub prog_fd: i32,
    /// In: must be 0.
    pub flags: u32,
    /// In: reads per chain at most, 1..=256; 0 means [`DEFAULT_MAX_HOPS`].
    pub max_hops: u32,
    /// Out: the tag, usable through this open `/dev/rnvme` only.
    pub tag: u32,
    /// Out: extents of the file's block map (in: must be 0).
    pub extents: u32,
}

/// The most files in one tag set.
pub const MAX_FILES: u32 = 64;

/// Tags several files together with one storage function, as one tag (a tag
/// set): `ioctl(fd, IOC_ATTACH_SET, &mut AttachSet)`. Each file is checked
/// as [`Attach`] checks it, and any refusal refuses the whole set (no tag
/// is made; `failed` names the file). A chain on the set names a file by
/// its index in `fds`; the files may sit on different namespaces (a read
/// on another device than the last one is issued from process context).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AttachSet {
    /// In: an fd of a loaded `BPF_PROG_TYPE_RNVME` program.
    pub prog_fd: i32,
    /// In: must be 0.
    pub flags: u32,
    /// In: reads per chain at most, 1..=256; 0 means [`DEFAULT_MAX_HOPS`].
    pub max_hops: u32,
    /// In: files in the set, 1..=[`MAX_FILES`].
    pub nr_files: u32,
    /// In: user address of `nr_files` fds (`i32` each), open for reading;
    /// file index i of the set is `fds[i]`.
    pub fds: u64,
    /// Out: the tag, usable through this open `/dev/rnvme` only.
    pub tag: u32,
    /// Out: extents of the files' block maps, summed.
    pub extents: u32,
    /// Out: on a refusal of one file, its index; not written on other
    /// errors (the library sets it to `u32::MAX` before the call).
    pub failed: u32,
    /// Must be 0.
    pub reserved: [u32; 5],
}

/// Removes a tag: `ioctl(fd, IOC_DETACH, &Detach)`. Chains running on it
/// finish first.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Detach {
    pub tag: u32,
    /// Must be 0.
    pub reserved: u32,
}

/// Runs a chain of dependent reads: `ioctl(fd, IOC_CHAIN_READ, &mut ChainRead)`.
///
/// Every read is a byte window: `len` bytes (1..=[`MAX_WINDOW`]) at any file
/// offset of file `file` of the tag set; the first read is given here, each
/// later one is what the storage function asked for. The module reads the
/// covering range of logical blocks and shows the function exactly the bytes
/// asked for. Errors: EINVAL for a length of 0 or over [`MAX_WINDOW`], a
/// file index past the set, a negative offset, or a non-zero reserved field;
/// ENXIO for bytes past EOF (also a window that crosses EOF); ENODATA for
/// holes and unwritten extents. The function's ABORT gives ECANCELED, more
/// than `max_hops` reads ELOOP, a device error EIO; a fatal signal ends the
/// wait with EINTR. The output fields are written on success and on those
/// chain errors.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChainRead {
    /// In: the tag from [`Attach`] or [`AttachSet`].
    pub tag: u32,
    /// In: 0 or [`CHAIN_POLLED`].
    pub flags: u32,
    /// In: file offset of the first read.
    pub offset: u64,
    /// In: bytes of the first read, 1..=[`MAX_WINDOW`].
    pub len: u32,
    /// In: index in the tag set of the file of the first read.
    pub file: u32,
    /// In: user address of the scratch, or 0.
    pub scratch: u64,
    /// In: bytes at `scratch` (at most 4096), copied in before and out after.
    pub scratch_len: u32,
    /// In: bytes at `out`.
    pub out_len: u32,
    /// In: user address for the bytes of the last read, or 0.
    pub out: u64,
    /// Out: the last verdict (`RNVME_DONE` = 1 on success).
    pub verdict: u32,
    /// Out: reads done.
    pub hops: u32,
    /// Out: of those, reads the driver resubmitted from completion context.
    pub driver_hops: u32,
    /// Out: bytes of the last read (copied to `out` if it fits).
    pub last_len: u32,
    /// Out: file offset of the last read.
    pub last_offset: u64,
    /// Out: index of the file of the last read.
    pub last_file: u32,
    /// Must be 0 (room for later fields).
    pub reserved: [u32; 7],
}

/// `cmd_op` of the io_uring command that runs a chain read without blocking:
/// `IORING_OP_URING_CMD` on an fd of `/dev/rnvme` (the one that holds the
/// tag), with a [`UringChainRead`] in the SQE's command area. The chain is
/// the one [`ChainRead`] at `UringChainRead::args` describes; the CQE comes
/// when it ended, with `res` 0 or the negative errno [`IOC_CHAIN_READ`]
/// would return, and the output fields of that `ChainRead`, the scratch and
/// `out` already written. The `ChainRead` and its buffers must stay valid
/// until the CQE (they are read at submission, written before the CQE, and
/// never after it). Many chains may be in flight per ring. On a ring set up
/// with `IORING_SETUP_IOPOLL` the chain's reads are polled (by the ring's
/// polling, as [`CHAIN_POLLED`] does for the ioctl); on other rings they
/// complete by interrupt, and [`CHAIN_POLLED`] is refused (EINVAL): nothing
/// would poll them. When the submitting task exits or the ring is torn down,
/// chains in flight end at their next read with ECANCELED, writing nothing.
/// `IORING_OP_ASYNC_CANCEL` does not reach chains (ENOENT): they end by
/// themselves within their hop limit.
pub const URING_CHAIN_READ: u32 = iowr::<ChainRead>(0x08);

/// The command area of an [`URING_CHAIN_READ`] SQE (16 bytes: fits a
/// plain 64-byte SQE).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UringChainRead {
    /// User address of the [`ChainRead`].
    pub args: u64,
    /// Must be 0.
    pub flags: u32,
    /// Must be 0.
    pub reserved: u32,
}

impl UringChainRead {
    /// The command's bytes, as they go in the SQE.
    pub fn to_bytes(&self) -> [u8; 16] {
        let mut b = [0; 16];
        b[..8].copy_from_slice(&self.args.to_ne_bytes());
        b[8..12].copy_from_slice(&self.flags.to_ne_bytes());
        b[12..].copy_from_slice(&self.reserved.to_ne_bytes());
        b
    }

    /// The command read back from an SQE's bytes.
    pub fn from_bytes(b: [u8; 16]) -> Self {
        let [a0, a1, a2, a3, a4, a5, a6, a7, f0, f1, f2, f3, r0, r1, r2, r3] = b;
        Self {
            args: u64::from_ne_bytes([a0, a1, a2, a3, a4, a5, a6, a7]),
            flags: u32::from_ne_bytes([f0, f1, f2, f3]),
            reserved: u32::from_ne_bytes([r0, r1, r2, r3]),
        }
    }
}

/// Budgets that keep one tag's chains from starving others (0: no bound).
/// An administrator sets them ([`IOC_SET_BUDGETS`]); a tag gets those in
/// force when it is attached, for its life.
///
/// - `chains_in_flight`: io_uring chains of one tag in flight at once;
///   more wait, in order, for one of the tag's chains to end (at most 4096
///   wait: EBUSY past that). Blocking chains count and never wait (each
///   holds its caller's thread).
/// - `driver_hops_per_ms`: reads the driver resubmits for one tag per
///   millisecond (a token bucket holding one millisecond's worth); past
///   that, the tag's next read is issued from the submitting task, where
///   the work is scheduled and charged as the task's (`budget` in
///   [`FALLBACKS`]). Chains still complete; only where their work runs
///   changes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Budgets {
    pub chains_in_flight: u32,
    pub driver_hops_per_ms: u32,
}

/// The most bytes one read of a chain may ask for (`RNVME_MAX_WINDOW`).
pub const MAX_WINDOW: u32 = 65536;

/// [`ChainRead::flags`]: submit the chain's reads as polled I/O (`REQ_POLLED`,
/// on the namespace's poll queues, `nvme.poll_queues=N`) and poll for their
/// completions instead of sleeping until an interrupt. The storage function
/// then runs, and the driver resubmits, in the polling task. Without poll
/// queues the reads complete by interrupt as usual. A polled wait cannot be
/// interrupted: only the poller completes the reads, and the chain is bounded
/// by its hop limit and the device's timeout.
pub const CHAIN_POLLED: u32 = 1;

/// Module-wide counters: `ioctl(fd, IOC_STATS, &mut Stats)`; the same numbers
/// are in `/sys/kernel/debug/rnvme/`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Chain reads started.
    pub chains: u64,
    /// Chains that ended with RNVME_DONE.
    pub done: u64,
    /// Chains the function aborted.
    pub aborts: u64,
    /// Chains that ended with another error.
    pub errors: u64,
    /// Reads issued, all chains.
    pub hops: u64,
    /// Reads resubmitted by the driver in completion context.
    pub driver_hops: u64,
    /// Reads issued by the module in process context (first reads
    /// included): each ended chain's reads less the driver's.
    pub process_hops: u64,
    /// Translations answered in completion context.
    pub cache_hits: u64,
    /// Translations completion context had to leave to process context.
    pub cache_misses: u64,
    /// Tags now attached.
    pub tags: u64,
}

/// Upper bounds of the buckets of [`Metrics::hops`] (reads per chain).
pub const HOP_BUCKETS: [u64; 9] = [1, 2, 4, 8, 16, 32, 64, 128, 256];
/// Upper bounds, in microseconds, of the buckets of [`Metrics::latency`]
/// (chain read time, ioctl to ioctl); a last bucket takes the rest.
pub const LATENCY_BUCKETS_US: [u64; 10] =
    [50, 100, 250, 500, 1000, 2500, 5000, 10_000, 50_000, 100_000];
/// The errnos [`Metrics::errors`] counts, in order (EIO, ENODATA, ENXIO,
/// EINVAL, ELOOP, ECANCELED, EINTR); the last slot counts any other errno.
pub const ERRNOS: [u32; 7] = [5, 61, 6, 22, 40, 125, 4];

/// Everything the module counts: [`Stats`] plus distributions, for
/// exporters. `ioctl(fd, IOC_METRICS, &mut Metrics)`; its `stats` are the
/// same numbers as [`IOC_STATS`] returns.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Metrics {
    pub stats: Stats,
    /// Chains by reads done, per bucket of [`HOP_BUCKETS`] (not cumulative).
    pub hops: [u64; 9],
    /// Chains by time taken, per bucket of [`LATENCY_BUCKETS_US`] and a last
    /// one for longer (not cumulative).
    pub latency: [u64; 11],
    /// Sum of the chains' times, nanoseconds.
    pub latency_sum_ns: u64,
    /// Chains that ended with an error, by [`ERRNOS`] (and other).
    pub errors: [u64; 8],
    /// Extent maps built: one per tagged file at attach, and one each time
    /// a chain found a tagged file's map out of date.
    pub extent_maps: u64,
    /// Reads of a chain after its first that the driver did not resubmit
    /// (the module issued them from process context), by the reason of
    /// [`FALLBACKS`].
    pub fallbacks: [u64; 9],
    /// Chains started by io_uring commands ([`URING_CHAIN_READ`]); they are
    /// counted in `stats` too.
    pub uring_chains: u64,
    /// io_uring chains in flight now.
    pub uring_in_flight: u64,
    /// io_uring chains that waited for their tag's budget of chains in
    /// flight ([`Budgets`]).
    pub budget_waits: u64,
    /// Times a file system was about to drain direct I/O of a tagged file
    /// (before truncation, hole punching, extent moves, reflink; ext4 also
    /// before buffered writes), making its map out of date.
    pub remaps: u64,
    /// Reads that wrote dirty page cache in their range back first.
    pub write_backs: u64,
}

/// Why the driver left a read of a chain to process context, in the order of
/// [`Metrics::fallbacks`] (the kernel's `enum rnvme_fallback`):
/// - `length`: the window's length differs from the request's;
/// - `extents`: the window crosses extents (read in pieces);
/// - `lock`: the submission queue was busy or the controller not live;
/// - `device`: the next file is on another device or partition;
/// - `split`: the block layer would split the read (max_sectors_kb, chunk
///   boundary, segment limits);
/// - `qos`: a blk-cgroup limit (io.max) or rq_qos policy must see the read;
/// - `other`: the hook could not run the function (a retried or timed-out
///   request, for instance);
/// - `budget`: the tag spent its budget of reads the driver resubmits;
/// - `remapped`: the file's map was out of date, the range past its end of
///   file or over a hole in it (the file changed since the map was built),
///   or the range had dirty page cache the read must see.
pub const FALLBACKS: [&str; 9] = [
    "length", "extents", "lock", "device", "split", "qos", "other", "budget", "remapped",
];

/// See [`Metrics`].
pub const IOC_METRICS: u32 = ior::<Metrics>(0x05);

/// Bytes of [`TagInfo::function`]: the kernel's BPF object name length.
pub const FUNCTION_NAME_LEN: usize = 16;
/// Bytes of [`TagInfo::file`].
pub const FILE_LABEL_LEN: usize = 128;

/// One attached tag, as [`IOC_TAGS`] lists it: what it is and what it did.
/// The counters are the tag's share of [`Stats`]; they stop moving at
/// detach, when the tag leaves the list.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TagInfo {
    /// The storage function's BPF program id (as `bpftool prog` shows it).
    pub prog_id: u32,
    /// Process id of the process that attached it, in its pid namespace.
    pub pid: u32,
    /// Extents of the file's block map.
    pub extents: u32,
    /// The tag's hop limit.
    pub max_hops: u32,
    /// Inode number of the file.
    pub ino: u64,
    /// File size in bytes (fixed while tagged).
    pub size: u64,
    /// Chain reads started on this tag.
    pub chains: u64,
    /// Of those, chains that ended with RNVME_DONE.
    pub done: u64,
    /// Chains the function aborted.
    pub aborts: u64,
    /// Chains that ended with another error.
    pub errors: u64,
    /// Reads issued by this tag's chains.
    pub hops: u64,
    /// Of those, reads the driver resubmitted in completion context.
    pub driver_hops: u64,
    /// The storage function's name (the BPF program name, at most 15 bytes),
    /// NUL-padded.
    pub function: [u8; FUNCTION_NAME_LEN],
    /// The file's path at attach time, NUL-padded; when longer than 127
    /// bytes, its last 124 bytes behind "..."; "(path unavailable)" when
    /// the kernel could not give it.
    pub file: [u8; FILE_LABEL_LEN],
}

impl Default for TagInfo {
    fn default() -> Self {
        Self {
            prog_id: 0,
            pid: 0,
            extents: 0,
            max_hops: 0,
            ino: 0,
            size: 0,
            chains: 0,
            done: 0,
            aborts: 0,
            errors: 0,
            hops: 0,
            driver_hops: 0,
            function: [0; FUNCTION_NAME_LEN],
            file: [0; FILE_LABEL_LEN],
        }
    }
}

/// Lists every tag attached through any open `/dev/rnvme`:
/// `ioctl(fd, IOC_TAGS, &mut TagList)`. Needs CAP_PERFMON or CAP_SYS_ADMIN
/// (EPERM otherwise): it shows other processes' files.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TagList {
    /// In: user address of an array of `capacity` [`TagInfo`].
    pub entries: u64,
    /// In: entries the array holds.
    pub capacity: u32,
    /// Out: tags attached; entries written = min(count, capacity).
    pub count: u32,
}

/// See [`TagList`].
pub const IOC_TAGS: u32 = iowr::<TagList>(0x06);

/// See [`Attach`].
pub const IOC_ATTACH: u32 = iowr::<Attach>(0x01);
/// See [`Detach`].
pub const IOC_DETACH: u32 = iow::<Detach>(0x02);
/// See [`ChainRead`].
pub const IOC_CHAIN_READ: u32 = iowr::<ChainRead>(0x03);
/// See [`Stats`].
pub const IOC_STATS: u32 = ior::<Stats>(0x04);
/// See [`AttachSet`].
pub const IOC_ATTACH_SET: u32 = iowr::<AttachSet>(0x07);
/// See [`Budgets`]: reads them, any caller.
pub const IOC_GET_BUDGETS: u32 = ior::<Budgets>(0x09);
/// See [`Budgets`]: sets them, CAP_SYS_ADMIN only (EPERM).
pub const IOC_SET_BUDGETS: u32 = iow::<Budgets>(0x0a);

// Layout asserts: these sizes are the ABI.
const _: () = assert!(core::mem::size_of::<Version>() == 8);
const _: () = assert!(core::mem::align_of::<Version>() == 4);
const _: () = assert!(IOC_VERSION == 0x8008_b900);
const _: () = assert!(core::mem::size_of::<Attach>() == 24);
const _: () = assert!(core::mem::size_of::<Detach>() == 8);
const _: () = assert!(core::mem::size_of::<ChainRead>() == 104);
const _: () = assert!(core::mem::size_of::<AttachSet>() == 56);
const _: () = assert!(core::mem::align_of::<ChainRead>() == 8);
const _: () = assert!(core::mem::size_of::<Stats>() == 80);
const _: () =
    assert!(core::mem::size_of::<TagInfo>() == 8 * 10 + FUNCTION_NAME_LEN + FILE_LABEL_LEN);
const _: () = assert!(core::mem::size_of::<TagList>() == 16);
const _: () = assert!(core::mem::size_of::<Metrics>() == 80 + 8 * (9 + 11 + 1 + 8 + 1 + 9 + 5));
const _: () = assert!(core::mem::size_of::<Budgets>() == 8);
const _: () = assert!(core::mem::size_of::<UringChainRead>() == 16);
const _: () = assert!(URING_CHAIN_READ == 0xc068_b908);
