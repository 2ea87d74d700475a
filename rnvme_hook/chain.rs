// SPDX-License-Identifier: GPL-2.0

//! Chain reads, process-context side: issue the first read, let the driver's
//! hook run the function and resubmit what it can, and carry on whatever it
//! leaves to us (reads of another length, reads split across extents, reads
//! it could not resubmit), until the function is done, aborts, or the chain
//! hits an error or its hop limit.

use core::sync::atomic::Ordering;
use kernel::{prelude::*, sync::Arc, time::Ktime, uaccess::UserSlice};

use crate::{
    abi,
    counters::COUNTERS,
    ffi::{
        chain_io::{ChainIo, RNVME_DONE, SCRATCH_SIZE},
        errno,
    },
    tag::Tag,
};

/// Runs the chain `args` asks for on `tag` and fills in the output fields of
/// `args`, which are valid unless the error is `EINTR` or `EFAULT`.
pub(crate) fn run(tag: Arc<Tag>, args: &mut abi::ChainRead) -> Result {
    if args.flags & !abi::CHAIN_POLLED != 0
        || args.reserved != [0; 7]
        || args.scratch_len as usize > SCRATCH_SIZE
    {
        return Err(EINVAL);
    }
    // Verity may have been enabled since the files were tagged.
    tag.raw_reads_ok()?;
    let scratch_len = args.scratch_len as usize;
    let io = ChainIo::new(tag.clone(), args.flags & abi::CHAIN_POLLED != 0)?;
    if scratch_len > 0 {
        UserSlice::new(args.scratch as usize, scratch_len)
            .reader()
            .read_slice(&mut io.scratch_mut()?[..scratch_len])?;
    }
    COUNTERS.chain_started(&tag.stats().chain);

    let start = Ktime::ktime_get();
    let result = walk(&tag, &io, args.file, args.offset, args.len);
    let ns = (Ktime::ktime_get() - start).to_ns().max(0) as u64;
    if result == Err(EINTR) {
        // The last read is still in flight and owns the chain's buffers.
        COUNTERS.chain_ended(&tag.stats().chain, &result, 0, 0, ns);
        return result;
    }

    let o = io.outcome();
    // Nothing was read if the first read was refused before submission.
    let reads = if o.len == 0 { 0 } else { o.hop + 1 };
    COUNTERS.chain_ended(&tag.stats().chain, &result, reads, o.driver_hops, ns);
    args.verdict = o.verdict;
    args.hops = reads;
    args.driver_hops = o.driver_hops;
    args.last_file = o.file;
    args.last_offset = o.file_offset;
    args.last_len = o.len;
    if scratch_len > 0 {
        UserSlice::new(args.scratch as usize, scratch_len)
            .writer()
            .write_slice(&io.scratch_mut()?[..scratch_len])?;
    }
    if args.out != 0 && reads > 0 {
        if args.out_len < o.len {
            return result.and(Err(ENOSPC));
        }
        UserSlice::new(args.out as usize, o.len as usize)
            .writer()
            .write_slice(io.data()?)?;
    }
    result
}

fn walk(tag: &Tag, io: &Arc<ChainIo<Tag>>, mut file: u32, mut offset: u64, mut len: u32) -> Result {
    let (mut hop, mut keep) = (0, 0);
    loop {
        match tag.plan(file, offset, len, hop, keep) {
            Ok((read, true)) => io.read_tagged(&read)?,
            Ok((read, false)) => io.read_pieces(&read, tag.pieces(&read))?,
            Err(e) => {
                io.fail(e);
                return Err(e);
            }
        }
        COUNTERS.process_hops.fetch_add(1, Ordering::Relaxed);
        io.run_if_needed();
        let o = io.outcome();
        if o.error != 0 {
            return Err(Error::from_errno(o.error));
        }
        if !o.more {
            return if o.verdict == RNVME_DONE {
                Ok(())
            } else {
                Err(errno::ecanceled())
            };
        }
        COUNTERS.fell_back(o.fallback);
        file = o.next_file;
        offset = o.next_offset;
        len = o.next_len;
        hop = o.hop + 1;
        keep = o.win_bytes;
    }
}
