// SPDX-License-Identifier: GPL-2.0 OR MIT

//! Host-side tests of the control-device client: what a user sees when the
//! module is not there. The module itself is tested in the VM.

use rnvme::{abi, Control, Error};

#[test]
fn missing_device_says_load_the_module() {
    let dir = std::env::temp_dir().join(format!("rnvme-test-{}", std::process::id()));
    let err = Control::open(dir.join("no-such-device")).unwrap_err();
    assert!(matches!(err, Error::NoModule { .. }), "{err:?}");
    assert_eq!(err.errno(), Some(libc::ENOENT));
    assert!(err.to_string().contains("insmod rnvme_hook.ko"), "{err}");
}

#[test]
fn a_device_that_is_not_rnvme_is_reported_as_no_module() {
    // /dev/null accepts open(2) but answers ENOTTY to our ioctl.
    let err = Control::open("/dev/null").unwrap_err();
    assert!(matches!(err, Error::NoModule { .. }), "{err:?}");
    assert_eq!(err.errno(), Some(libc::ENOTTY));
}

#[test]
fn ioctl_numbers_follow_the_generic_encoding() {
    // _IOR(0xB9, 0, struct { u32; u32; }): read direction, size 8, nr 0.
    let nr = abi::IOC_VERSION;
    assert_eq!(nr >> 30, 2, "direction is read");
    assert_eq!((nr >> 16) & 0x3fff, 8, "size of Version");
    assert_eq!((nr >> 8) & 0xff, abi::IOC_MAGIC);
    assert_eq!(nr & 0xff, 0);
    assert_eq!(std::mem::size_of::<abi::Version>(), 8);
}
