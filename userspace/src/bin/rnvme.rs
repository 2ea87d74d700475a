// SPDX-License-Identifier: GPL-2.0 OR MIT

//! `rnvme`: the command-line front end of the rnvme library.

use std::{
    fs::File,
    io::{BufRead, Read, Seek, SeekFrom},
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use rnvme::{
    format::{
        bptree::{self, Shape, TreeSpec},
        chain::{self, ChainSpec},
        records::{self, RecordSpec},
        write_file, Layout,
    },
    ChainOutcome, Control, StorageFunction, Tag,
};

/// Load, attach and run rnvme storage functions: BPF programs that run where
/// an NVMe read completes and issue the next dependent read in the kernel.
#[derive(Debug, Parser)]
#[command(version, about, propagate_version = true)]
struct Cli {
    /// The rnvme control device.
    #[arg(long, global = true, default_value = rnvme::DEFAULT_DEVICE)]
    device: PathBuf,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Report the loaded module's ABI version and whether BPF works here.
    ///
    /// Example: rnvme status
    Status,
    /// Load a storage function (built-in name or BPF object file); with
    /// --pin, keep it loaded in bpffs for later `--pinned` use.
    ///
    /// Example: rnvme load bptree --pin /sys/fs/bpf/bptree
    Load(LoadArgs),
    /// Tag a file with a storage function and keep the tag for a session:
    /// reads commands (run, lookup, scan, stats, detach) from standard input
    /// until `detach` or end of input. Tags live as long as the session.
    ///
    /// Example: rnvme attach /mnt/nvme/tree.db --function bptree
    Attach(AttachArgs),
    /// Run one chain read on a file: attach, read, print, detach.
    ///
    /// Example: rnvme run /mnt/nvme/chain.db --function chain --offset 8192 --len 4096
    Run(RunArgs),
    /// Look keys up in a B+-tree file built by `rnvme mkdb bptree`.
    ///
    /// Example: rnvme lookup /mnt/nvme/tree.db 5 9 4000
    Lookup(LookupArgs),
    /// Aggregate the records of a record file built by `rnvme mkdb records`,
    /// in the kernel: only the aggregate comes back.
    ///
    /// Example: rnvme scan /mnt/nvme/records.db --block-size 4096 --lo 100 --hi 199
    Scan(ScanArgs),
    /// Run a storage function once on a block read from a file, without
    /// chain I/O (BPF_PROG_TEST_RUN).
    ///
    /// Example: rnvme test-run chain --block-file /mnt/nvme/chain.db --offset 8192 --len 4096
    TestRun(TestRunArgs),
    /// Show the module's counters.
    ///
    /// Example: rnvme stats --format json
    Stats(StatsArgs),
    /// List every attached tag, of every process, with its counters (needs
    /// CAP_PERFMON or CAP_SYS_ADMIN).
    ///
    /// Example: rnvme tags --format json
    Tags(StatsArgs),
    /// Build (or with --verify, check) a file the built-in functions read.
    ///
    /// Example: rnvme mkdb bptree /mnt/nvme/tree.db --keys 100000 --depth 3
    Mkdb(MkdbArgs),
    /// Run the chain-read benchmark (`rnvme-bench`, installed next to
    /// `rnvme`); arguments after `--` go to it (see `rnvme bench -- --help`).
    ///
    /// Example: rnvme bench -- --workloads bptree --block-sizes 4096 --lookups 200
    Bench {
        /// Arguments for rnvme-bench.
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Serve the module's counters to Prometheus (OpenMetrics text on
    /// /metrics) until interrupted.
    ///
    /// Example: rnvme metrics --listen 127.0.0.1:9435
    Metrics {
        /// Address and port to listen on.
        #[arg(long, default_value = rnvme::metrics::DEFAULT_LISTEN)]
        listen: std::net::SocketAddr,
        /// Stop after this many requests (for tests).
        #[arg(long)]
        max_scrapes: Option<u64>,
        /// Per-tag series at most: the busiest (function, file) pairs; the
        /// other tags are summed into one series labelled "(other)".
        #[arg(long, default_value_t = rnvme::metrics::DEFAULT_TAG_SERIES)]
        tag_series: usize,
    },
    /// Write the headers to compile a storage function against
    /// (linux/rnvme.h, rnvme_bpf.h), for clang's -I.
    ///
    /// Example: rnvme headers --out include && clang -target bpf -O2 -g -Iinclude -c f.bpf.c
    Headers {
        /// Directory to write them to (created if needed).
        #[arg(long)]
        out: PathBuf,
    },
}

/// Which storage function to use.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
struct FunctionArg {
    /// A built-in function (chain, bptree, scan) or a BPF object file.
    #[arg(long)]
    function: Option<String>,
    /// A function pinned with `rnvme load --pin`.
    #[arg(long)]
    pinned: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct LoadArgs {
    /// A built-in function (chain, bptree, scan) or a BPF object file.
    function: String,
    /// Pin it at this path in a BPF file system.
    #[arg(long)]
    pin: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct AttachArgs {
    /// The file to tag (ext4 on NVMe, no writers).
    file: PathBuf,
    #[command(flatten)]
    function: FunctionArg,
    /// Reads per chain at most (1..=256; default 32).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=256))]
    max_hops: u32,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// The file to read.
    file: PathBuf,
    #[command(flatten)]
    function: FunctionArg,
    #[command(flatten)]
    read: ReadArgs,
    /// Reads per chain at most (1..=256; default 32).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=256))]
    max_hops: u32,
}

#[derive(Debug, Args, Clone)]
struct ReadArgs {
    /// File offset of the first read.
    #[arg(long)]
    offset: u64,
    /// Bytes of the first read (a multiple of the logical block size).
    #[arg(long, default_value_t = 4096)]
    len: u32,
    /// The scratch to start with, as hex bytes (the rest is zero).
    #[arg(long, default_value = "")]
    scratch: String,
    /// Bytes of scratch to print afterwards.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(0..=4096))]
    show: u32,
    /// Submit polled reads (needs NVMe poll queues).
    #[arg(long)]
    polled: bool,
}

#[derive(Debug, Args)]
struct LookupArgs {
    /// A B+-tree file built by `rnvme mkdb bptree`.
    file: PathBuf,
    /// Keys to look up.
    #[arg(required = true)]
    keys: Vec<u64>,
    /// Use a pinned function instead of the built-in bptree.
    #[arg(long)]
    pinned: Option<PathBuf>,
    /// Submit polled reads (needs NVMe poll queues).
    #[arg(long)]
    polled: bool,
}

#[derive(Debug, Args)]
struct ScanArgs {
    /// A record file built by `rnvme mkdb records`.
    file: PathBuf,
    /// Block size the file was built with.
    #[arg(long, value_parser = block_size)]
    block_size: u32,
    /// First block to scan.
    #[arg(long, default_value_t = 0)]
    first: u64,
    /// Blocks to scan (default: to the end of the file).
    #[arg(long)]
    blocks: Option<u64>,
    /// Smallest matching key.
    #[arg(long, default_value_t = 0)]
    lo: u64,
    /// Largest matching key.
    #[arg(long, default_value_t = u64::MAX)]
    hi: u64,
}

#[derive(Debug, Args)]
struct TestRunArgs {
    /// A built-in function (chain, bptree, scan) or a BPF object file.
    function: String,
    /// The file to take the block from (read normally).
    #[arg(long)]
    block_file: PathBuf,
    /// Offset of the block in that file; also the function's file offset.
    #[arg(long, default_value_t = 0)]
    offset: u64,
    /// Bytes of the block (1..=4096).
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..=4096))]
    len: u32,
    /// The hop number the function sees.
    #[arg(long, default_value_t = 0)]
    hop: u32,
    /// The scratch to start with, as hex bytes.
    #[arg(long, default_value = "")]
    scratch: String,
    /// Bytes of scratch to print afterwards.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(0..=4096))]
    show: u32,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Json,
}

#[derive(Debug, Args)]
struct StatsArgs {
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

#[derive(Debug, Args)]
struct MkdbArgs {
    #[command(subcommand)]
    kind: MkdbKind,
    /// Check the file against the description instead of writing it.
    #[arg(long, global = true)]
    verify: bool,
    /// Seed of the contents.
    #[arg(long, global = true, default_value_t = 1)]
    seed: u64,
    /// Lay the file out in many extents on purpose.
    #[arg(long, global = true)]
    fragmented: bool,
}

#[derive(Debug, Subcommand)]
enum MkdbKind {
    /// A chain of linked blocks (for the chain function).
    Chain {
        file: PathBuf,
        /// Blocks in the chain.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=65536))]
        hops: u32,
        #[arg(long, default_value_t = 4096, value_parser = block_size)]
        block_size: u32,
        /// Blocks in the file (default: 4 × hops).
        #[arg(long)]
        file_blocks: Option<u32>,
    },
    /// A B+-tree (for the bptree function).
    Bptree {
        file: PathBuf,
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=(1 << 28)))]
        keys: u64,
        #[arg(long, default_value_t = 4096, value_parser = block_size)]
        node_size: u32,
        /// Levels, leaves included (the fanout follows).
        #[arg(long, conflicts_with = "fanout", value_parser = clap::value_parser!(u32).range(1..=16))]
        depth: Option<u32>,
        /// Children per node (the depth follows).
        #[arg(long)]
        fanout: Option<u32>,
        /// Keep values in a value log (one more read per lookup).
        #[arg(long)]
        value_log: bool,
    },
    /// A record file (for the scan function).
    Records {
        file: PathBuf,
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=(1 << 20)))]
        blocks: u32,
        #[arg(long, default_value_t = 4096, value_parser = block_size)]
        block_size: u32,
        /// Keys are drawn from 0..key-space.
        #[arg(long, default_value_t = 1_000_000)]
        key_space: u64,
    },
}

/// Commands of an `attach` session, one per line.
#[derive(Debug, Parser)]
#[command(
    no_binary_name = true,
    disable_help_flag = true,
    disable_version_flag = true
)]
enum SessionCommand {
    /// run OFFSET LEN [SCRATCH-HEX]: one chain read.
    Run {
        offset: u64,
        len: u32,
        #[arg(default_value = "")]
        scratch: String,
    },
    /// lookup KEY...: B+-tree lookups (the file must be a tree).
    Lookup { keys: Vec<u64> },
    /// scan BLOCK-SIZE FIRST BLOCKS LO HI: aggregate records.
    Scan {
        block_size: u32,
        first: u64,
        blocks: u64,
        lo: u64,
        hi: u64,
    },
    /// stats: the module's counters.
    Stats,
    /// detach: end the session.
    Detach,
}

fn block_size(s: &str) -> Result<u32, String> {
    match s.parse() {
        Ok(b @ (512 | 4096)) => Ok(b),
        _ => Err("must be 512 or 4096".into()),
    }
}

fn parse_hex(s: &str) -> Result<Vec<u8>> {
    let s = s.trim();
    if s.len() % 2 != 0 || s.len() > 8192 {
        bail!("scratch must be an even number of hex digits, at most 4096 bytes");
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&s[i..i + 2], 16)
                .with_context(|| format!("bad hex {:?} in the scratch", &s[i..i + 2]))
        })
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn function(arg: &FunctionArg) -> Result<StorageFunction> {
    match (&arg.function, &arg.pinned) {
        (Some(f), _) => load(f),
        (None, Some(p)) => Ok(StorageFunction::from_pinned(p)?),
        (None, None) => bail!("give --function NAME or --pinned PATH"),
    }
}

fn load(name: &str) -> Result<StorageFunction> {
    if rnvme::builtin_functions().any(|b| b == name) {
        return Ok(StorageFunction::builtin(name)?);
    }
    let path = Path::new(name);
    if !path.exists() {
        bail!(
            "{name}: neither a built-in function ({}) nor a file",
            rnvme::builtin_functions().collect::<Vec<_>>().join(", ")
        );
    }
    Ok(StorageFunction::from_file(path)?)
}

fn open_ro(path: &Path) -> Result<File> {
    File::open(path).with_context(|| format!("cannot open {}", path.display()))
}

fn print_outcome(out: &ChainOutcome) {
    println!(
        "verdict {:?}, {} reads ({} resubmitted by the driver), last read {} B at {}",
        out.verdict, out.hops, out.driver_hops, out.last_len, out.last_offset
    );
}

fn chain_read(
    tag: &Tag,
    offset: u64,
    len: u32,
    scratch_hex: &str,
    show: u32,
    polled: bool,
) -> Result<()> {
    let mut scratch = parse_hex(scratch_hex)?;
    scratch.resize(scratch.len().max(show as usize), 0);
    let out = if polled {
        tag.chain_read_polled(offset, len, &mut scratch, None)?
    } else {
        tag.chain_read(offset, len, &mut scratch, None)?
    };
    print_outcome(&out);
    println!("scratch {}", hex(&scratch[..show as usize]));
    Ok(())
}

fn read_super(path: &Path) -> Result<bptree::Super> {
    let mut head = [0u8; 32];
    open_ro(path)?
        .read_exact(&mut head)
        .with_context(|| format!("{}: too short for a B+-tree", path.display()))?;
    bptree::Super::parse(&head).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

fn lookup(tag: &Tag, sup: &bptree::Super, keys: &[u64], polled: bool) -> Result<()> {
    for &key in keys {
        let (found, out) = tag.lookup(sup, key, polled)?;
        if found.found {
            print!("key {key}: value {} ", found.value);
            if sup.value_log {
                print!("data {} ", hex(&found.data[..16]));
            }
        } else {
            print!("key {key}: not found ");
        }
        println!(
            "({} nodes, {} reads, {} in the driver)",
            found.depth, out.hops, out.driver_hops
        );
    }
    Ok(())
}

fn scan(tag: &Tag, block_size: u32, first: u64, blocks: u64, lo: u64, hi: u64) -> Result<()> {
    let b = u64::from(block_size);
    let a = tag.scan(block_size, first * b, (first + blocks) * b, lo, hi)?;
    println!(
        "{} matching records in {} blocks: sum {}, min {}, max {}",
        a.count, a.blocks, a.sum, a.min, a.max
    );
    Ok(())
}

fn stats(control: &Control, format: Format) -> Result<()> {
    let s = control.stats()?;
    let rows = [
        ("chains", s.chains),
        ("done", s.done),
        ("aborts", s.aborts),
        ("errors", s.errors),
        ("hops", s.hops),
        ("driver_hops", s.driver_hops),
        ("process_hops", s.process_hops),
        ("cache_hits", s.cache_hits),
        ("cache_misses", s.cache_misses),
        ("tags", s.tags),
    ];
    match format {
        Format::Table => {
            for (name, v) in rows {
                println!("{name:<14} {v}");
            }
        }
        Format::Json => {
            let map: serde_json::Map<String, serde_json::Value> = rows
                .iter()
                .map(|(k, v)| (k.to_string(), (*v).into()))
                .collect();
            println!("{}", serde_json::Value::Object(map));
        }
    }
    Ok(())
}

fn tags(control: &Control, format: Format) -> Result<()> {
    let tags = control.tags()?;
    match format {
        Format::Table => {
            println!(
                "{:>7} {:>5} {:<15} {:>7} {:>8} {:>8} {:>6} {:>6} {:>9} {:>9}  file",
                "pid",
                "prog",
                "function",
                "extents",
                "chains",
                "done",
                "aborts",
                "errors",
                "reads",
                "in_driver"
            );
            for t in &tags {
                println!(
                    "{:>7} {:>5} {:<15} {:>7} {:>8} {:>8} {:>6} {:>6} {:>9} {:>9}  {}",
                    t.pid,
                    t.prog_id,
                    t.function_name(),
                    t.extents,
                    t.chains,
                    t.done,
                    t.aborts,
                    t.errors,
                    t.hops,
                    t.driver_hops,
                    t.file_path()
                );
            }
        }
        Format::Json => {
            let rows: Vec<serde_json::Value> = tags
                .iter()
                .map(|t| {
                    serde_json::json!({
                        "pid": t.pid, "prog_id": t.prog_id, "function": t.function_name(),
                        "file": t.file_path(), "ino": t.ino, "size": t.size, "extents": t.extents,
                        "max_hops": t.max_hops, "chains": t.chains, "done": t.done, "aborts": t.aborts,
                        "errors": t.errors, "hops": t.hops, "driver_hops": t.driver_hops,
                    })
                })
                .collect();
            println!("{}", serde_json::Value::Array(rows));
        }
    }
    Ok(())
}

fn session(control: &Control, tag: &Tag, file: &Path) -> Result<()> {
    println!(
        "tag {} on {} ({} extents); commands: run OFFSET LEN [SCRATCH-HEX] | lookup KEY... | scan BS FIRST BLOCKS LO HI | stats | detach",
        tag.id(),
        file.display(),
        tag.extents()
    );
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.is_empty() || words[0].starts_with('#') {
            continue;
        }
        let cmd = match SessionCommand::try_parse_from(&words) {
            Ok(c) => c,
            Err(e) => {
                eprintln!(
                    "rnvme: {}",
                    e.render()
                        .to_string()
                        .lines()
                        .next()
                        .unwrap_or("bad command")
                );
                continue;
            }
        };
        let r = match cmd {
            SessionCommand::Run {
                offset,
                len,
                scratch,
            } => chain_read(tag, offset, len, &scratch, 32, false),
            SessionCommand::Lookup { keys } => {
                read_super(file).and_then(|sup| lookup(tag, &sup, &keys, false))
            }
            SessionCommand::Scan {
                block_size,
                first,
                blocks,
                lo,
                hi,
            } => scan(tag, block_size, first, blocks, lo, hi),
            SessionCommand::Stats => stats(control, Format::Table),
            SessionCommand::Detach => break,
        };
        if let Err(e) = r {
            eprintln!("rnvme: {e:#}");
        }
    }
    println!("detached tag {}", tag.id());
    Ok(())
}

fn test_run(args: &TestRunArgs) -> Result<()> {
    let f = load(&args.function)?;
    let mut file = open_ro(&args.block_file)?;
    let mut block = vec![0u8; args.len as usize];
    file.seek(SeekFrom::Start(args.offset))?;
    file.read_exact(&mut block).with_context(|| {
        format!(
            "{}: no {} bytes at {}",
            args.block_file.display(),
            args.len,
            args.offset
        )
    })?;
    let mut scratch = parse_hex(&args.scratch)?;
    scratch.resize(scratch.len().max(args.show as usize), 0);
    let r = f.test_run(&block, args.offset, args.hop, &mut scratch)?;
    match r.verdict {
        Some(rnvme::Verdict::Next) => {
            println!("verdict Next: read {} B at {}", r.next_len, r.next_offset)
        }
        Some(v) => println!("verdict {v:?}"),
        None => println!("return value {} (not a verdict)", r.retval),
    }
    println!("scratch {}", hex(&scratch[..args.show as usize]));
    Ok(())
}

/// `mkdb --verify`: checks the file at `path` with `check` and says so.
fn verify_file(path: &Path, check: impl FnOnce(&[u8]) -> Result<(), String>) -> Result<()> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    check(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    println!("{}: matches the description", path.display());
    Ok(())
}

fn mkdb(args: &MkdbArgs) -> Result<()> {
    let layout = if args.fragmented {
        Layout::Fragmented
    } else {
        Layout::Contiguous
    };
    let (path, bytes, what) = match &args.kind {
        MkdbKind::Chain {
            file,
            hops,
            block_size,
            file_blocks,
        } => {
            let spec = ChainSpec {
                hops: *hops,
                block_size: *block_size,
                file_blocks: file_blocks.unwrap_or(hops.saturating_mul(4)),
                seed: args.seed,
            };
            if spec.file_blocks < spec.hops {
                bail!("--file-blocks must be at least --hops");
            }
            let c = chain::build(&spec);
            if args.verify {
                // The file must start with a fresh build (a fragmented one is padded).
                return verify_file(file, |b| {
                    match b.get(..c.bytes.len()) == Some(&c.bytes[..]) {
                        true => Ok(()),
                        false => Err("does not match the description".into()),
                    }
                });
            }
            let what = format!(
                "chain of {} blocks of {} B starting at offset {}",
                spec.hops, spec.block_size, c.start
            );
            (file, c.bytes, what)
        }
        MkdbKind::Bptree {
            file,
            keys,
            node_size,
            depth,
            fanout,
            value_log,
        } => {
            let shape = match (depth, fanout) {
                (Some(d), None) => Shape::Depth(*d),
                (None, Some(f)) => Shape::Fanout(*f),
                _ => bail!("give --depth or --fanout"),
            };
            let spec = TreeSpec {
                keys: *keys,
                node_size: *node_size,
                shape,
                value_log: *value_log,
                seed: args.seed,
            };
            if args.verify {
                return verify_file(file, |b| bptree::verify(b, &spec));
            }
            let t = bptree::build(&spec).map_err(anyhow::Error::msg)?;
            let what = format!(
                "B+-tree of {} keys, {} levels, {} B nodes, root at {}",
                t.sup.keys, t.sup.depth, t.sup.node_size, t.sup.root
            );
            (file, t.bytes, what)
        }
        MkdbKind::Records {
            file,
            blocks,
            block_size,
            key_space,
        } => {
            let spec = RecordSpec {
                blocks: *blocks,
                block_size: *block_size,
                key_space: *key_space,
                seed: args.seed,
            };
            if args.verify {
                return verify_file(file, |b| records::verify(b, &spec));
            }
            let bytes = records::build(&spec).map_err(anyhow::Error::msg)?;
            (
                file,
                bytes,
                format!("{blocks} record blocks of {block_size} B"),
            )
        }
    };
    write_file(path, &bytes, layout).with_context(|| format!("cannot write {}", path.display()))?;
    println!("{}: {what}", path.display());
    Ok(())
}

fn status(cli: &Cli) -> Result<()> {
    let control = Control::open(&cli.device)?;
    let v = control.version();
    println!(
        "module: rnvme_hook ABI {}.{} at {} (this rnvme: ABI {}.{})",
        v.major,
        v.minor,
        cli.device.display(),
        rnvme::abi::ABI_MAJOR,
        rnvme::abi::ABI_MINOR
    );
    match rnvme::bpf_probe() {
        Ok(bpf) => println!(
            "bpf: available, JIT {}",
            match bpf.jit_enabled {
                Some(true) => "on",
                Some(false) => "off",
                None => "unknown",
            }
        ),
        Err(e) => println!("bpf: unavailable: {e}"),
    }
    Ok(())
}

fn run(cli: &Cli) -> Result<()> {
    match &cli.command {
        Command::Status => status(cli),
        Command::Load(a) => {
            let f = load(&a.function)?;
            match &a.pin {
                Some(p) => {
                    f.pin(p)?;
                    println!("{}: loaded, pinned at {}", f.name(), p.display());
                }
                None => println!(
                    "{}: loaded (the verifier accepted it); unloaded again without --pin",
                    f.name()
                ),
            }
            Ok(())
        }
        Command::Attach(a) => {
            let control = Control::open(&cli.device)?;
            let f = function(&a.function)?;
            let file = open_ro(&a.file)?;
            let tag = control.attach(&file, &f, a.max_hops)?;
            session(&control, &tag, &a.file)
        }
        Command::Run(a) => {
            let control = Control::open(&cli.device)?;
            let f = function(&a.function)?;
            let file = open_ro(&a.file)?;
            let tag = control.attach(&file, &f, a.max_hops)?;
            chain_read(
                &tag,
                a.read.offset,
                a.read.len,
                &a.read.scratch,
                a.read.show,
                a.read.polled,
            )
        }
        Command::Lookup(a) => {
            let control = Control::open(&cli.device)?;
            let sup = read_super(&a.file)?;
            let f = match &a.pinned {
                Some(p) => StorageFunction::from_pinned(p)?,
                None => StorageFunction::builtin("bptree")?,
            };
            let file = open_ro(&a.file)?;
            let tag = control.attach(&file, &f, 0)?;
            lookup(&tag, &sup, &a.keys, a.polled)
        }
        Command::Scan(a) => {
            let control = Control::open(&cli.device)?;
            let file = open_ro(&a.file)?;
            let size = file.metadata()?.len();
            let b = u64::from(a.block_size);
            let blocks = a.blocks.unwrap_or((size / b).saturating_sub(a.first));
            if blocks == 0 || (a.first + blocks) * b > size {
                bail!(
                    "{}: blocks {}..{} are not all in the file",
                    a.file.display(),
                    a.first,
                    a.first + blocks
                );
            }
            let tag = control.attach(&file, &StorageFunction::builtin("scan")?, 0)?;
            scan(&tag, a.block_size, a.first, blocks, a.lo, a.hi)
        }
        Command::TestRun(a) => test_run(a),
        Command::Stats(a) => stats(&Control::open(&cli.device)?, a.format),
        Command::Tags(a) => tags(&Control::open(&cli.device)?, a.format),
        Command::Mkdb(a) => mkdb(a),
        Command::Bench { args } => {
            // The benchmark is its own program (it measures this library from
            // the outside); look for it beside this binary, then on PATH.
            let beside = std::env::current_exe()?.with_file_name("rnvme-bench");
            let program = if beside.exists() {
                beside
            } else {
                PathBuf::from("rnvme-bench")
            };
            let status = std::process::Command::new(&program)
                .args(args)
                .status()
                .with_context(|| {
                    format!(
                        "cannot run {} (build it with `cargo build --release -p rnvme-bench`)",
                        program.display()
                    )
                })?;
            if !status.success() {
                bail!("rnvme-bench failed ({status})");
            }
            Ok(())
        }
        Command::Metrics {
            listen,
            max_scrapes,
            tag_series,
        } => {
            let control = Control::open(&cli.device)?;
            eprintln!("rnvme: serving metrics on http://{listen}/metrics");
            rnvme::metrics::serve(&control, *listen, *max_scrapes, *tag_series)?;
            Ok(())
        }
        Command::Headers { out } => {
            for (rel, text) in rnvme::headers() {
                let path = out.join(rel);
                std::fs::create_dir_all(path.parent().unwrap())
                    .and_then(|()| std::fs::write(&path, text))
                    .with_context(|| format!("cannot write {}", path.display()))?;
                println!("{}", path.display());
            }
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rnvme: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
        SessionCommand::command().debug_assert();
    }

    #[test]
    fn status_parses_with_default_and_custom_device() {
        let cli = Cli::try_parse_from(["rnvme", "status"]).unwrap();
        assert_eq!(cli.device, PathBuf::from("/dev/rnvme"));
        assert!(matches!(cli.command, Command::Status));
        let cli = Cli::try_parse_from(["rnvme", "--device", "/tmp/x", "status"]).unwrap();
        assert_eq!(cli.device, PathBuf::from("/tmp/x"));
    }

    #[test]
    fn unknown_subcommand_is_rejected() {
        assert!(Cli::try_parse_from(["rnvme", "frobnicate"]).is_err());
    }

    #[test]
    fn ranges_and_exclusive_options_are_enforced() {
        let bad = [
            vec!["rnvme", "run", "f", "--offset", "0"],
            vec![
                "rnvme",
                "run",
                "f",
                "--function",
                "chain",
                "--pinned",
                "/p",
                "--offset",
                "0",
            ],
            vec![
                "rnvme",
                "run",
                "f",
                "--function",
                "chain",
                "--offset",
                "0",
                "--max-hops",
                "300",
            ],
            vec!["rnvme", "mkdb", "chain", "f", "--hops", "0"],
            vec![
                "rnvme", "mkdb", "bptree", "f", "--keys", "10", "--depth", "2", "--fanout", "4",
            ],
            vec![
                "rnvme",
                "mkdb",
                "records",
                "f",
                "--blocks",
                "4",
                "--block-size",
                "1000",
            ],
            vec!["rnvme", "lookup", "f"],
            vec!["rnvme", "stats", "--format", "xml"],
            vec![
                "rnvme",
                "test-run",
                "chain",
                "--block-file",
                "f",
                "--len",
                "5000",
            ],
        ];
        for argv in bad {
            assert!(Cli::try_parse_from(&argv).is_err(), "{argv:?} parsed");
        }
        let ok = Cli::try_parse_from(["rnvme", "lookup", "t.db", "5", "9", "--polled"]).unwrap();
        assert!(
            matches!(ok.command, Command::Lookup(LookupArgs { ref keys, polled: true, .. }) if keys == &[5, 9])
        );
    }

    #[test]
    fn session_commands_parse() {
        assert!(matches!(
            SessionCommand::try_parse_from(["lookup", "1", "2"]),
            Ok(SessionCommand::Lookup { .. })
        ));
        assert!(matches!(
            SessionCommand::try_parse_from(["detach"]),
            Ok(SessionCommand::Detach)
        ));
        assert!(SessionCommand::try_parse_from(["run", "x"]).is_err());
    }

    #[test]
    fn hex_scratch_round_trips_and_rejects_garbage() {
        assert_eq!(parse_hex("00ff10").unwrap(), vec![0, 255, 16]);
        assert_eq!(hex(&[0, 255, 16]), "00ff10");
        assert!(parse_hex("abc").is_err());
        assert!(parse_hex("zz").is_err());
    }
}
