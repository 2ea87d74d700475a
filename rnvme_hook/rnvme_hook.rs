// SPDX-License-Identifier: GPL-2.0

//! rnvme_hook: the kernel side of rnvme storage functions.
//!
//! The module owns `/dev/rnvme`, the control device through which user space
//! tags open files with storage functions (fd-tagging) and runs chain reads
//! (see `DESIGN.md`). It translates file offsets to sectors with an extent
//! map per tagged file and serves those translations to the NVMe driver's
//! completion hook. Its ioctl ABI is defined once, in `abi.rs`.
//!
//! Its files, each using only those below it:
//!
//! - `rnvme_hook.rs`: the module (this file): what it registers at load.
//! - `control.rs`: one open `/dev/rnvme`, its tags and the ioctl dispatch.
//! - `chain.rs`: chain reads, process-context side.
//! - `budget.rs`: budgets between tags (chains in flight, driver hops).
//! - `chain_async.rs`: chain reads started by io_uring commands.
//! - `tag.rs`: fd-tagging; a tag is what its chains read.
//! - `filemap.rs`: a tagged file and its block map, kept right while the
//!   file changes.
//! - `registry.rs`: the `IOC_TAGS` list of every attached tag's counters.
//! - `watch.rs`: which tagged files' block maps may be out of date.
//! - `counters.rs`: what chains count, module-wide and per tag.
//! - `ffi/`: safe abstractions over the C APIs; every `bindings::` call and
//!   every `unsafe` block of the module is there.
//! - `abi.rs`, `extent.rs`: the ioctl ABI and the extent map, shared with
//!   user space.

use kernel::{c_str, prelude::*};

#[expect(
    unreachable_pub,
    dead_code,
    reason = "the ABI file is shared with user space, where its items are public and \
              the encoding of io_uring commands is used"
)]
mod abi;
mod budget;
mod chain;
mod chain_async;
mod control;
mod counters;
#[expect(
    unreachable_pub,
    reason = "shared with user space's host tests, where its items are public"
)]
mod extent;
mod ffi;
mod filemap;
mod registry;
mod tag;
mod watch;

use crate::{
    control::Control,
    counters::COUNTERS,
    ffi::{
        chain_io::{wait_idle, TAG_SPLITS},
        debugfs::DebugfsCounters,
        hook::HookRegistration,
        miscdev,
        watch::Registration as DrainRegistration,
    },
    registry::TagRegistry,
    tag::Tag,
    watch::Watches,
};

module! {
    type: RnvmeHook,
    name: "rnvme_hook",
    author: "rnvme developers",
    description: "rnvme storage functions: fd-tagging, extent maps, chain reads",
    license: "GPL",
}

/// Mode of `/dev/rnvme`: any user may open it; each ioctl checks the caller's
/// rights on the objects it names (the file, the program).
const CONTROL_MODE: u16 = 0o666;

// Dropped in this order: `/dev/rnvme` first, then the hook its chains use,
// then the notification of drains (tags' files are gone by then). The
// registry of `IOC_TAGS` lives in the control device's registration and in
// every open `/dev/rnvme`, so it outlives each of them.
struct RnvmeHook {
    _control: miscdev::Registration<Control>,
    _hook: HookRegistration<Tag>,
    _drains: DrainRegistration<Watches>,
    _debugfs: DebugfsCounters,
}

impl kernel::Module for RnvmeHook {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let watches = Watches::new()?;
        let drains = DrainRegistration::register(watches.clone())?;
        let registry = TagRegistry::new(watches)?;
        let debugfs = DebugfsCounters::create(
            c_str!("rnvme"),
            COUNTERS.named(),
            [(c_str!("test_tag_splits"), &TAG_SPLITS)],
        );
        let hook = HookRegistration::register()?;
        let control =
            miscdev::Registration::register(c_str!("rnvme"), CONTROL_MODE, module, registry)?;
        pr_info!(
            "/dev/rnvme ready, ABI {}.{}\n",
            abi::ABI_MAJOR,
            abi::ABI_MINOR
        );
        Ok(Self {
            _control: control,
            _hook: hook,
            _drains: drains,
            _debugfs: debugfs,
        })
    }
}

impl Drop for RnvmeHook {
    fn drop(&mut self) {
        // No file of ours is open (each holds a module reference), but reads
        // whose waiter was killed may still be in flight.
        wait_idle();
        pr_info!("unloaded\n");
    }
}
