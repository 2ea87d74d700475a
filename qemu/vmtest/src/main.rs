// SPDX-License-Identifier: GPL-2.0 OR MIT

//! `rnvme-vmtest`: the in-VM tests of chain reads against the real kernel,
//! the patched NVMe driver and the loaded `rnvme_hook` module.
//!
//! `rnvme-vmtest list` names the scenarios; `rnvme-vmtest run NAME` runs one
//! and exits non-zero on failure. The guest's runner (`qemu/guest/run-tests`)
//! runs each as a test. Scenarios expect the module loaded and ext4 mounted
//! on `/mnt/nvme` (512 B LBA) and `/mnt/nvme4k` (4 KiB LBA).
//!
//! [`TESTS`] is the table of contents. The test groups (one file each)
//! import only the helper modules and the `rnvme` library, never each other.

// Helpers, shared by the groups.
mod bpf_syscall;
mod children;
mod engine_files;
mod expect;
mod files;
mod fixtures;
mod random;

// Test groups.
mod chains;
mod devices;
mod functions;
mod fuzz;
mod live;
mod metrics;
mod privilege;
mod resilience;
mod rocksdb;
mod safety;
mod sqlite;
mod stress;
mod tags;
mod uring;
mod windows;

use std::process::ExitCode;

use anyhow::Result;

/// A test: sets up its own files, checks every result against a user-space
/// reference, and cleans up.
type Test = fn() -> Result<()>;

/// Every test, by name, in the order `list` prints and the guest runs them.
const TESTS: &[(&str, Test)] = &[
    ("verifier-rejects", functions::verifier_rejects),
    ("test-run", functions::test_run),
    ("chain-correct", chains::chain_correct),
    ("chain-polled", chains::chain_polled),
    ("split-read", chains::split_read),
    ("hop-limit", chains::hop_limit),
    ("abort", chains::abort),
    ("bad-offsets", tags::bad_offsets),
    ("attach-checks", tags::attach_checks),
    ("live-overwrite", live::overwrite_direct),
    ("live-buffered", live::buffered_seen),
    ("live-append", live::append_reachable),
    ("live-punch-truncate", live::punch_and_truncate),
    ("live-unchanged-ranges", live::unchanged_ranges),
    ("large-sparse", live::large_sparse),
    ("live-move-extent", live::move_extent),
    ("live-swap-extents", live::swap_extents),
    ("live-reflink", live::reflink_refused),
    ("live-tree-stress", live::cow_stress),
    ("foreign-tag", tags::foreign_tag),
    ("detach-under-load", tags::detach_under_load),
    ("counters", tags::counters),
    ("kill-under-load", tags::kill_under_load),
    ("bptree-correct", chains::bptree_correct),
    ("scan-correct", chains::scan_correct),
    ("test-run-bptree-scan", functions::test_run_bptree_scan),
    ("fuzz-ioctl", fuzz::fuzz_ioctl),
    ("fuzz-verifier", fuzz::fuzz_verifier),
    ("device-error", devices::device_error),
    ("slow-device", devices::slow_device),
    ("stress", stress::stress),
    ("metrics", metrics::metrics_scrape),
    ("bounded-functions", safety::bounded_functions),
    ("no-pointer-leaks", safety::no_pointer_leaks),
    ("unprivileged-attach", privilege::unprivileged_attach),
    ("verity-and-encryption", privilege::verity_and_encryption),
    ("attach-efault", privilege::attach_efault),
    ("reset-under-chains", resilience::reset_under_chains),
    ("no-poll-queues", resilience::no_poll_queues),
    ("disk-statistics", resilience::disk_statistics),
    ("io-max", resilience::io_max),
    ("windows-exact", windows::windows_exact),
    ("windows-files", windows::windows_files),
    ("windows-errors", windows::windows_errors),
    ("windows-split", windows::windows_split),
    ("rocksdb-lookups", rocksdb::rocksdb_lookups),
    ("rocksdb-hostile", rocksdb::rocksdb_hostile),
    ("sqlite-lookups", sqlite::sqlite_lookups),
    ("sqlite-hostile", sqlite::sqlite_hostile),
    ("uring-exact", uring::uring_exact),
    ("uring-teardown", uring::uring_teardown),
    ("uring-unprivileged", uring::uring_unprivileged),
    ("fuzz-uring", uring::fuzz_uring),
    ("uring-budgets", uring::uring_budgets),
    // A new group: its `mod` line under "Test groups" above, its tests here.
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("list") => {
            for (name, _) in TESTS {
                println!("{name}");
            }
            ExitCode::SUCCESS
        }
        Some("run") => {
            let Some((_, f)) = args
                .get(2)
                .and_then(|n| TESTS.iter().find(|(name, _)| name == n))
            else {
                eprintln!("rnvme-vmtest: unknown scenario; see `rnvme-vmtest list`");
                return ExitCode::from(2);
            };
            children::exit_code(f())
        }
        // Helper processes that tests and guest scripts start.
        Some("try-tag") => children::try_foreign_tag(&args[2..]),
        Some("chain-loop") => children::chain_loop(&args[2..]),
        Some("rcu-watch") => children::rcu_watch(),
        Some("unprivileged") => children::unprivileged(),
        Some("attach-as-user") => privilege::attach_as_user(&args[2..]),
        Some("attach-set-as-user") => windows::attach_set_as_user(&args[2..]),
        Some("uring-flood") => uring::uring_flood(&args[2..]),
        Some("uring-as-user") => uring::uring_as_user(&args[2..]),
        _ => {
            eprintln!("usage: rnvme-vmtest list | run NAME");
            ExitCode::from(2)
        }
    }
}
