// SPDX-License-Identifier: GPL-2.0

//! Errnos this kernel crate does not name.

use kernel::{bindings, error::Error};

fn from(errno: u32) -> Error {
    Error::from_errno(-(errno as i32))
}

pub(crate) fn ecanceled() -> Error {
    from(bindings::ECANCELED)
}

pub(crate) fn enodata() -> Error {
    from(bindings::ENODATA)
}

pub(crate) fn eopnotsupp() -> Error {
    from(bindings::EOPNOTSUPP)
}

pub(crate) fn edquot() -> Error {
    from(bindings::EDQUOT)
}
