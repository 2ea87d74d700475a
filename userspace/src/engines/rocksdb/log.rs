// SPDX-License-Identifier: GPL-2.0 OR MIT

//! RocksDB's log format (`db/log_format.h`, `db/log_reader.cc`), shared by
//! the MANIFEST and the write-ahead logs: 32 KiB blocks of records, each
//! `masked crc32c: fixed32, length: fixed16, type: u8` (and, for the
//! recyclable types 5..=8, the log number: fixed32), then `length` payload
//! bytes. A logical record is one FULL fragment or FIRST, MIDDLE…, LAST. A
//! block's tail too short for a header is zero padding. The CRC covers the
//! type byte, the log number if any, and the payload.

const BLOCK: usize = 32 * 1024;
const HEADER: usize = 7;
const RECYCLABLE_HEADER: usize = 11;

const ZERO: u8 = 0;
const FULL: u8 = 1;
const FIRST: u8 = 2;
const MIDDLE: u8 = 3;
const LAST: u8 = 4;
/// Recyclable types are the plain ones plus this.
const RECYCLABLE: u8 = 4;
const RECYCLABLE_LAST: u8 = 8;
/// WAL compression (`kSetCompressionType`): refused.
const SET_COMPRESSION: u8 = 9;
/// Metadata records (timestamp sizes 10/11, predecessor WAL info 130/131)
/// and unknown types with this bit: skipped.
const SAFE_IGNORE: u8 = 0x80;
const TIMESTAMP_SIZE: u8 = 10;
const RECYCLABLE_TIMESTAMP_SIZE: u8 = 11;

/// The logical records of a log, in order.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Records {
    pub records: Vec<Vec<u8>>,
    /// Why reading stopped before the end of the bytes, if it did: a bad
    /// CRC, a truncated record, an unknown type (a torn tail after a crash
    /// looks the same).
    pub stopped: Option<String>,
}

/// Reads the records of `log`, stopping at the first damaged one.
pub(crate) fn read(log: &[u8]) -> Records {
    let mut out = Records::default();
    let mut partial: Option<Vec<u8>> = None;
    let mut at = 0;
    while at < log.len() {
        let left_in_block = BLOCK - at % BLOCK;
        if left_in_block < HEADER {
            at += left_in_block;
            continue;
        }
        let start = at;
        let stop = move |out: &mut Records, why: String| {
            out.stopped = Some(format!("{why} (record at byte {start})"));
        };
        if log.len() - at < HEADER {
            stop(&mut out, "truncated record header".into());
            break;
        }
        let h = &log[at..at + HEADER];
        let (crc, len, kind) = (
            u32::from_le_bytes(h[..4].try_into().unwrap()),
            u16::from_le_bytes([h[4], h[5]]) as usize,
            h[6],
        );
        if kind == ZERO && len == 0 && crc == 0 {
            // Preallocated, never written: the end.
            break;
        }
        let recyclable = (FULL + RECYCLABLE..=RECYCLABLE_LAST).contains(&kind)
            || kind == RECYCLABLE_TIMESTAMP_SIZE
            || (kind >= SAFE_IGNORE && kind & 1 == 1);
        let header = if recyclable {
            RECYCLABLE_HEADER
        } else {
            HEADER
        };
        let end = at + header + len;
        if end > log.len() || header + len > left_in_block {
            stop(
                &mut out,
                format!("record of {len} bytes runs past its block"),
            );
            break;
        }
        if unmask(crc) != crc32c::crc32c(&log[at + 6..end]) {
            stop(&mut out, "record checksum mismatch".into());
            break;
        }
        let payload = &log[at + header..end];
        at = end;
        let plain = if recyclable && kind <= RECYCLABLE_LAST {
            kind - RECYCLABLE
        } else {
            kind
        };
        match (plain, partial.as_mut()) {
            (FULL, None) => out.records.push(payload.to_vec()),
            (FIRST, None) => partial = Some(payload.to_vec()),
            (MIDDLE, Some(p)) => p.extend_from_slice(payload),
            (LAST, Some(p)) => {
                p.extend_from_slice(payload);
                out.records.extend(partial.take());
            }
            (SET_COMPRESSION, _) => {
                stop(
                    &mut out,
                    "unsupported: compressed log (wal_compression)".into(),
                );
                break;
            }
            (TIMESTAMP_SIZE | RECYCLABLE_TIMESTAMP_SIZE, _) => {}
            (k, _) if k >= SAFE_IGNORE => {}
            (k, _) => {
                stop(&mut out, format!("record type {k} out of sequence"));
                break;
            }
        }
    }
    if partial.is_some() && out.stopped.is_none() {
        out.stopped = Some("the log ends inside a record".into());
    }
    out
}

/// The CRC a masked stored CRC stands for.
fn unmask(masked: u32) -> u32 {
    masked.wrapping_sub(0xa282_ead8).rotate_left(15)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Writes `records` in the log format (plain types), as RocksDB does.
    pub(crate) fn write(records: &[&[u8]]) -> Vec<u8> {
        let mut log = Vec::new();
        for r in records {
            let mut left: &[u8] = r;
            let mut first = true;
            loop {
                let room = BLOCK - log.len() % BLOCK;
                if room < HEADER {
                    log.resize(log.len() + room, 0);
                    continue;
                }
                let n = left.len().min(room - HEADER);
                let last = n == left.len();
                let kind = match (first, last) {
                    (true, true) => FULL,
                    (true, false) => FIRST,
                    (false, false) => MIDDLE,
                    (false, true) => LAST,
                };
                let mut covered = vec![kind];
                covered.extend_from_slice(&left[..n]);
                let crc = crc32c::crc32c(&covered)
                    .rotate_right(15)
                    .wrapping_add(0xa282_ead8);
                log.extend_from_slice(&crc.to_le_bytes());
                log.extend_from_slice(&(n as u16).to_le_bytes());
                log.extend_from_slice(&covered);
                left = &left[n..];
                first = false;
                if last {
                    break;
                }
            }
        }
        log
    }

    #[test]
    fn records_round_trip_across_blocks() {
        let big = vec![7u8; 3 * BLOCK];
        let small = b"edit".to_vec();
        let log = write(&[&small, &big, &small, b""]);
        let r = read(&log);
        assert_eq!(r.stopped, None);
        assert_eq!(r.records, vec![small.clone(), big, small, vec![]]);
    }

    #[test]
    fn a_damaged_record_stops_the_reading_and_says_where() {
        let mut log = write(&[b"one", b"two"]);
        let n = log.len();
        log[n - 1] ^= 1;
        let r = read(&log);
        assert_eq!(r.records, vec![b"one".to_vec()]);
        assert!(r.stopped.unwrap().contains("checksum"));
        // Zero-filled tail (preallocated): a clean end.
        let mut log = write(&[b"one"]);
        log.resize(100, 0);
        assert_eq!(
            read(&log),
            Records {
                records: vec![b"one".to_vec()],
                stopped: None
            }
        );
    }
}
