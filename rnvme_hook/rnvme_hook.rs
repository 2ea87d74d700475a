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

// Dropped in this order: the registry outlives every `/dev/rnvme` file.
struct RnvmeHook {
    _control: miscdev::Registration<Control>,
    _hook: sys::HookRegistration,
    _debugfs: sys::DebugfsCounters,
    _registry: sys::TagRegistry,
}

impl kernel::Module for RnvmeHook {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let registry = sys::TagRegistry::create()?;
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
            _registry: registry,
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
    tags: Mutex<KVec<Option<Slot>>>,
    next_id: AtomicU32,
}

/// An attached tag and its entry in the list of `IOC_TAGS`.
struct Slot {
    tag: Arc<Tag>,
    _listed: sys::Listed,
}

impl Control {
    fn attach(&self, arg: usize) -> Result<isize> {
        let (mut reader, mut writer) =
            UserSlice::new(arg, size_of::<abi::Attach>()).reader_writer();
        let mut args: abi::Attach = reader.read()?;
        let mut tags = self.tags.lock();
        if tags.len() >= MAX_TAGS && !tags.iter().any(Option::is_none) {
            return Err(ENOSPC);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let tag = Arc::new(Tag::attach(&args, id)?, GFP_KERNEL)?;
        args.extents = tag.extent_count();
        let slot = Slot {
            _listed: sys::Listed::new(tag.stats().clone())?,
            tag,
        };
        store_in_free_slot(&mut tags, slot)?;
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
            .find(|s| s.as_ref().is_some_and(|s| s.tag.id == args.tag))
            .ok_or(ENOENT)?;
        // Chains still running hold their own reference; the tag (and the
        // denial of writers) ends when the last of them does.
        drop(slot.take());
        Ok(0)
    }

    fn chain_read(&self, arg: usize) -> Result<isize> {
        let (mut reader, mut writer) =
            UserSlice::new(arg, size_of::<abi::ChainRead>()).reader_writer();
        let mut args: abi::ChainRead = reader.read()?;
        let tag = self
            .tags
            .lock()
            .iter()
            .flatten()
            .find(|s| s.tag.id == args.tag)
            .map(|s| s.tag.clone())
            .ok_or(ENOENT)?;
        let result = chain::run(tag, &mut args);
        if result != Err(EINTR) && result != Err(EFAULT) {
            writer.write(&args)?;
        }
        result.map(|()| 0)
    }
}

/// Puts `item` into the first free slot of `slots`, or a new one at the end.
fn store_in_free_slot<T>(slots: &mut KVec<Option<T>>, item: T) -> Result {
    match slots.iter_mut().find(|s| s.is_none()) {
        Some(slot) => *slot = Some(item),
        None => slots.push(Some(item), GFP_KERNEL)?,
    }
    Ok(())
}

fn snapshot() -> abi::Stats {
    let c = &sys::COUNTERS;
    let get = |a: &core::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    abi::Stats {
        chains: get(&c.chain.chains),
        done: get(&c.chain.done),
        aborts: get(&c.chain.aborts),
        errors: get(&c.chain.errors),
        hops: get(&c.chain.hops),
        driver_hops: get(&c.chain.driver_hops),
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

/// `IOC_TAGS`: every attached tag of every `/dev/rnvme`, for exporters.
fn tags(arg: usize) -> Result<isize> {
    if !sys::perfmon_capable() {
        return Err(EPERM);
    }
    let (mut reader, mut writer) = UserSlice::new(arg, size_of::<abi::TagList>()).reader_writer();
    let mut list: abi::TagList = reader.read()?;
    let (infos, count) = sys::listed_tags(list.capacity as usize)?;
    let mut out = UserSlice::new(
        list.entries as usize,
        infos.len() * size_of::<abi::TagInfo>(),
    )
    .writer();
    for info in infos.iter() {
        out.write(info)?;
    }
    list.count = count as u32;
    writer.write(&list)?;
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
            abi::IOC_TAGS => tags(arg),
            _ => Err(ENOTTY),
        }
    }
}
