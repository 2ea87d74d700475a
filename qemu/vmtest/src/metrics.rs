// SPDX-License-Identifier: GPL-2.0 OR MIT

//! The Prometheus exporter (`rnvme metrics`) scraped over loopback and read
//! with a real exposition-format parser: the counters, module-wide and per
//! tag, move by exactly what a known set of chains did, and the per-tag
//! series stay within their bound.

use std::{
    io::{Read, Write},
    net::TcpStream,
    process::{Child, Command, Stdio},
    thread,
    time::Duration,
};

use anyhow::{bail, ensure, Context, Result};
use prometheus_parse::{Scrape, Value};
use rnvme::{
    format::chain::{self, ChainResult, ChainSpec},
    Control, StorageFunction, DEFAULT_DEVICE,
};

use crate::files;

const ADDR: &str = "127.0.0.1:9435";
/// A second exporter, limited to one per-tag series.
const ADDR_ONE_SERIES: &str = "127.0.0.1:9436";

/// The body of `/metrics` at `addr`.
fn fetch(addr: &str) -> Result<String> {
    let mut s = TcpStream::connect(addr)?;
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    let (head, body) = text.split_once("\r\n\r\n").context("no HTTP body")?;
    ensure!(
        head.starts_with("HTTP/1.") && head.contains(" 200 "),
        "{head}"
    );
    Ok(body.to_string())
}

fn parse(body: &str) -> Result<Scrape> {
    Ok(Scrape::parse(body.lines().map(|l| Ok(l.to_string())))?)
}

fn scrape_at(addr: &str) -> Result<Scrape> {
    parse(&fetch(addr)?)
}

fn scrape() -> Result<Scrape> {
    scrape_at(ADDR)
}

fn value(s: &Scrape, name: &str, label: Option<(&str, &str)>) -> Result<f64> {
    value_with(s, name, &label.into_iter().collect::<Vec<_>>())
}

/// The value of the sample `name` that has all of `labels`.
fn value_with(s: &Scrape, name: &str, labels: &[(&str, &str)]) -> Result<f64> {
    s.samples
        .iter()
        .find(|x| x.metric == name && labels.iter().all(|(k, v)| x.labels.get(k) == Some(v)))
        .and_then(|x| match x.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => Some(v),
            _ => None,
        })
        .with_context(|| format!("no {name} {labels:?}"))
}

/// The (function, file) label pairs of the samples of `name`.
fn tag_labels(s: &Scrape, name: &str) -> Vec<(String, String)> {
    s.samples
        .iter()
        .filter(|x| x.metric == name)
        .map(|x| {
            (
                x.labels.get("function").unwrap_or("").to_string(),
                x.labels.get("file").unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn start_exporter(addr: &str, extra: &[&str]) -> Result<Child> {
    let child = Command::new("rnvme")
        .args(["metrics", "--listen", addr])
        .args(extra)
        .stderr(Stdio::null())
        .spawn()
        .context("start rnvme metrics")?;
    let mut tries = 0;
    while TcpStream::connect(addr).is_err() {
        tries += 1;
        ensure!(tries < 100, "the exporter does not listen on {addr}");
        thread::sleep(Duration::from_millis(50));
    }
    Ok(child)
}

pub fn metrics_scrape() -> Result<()> {
    let mut exporters = vec![start_exporter(ADDR, &[])?];
    let result = (|| -> Result<()> {
        // A second exporter on the same port, and a bad address: clear errors.
        let busy = Command::new("rnvme")
            .args(["metrics", "--listen", ADDR])
            .output()?;
        let err = String::from_utf8_lossy(&busy.stderr);
        ensure!(
            busy.status.code() == Some(1) && err.contains("cannot listen on 127.0.0.1:9435"),
            "busy port: {err}"
        );
        let bad = Command::new("rnvme")
            .args(["metrics", "--listen", "not-an-address"])
            .output()?;
        ensure!(bad.status.code() == Some(2), "bad --listen accepted");
        println!("ok: busy port and bad --listen refused");

        let control = Control::open(DEFAULT_DEVICE)?;
        let c = chain::build(&ChainSpec {
            hops: 5,
            block_size: 4096,
            file_blocks: 40,
            seed: 123,
        });
        let path = files::fresh("/mnt/nvme", "metrics-chain");
        files::write_contiguous(&path, &c.bytes)?;
        let fd = files::open_ro(&path)?;
        let chain_fn = StorageFunction::builtin("chain")?;
        let abort_fn =
            StorageFunction::from_object("abort", rnvme::fixture("abort").context("fixture")?)?;
        let loop_fn =
            StorageFunction::from_object("loop", rnvme::fixture("loop").context("fixture")?)?;
        let tag = control.attach(&fd, &chain_fn, 0)?;
        let abort_tag = control.attach(&fd, &abort_fn, 0)?;
        let loop_tag = control.attach(&fd, &loop_fn, 3)?;

        let before = scrape()?;
        for _ in 0..7 {
            let mut s = vec![0u8; ChainResult::SIZE];
            tag.chain_read(c.start, 4096, &mut s, None)?;
        }
        if abort_tag.chain_read(0, 4096, &mut [], None).is_ok() {
            bail!("abort fixture succeeded");
        }
        if loop_tag.chain_read(0, 4096, &mut [], None).is_ok() {
            bail!("loop fixture succeeded");
        }
        let body = fetch(ADDR)?;
        let after = parse(&body)?;
        let delta = |name: &str, label: Option<(&str, &str)>| -> Result<f64> {
            Ok(value(&after, name, label)? - value(&before, name, label)?)
        };
        for (name, label, want) in [
            ("rnvme_chains_total", None, 9.0),
            ("rnvme_chains_ended_total", Some(("result", "done")), 7.0),
            ("rnvme_chains_ended_total", Some(("result", "abort")), 1.0),
            ("rnvme_chains_ended_total", Some(("result", "error")), 1.0),
            ("rnvme_chain_errors_total", Some(("errno", "ELOOP")), 1.0),
            (
                "rnvme_chain_errors_total",
                Some(("errno", "ECANCELED")),
                1.0,
            ),
            ("rnvme_chain_errors_total", Some(("errno", "EIO")), 0.0),
            ("rnvme_hops_per_chain_count", None, 9.0),
            ("rnvme_hops_per_chain_sum", None, 7.0 * 5.0 + 1.0 + 3.0),
            ("rnvme_chain_duration_seconds_count", None, 9.0),
        ] {
            let d = delta(name, label)?;
            ensure!(d == want, "{name} {label:?} moved by {d}, want {want}");
        }
        let reads = delta("rnvme_reads_total", Some(("issued_by", "driver")))?
            + delta("rnvme_reads_total", Some(("issued_by", "process")))?;
        ensure!(reads == 39.0, "reads moved by {reads}, want 39");
        ensure!(
            value(&after, "rnvme_tags", None)? == control.stats()?.tags as f64,
            "tags gauge"
        );
        ensure!(
            delta("rnvme_chain_duration_seconds_sum", None)? > 0.0,
            "no time recorded"
        );
        println!("ok: 9 chains (7 done, 1 aborted, 1 at the hop limit, 39 reads) moved every counter exactly");

        // Per tag: the three tags are new, so their series hold exactly what
        // they did, labelled by the function's name and the file's path.
        let file = path.to_str().context("path")?;
        for (function, chains, done, abort, error, reads) in [
            ("chain", 7.0, 7.0, 0.0, 0.0, 35.0),
            ("abort_all", 1.0, 0.0, 1.0, 0.0, 1.0),
            ("loop_forever", 1.0, 0.0, 0.0, 1.0, 3.0),
        ] {
            let l = [("function", function), ("file", file)];
            let with = |k: &'static str, v: &'static str| [l[0], l[1], (k, v)];
            let got = [
                value_with(&after, "rnvme_tag_attached", &l)?,
                value_with(&after, "rnvme_tag_chains_total", &l)?,
                value_with(
                    &after,
                    "rnvme_tag_chains_ended_total",
                    &with("result", "done"),
                )?,
                value_with(
                    &after,
                    "rnvme_tag_chains_ended_total",
                    &with("result", "abort"),
                )?,
                value_with(
                    &after,
                    "rnvme_tag_chains_ended_total",
                    &with("result", "error"),
                )?,
                value_with(
                    &after,
                    "rnvme_tag_reads_total",
                    &with("issued_by", "driver"),
                )? + value_with(
                    &after,
                    "rnvme_tag_reads_total",
                    &with("issued_by", "process"),
                )?,
            ];
            let want = [1.0, chains, done, abort, error, reads];
            ensure!(got == want, "{function} on {file}: tags, chains, done, abort, error, reads = {got:?}, want {want:?}");
        }
        // IOC_TAGS, which the exporter reads, agrees: our three tags, with
        // our pid and the programs' ids.
        let listed = control.tags()?;
        let ours: Vec<_> = listed.iter().filter(|t| t.file_path() == file).collect();
        ensure!(
            ours.len() == 3,
            "IOC_TAGS lists {} tags of {file}",
            ours.len()
        );
        for t in &ours {
            ensure!(t.pid == std::process::id(), "pid {} in {t:?}", t.pid);
            ensure!(
                t.prog_id != 0 && t.extents == 1 && t.size == c.bytes.len() as u64,
                "{t:?}"
            );
        }
        println!("ok: per-tag series of chain, abort_all and loop_forever on {file} are exact; the scrape:");
        println!(
            "{}",
            body.lines()
                .map(|l| format!("  | {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        );

        // At most one (function, file) series, plus "(other)" for the rest.
        exporters.push(start_exporter(ADDR_ONE_SERIES, &["--tag-series", "1"])?);
        let one = scrape_at(ADDR_ONE_SERIES)?;
        let labels = tag_labels(&one, "rnvme_tag_chains_total");
        let busiest = ("chain".to_string(), file.to_string());
        let other = (
            rnvme::metrics::OTHER.to_string(),
            rnvme::metrics::OTHER.to_string(),
        );
        ensure!(
            labels == [busiest, other],
            "series with --tag-series 1: {labels:?}"
        );
        let others_chains: u64 = listed
            .iter()
            .filter(|t| !(t.function_name() == "chain" && t.file_path() == file))
            .map(|t| t.chains)
            .sum();
        let got = value_with(
            &one,
            "rnvme_tag_chains_total",
            &[("function", rnvme::metrics::OTHER)],
        )?;
        ensure!(
            got == others_chains as f64,
            "(other) chains {got}, want {others_chains}"
        );
        println!("ok: --tag-series 1 gives the busiest series and (other) with the rest ({others_chains} chains)");

        // Detached tags leave the list and the exposition.
        drop((tag, abort_tag, loop_tag));
        let gone = scrape()?;
        let left: Vec<_> = tag_labels(&gone, "rnvme_tag_attached")
            .into_iter()
            .filter(|(_, f)| f == file)
            .collect();
        ensure!(
            left.is_empty(),
            "series of detached tags still exported: {left:?}"
        );
        ensure!(
            !control.tags()?.iter().any(|t| t.file_path() == file),
            "IOC_TAGS still lists detached tags"
        );
        println!("ok: detached tags leave IOC_TAGS and the exposition");
        std::fs::remove_file(&path)?;
        Ok(())
    })();
    for mut e in exporters {
        let _ = e.kill();
        let _ = e.wait();
    }
    result
}
