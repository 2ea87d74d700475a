// SPDX-License-Identifier: GPL-2.0 OR MIT

//! `rnvme-vmtest`: the in-VM tests of chain reads against the real kernel,
//! the patched NVMe driver and the loaded `rnvme_hook` module.
//!
//! `rnvme-vmtest list` names the scenarios; `rnvme-vmtest run NAME` runs one
//! and exits non-zero on failure. The guest's runner (`qemu/guest/run-tests`)
//! runs each as a test. Scenarios expect the module loaded and ext4 mounted
//! on `/mnt/nvme` (512 B LBA) and `/mnt/nvme4k` (4 KiB LBA).

mod files;
mod fuzz;
mod hardening;
mod metrics;
mod scenarios;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("list") => {
            for (name, _) in scenarios::ALL {
                println!("{name}");
            }
            ExitCode::SUCCESS
        }
        Some("run") => {
            let Some((_, f)) = args
                .get(2)
                .and_then(|n| scenarios::ALL.iter().find(|(name, _)| name == n))
            else {
                eprintln!("rnvme-vmtest: unknown scenario; see `rnvme-vmtest list`");
                return ExitCode::from(2);
            };
            match f() {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    println!("FAIL: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Some("try-tag") => scenarios::try_foreign_tag(&args[2..]),
        Some("chain-loop") => scenarios::chain_loop(&args[2..]),
        Some("unprivileged") => scenarios::unprivileged(),
        _ => {
            eprintln!("usage: rnvme-vmtest list | run NAME");
            ExitCode::from(2)
        }
    }
}
