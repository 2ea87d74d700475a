// SPDX-License-Identifier: GPL-2.0

//! rnvme_hook: the kernel side of rnvme storage functions.
//!
//! The module owns `/dev/rnvme`, the control device through which user space
//! tags open files with storage functions and runs chain reads (see
//! `DESIGN.md`). Its ioctl ABI is defined once, in `abi.rs`.

use core::mem::size_of;
use kernel::{c_str, prelude::*, uaccess::UserSlice};

#[expect(
    unreachable_pub,
    reason = "the ABI file is shared with user space, where its items are public"
)]
mod abi;
mod miscdev;

module! {
    type: RnvmeHook,
    name: "rnvme_hook",
    author: "rnvme developers",
    description: "rnvme storage functions: fd-tagging and the /dev/rnvme control device",
    license: "GPL",
}

/// Mode of `/dev/rnvme`: any user may open it; each ioctl checks the caller's
/// rights on the objects it names (the file, the program).
const CONTROL_MODE: u16 = 0o666;

struct RnvmeHook {
    _control: miscdev::Registration<Control>,
}

impl kernel::Module for RnvmeHook {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let control = miscdev::Registration::register(c_str!("rnvme"), CONTROL_MODE, module)?;
        pr_info!(
            "/dev/rnvme ready, ABI {}.{}\n",
            abi::ABI_MAJOR,
            abi::ABI_MINOR
        );
        Ok(Self { _control: control })
    }
}

impl Drop for RnvmeHook {
    fn drop(&mut self) {
        pr_info!("unloaded\n");
    }
}

/// One open file description of `/dev/rnvme`.
struct Control;

impl miscdev::FileOps for Control {
    fn open() -> Result<KBox<Self>> {
        Ok(KBox::new(Control, GFP_KERNEL)?)
    }

    fn ioctl(&self, cmd: u32, arg: usize) -> Result<isize> {
        match cmd {
            abi::IOC_VERSION => {
                UserSlice::new(arg, size_of::<abi::Version>())
                    .writer()
                    .write(&abi::Version::CURRENT)?;
                Ok(0)
            }
            _ => Err(ENOTTY),
        }
    }
}
