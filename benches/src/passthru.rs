// SPDX-License-Identifier: GPL-2.0 OR MIT

//! NVMe passthrough per hop: each read is an NVMe Read command sent
//! through io_uring (`IORING_OP_URING_CMD`, `NVME_URING_CMD_IO`) to the
//! namespace's generic character device `/dev/ngXnY`, on a polled ring
//! (IOPOLL, big SQEs and CQEs). No file system and no block-layer bio on
//! the read path: the closest this VM has to a kernel-bypass stack (SPDK
//! is not packaged here). The file's blocks are found once with FIEMAP.

use std::{
    fs::{self, File},
    os::{fd::AsRawFd, unix::fs::MetadataExt},
    path::Path,
};

use anyhow::{bail, ensure, Context, Result};
use io_uring::{cqueue, opcode, squeue, types, IoUring};

use crate::{
    readers::{covering, Aligned, Reader},
    sys::{self, Extent},
};

/// `_IOWR('N', 0x80, struct nvme_uring_cmd)` of `<linux/nvme_ioctl.h>`.
const NVME_URING_CMD_IO: u32 = 0xc048_4e80;
/// NVMe I/O command set: Read.
const NVME_CMD_READ: u8 = 0x02;

/// Reads of one file by NVMe Read commands on its namespace.
pub struct PassthruReader {
    ring: IoUring<squeue::Entry128, cqueue::Entry32>,
    dev: File,
    nsid: u32,
    /// Logical block size of the namespace.
    lba: u64,
    /// Byte offset of the file system on the namespace (a partition's).
    base: u64,
    extents: Vec<Extent>,
    buf: Aligned,
    /// Why the last failed read failed.
    pub last_error: Option<String>,
}

fn sysfs(path: &str) -> Result<String> {
    Ok(fs::read_to_string(path)
        .with_context(|| path.to_string())?
        .trim()
        .to_string())
}

impl PassthruReader {
    /// For `path`, a file on a file system on an NVMe namespace (whole, or
    /// a partition of it).
    pub fn new(path: &Path) -> Result<Self> {
        let file = File::open(path).with_context(|| path.display().to_string())?;
        let dev = file.metadata()?.dev();
        let sys_dir = fs::canonicalize(sys::block_sysfs(dev))?;
        // A partition's directory sits inside its disk's and has `start`.
        let (disk_dir, base) = match sysfs(&format!("{}/start", sys_dir.display())) {
            Ok(start) => (
                sys_dir
                    .parent()
                    .context("partition without a disk")?
                    .to_path_buf(),
                start.parse::<u64>()? * 512,
            ),
            Err(_) => (sys_dir, 0),
        };
        let disk = disk_dir
            .file_name()
            .and_then(|n| n.to_str())
            .context("disk name")?
            .to_string();
        let Some(rest) = disk.strip_prefix("nvme") else {
            bail!("{} is on {disk}, not an NVMe namespace", path.display());
        };
        let d = disk_dir.display();
        let nsid: u32 = sysfs(&format!("{d}/nsid"))?.parse()?;
        let lba: u64 = sysfs(&format!("{d}/queue/logical_block_size"))?.parse()?;
        let chr = format!("/dev/ng{rest}");
        let dev = File::open(&chr).with_context(|| format!("open {chr}"))?;
        let extents =
            sys::extents(&file).with_context(|| format!("FIEMAP of {}", path.display()))?;
        let mut builder = IoUring::<squeue::Entry128, cqueue::Entry32>::builder();
        builder.setup_iopoll();
        Ok(Self {
            ring: builder
                .build(8)
                .context("io_uring setup (SQE128, CQE32, IOPOLL)")?,
            dev,
            nsid,
            lba,
            base,
            extents,
            buf: Aligned::new(),
            last_error: None,
        })
    }

    /// The device byte ranges holding `len` bytes at file offset `offset`,
    /// in order.
    fn pieces(&self, mut offset: u64, mut len: u64) -> Result<Vec<(u64, u64)>> {
        let mut out = Vec::new();
        while len > 0 {
            let e = self
                .extents
                .iter()
                .find(|e| e.logical <= offset && offset < e.logical + e.len)
                .with_context(|| format!("offset {offset} is in no extent"))?;
            let n = len.min(e.logical + e.len - offset);
            out.push((self.base + e.physical + (offset - e.logical), n));
            offset += n;
            len -= n;
        }
        Ok(out)
    }

    fn read_covering(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let (start, len) = covering(offset, buf.len(), self.lba);
        let pieces = self.pieces(start, len as u64)?;
        let b = self.buf.get(len);
        let mut done = 0;
        for (at, n) in pieces {
            let piece = &mut b[done..done + n as usize];
            command(&mut self.ring, &self.dev, self.nsid, self.lba, at, piece)?;
            done += n as usize;
        }
        let skip = (offset - start) as usize;
        buf.copy_from_slice(&b[skip..skip + buf.len()]);
        Ok(())
    }
}

/// One NVMe Read of `buf.len()` bytes at byte `at` of namespace `nsid`
/// (through its character device `dev`), waited for on `ring`.
fn command(
    ring: &mut IoUring<squeue::Entry128, cqueue::Entry32>,
    dev: &File,
    nsid: u32,
    lba: u64,
    at: u64,
    buf: &mut [u8],
) -> Result<()> {
    ensure!(
        at.is_multiple_of(lba) && (buf.len() as u64).is_multiple_of(lba),
        "a read of {} B at {at} is not in whole blocks of {lba}",
        buf.len(),
    );
    let slba = at / lba;
    let nlb = buf.len() as u64 / lba;
    // struct nvme_uring_cmd (72 bytes) of <linux/nvme_ioctl.h>.
    let mut cmd = [0u8; 80];
    cmd[0] = NVME_CMD_READ;
    cmd[4..8].copy_from_slice(&nsid.to_ne_bytes());
    cmd[24..32].copy_from_slice(&(buf.as_mut_ptr() as u64).to_ne_bytes()); // addr
    cmd[36..40].copy_from_slice(&(buf.len() as u32).to_ne_bytes()); // data_len
    cmd[40..44].copy_from_slice(&(slba as u32).to_ne_bytes()); // cdw10
    cmd[44..48].copy_from_slice(&((slba >> 32) as u32).to_ne_bytes()); // cdw11
    cmd[48..52].copy_from_slice(&((nlb - 1) as u32).to_ne_bytes()); // cdw12
    let sqe = opcode::UringCmd80::new(types::Fd(dev.as_raw_fd()), NVME_URING_CMD_IO)
        .cmd(cmd)
        .build();
    // SAFETY: `buf`, which the command names, stays valid and unused
    // until its completion is reaped below.
    unsafe { ring.submission().push(&sqe) }
        .ok()
        .context("ring full")?;
    ring.submit_and_wait(1)?;
    // A polled ring may return before the command completed: wait
    // again, as liburing does.
    for _ in 0..100_000 {
        if let Some(cqe) = ring.completion().next() {
            return match cqe.result() {
                0 => Ok(()),
                r if r < 0 => Err(std::io::Error::from_raw_os_error(-r).into()),
                status => bail!("NVMe status {status:#x}"),
            };
        }
        ring.submit_and_wait(1)?;
    }
    bail!("no completion")
}

impl Reader for PassthruReader {
    fn read(&mut self, offset: u64, buf: &mut [u8]) -> bool {
        match self.read_covering(offset, buf) {
            Ok(()) => true,
            Err(e) => {
                self.last_error = Some(format!("{e:#}"));
                false
            }
        }
    }
}
