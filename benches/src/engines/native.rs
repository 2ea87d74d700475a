// SPDX-License-Identifier: GPL-2.0 OR MIT

//! The engines' own lookups: `rnvme-bench-rocksdb` and
//! `rnvme-bench-sqlite` (benches/engines/, linked against the system's
//! librocksdb and libsqlite3), run as child processes; their output is
//! described in benches/engines/common.h.

use std::process::Command;

use anyhow::{bail, ensure, Context, Result};

use super::{Plan, Rep, Sample};

/// Runs `tool ARGS… WARMUP LOOKUPS REPS` and reads its repetitions.
pub fn run(tool: &str, args: &[&str], plan: &Plan) -> Result<Vec<Rep>> {
    let out = Command::new(tool)
        .args(args)
        .args([
            plan.warmup.to_string(),
            plan.lookups.to_string(),
            plan.reps.to_string(),
        ])
        .output()
        .with_context(|| format!("cannot run {tool} (is it in the guest's PATH?)"))?;
    if !out.status.success() {
        bail!(
            "{tool} {}: {}: {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let reps = parse(&String::from_utf8_lossy(&out.stdout))
        .with_context(|| format!("{tool} {}: unexpected output", args.join(" ")))?;
    ensure!(
        reps.len() == plan.reps && reps.iter().all(|r| r.samples.len() == plan.lookups),
        "{tool}: {} repetitions, want {} of {} lookups",
        reps.len(),
        plan.reps,
        plan.lookups
    );
    Ok(reps)
}

fn num(w: Option<&str>) -> Result<u64> {
    w.context("a field is missing")?
        .parse()
        .context("not a number")
}

fn parse(text: &str) -> Result<Vec<Rep>> {
    let mut reps: Vec<Rep> = Vec::new();
    for line in text.lines() {
        let mut w = line.split_whitespace();
        match w.next() {
            Some("rep") => reps.push(Rep::default()),
            Some("end") => {
                let r = reps.last_mut().context("end before rep")?;
                r.wall_ns = num(w.next())?;
                r.irq_ticks = num(w.next())?;
                r.device_reads = num(w.next())?;
                r.reads = r.device_reads;
            }
            first => {
                let r = reps.last_mut().context("a lookup before rep")?;
                let answer = match w.nth(1).context("no answer")? {
                    "-" => None,
                    h => Some(u64::from_str_radix(h, 16).context("bad hash")?),
                };
                r.samples.push(Sample {
                    lat_ns: num(first)?,
                    cpu_ns: num(line.split_whitespace().nth(1))?,
                    answer,
                });
            }
        }
    }
    Ok(reps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tools_output_is_read_back() {
        let reps =
            parse("rep 1\n10 4 00000000000000ff\n12 5 -\nend 30 1 7\nrep 2\n9 3 -\nend 9 0 2\n")
                .unwrap();
        assert_eq!(reps.len(), 2);
        assert_eq!(reps[0].samples[0].answer, Some(255));
        assert_eq!(reps[0].samples[1].answer, None);
        assert_eq!(reps[0].samples[1].cpu_ns, 5);
        assert_eq!(
            (reps[0].wall_ns, reps[0].irq_ticks, reps[0].reads),
            (30, 1, 7)
        );
        assert_eq!(reps[1].samples[0].lat_ns, 9);
        assert!(parse("5 5 -\n").is_err());
    }
}
