// SPDX-License-Identifier: GPL-2.0

//! Chain reads, process-context side: issue the first read, let the driver's
//! hook run the function and resubmit what it can, and carry on whatever it
//! leaves to us (reads of another length, reads split across extents, reads
//! it could not resubmit), until the function is done, aborts, or the chain
//! hits an error or its hop limit.
//!
//! The steps are shared by the ioctl, which waits for each read
//! ([`run`]), and by io_uring commands, which are woken by them
//! (`chain_async.rs`).

use kernel::{prelude::*, sync::Arc, time::Ktime, uaccess::UserSlice};

use crate::{
    abi,
    counters::COUNTERS,
    ffi::{
        chain_io::{ChainIo, Outcome, RNVME_DONE, SCRATCH_SIZE},
        errno,
        uring::Waker,
    },
    tag::Tag,
};

/// A read a chain has yet to issue: `len` bytes at `offset` of file `file`,
/// its read number `hop`, after a read of `keep` bytes.
#[derive(Clone, Copy)]
pub(crate) struct Next {
    file: u32,
    offset: u64,
    len: u32,
    hop: u32,
    keep: u32,
}

/// Where a chain stands after a read.
pub(crate) enum Step {
    /// It goes on with this read.
    Read(Next),
    /// It ended.
    End(Result),
}

/// A chain about to start: what `args` asks for, checked, with the scratch
/// copied in. `polled` selects polled reads.
pub(crate) struct Started {
    pub(crate) io: Arc<ChainIo<Tag>>,
    pub(crate) first: Next,
    pub(crate) start: Ktime,
}

/// Checks `args`, copies its scratch in and counts the chain as started.
pub(crate) fn prepare(tag: &Arc<Tag>, args: &abi::ChainRead, polled: bool) -> Result<Started> {
    if args.flags & !abi::CHAIN_POLLED != 0
        || args.reserved != [0; 7]
        || args.scratch_len as usize > SCRATCH_SIZE
    {
        return Err(EINVAL);
    }
    // Verity may have been enabled since the files were tagged.
    tag.raw_reads_ok()?;
    let scratch_len = args.scratch_len as usize;
    let io = ChainIo::new(tag.clone(), polled)?;
    if scratch_len > 0 {
        UserSlice::new(args.scratch as usize, scratch_len)
            .reader()
            .read_slice(&mut io.scratch_mut()?[..scratch_len])?;
    }
    COUNTERS.chain_started(&tag.stats().chain);
    Ok(Started {
        io,
        first: Next {
            file: args.file,
            offset: args.offset,
            len: args.len,
            hop: 0,
            keep: 0,
        },
        start: Ktime::ktime_get(),
    })
}

/// Runs the chain `args` asks for on `tag` and fills in the output fields of
/// `args`, which are valid unless the error is `EINTR` or `EFAULT`.
pub(crate) fn run(tag: Arc<Tag>, args: &mut abi::ChainRead) -> Result {
    // Counted among the tag's chains in flight; a blocking chain never
    // waits for a place (it holds its caller's thread).
    let _place = tag.budget().enter(None)?;
    let s = prepare(&tag, args, args.flags & abi::CHAIN_POLLED != 0)?;
    let result = walk(&tag, &s.io, s.first);
    finish(&tag, &s.io, args, result, s.start)
}

/// Issues `next`: with a `waker`, a read the hook sees is left in flight
/// (`Ok(true)`: the waker will be woken); any other read is waited for
/// (`Ok(false)`: it completed).
pub(crate) fn issue(
    tag: &Tag,
    io: &Arc<ChainIo<Tag>>,
    next: &Next,
    waker: Option<Waker>,
) -> Result<bool> {
    match tag.plan(next.file, next.offset, next.len, next.hop, next.keep) {
        Ok(p) => match (p.pieces.as_ref(), waker) {
            (None, Some(w)) => io.start_tagged(&p.read, w).map(|()| true),
            (None, None) => io.read_tagged(&p.read).map(|()| false),
            (Some(pieces), _) => io
                .read_pieces(&p.read, pieces.iter().copied())
                .map(|()| false),
        },
        Err(e) => {
            io.fail(e);
            Err(e)
        }
    }
}

/// What follows a read that completed: the chain's next read or its end.
pub(crate) fn after_read(io: &ChainIo<Tag>) -> Step {
    io.run_if_needed();
    let o = io.outcome();
    if o.error != 0 {
        return Step::End(Err(Error::from_errno(o.error)));
    }
    if !o.more {
        return Step::End(if o.verdict == RNVME_DONE {
            Ok(())
        } else {
            Err(errno::ecanceled())
        });
    }
    COUNTERS.fell_back(o.fallback);
    Step::Read(Next {
        file: o.next_file,
        offset: o.next_offset,
        len: o.next_len,
        hop: o.hop + 1,
        keep: o.win_bytes,
    })
}

/// Reads a chain did: none if its first read was refused before submission.
fn reads_of(o: &Outcome) -> u32 {
    if o.len == 0 {
        0
    } else {
        o.hop + 1
    }
}

fn walk(tag: &Tag, io: &Arc<ChainIo<Tag>>, first: Next) -> Result {
    let mut next = first;
    loop {
        issue(tag, io, &next, None)?;
        match after_read(io) {
            Step::Read(n) => next = n,
            Step::End(result) => return result,
        }
    }
}

/// Counts a chain that ended with `err` when its caller's memory could not
/// be written any more.
pub(crate) fn abandoned(tag: &Tag, io: &ChainIo<Tag>, err: Error, start: Ktime) {
    let ns = (Ktime::ktime_get() - start).to_ns().max(0) as u64;
    let o = io.outcome();
    let reads = reads_of(&o);
    COUNTERS.chain_ended(&tag.stats().chain, &Err(err), reads, o.driver_hops, ns);
}

/// Counts the chain that ended with `result` and writes what it left into
/// `args` and the user's buffers: the result, or the error of that.
pub(crate) fn finish(
    tag: &Tag,
    io: &ChainIo<Tag>,
    args: &mut abi::ChainRead,
    result: Result,
    start: Ktime,
) -> Result {
    let ns = (Ktime::ktime_get() - start).to_ns().max(0) as u64;
    if result == Err(EINTR) {
        // The last read is still in flight and owns the chain's buffers:
        // the chain is counted, its reads are not.
        COUNTERS.chain_ended(&tag.stats().chain, &result, 0, 0, ns);
        return result;
    }
    let o = io.outcome();
    let reads = reads_of(&o);
    COUNTERS.chain_ended(&tag.stats().chain, &result, reads, o.driver_hops, ns);
    args.verdict = o.verdict;
    args.hops = reads;
    args.driver_hops = o.driver_hops;
    args.last_file = o.file;
    args.last_offset = o.file_offset;
    args.last_len = o.len;
    let scratch_len = args.scratch_len as usize;
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
