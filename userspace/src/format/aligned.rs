// SPDX-License-Identifier: GPL-2.0 OR MIT

//! Buffers for O_DIRECT I/O: their memory starts on a 4 KiB boundary,
//! which satisfies every logical block size (512 B or 4 KiB).

/// Alignment of an [`Aligned`] buffer.
pub const ALIGN: usize = 4096;

/// A zeroed heap buffer of a fixed length whose first byte is
/// [`ALIGN`]-aligned.
pub struct Aligned {
    // INVARIANT: `raw` is never resized, so `start` stays the offset of its
    // first aligned byte and `raw[start..start + len]` stays in bounds.
    raw: Vec<u8>,
    start: usize,
    len: usize,
}

impl Aligned {
    /// A zeroed buffer of `len` bytes.
    pub fn new(len: usize) -> Self {
        let raw = vec![0u8; len + ALIGN];
        let start = raw.as_ptr().align_offset(ALIGN);
        Self { raw, start, len }
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.raw[self.start..self.start + self.len]
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.raw[self.start..self.start + self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_aligned_zeroed_and_sized() {
        for len in [0, 512, 4096, 12_288] {
            let mut b = Aligned::new(len);
            assert_eq!(b.as_slice().as_ptr() as usize % ALIGN, 0);
            assert_eq!(b.as_slice().len(), len);
            assert!(b.as_mut_slice().iter().all(|&x| x == 0));
        }
    }
}
