// SPDX-License-Identifier: GPL-2.0 OR MIT

//! The Prometheus exporter (`rnvme metrics`) scraped over loopback and read
//! with a real exposition-format parser: the counters move by exactly what a
//! known set of chains did.

use std::{
    io::{Read, Write},
    net::TcpStream,
    process::{Command, Stdio},
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

fn scrape() -> Result<Scrape> {
    let mut s = TcpStream::connect(ADDR)?;
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    let (head, body) = text.split_once("\r\n\r\n").context("no HTTP body")?;
    ensure!(head.starts_with("HTTP/1.") && head.contains(" 200 "), "{head}");
    Ok(Scrape::parse(body.lines().map(|l| Ok(l.to_string())))?)
}

fn value(s: &Scrape, name: &str, label: Option<(&str, &str)>) -> Result<f64> {
    s.samples
        .iter()
        .find(|x| x.metric == name && label.is_none_or(|(k, v)| x.labels.get(k) == Some(v)))
        .and_then(|x| match x.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => Some(v),
            _ => None,
        })
        .with_context(|| format!("no {name} {label:?}"))
}

pub fn metrics_scrape() -> Result<()> {
    let mut exporter = Command::new("rnvme")
        .args(["metrics", "--listen", ADDR])
        .stderr(Stdio::null())
        .spawn()
        .context("start rnvme metrics")?;
    let result = (|| -> Result<()> {
        let mut tries = 0;
        while TcpStream::connect(ADDR).is_err() {
            tries += 1;
            ensure!(tries < 100, "the exporter does not listen");
            thread::sleep(Duration::from_millis(50));
        }
        // A second exporter on the same port, and a bad address: clear errors.
        let busy = Command::new("rnvme").args(["metrics", "--listen", ADDR]).output()?;
        let err = String::from_utf8_lossy(&busy.stderr);
        ensure!(busy.status.code() == Some(1) && err.contains("cannot listen on 127.0.0.1:9435"), "busy port: {err}");
        let bad = Command::new("rnvme").args(["metrics", "--listen", "not-an-address"]).output()?;
        ensure!(bad.status.code() == Some(2), "bad --listen accepted");
        println!("ok: busy port and bad --listen refused");

        let control = Control::open(DEFAULT_DEVICE)?;
        let c = chain::build(&ChainSpec { hops: 5, block_size: 4096, file_blocks: 40, seed: 123 });
        let path = files::fresh("/mnt/nvme", "metrics-chain");
        files::write_contiguous(&path, &c.bytes)?;
        let fd = files::open_ro(&path)?;
        let chain_fn = StorageFunction::builtin("chain")?;
        let abort_fn = StorageFunction::from_object("abort", rnvme::fixture("abort").context("fixture")?)?;
        let loop_fn = StorageFunction::from_object("loop", rnvme::fixture("loop").context("fixture")?)?;
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
        let after = scrape()?;
        let delta = |name: &str, label: Option<(&str, &str)>| -> Result<f64> {
            Ok(value(&after, name, label)? - value(&before, name, label)?)
        };
        for (name, label, want) in [
            ("rnvme_chains_total", None, 9.0),
            ("rnvme_chains_ended_total", Some(("result", "done")), 7.0),
            ("rnvme_chains_ended_total", Some(("result", "abort")), 1.0),
            ("rnvme_chains_ended_total", Some(("result", "error")), 1.0),
            ("rnvme_chain_errors_total", Some(("errno", "ELOOP")), 1.0),
            ("rnvme_chain_errors_total", Some(("errno", "ECANCELED")), 1.0),
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
        ensure!(value(&after, "rnvme_tags", None)? == control.stats()?.tags as f64, "tags gauge");
        ensure!(delta("rnvme_chain_duration_seconds_sum", None)? > 0.0, "no time recorded");
        println!("ok: 9 chains (7 done, 1 aborted, 1 at the hop limit, 39 reads) moved every counter exactly");
        drop((tag, abort_tag, loop_tag));
        std::fs::remove_file(&path)?;
        Ok(())
    })();
    let _ = exporter.kill();
    let _ = exporter.wait();
    result
}
