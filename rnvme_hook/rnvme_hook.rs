// SPDX-License-Identifier: GPL-2.0

//! rnvme_hook: the kernel side of rnvme storage functions.
//!
//! The module owns `/dev/rnvme`, the control device through which user space
//! tags open files with storage functions (fd-tagging) and runs chain reads
//! (see `DESIGN.md`). It translates file offsets to sectors with an extent
//! map per tagged file and serves those translations to the NVMe driver's
//! completion hook. Its ioctl ABI is defined once, in `abi.rs`.

use core::{
    mem::size_of,
    sync::atomic::{AtomicU32, Ordering},
};
use kernel::{
    c_str, new_mutex,
    prelude::*,
    sync::{Arc, Mutex},
    uaccess::UserSlice,
};

#[expect(
    unreachable_pub,
    reason = "the ABI file is shared with user space, where its items are public"
)]
mod abi;
mod chain;
#[expect(
    unreachable_pub,
    reason = "shared with user space's host tests, where its items are public"
)]
mod extent;
mod miscdev;
mod sys;
mod tag;

use tag::Tag;

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
/// Tags one open `/dev/rnvme` may hold.
const MAX_TAGS: usize = 64;

struct RnvmeHook {
    _control: miscdev::Registration<Control>,
    _hook: sys::HookRegistration,
    _debugfs: sys::DebugfsCounters,
}

impl kernel::Module for RnvmeHook {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let debugfs = sys::DebugfsCounters::create();
        let hook = sys::HookRegistration::register()?;
        let control = miscdev::Registration::register(c_str!("rnvme"), CONTROL_MODE, module)?;
        pr_info!(
            "/dev/rnvme ready, ABI {}.{}\n",
            abi::ABI_MAJOR,
            abi::ABI_MINOR
        );
        Ok(Self {
            _control: control,
            _hook: hook,
            _debugfs: debugfs,
        })
    }
}

impl Drop for RnvmeHook {
    fn drop(&mut self) {
        // No file of ours is open (each holds a module reference), but reads
        // whose waiter was killed may still be in flight.
        sys::wait_idle();
        pr_info!("unloaded\n");
    }
}

/// One open file description of `/dev/rnvme`: its tags.
#[pin_data]
struct Control {
    #[pin]
    tags: Mutex<KVec<Option<Arc<Tag>>>>,
    next_id: AtomicU32,
}

impl Control {
    fn attach(&self, arg: usize) -> Result<isize> {
        let (mut reader, mut writer) = UserSlice::new(arg, size_of::<abi::Attach>()).reader_writer();
        let mut args: abi::Attach = reader.read()?;
        let mut tags = self.tags.lock();
        let free = tags.iter().position(Option::is_none);
        if free.is_none() && tags.len() >= MAX_TAGS {
            return Err(ENOSPC);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let tag = Arc::new(Tag::attach(&args, id)?, GFP_KERNEL)?;
        args.extents = tag.extent_count();
        let tag = Some(tag);
        match free {
            Some(i) => tags[i] = tag,
            None => tags.push(tag, GFP_KERNEL)?,
        }
        args.tag = id;
        writer.write(&args)?;
        Ok(0)
    }

    fn detach(&self, arg: usize) -> Result<isize> {
        let args: abi::Detach = UserSlice::new(arg, size_of::<abi::Detach>())
            .reader()
            .read()?;
        if args.reserved != 0 {
            return Err(EINVAL);
        }
        let mut tags = self.tags.lock();
        let slot = tags
            .iter_mut()
            .find(|t| t.as_ref().is_some_and(|t| t.id == args.tag))
            .ok_or(ENOENT)?;
        // Chains still running hold their own reference; the tag (and the
        // denial of writers) ends when the last of them does.
        drop(slot.take());
        Ok(0)
    }

    fn chain_read(&self, arg: usize) -> Result<isize> {
        let (mut reader, mut writer) = UserSlice::new(arg, size_of::<abi::ChainRead>()).reader_writer();
        let mut args: abi::ChainRead = reader.read()?;
        let tag = self
            .tags
            .lock()
            .iter()
            .flatten()
            .find(|t| t.id == args.tag)
            .cloned()
            .ok_or(ENOENT)?;
        let result = chain::run(tag, &mut args);
        if result != Err(EINTR) && result != Err(EFAULT) {
            writer.write(&args)?;
        }
        result.map(|()| 0)
    }
}

fn snapshot() -> abi::Stats {
    let c = &sys::COUNTERS;
    let get = |a: &core::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    abi::Stats {
        chains: get(&c.chains),
        done: get(&c.done),
        aborts: get(&c.aborts),
        errors: get(&c.errors),
        hops: get(&c.hops),
        driver_hops: get(&c.driver_hops),
        process_hops: get(&c.process_hops),
        cache_hits: get(&c.cache_hits),
        cache_misses: get(&c.cache_misses),
        tags: get(&c.tags),
    }
}

fn stats(arg: usize) -> Result<isize> {
    UserSlice::new(arg, size_of::<abi::Stats>())
        .writer()
        .write(&snapshot())?;
    Ok(0)
}

fn metrics(arg: usize) -> Result<isize> {
    let c = &sys::COUNTERS;
    let get = |a: &core::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let m = abi::Metrics {
        stats: snapshot(),
        hops: c.hops_hist.each_ref().map(get),
        latency: c.latency_hist.each_ref().map(get),
        latency_sum_ns: get(&c.latency_sum_ns),
        errors: c.errors_by_errno.each_ref().map(get),
        extent_maps: get(&c.extent_maps),
    };
    UserSlice::new(arg, size_of::<abi::Metrics>())
        .writer()
        .write(&m)?;
    Ok(0)
}

impl miscdev::FileOps for Control {
    fn open() -> Result<Pin<KBox<Self>>> {
        KBox::pin_init(
            pin_init!(Control {
                tags <- new_mutex!(KVec::new()),
                next_id: AtomicU32::new(1),
            }),
            GFP_KERNEL,
        )
    }

    fn ioctl(&self, cmd: u32, arg: usize) -> Result<isize> {
        match cmd {
            abi::IOC_VERSION => {
                UserSlice::new(arg, size_of::<abi::Version>())
                    .writer()
                    .write(&abi::Version::CURRENT)?;
                Ok(0)
            }
            abi::IOC_ATTACH => self.attach(arg),
            abi::IOC_DETACH => self.detach(arg),
            abi::IOC_CHAIN_READ => self.chain_read(arg),
            abi::IOC_STATS => stats(arg),
            abi::IOC_METRICS => metrics(arg),
            _ => Err(ENOTTY),
        }
    }
}
