// SPDX-License-Identifier: GPL-2.0 OR MIT

//! Block decompression (`util/compression.{h,cc}`). The trailer's first
//! byte names the compression type. Snappy blocks carry Snappy's own length
//! header; LZ4 and ZSTD blocks (format_version 2 and later) start with a
//! varint32 of the decompressed size. Zlib, BZip2, Xpress and custom
//! compression managers (format_version 7) are refused by name.

use super::coding::Input;

/// Compression type bytes (`include/rocksdb/compression_type.h`).
pub(crate) const NONE: u8 = 0x00;
const SNAPPY: u8 = 0x01;
const ZLIB: u8 = 0x02;
const BZIP2: u8 = 0x03;
const LZ4: u8 = 0x04;
const LZ4HC: u8 = 0x05;
const XPRESS: u8 = 0x06;
const ZSTD: u8 = 0x07;
/// The old name of ZSTD, still read as ZSTD.
const ZSTD_NOT_FINAL: u8 = 0x40;

/// The largest decompressed block accepted (a bound on what a damaged size
/// prefix can make this reader allocate).
const MAX_SIZE: usize = 1 << 30;

/// The name of compression type `t`.
fn name(t: u8) -> String {
    match t {
        NONE => "none".into(),
        SNAPPY => "snappy".into(),
        ZLIB => "zlib".into(),
        BZIP2 => "bzip2".into(),
        LZ4 => "lz4".into(),
        LZ4HC => "lz4hc".into(),
        XPRESS => "xpress".into(),
        ZSTD | ZSTD_NOT_FINAL => "zstd".into(),
        t if t >= 0x80 => format!("custom compression 0x{t:02x}"),
        t => format!("unknown compression 0x{t:02x}"),
    }
}

/// Why a block could not be decompressed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// A type this reader does not decompress.
    Unsupported(String),
    /// The payload is not valid for its type.
    Corrupt(String),
}

/// The contents of a block stored with compression type `t` as `payload`.
pub(crate) fn decompress(t: u8, payload: &[u8]) -> Result<Vec<u8>, Failure> {
    let corrupt = |e: &dyn std::fmt::Display| Failure::Corrupt(format!("{} block: {e}", name(t)));
    match t {
        NONE => Ok(payload.to_vec()),
        SNAPPY => snap::raw::Decoder::new()
            .decompress_vec(payload)
            .map_err(|e| corrupt(&e)),
        LZ4 | LZ4HC | ZSTD | ZSTD_NOT_FINAL => {
            let mut input = Input::new(payload);
            let size = input
                .varint32()
                .ok_or_else(|| corrupt(&"no decompressed size"))? as usize;
            if size > MAX_SIZE {
                return Err(corrupt(&format!("announces {size} bytes")));
            }
            let body = input.rest();
            let out = if matches!(t, LZ4 | LZ4HC) {
                lz4_flex::block::decompress(body, size).map_err(|e| corrupt(&e))?
            } else {
                let mut out = vec![0; size];
                let n = ruzstd::decoding::FrameDecoder::new()
                    .decode_all(body, &mut out)
                    .map_err(|e| corrupt(&e))?;
                out.truncate(n);
                out
            };
            if out.len() != size {
                return Err(corrupt(&format!(
                    "{} bytes decompressed, {size} announced",
                    out.len()
                )));
            }
            Ok(out)
        }
        _ => Err(Failure::Unsupported(format!("{} blocks", name(t)))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &[u8] = b"a block of a block of a block of a block of bytes, 0123456789";

    fn sized(body: Vec<u8>) -> Vec<u8> {
        let mut p = Vec::new();
        super::super::coding::put_varint(&mut p, TEXT.len() as u64);
        p.extend(body);
        p
    }

    #[test]
    fn snappy_lz4_and_zstd_blocks_decompress() {
        let snappy = snap::raw::Encoder::new().compress_vec(TEXT).unwrap();
        assert_eq!(decompress(SNAPPY, &snappy).unwrap(), TEXT);
        let lz4 = sized(lz4_flex::block::compress(TEXT));
        assert_eq!(decompress(LZ4, &lz4).unwrap(), TEXT);
        assert_eq!(decompress(LZ4HC, &lz4).unwrap(), TEXT);
        let zstd = sized(ruzstd::encoding::compress_to_vec(
            TEXT,
            ruzstd::encoding::CompressionLevel::Fastest,
        ));
        assert_eq!(decompress(ZSTD, &zstd).unwrap(), TEXT);
        assert_eq!(decompress(NONE, TEXT).unwrap(), TEXT);
    }

    #[test]
    fn wrong_sizes_and_unknown_types_are_refused_by_name() {
        let mut lz4 = vec![TEXT.len() as u8 + 1];
        lz4.extend(lz4_flex::block::compress(TEXT));
        assert!(matches!(decompress(LZ4, &lz4), Err(Failure::Corrupt(_))));
        assert_eq!(
            decompress(ZLIB, b"x"),
            Err(Failure::Unsupported("zlib blocks".into()))
        );
        assert!(matches!(
            decompress(0x81, b"x"),
            Err(Failure::Unsupported(s)) if s.contains("custom compression 0x81")
        ));
    }
}
