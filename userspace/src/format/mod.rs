// SPDX-License-Identifier: GPL-2.0 OR MIT

//! On-disk formats the built-in storage functions read, with deterministic
//! builders and user-space reference walks.

pub mod chain;
