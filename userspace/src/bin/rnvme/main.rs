// SPDX-License-Identifier: GPL-2.0 OR MIT

//! `rnvme`: the command-line front end of the rnvme library.

mod args;
mod bench;
mod chain;
mod counters;
mod function;
mod mkdb;
mod output;
mod rocksdb;
mod session;
mod sqlite;
mod sqlite_out;
mod update;

use std::{path::PathBuf, process::ExitCode};

use anyhow::Result;
use clap::{Parser, Subcommand};

use chain::{LookupArgs, RunArgs, ScanArgs};
use counters::{MetricsArgs, StatsArgs};
use function::{LoadArgs, TestRunArgs};
use mkdb::MkdbArgs;
use session::AttachArgs;

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
    /// Tag a file, or several files as one tag set, with a storage function
    /// and keep the tag for a session: reads commands (run, lookup, scan,
    /// stats, detach) from standard input until `detach` or end of input.
    /// Tags live as long as the session.
    ///
    /// Example: rnvme attach /mnt/nvme/tree.db --function bptree
    Attach(AttachArgs),
    /// Run one chain read on a file, or on several files tagged as one tag
    /// set: attach, read, print, detach. The first read is --len bytes
    /// (1..=65536) at any byte --offset of file --file-index of the set.
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
    /// Show the module's counters, and the reads the driver left to the
    /// module (process context) by reason.
    ///
    /// Example: rnvme stats --format json
    Stats(StatsArgs),
    /// List every attached tag, of every process, with its counters (needs
    /// CAP_PERFMON or CAP_SYS_ADMIN).
    ///
    /// Example: rnvme tags --format json
    Tags(StatsArgs),
    /// Show, or set (CAP_SYS_ADMIN), the budgets tags attached from now on
    /// get: io_uring chains of one tag in flight at once, and reads the
    /// driver resubmits for one tag per millisecond (0: no bound).
    ///
    /// Example: rnvme budgets --chains-in-flight 16 --driver-hops-per-ms 50
    Budgets(counters::BudgetArgs),
    /// Build (or with --verify, check) a file the built-in functions read.
    ///
    /// Example: rnvme mkdb bptree /mnt/nvme/tree.db --keys 100000 --depth 3
    Mkdb(MkdbArgs),
    /// Give existing keys of a B+-tree file new values, by copy-on-write:
    /// new copies of their leaves and ancestors (and value records) are
    /// appended, then the superblock is switched to the new root in one
    /// write, so readers racing it see the old tree or the new one. The old
    /// nodes stay behind as garbage.
    ///
    /// Example: rnvme update /mnt/nvme/tree.db --count 100 --batch 10 --value-seed 7 --verify
    Update(update::UpdateArgs),
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
    Metrics(MetricsArgs),
    /// Point gets and seeks in a RocksDB DB directory (block-based tables,
    /// as the RocksDB library wrote them), one chain per lookup.
    ///
    /// Example: rnvme rocksdb get /mnt/nvme/db user42
    Rocksdb(rocksdb::RocksdbArgs),
    /// Rows of a SQLite database by rowid or by an indexed column, one
    /// chain per lookup.
    ///
    /// Example: rnvme sqlite get /mnt/nvme/app.db users 42
    Sqlite(sqlite::SqliteArgs),
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

fn run(cli: &Cli) -> Result<()> {
    let device = &cli.device;
    match &cli.command {
        Command::Status => counters::status(device),
        Command::Load(a) => function::run_load(a),
        Command::Attach(a) => session::attach(device, a),
        Command::Run(a) => chain::run(device, a),
        Command::Lookup(a) => chain::lookup(device, a),
        Command::Scan(a) => chain::scan(device, a),
        Command::TestRun(a) => function::test_run(a),
        Command::Stats(a) => counters::stats(device, a),
        Command::Tags(a) => counters::tags(device, a),
        Command::Budgets(a) => counters::budgets(device, a),
        Command::Mkdb(a) => mkdb::mkdb(a),
        Command::Update(a) => update::update(a),
        Command::Bench { args } => bench::run(args),
        Command::Metrics(a) => counters::metrics(device, a),
        Command::Headers { out } => function::headers(out),
        Command::Rocksdb(a) => rocksdb::run(device, a),
        Command::Sqlite(a) => sqlite::run(device, a),
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
            "rnvme run f --offset 0",
            "rnvme run f --function chain --pinned /p --offset 0",
            "rnvme run f --function chain --offset 0 --max-hops 300",
            "rnvme mkdb chain f --hops 0",
            "rnvme mkdb bptree f --keys 10 --depth 2 --fanout 4",
            "rnvme mkdb records f --blocks 4 --block-size 1000",
            "rnvme lookup f",
            "rnvme stats --format xml",
            "rnvme test-run chain --block-file f --len 65537",
            "rnvme run f --function chain --offset 0 --len 0",
            "rnvme run f --function chain --offset 0 --len 65537",
            "rnvme run f --function chain --offset 0 --file-index 64",
            "rnvme attach --function chain",
            "rnvme update f",
            "rnvme update f --key 5 --count 3",
            "rnvme update f --count 0",
        ];
        for argv in bad {
            let argv: Vec<&str> = argv.split(' ').collect();
            assert!(Cli::try_parse_from(&argv).is_err(), "{argv:?} parsed");
        }
        let ok = Cli::try_parse_from(["rnvme", "lookup", "t.db", "5", "9", "--polled"]).unwrap();
        assert!(
            matches!(ok.command, Command::Lookup(LookupArgs { ref keys, polled: true, .. }) if keys == &[5, 9])
        );
    }

    #[test]
    fn run_and_attach_take_a_tag_set_and_a_window() {
        let argv =
            "rnvme run a.db b.db c.db --function chain --file-index 2 --offset 4097 --len 65536";
        let cli = Cli::try_parse_from(argv.split(' ')).unwrap();
        let Command::Run(run) = cli.command else {
            panic!("not run: {:?}", cli.command)
        };
        let files: Vec<_> = run.set.files.iter().map(|p| p.to_str().unwrap()).collect();
        assert_eq!(files, ["a.db", "b.db", "c.db"]);
        assert_eq!(
            (run.read.file_index, run.read.offset, run.read.len),
            (2, 4097, 65536)
        );
        // One file and the defaults: file 0, 4096 bytes.
        let cli = Cli::try_parse_from([
            "rnvme",
            "run",
            "a.db",
            "--function",
            "chain",
            "--offset",
            "9",
        ])
        .unwrap();
        let Command::Run(run) = cli.command else {
            panic!("not run")
        };
        assert_eq!(run.set.files.len(), 1);
        assert_eq!((run.read.file_index, run.read.len), (0, 4096));

        let cli =
            Cli::try_parse_from(["rnvme", "attach", "a.db", "b.db", "--pinned", "/p"]).unwrap();
        let Command::Attach(a) = cli.command else {
            panic!("not attach")
        };
        assert_eq!(a.set.files.len(), 2);

        // A set has 64 files at most.
        let mut argv: Vec<String> = ["rnvme", "attach", "--function", "chain"]
            .map(String::from)
            .to_vec();
        argv.extend((0..64).map(|i| format!("f{i}")));
        assert!(Cli::try_parse_from(&argv).is_ok());
        argv.push("f64".into());
        assert!(Cli::try_parse_from(&argv).is_err());
    }
}
