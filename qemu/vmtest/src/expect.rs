// SPDX-License-Identifier: GPL-2.0 OR MIT

//! Expected errnos: assertions on the errors of the `rnvme` library.

use anyhow::{bail, ensure, Context, Result};
use rnvme::Error;

/// The errno of `r`, which must be an error that carries one.
pub fn errno_of(r: Result<impl std::fmt::Debug, Error>) -> Result<i32> {
    match r {
        Ok(v) => bail!("succeeded ({v:?}) where an error was expected"),
        Err(e) => e
            .errno()
            .with_context(|| format!("error without errno: {e}")),
    }
}

/// `r` failed with errno `want`; prints an `ok:` line naming `what`.
pub fn expect_errno(what: &str, r: Result<impl std::fmt::Debug, Error>, want: i32) -> Result<()> {
    let got = errno_of(r).with_context(|| what.to_string())?;
    ensure!(got == want, "{what}: errno {got}, want {want}");
    println!("ok: {what} -> errno {got}");
    Ok(())
}

/// `r` is a tag set refused with errno `want` because of its file number
/// `failed`, or, with `failed` = `u32::MAX`, because of no one file (the
/// library may then report a plain ioctl error).
pub fn expect_set_refused(
    what: &str,
    r: Result<impl std::fmt::Debug, Error>,
    want: i32,
    failed: u32,
) -> Result<()> {
    match r {
        Err(Error::AttachSet { failed: got, cause }) => ensure!(
            cause.raw_os_error() == Some(want) && got == failed,
            "{what}: refused with {cause} naming file {got}; want errno {want}, file {failed}"
        ),
        Err(e) if failed == u32::MAX => {
            ensure!(e.errno() == Some(want), "{what}: {e}; want errno {want}")
        }
        other => bail!("{what}: {other:?}; want errno {want} naming file {failed}"),
    }
    println!("ok: {what} -> errno {want}, file {failed}");
    Ok(())
}
