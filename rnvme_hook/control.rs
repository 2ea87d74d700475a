// SPDX-License-Identifier: GPL-2.0

//! One open `/dev/rnvme`: its tags, and the dispatch of its ioctls.

use core::{
    mem::size_of,
    sync::atomic::{AtomicU32, Ordering},
};
use kernel::{
    new_mutex,
    prelude::*,
    sync::{Arc, Mutex},
    types::AsBytes,
    uaccess::UserSlice,
};

use crate::{
    abi,
    budget::LIMITS,
    chain,
    chain_async::{self, AsyncChain},
    counters::COUNTERS,
    ffi::{
        errno, miscdev,
        task::{current_uid, perfmon_capable, sys_admin_capable},
        uring::{Command, Issued},
    },
    registry::{store_in_free_slot, Listed, TagRegistry},
    tag::Tag,
};

/// Tags one open `/dev/rnvme` may hold.
const MAX_TAGS: usize = 64;

/// One open file description of `/dev/rnvme`: its tags.
#[pin_data]
pub(crate) struct Control {
    #[pin]
    tags: Mutex<KVec<Option<Slot>>>,
    next_id: AtomicU32,
    /// The list of `IOC_TAGS`, shared by every open `/dev/rnvme`.
    registry: Arc<TagRegistry>,
}

/// An attached tag and its entry in the list of `IOC_TAGS`.
struct Slot {
    tag: Arc<Tag>,
    _listed: Listed,
}

impl Control {
    fn attach(&self, arg: usize) -> Result<isize> {
        let (mut reader, mut writer) =
            UserSlice::new(arg, size_of::<abi::Attach>()).reader_writer();
        let mut args: abi::Attach = reader.read()?;
        if args.extents != 0 {
            return Err(EINVAL);
        }
        let (prog_fd, fd, flags, max_hops) =
            (args.prog_fd, args.file_fd, args.flags, args.max_hops);
        self.attach_files(prog_fd, &[fd], flags, max_hops, |id, extents| {
            args.tag = id;
            args.extents = extents;
            writer.write(&args)
        })
        .map_err(|(_, e)| e)?;
        Ok(0)
    }

    fn attach_set(&self, arg: usize) -> Result<isize> {
        let (mut reader, mut writer) =
            UserSlice::new(arg, size_of::<abi::AttachSet>()).reader_writer();
        let mut args: abi::AttachSet = reader.read()?;
        if args.reserved != [0; 5] || args.nr_files == 0 || args.nr_files > abi::MAX_FILES {
            return Err(EINVAL);
        }
        let n = args.nr_files as usize;
        let mut fds = KVec::with_capacity(n, GFP_KERNEL)?;
        let mut fd_reader = UserSlice::new(args.fds as usize, n * size_of::<i32>()).reader();
        for _ in 0..n {
            fds.push(fd_reader.read::<i32>()?, GFP_KERNEL)?;
        }
        args.failed = u32::MAX;
        let answer = args;
        let result = self.attach_files(
            args.prog_fd,
            &fds,
            args.flags,
            args.max_hops,
            |id, extents| {
                let mut a = answer;
                a.tag = id;
                a.extents = extents;
                writer.write(&a)
            },
        );
        match result {
            Ok(()) => Ok(0),
            Err((failed, e)) => {
                // Name the refused file; the tag was not made.
                if failed != u32::MAX {
                    args.failed = failed;
                    let _ = UserSlice::new(arg, size_of::<abi::AttachSet>())
                        .writer()
                        .write(&args);
                }
                Err(e)
            }
        }
    }

    /// Tags `fds` with `prog_fd` and stores the tag, after `answer` has
    /// told the caller its id and extents: if the answer cannot be copied
    /// back (EFAULT), the caller never learns the id, and the tag is
    /// dropped. On a refusal, the index of the refused file, if one was.
    fn attach_files(
        &self,
        prog_fd: i32,
        fds: &[i32],
        flags: u32,
        max_hops: u32,
        answer: impl FnOnce(u32, u32) -> Result,
    ) -> core::result::Result<(), (u32, Error)> {
        let whole = |e| (u32::MAX, e);
        let mut tags = self.tags.lock();
        if tags.len() >= MAX_TAGS && !tags.iter().any(Option::is_none) {
            return Err(whole(ENOSPC));
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let tag = Tag::attach(prog_fd, fds, flags, max_hops, id, self.registry.watches())?;
        let tag = Arc::new(tag, GFP_KERNEL_ACCOUNT).map_err(|e| whole(e.into()))?;
        let extents = tag.extent_count();
        let slot = Slot {
            _listed: Listed::new(&self.registry, tag.stats().clone(), current_uid())
                .map_err(whole)?,
            tag,
        };
        answer(id, extents).map_err(whole)?;
        store_in_free_slot(&mut tags, slot).map_err(whole)
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

    /// Attached tag `id`.
    fn tag(&self, id: u32) -> Result<Arc<Tag>> {
        self.tags
            .lock()
            .iter()
            .flatten()
            .find(|s| s.tag.id == id)
            .map(|s| s.tag.clone())
            .ok_or(ENOENT)
    }

    fn chain_read(&self, arg: usize) -> Result<isize> {
        let (mut reader, mut writer) =
            UserSlice::new(arg, size_of::<abi::ChainRead>()).reader_writer();
        let mut args: abi::ChainRead = reader.read()?;
        let tag = self.tag(args.tag)?;
        let result = chain::run(tag, &mut args);
        if result != Err(EINTR) && result != Err(EFAULT) {
            writer.write(&args)?;
        }
        result.map(|()| 0)
    }

    /// `IOC_TAGS`: every attached tag of every `/dev/rnvme`, for exporters.
    fn tags(&self, arg: usize) -> Result<isize> {
        if !perfmon_capable() {
            return Err(EPERM);
        }
        let (mut reader, mut writer) =
            UserSlice::new(arg, size_of::<abi::TagList>()).reader_writer();
        let mut list: abi::TagList = reader.read()?;
        let (infos, count) = self.registry.snapshots(list.capacity as usize)?;
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
}

/// `IOC_SET_BUDGETS`: the budgets of tags attached from now on.
fn set_budgets(arg: usize) -> Result<isize> {
    if !sys_admin_capable() {
        return Err(EPERM);
    }
    let b: abi::Budgets = UserSlice::new(arg, size_of::<abi::Budgets>())
        .reader()
        .read()?;
    LIMITS.set(&b);
    Ok(0)
}

/// Writes `value` to user memory at `arg`, for the ioctls that only report.
fn report<T: AsBytes>(arg: usize, value: &T) -> Result<isize> {
    UserSlice::new(arg, size_of::<T>()).writer().write(value)?;
    Ok(0)
}

impl miscdev::FileOps for Control {
    type Shared = Arc<TagRegistry>;
    type Pending = AsyncChain;

    fn open(registry: &Arc<TagRegistry>) -> Result<Pin<KBox<Self>>> {
        KBox::pin_init(
            pin_init!(Control {
                tags <- new_mutex!(KVec::new()),
                next_id: AtomicU32::new(1),
                registry: registry.clone(),
            }),
            GFP_KERNEL_ACCOUNT,
        )
    }

    fn ioctl(&self, cmd: u32, arg: usize) -> Result<isize> {
        match cmd {
            abi::IOC_VERSION => report(arg, &abi::Version::CURRENT),
            abi::IOC_ATTACH => self.attach(arg),
            abi::IOC_ATTACH_SET => self.attach_set(arg),
            abi::IOC_DETACH => self.detach(arg),
            abi::IOC_CHAIN_READ => self.chain_read(arg),
            abi::IOC_STATS => report(arg, &COUNTERS.stats()),
            abi::IOC_METRICS => report(arg, &COUNTERS.metrics()),
            abi::IOC_TAGS => self.tags(arg),
            abi::IOC_GET_BUDGETS => report(arg, &LIMITS.get()),
            abi::IOC_SET_BUDGETS => set_budgets(arg),
            _ => Err(ENOTTY),
        }
    }

    fn uring_cmd(&self, cmd: &Command) -> Result<Issued> {
        if cmd.op() != abi::URING_CHAIN_READ {
            return Err(errno::eopnotsupp());
        }
        let c = abi::UringChainRead::from_bytes(cmd.payload());
        if c.flags != 0 || c.reserved != 0 {
            return Err(EINVAL);
        }
        let args: abi::ChainRead = UserSlice::new(c.args as usize, size_of::<abi::ChainRead>())
            .reader()
            .read()?;
        chain_async::start(self.tag(args.tag)?, args, c.args, cmd)
    }
}
