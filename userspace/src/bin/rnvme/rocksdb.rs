// SPDX-License-Identifier: GPL-2.0 OR MIT

//! `rnvme rocksdb`: point gets, seeks and the live files of a RocksDB DB
//! directory, through the library's `engines::rocksdb`.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::{Args, Subcommand};
use rnvme::{
    engines::rocksdb::{tikv, Attached, Db, Detour, LookupStats, SstFile},
    Control,
};
use serde_json::{json, Value};

use crate::output::Format;

#[derive(Debug, Args)]
pub struct RocksdbArgs {
    #[command(subcommand)]
    command: RocksdbCommand,
}

#[derive(Debug, Subcommand)]
enum RocksdbCommand {
    /// The value of each KEY, a line each ("absent" for a missing or
    /// deleted key). KEY is text, or x followed by hex digits for bytes
    /// (x00ff; x alone is the empty key).
    ///
    /// Example: rnvme rocksdb get /mnt/nvme/db user42 x757365723433
    Get {
        #[command(flatten)]
        lookup: LookupArgs,
        /// Keys to look up (text, or x + hex).
        #[arg(required = true)]
        keys: Vec<String>,
    },
    /// The first live key >= KEY and its value ("end" past the last key),
    /// a line per KEY. KEY is text, or x followed by hex digits for bytes;
    /// with --ts, KEY is a TiKV raw key and the seek goes to its newest
    /// version at or before TS (memcomparable encoding, then the complement
    /// of TS).
    ///
    /// Example: rnvme rocksdb seek /mnt/nvme/tikv x748000000000000030 --ts 463000000000000000
    Seek {
        #[command(flatten)]
        lookup: LookupArgs,
        /// Keys to seek to (text, or x + hex).
        #[arg(required = true)]
        keys: Vec<String>,
        /// Treat KEY as a TiKV raw key and seek to its newest version at
        /// or before TS (if it has none, the answer is a later key).
        #[arg(long)]
        ts: Option<u64>,
    },
    /// The live SST files: level, key range, sequence numbers, format
    /// version, checksum, compression and index type.
    ///
    /// Example: rnvme rocksdb files /mnt/nvme/db --format json
    Files {
        /// The DB directory (with CURRENT and the MANIFEST).
        dir: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
}

/// Where to look things up and how.
#[derive(Debug, Args)]
struct LookupArgs {
    /// The DB directory (with CURRENT and the MANIFEST); its files must
    /// be on ext4 on NVMe and have no writers (close RocksDB first).
    dir: PathBuf,
    /// Output format: a line per key, or a JSON object per line.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Walk in user space with pread only (no kernel, no module needed).
    #[arg(long, conflicts_with = "polled")]
    pread: bool,
    /// Submit polled reads (needs NVMe poll queues).
    #[arg(long)]
    polled: bool,
    /// Gets in flight at once: N > 1 runs the keys' chains through one
    /// io_uring ring, N at a time, from one thread (1: a blocking call per
    /// key). On seeks, 1 only.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=4096), conflicts_with = "pread")]
    queue_depth: u32,
}

/// `rnvme rocksdb ...`.
pub fn run(device: &Path, args: &RocksdbArgs) -> Result<()> {
    match &args.command {
        RocksdbCommand::Get { lookup, keys } => {
            let keys: Vec<Vec<u8>> = keys.iter().map(|k| parse_key(k)).collect();
            lookups(device, lookup, |db, attached| {
                let mut many = match (attached, lookup.queue_depth) {
                    (Some(a), 2..) => Some(
                        a.get_many(&keys, lookup.queue_depth, lookup.polled)?
                            .into_iter(),
                    ),
                    _ => None,
                };
                for key in &keys {
                    let (value, how) = match (attached, many.as_mut().and_then(Iterator::next)) {
                        (_, Some(answer)) => {
                            let (v, s) = answer?;
                            (v, How::Chain(s))
                        }
                        (Some(a), None) => {
                            let (v, s) = a.get(key, lookup.polled)?;
                            (v, How::Chain(s))
                        }
                        (None, None) => pread(db, || db.get_pread(key))?,
                    };
                    println!("{}", get_line(key, value.as_deref(), &how, lookup.format));
                }
                Ok(())
            })
        }
        RocksdbCommand::Seek { lookup, keys, ts } => {
            if lookup.queue_depth > 1 {
                anyhow::bail!("--queue-depth is for gets; seeks run one at a time");
            }
            let keys: Vec<Vec<u8>> = keys
                .iter()
                .map(|k| {
                    let raw = parse_key(k);
                    match ts {
                        Some(ts) => tikv::seek_key(&raw, *ts),
                        None => raw,
                    }
                })
                .collect();
            lookups(device, lookup, |db, attached| {
                for key in &keys {
                    let (found, how) = match attached {
                        Some(a) => {
                            let (f, s) = a.seek(key, lookup.polled)?;
                            (f, How::Chain(s))
                        }
                        None => pread(db, || db.seek_pread(key))?,
                    };
                    println!("{}", seek_line(key, found.as_ref(), &how, lookup.format));
                }
                Ok(())
            })
        }
        RocksdbCommand::Files { dir, format } => {
            let db = Db::open(dir)?;
            for f in db.files() {
                println!("{}", file_line(f, *format));
            }
            Ok(())
        }
    }
}

/// How a lookup was done.
enum How {
    Chain(LookupStats),
    /// With pread only, in this many block reads.
    Pread(u64),
}

fn pread<T>(db: &Db, f: impl FnOnce() -> rnvme::engines::rocksdb::Result<T>) -> Result<(T, How)> {
    let before = db.read_stats().blocks;
    let v = f()?;
    Ok((v, How::Pread(db.read_stats().blocks - before)))
}

/// Opens the DB (and, unless --pread, attaches it) and runs `f`.
fn lookups(
    device: &Path,
    a: &LookupArgs,
    f: impl FnOnce(&Db, Option<&Attached>) -> Result<()>,
) -> Result<()> {
    let db = Db::open(&a.dir)?;
    if a.pread {
        return f(&db, None);
    }
    let control = Control::open(device)?;
    let attached = db.attach(&control)?;
    f(&db, Some(&attached))
}

/// A KEY argument: `x` + an even number of hex digits is bytes, anything
/// else is the text itself.
fn parse_key(s: &str) -> Vec<u8> {
    let hex = s
        .strip_prefix('x')
        .filter(|h| h.len() % 2 == 0 && h.bytes().all(|c| c.is_ascii_hexdigit()));
    match hex {
        Some(h) => (0..h.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
            .collect(),
        None => s.as_bytes().to_vec(),
    }
}

/// Bytes as `parse_key` reads them back: printable text as is, else `x`
/// and hex.
fn show(b: &[u8]) -> String {
    let text = !b.is_empty()
        && b.iter().all(|c| c.is_ascii_graphic())
        && parse_key(&String::from_utf8_lossy(b)) == b;
    if text {
        String::from_utf8_lossy(b).into_owned()
    } else {
        format!("x{}", crate::args::hex(b))
    }
}

/// The end of a table line: how the lookup went.
fn how_text(how: &How) -> String {
    match how {
        How::Pread(blocks) => format!("(pread: {blocks} blocks)"),
        How::Chain(s) => {
            let mut parts = vec![format!("{} files", s.files)];
            if s.chain {
                parts.push(format!("chain of {} reads", s.hops));
            }
            match s.detour {
                Some(Detour::HandBack(h)) => parts.push(format!("handed back: {}", h.name())),
                Some(d) => parts.push(format!("user space: {}", detour_name(d))),
                None => {}
            }
            if s.preads > 0 {
                parts.push(format!("{} preads", s.preads));
            }
            format!("({})", parts.join(", "))
        }
    }
}

fn detour_name(d: Detour) -> &'static str {
    match d {
        Detour::HandBack(h) => h.name(),
        Detour::Deleted => "deleted key",
        Detour::LongKey => "long key",
        Detour::ManyFiles => "too many files",
        Detour::Unwalkable => "index the function does not walk",
    }
}

fn how_json(how: &How) -> Value {
    match how {
        How::Pread(blocks) => json!({ "pread": true, "preads": blocks }),
        How::Chain(s) => json!({
            "pread": false,
            "files": s.files,
            "chain": s.chain,
            "reads": s.reads,
            "hops": s.hops,
            "detour": s.detour.map(detour_name),
            "preads": s.preads,
        }),
    }
}

fn with_how(mut line: Value, how: &How) -> String {
    if let (Value::Object(m), Value::Object(h)) = (&mut line, how_json(how)) {
        m.extend(h);
    }
    line.to_string()
}

fn get_line(key: &[u8], value: Option<&[u8]>, how: &How, format: Format) -> String {
    match format {
        Format::Table => match value {
            Some(v) => format!("get {} found {} {}", show(key), show(v), how_text(how)),
            None => format!("get {} absent {}", show(key), how_text(how)),
        },
        Format::Json => with_how(
            json!({
                "op": "get",
                "key": show(key),
                "found": value.is_some(),
                "value": value.map(show),
            }),
            how,
        ),
    }
}

fn seek_line(key: &[u8], found: Option<&(Vec<u8>, Vec<u8>)>, how: &How, format: Format) -> String {
    match format {
        Format::Table => match found {
            Some((k, v)) => format!(
                "seek {} found {} {} {}",
                show(key),
                show(k),
                show(v),
                how_text(how)
            ),
            None => format!("seek {} end {}", show(key), how_text(how)),
        },
        Format::Json => with_how(
            json!({
                "op": "seek",
                "key": show(key),
                "found": found.is_some(),
                "found_key": found.map(|(k, _)| show(k)),
                "value": found.map(|(_, v)| show(v)),
            }),
            how,
        ),
    }
}

/// `b`, shortened to its first 24 bytes.
fn short(b: &[u8]) -> String {
    if b.len() <= 24 {
        show(b)
    } else {
        format!("{}...", show(&b[..24]))
    }
}

fn file_line(f: &SstFile, format: Format) -> String {
    let p = &f.properties;
    let ctype = p.compression.clone();
    match format {
        Format::Table => {
            format!(
            "L{} {} {} bytes, seq {}..{}, format_version {}, {}, {}, {}, {} entries, keys {} .. {}",
            f.level,
            f.name(),
            f.size,
            f.smallest_seqno,
            f.largest_seqno,
            f.footer.format_version,
            f.footer.checksum.name(),
            if ctype.is_empty() { "compression unknown".into() } else { ctype },
            p.index_type.name(),
            p.num_entries,
            short(&f.smallest_key),
            short(&f.largest_key),
        )
        }
        Format::Json => json!({
            "file": f.name(),
            "level": f.level,
            "size": f.size,
            "smallest_key": show(&f.smallest_key),
            "largest_key": show(&f.largest_key),
            "smallest_seqno": f.smallest_seqno,
            "largest_seqno": f.largest_seqno,
            "format_version": f.footer.format_version,
            "checksum": f.footer.checksum.name(),
            "compression": ctype,
            "index_type": p.index_type.name(),
            "index_key_is_user_key": p.index_key_is_user_key,
            "index_value_is_delta_encoded": p.index_value_is_delta_encoded,
            "index_partitions": p.index_partitions,
            "entries": p.num_entries,
            "data_blocks": p.num_data_blocks,
        })
        .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        rocksdb: RocksdbArgs,
    }

    fn parse(argv: &str) -> Result<RocksdbCommand, clap::Error> {
        Cli::try_parse_from(argv.split(' ')).map(|c| c.rocksdb.command)
    }

    #[test]
    fn subcommands_parse_and_refuse_what_they_should() {
        let Ok(RocksdbCommand::Get { lookup, keys }) = parse("r get db a xff --pread") else {
            panic!("get did not parse");
        };
        assert_eq!(keys, ["a", "xff"]);
        assert!(lookup.pread && !lookup.polled);
        let Ok(RocksdbCommand::Seek { keys, ts, .. }) = parse("r seek db k l --ts 7 --polled")
        else {
            panic!("seek did not parse");
        };
        assert_eq!(
            (keys, ts),
            (vec!["k".to_string(), "l".to_string()], Some(7))
        );
        assert!(matches!(
            parse("r files db --format json"),
            Ok(RocksdbCommand::Files { .. })
        ));
        for bad in [
            "r get db",
            "r seek db",
            "r get db k --pread --polled",
            "r files db --format xml",
        ] {
            assert!(parse(bad).is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn keys_are_text_or_x_hex_and_print_back_the_same() {
        assert_eq!(parse_key("user42"), b"user42");
        assert_eq!(parse_key("x00ff"), [0, 255]);
        assert_eq!(parse_key("x"), b"");
        // Not hex: text.
        assert_eq!(parse_key("xyz"), b"xyz");
        assert_eq!(parse_key("x0"), b"x0");
        for k in [&b"user42"[..], b"", b"\x00\xff", b"xab", b"a b", b"xyz"] {
            assert_eq!(parse_key(&show(k)), k, "{k:?} as {}", show(k));
        }
        assert_eq!(show(b"xab"), "x786162");
    }
}
