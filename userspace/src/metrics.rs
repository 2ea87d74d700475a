// SPDX-License-Identifier: GPL-2.0 OR MIT

//! A Prometheus exporter of the module's counters: the metrics are built from
//! one `IOC_METRICS` snapshot per scrape with `prometheus-client` (OpenMetrics
//! text) and served on `/metrics` by `tiny_http`. The metric names are
//! documented in `docs/observability.md`.

use std::{fmt, net::SocketAddr};

use prometheus_client::{
    encoding::{text::encode, EncodeMetric, MetricEncoder, NoLabelSet},
    metrics::{counter::ConstCounter, gauge::ConstGauge, MetricType, TypedMetric},
    registry::Registry,
};

use crate::{abi, sys, Control, Error, Result};

/// Where `rnvme metrics` listens unless told otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9435";

/// Names of [`abi::ERRNOS`], in order, and "other".
const ERRNO_NAMES: [&str; 8] = ["EIO", "ENODATA", "ENXIO", "EINVAL", "ELOOP", "ECANCELED", "EINTR", "other"];

/// A histogram whose buckets were counted elsewhere (by the module).
#[derive(Debug)]
struct ConstHistogram {
    sum: f64,
    count: u64,
    /// (upper bound, observations in this bucket only).
    buckets: Vec<(f64, u64)>,
}

impl TypedMetric for ConstHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for ConstHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), fmt::Error> {
        encoder.encode_histogram::<NoLabelSet>(self.sum, self.count, &self.buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// Counters that differ by one label (a small, fixed set of values).
#[derive(Debug)]
struct LabelledCounters {
    label: &'static str,
    values: Vec<(&'static str, u64)>,
}

impl TypedMetric for LabelledCounters {
    const TYPE: MetricType = MetricType::Counter;
}

impl EncodeMetric for LabelledCounters {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), fmt::Error> {
        for (value, n) in &self.values {
            let labels = [(self.label, *value)];
            encoder.encode_family(&labels)?.encode_counter::<NoLabelSet, _, u64>(n, None)?;
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// The exposition of one snapshot of the module's metrics.
pub fn encode_metrics(m: &abi::Metrics) -> String {
    let s = &m.stats;
    let mut r = Registry::with_prefix("rnvme");
    r.register("chains", "Chain reads started", ConstCounter::new(s.chains));
    r.register(
        "chains_ended",
        "Chain reads ended, by result (done, aborted by the function, error)",
        LabelledCounters {
            label: "result",
            values: vec![("done", s.done), ("abort", s.aborts), ("error", s.errors)],
        },
    );
    r.register(
        "reads",
        "Device reads of chains, by who issued them (the NVMe driver from completion context, or the module)",
        LabelledCounters {
            label: "issued_by",
            values: vec![("driver", s.driver_hops), ("process", s.process_hops)],
        },
    );
    r.register(
        "translations",
        "File offset to sector translations in completion context, by result (hit; miss: left to process context)",
        LabelledCounters {
            label: "result",
            values: vec![("hit", s.cache_hits), ("miss", s.cache_misses)],
        },
    );
    r.register(
        "extent_maps_built",
        "Extent maps built (one per attach; never invalidated: tagged files cannot change)",
        ConstCounter::new(m.extent_maps),
    );
    r.register(
        "chain_errors",
        "Chain reads that ended with an error, by errno",
        LabelledCounters {
            label: "errno",
            values: ERRNO_NAMES.iter().copied().zip(m.errors).collect(),
        },
    );
    r.register("tags", "Files tagged now", ConstGauge::<i64>::new(s.tags as i64));
    r.register(
        "hops_per_chain",
        "Reads per chain read",
        ConstHistogram {
            sum: s.hops as f64,
            count: m.hops.iter().sum(),
            buckets: abi::HOP_BUCKETS.iter().map(|&b| b as f64).zip(m.hops).collect(),
        },
    );
    let mut lat: Vec<(f64, u64)> =
        abi::LATENCY_BUCKETS_US.iter().map(|&us| us as f64 / 1e6).zip(m.latency).collect();
    lat.push((f64::INFINITY, m.latency[10]));
    r.register(
        "chain_duration_seconds",
        "Time of a chain read, from the ioctl's start to its end",
        ConstHistogram {
            sum: m.latency_sum_ns as f64 / 1e9,
            count: m.latency.iter().sum(),
            buckets: lat,
        },
    );
    let mut out = String::new();
    encode(&mut out, &r).expect("writing to a String cannot fail");
    out
}

impl Control {
    /// The module's metrics.
    pub fn metrics(&self) -> Result<abi::Metrics> {
        sys::ioc_metrics(self.file()).map_err(|cause| Error::Ioctl { what: "metrics", cause })
    }
}

/// Serves `/metrics` on `listen` until the process ends (or, with
/// `max_scrapes`, after that many requests).
pub fn serve(control: &Control, listen: SocketAddr, max_scrapes: Option<u64>) -> Result<()> {
    let server = tiny_http::Server::http(listen).map_err(|e| Error::Listen {
        addr: listen,
        cause: e.to_string(),
    })?;
    let mut served = 0;
    for request in server.incoming_requests() {
        let response = if request.url() == "/metrics" {
            match control.metrics() {
                Ok(m) => tiny_http::Response::from_string(encode_metrics(&m)).with_header(
                    "Content-Type: application/openmetrics-text; version=1.0.0; charset=utf-8"
                        .parse::<tiny_http::Header>()
                        .expect("a valid header"),
                ),
                Err(e) => tiny_http::Response::from_string(format!("{e}\n")).with_status_code(503),
            }
        } else {
            tiny_http::Response::from_string("rnvme exporter: see /metrics\n").with_status_code(404)
        };
        let _ = request.respond(response);
        served += 1;
        if max_scrapes.is_some_and(|m| served >= m) {
            break;
        }
    }
    Ok(())
}
