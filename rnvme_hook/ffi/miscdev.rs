// SPDX-License-Identifier: GPL-2.0

//! A small safe abstraction over the C misc-device API.
//!
//! This is the module's FFI boundary for its control device: the raw
//! `bindings::` calls for registering `/dev/rnvme` and for dispatching
//! `open`, `release`, `ioctl` and io_uring commands to a Rust type live here
//! and nowhere else (the commands themselves are `uring.rs`).
//!
//! C header: [`include/linux/miscdevice.h`](srctree/include/linux/miscdevice.h)

use super::uring;
use core::{marker::PhantomData, pin::Pin};
use kernel::{
    bindings,
    error::{from_result, to_result},
    ffi::{c_int, c_long, c_uint, c_ulong, c_void},
    prelude::*,
    str::CStr,
    types::{ForeignOwnable, Opaque},
    ThisModule,
};

/// The operations of a misc device's open file descriptions.
///
/// Each `open(2)` creates one `Self`, owned by the file description until its
/// last reference is closed.
pub(crate) trait FileOps: Sized + Send + Sync + 'static {
    /// What the registration hands to every `open`.
    type Shared: Send + Sync;

    /// Creates the state of a new open file description.
    fn open(shared: &Self::Shared) -> Result<Pin<KBox<Self>>>;

    /// Handles `ioctl(2)`; `arg` is the raw user-space argument.
    fn ioctl(&self, cmd: u32, arg: usize) -> Result<isize>;

    /// What an io_uring command of the file keeps while in flight.
    type Pending: uring::Pending;

    /// Handles `IORING_OP_URING_CMD`: a result now, or the command parked
    /// with a [`Self::Pending`] ([`uring::Command::park`]).
    fn uring_cmd(&self, cmd: &uring::Command) -> Result<uring::Issued>;
}

/// The C structures a registered device points into, and what its files
/// share; pinned because the misc core keeps pointers to the first two.
struct Raw<S> {
    fops: Opaque<bindings::file_operations>,
    dev: Opaque<bindings::miscdevice>,
    shared: S,
}

/// A registered misc device whose files are handled by `T`.
///
/// # Invariants
///
/// `raw.dev` is registered with the misc core for the whole life of `self`,
/// and `raw.dev.fops` points to `raw.fops`, whose `open` is
/// `open_callback::<T>`.
pub(crate) struct Registration<T: FileOps> {
    raw: Pin<KBox<Raw<T::Shared>>>,
    _ops: PhantomData<T>,
}

// SAFETY: The registration only holds C structures that the misc core
// synchronises itself; `T` is `Send + Sync`.
unsafe impl<T: FileOps> Send for Registration<T> {}
// SAFETY: `&Registration` exposes no methods.
unsafe impl<T: FileOps> Sync for Registration<T> {}

impl<T: FileOps> Registration<T> {
    /// Registers `/dev/<name>` with a dynamic minor and the given mode; each
    /// open of it gets `shared`.
    pub(crate) fn register(
        name: &'static CStr,
        mode: u16,
        module: &'static ThisModule,
        shared: T::Shared,
    ) -> Result<Self> {
        let fops = bindings::file_operations {
            owner: module.as_ptr(),
            open: Some(open_callback::<T>),
            release: Some(release_callback::<T>),
            unlocked_ioctl: Some(ioctl_callback::<T>),
            uring_cmd: Some(uring_cmd_callback::<T>),
            uring_cmd_iopoll: Some(uring::Callbacks::<T::Pending>::iopoll),
            ..Default::default()
        };
        let raw = KBox::pin(
            Raw {
                fops: Opaque::new(fops),
                dev: Opaque::new(bindings::miscdevice::default()),
                shared,
            },
            GFP_KERNEL,
        )?;
        let dev = raw.dev.get();
        // SAFETY: `dev` points into the pinned allocation, which no one else
        // has seen yet; `name` is `'static`; `raw.fops` lives as long as `dev`.
        unsafe {
            (*dev).minor = bindings::MISC_DYNAMIC_MINOR as c_int;
            (*dev).name = name.as_char_ptr();
            (*dev).fops = raw.fops.get();
            (*dev).mode = mode;
        }
        // SAFETY: `dev` is fully initialised and pinned; on success it stays
        // registered until `drop` deregisters it.
        to_result(unsafe { bindings::misc_register(dev) })?;
        // INVARIANT: `dev` is registered, with `raw.fops` built for `T`.
        Ok(Self {
            raw,
            _ops: PhantomData,
        })
    }
}

impl<T: FileOps> Drop for Registration<T> {
    fn drop(&mut self) {
        // SAFETY: By the type invariant the device is registered. Open files
        // hold a reference on the module (`fops.owner`), so none is left when
        // the module's teardown runs this.
        unsafe { bindings::misc_deregister(self.raw.dev.get()) };
    }
}

/// # Safety
///
/// Called by the VFS with a valid `file` for a device registered by
/// [`Registration::<T>::register`].
unsafe extern "C" fn open_callback<T: FileOps>(
    _inode: *mut bindings::inode,
    file: *mut bindings::file,
) -> c_int {
    from_result(|| {
        // SAFETY: `file` is valid during `open`, and the misc core has put
        // the device in `private_data` (`misc_open`).
        let dev = unsafe { (*file).private_data }.cast::<bindings::miscdevice>();
        // SAFETY: `dev` is the `dev` of the `Raw` of a `Registration<T>` (the
        // type invariant: its `fops` lead here), alive because the misc core
        // holds its lock, which deregistration takes, across `open`.
        let raw = unsafe { &*kernel::container_of!(dev, Raw<T::Shared>, dev) };
        let state = T::open(&raw.shared)?;
        // SAFETY: `file` is valid during `open`; `private_data` is ours once
        // the misc core has called us. `release_callback` takes it back.
        unsafe { (*file).private_data = state.into_foreign() as *mut c_void };
        Ok(0)
    })
}

/// # Safety
///
/// Called by the VFS once per file opened by `open_callback`.
unsafe extern "C" fn release_callback<T: FileOps>(
    _inode: *mut bindings::inode,
    file: *mut bindings::file,
) -> c_int {
    // SAFETY: `private_data` came from `into_foreign` in `open_callback` and
    // this is the last use of it.
    drop(unsafe { Pin::<KBox<T>>::from_foreign((*file).private_data) });
    0
}

/// # Safety
///
/// Called by the VFS for a file opened by `open_callback`, before its release.
unsafe extern "C" fn ioctl_callback<T: FileOps>(
    file: *mut bindings::file,
    cmd: c_uint,
    arg: c_ulong,
) -> c_long {
    // SAFETY: `private_data` came from `into_foreign` in `open_callback`, and
    // `release_callback` cannot run while an ioctl holds the file.
    let state = unsafe { Pin::<KBox<T>>::borrow((*file).private_data) };
    match state.ioctl(cmd, arg) {
        Ok(ret) => ret,
        Err(e) => e.to_errno() as c_long,
    }
}

/// # Safety
///
/// Called by io_uring for a file opened by `open_callback`, which holds a
/// reference to the file (so it is not released) while the command lives.
unsafe extern "C" fn uring_cmd_callback<T: FileOps>(
    ioucmd: *mut bindings::io_uring_cmd,
    issue_flags: c_uint,
) -> c_int {
    // SAFETY: `ioucmd` is valid while issued; its file is ours.
    let file = unsafe { (*ioucmd).file };
    // SAFETY: `private_data` came from `into_foreign` in `open_callback`, and
    // `release_callback` cannot run while the command holds the file.
    let state = unsafe { Pin::<KBox<T>>::borrow((*file).private_data) };
    // SAFETY: io_uring's arguments to `->uring_cmd`, as passed.
    unsafe {
        uring::Callbacks::<T::Pending>::issue(ioucmd, issue_flags, |cmd| state.uring_cmd(cmd))
    }
}
