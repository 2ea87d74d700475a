// SPDX-License-Identifier: GPL-2.0 OR MIT

//! What the fuzzers share: a reproducible random source, addresses user
//! space can never touch, and the kernel's.

use anyhow::{ensure, Result};

/// xorshift64: reproducible from the seed printed with each run.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn pick<T: Copy>(&mut self, v: &[T]) -> T {
        v[self.below(v.len() as u64) as usize]
    }

    /// `good` 7 times in 8, else one of `bad`.
    pub fn or<T: Copy>(&mut self, good: T, bad: &[T]) -> T {
        if self.below(8) != 0 {
            good
        } else {
            self.pick(bad)
        }
    }
}

/// A page no access can touch: user pointers into it always fault.
pub struct Guard(*mut libc::c_void);

impl Guard {
    pub fn new() -> Result<Self> {
        // SAFETY: An anonymous private mapping of one page; no memory of ours
        // is involved.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        ensure!(p != libc::MAP_FAILED, "mmap");
        Ok(Self(p))
    }

    /// The page's address.
    pub fn addr(&self) -> u64 {
        self.0 as u64
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // SAFETY: Unmaps the page `new` mapped.
        unsafe { libc::munmap(self.0, 4096) };
    }
}

/// A kernel address: never accessible from user space.
pub const KERNEL_ADDR: u64 = 0xffff_8880_0000_0000;
