// SPDX-License-Identifier: GPL-2.0

//! The calling task: its process id, its user and its rights.
//!
//! C headers: [`include/linux/pid.h`](srctree/include/linux/pid.h),
//! [`include/linux/capability.h`](srctree/include/linux/capability.h).

use kernel::{bindings, ffi::c_int};

/// The calling process's id (thread group id), in its own pid namespace.
pub(crate) fn current_tgid() -> u32 {
    // SAFETY: `current` is valid while it runs this; a null namespace means
    // the task's own.
    let tgid = unsafe {
        bindings::__task_pid_nr_ns(
            bindings::get_current(),
            bindings::pid_type_PIDTYPE_TGID,
            core::ptr::null_mut(),
        )
    };
    tgid as u32
}

/// The caller's real uid (in the initial user namespace).
pub(crate) fn current_uid() -> u32 {
    // SAFETY: Reads the current task's credentials.
    unsafe { bindings::rnvme_current_uid() }
}

/// Whether the caller administers the system (`CAP_SYS_ADMIN`).
pub(crate) fn sys_admin_capable() -> bool {
    // SAFETY: `capable` only checks the current task's credentials.
    unsafe { bindings::capable(bindings::CAP_SYS_ADMIN as c_int) }
}

/// Whether the caller may see every tag (`perfmon_capable()`).
pub(crate) fn perfmon_capable() -> bool {
    // SAFETY: `capable` only checks the current task's credentials.
    unsafe {
        bindings::capable(bindings::CAP_PERFMON as c_int)
            || bindings::capable(bindings::CAP_SYS_ADMIN as c_int)
    }
}
