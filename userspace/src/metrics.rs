// SPDX-License-Identifier: GPL-2.0 OR MIT

//! A Prometheus exporter of the module's counters: the metrics are built from
//! one `IOC_METRICS` snapshot per scrape with `prometheus-client` (OpenMetrics
//! text) and served on `/metrics` by `tiny_http`. The metric names are
//! documented in `docs/observability.md`.

use std::{
    collections::{btree_map::Entry, BTreeMap},
    fmt,
    net::SocketAddr,
};

use prometheus_client::{
    encoding::{text::encode, EncodeMetric, MetricEncoder, NoLabelSet},
    metrics::{counter::ConstCounter, gauge::ConstGauge, MetricType, TypedMetric},
    registry::Registry,
};

use crate::{abi, sys, Control, Error, Result};

/// Where `rnvme metrics` listens unless told otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9435";

/// Names of [`abi::ERRNOS`], in order, and "other".
const ERRNO_NAMES: [&str; 8] = [
    "EIO",
    "ENODATA",
    "ENXIO",
    "EINVAL",
    "ELOOP",
    "ECANCELED",
    "EINTR",
    "other",
];

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

/// One series: its labels and its value.
type Series = (Vec<(&'static str, String)>, u64);

/// Counters or gauges whose series differ by their labels.
#[derive(Debug)]
struct Labelled {
    kind: MetricType,
    series: Vec<Series>,
}

impl Labelled {
    /// Counters that differ by one label with a small, fixed set of values.
    fn counters(
        label: &'static str,
        values: impl IntoIterator<Item = (&'static str, u64)>,
    ) -> Self {
        Self {
            kind: MetricType::Counter,
            series: values
                .into_iter()
                .map(|(v, n)| (vec![(label, v.to_string())], n))
                .collect(),
        }
    }
}

impl EncodeMetric for Labelled {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), fmt::Error> {
        for (labels, n) in &self.series {
            let mut family = encoder.encode_family(labels)?;
            match self.kind {
                MetricType::Gauge => family.encode_gauge(n)?,
                _ => family.encode_counter::<NoLabelSet, _, u64>(n, None)?,
            }
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        self.kind
    }
}

/// How many (function, file) series the per-tag metrics have at most unless
/// told otherwise; the tags beyond are summed into one "(other)" series.
pub const DEFAULT_TAG_SERIES: usize = 32;

/// The label value of the series that sums the tags beyond the limit.
pub const OTHER: &str = "(other)";

/// Per-tag counters summed by (function, file): one series per pair, the
/// busiest `max_series` pairs by chains (ties by name), and the rest summed
/// into one ("(other)", "(other)") series, so that the number of series is
/// bounded whatever is attached.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TagSeries {
    pub function: String,
    pub file: String,
    /// Tags with these labels.
    pub tags: u64,
    pub chains: u64,
    pub done: u64,
    pub aborts: u64,
    pub errors: u64,
    pub driver_reads: u64,
    pub process_reads: u64,
}

impl TagSeries {
    /// The series of tag `t` alone.
    fn of(t: &abi::TagInfo) -> Self {
        Self {
            function: t.function_name(),
            file: t.file_path(),
            tags: 1,
            chains: t.chains,
            done: t.done,
            aborts: t.aborts,
            errors: t.errors,
            driver_reads: t.driver_hops,
            process_reads: t.hops.saturating_sub(t.driver_hops),
        }
    }

    fn absorb(&mut self, o: &TagSeries) {
        self.tags += o.tags;
        self.chains += o.chains;
        self.done += o.done;
        self.aborts += o.aborts;
        self.errors += o.errors;
        self.driver_reads += o.driver_reads;
        self.process_reads += o.process_reads;
    }
}

/// Groups `tags` into at most `max_series + 1` [`TagSeries`].
pub fn tag_series(tags: &[abi::TagInfo], max_series: usize) -> Vec<TagSeries> {
    let mut by_label: BTreeMap<(String, String), TagSeries> = BTreeMap::new();
    for t in tags {
        let one = TagSeries::of(t);
        match by_label.entry((one.function.clone(), one.file.clone())) {
            Entry::Vacant(e) => {
                e.insert(one);
            }
            Entry::Occupied(mut e) => e.get_mut().absorb(&one),
        }
    }
    let mut series: Vec<TagSeries> = by_label.into_values().collect();
    // Stable: equal chain counts keep the label order.
    series.sort_by_key(|s| std::cmp::Reverse(s.chains));
    if series.len() > max_series {
        let mut other = TagSeries {
            function: OTHER.into(),
            file: OTHER.into(),
            ..Default::default()
        };
        for s in series.drain(max_series..) {
            other.absorb(&s);
        }
        series.push(other);
    }
    series
}

/// The values one per-tag metric takes from a [`TagSeries`], each with the
/// label (if any) that it adds to function and file.
type Pick<'a> = &'a dyn Fn(&TagSeries) -> Vec<(Option<(&'static str, &'static str)>, u64)>;

fn register_tag_series(r: &mut Registry, series: &[TagSeries]) {
    let family = |kind, pick: Pick<'_>| Labelled {
        kind,
        series: series
            .iter()
            .flat_map(|s| {
                pick(s).into_iter().map(|(extra, n)| {
                    let mut labels =
                        vec![("function", s.function.clone()), ("file", s.file.clone())];
                    labels.extend(extra.map(|(k, v)| (k, v.to_string())));
                    (labels, n)
                })
            })
            .collect(),
    };
    r.register(
        "tag_attached",
        "Tags attached now, by storage function and file",
        family(MetricType::Gauge, &|s| vec![(None, s.tags)]),
    );
    r.register(
        "tag_chains",
        "Chain reads started, by storage function and file (of tags attached now)",
        family(MetricType::Counter, &|s| vec![(None, s.chains)]),
    );
    r.register(
        "tag_chains_ended",
        "Chain reads ended, by storage function, file and result (of tags attached now)",
        family(MetricType::Counter, &|s| {
            vec![
                (Some(("result", "done")), s.done),
                (Some(("result", "abort")), s.aborts),
                (Some(("result", "error")), s.errors),
            ]
        }),
    );
    r.register(
        "tag_reads",
        "Device reads of chains, by storage function, file and issuer (of tags attached now)",
        family(MetricType::Counter, &|s| {
            vec![
                (Some(("issued_by", "driver")), s.driver_reads),
                (Some(("issued_by", "process")), s.process_reads),
            ]
        }),
    );
}

/// The exposition of one snapshot of the module's metrics and, when given,
/// of its tags (see [`tag_series`]).
pub fn encode_metrics(m: &abi::Metrics, tags: Option<&[TagSeries]>) -> String {
    let s = &m.stats;
    let mut r = Registry::with_prefix("rnvme");
    r.register("chains", "Chain reads started", ConstCounter::new(s.chains));
    r.register(
        "chains_ended",
        "Chain reads ended, by result (done, aborted by the function, error)",
        Labelled::counters(
            "result",
            [("done", s.done), ("abort", s.aborts), ("error", s.errors)],
        ),
    );
    r.register(
        "reads",
        "Device reads of chains, by who issued them (the NVMe driver from completion context, or the module)",
        Labelled::counters("issued_by", [("driver", s.driver_hops), ("process", s.process_hops)]),
    );
    r.register(
        "translations",
        "File offset to sector translations in completion context, by result (hit; miss: left to process context)",
        Labelled::counters("result", [("hit", s.cache_hits), ("miss", s.cache_misses)]),
    );
    r.register(
        "extent_maps_built",
        "Extent maps built (one per tagged file at attach, and one each time a chain found a map out of date)",
        ConstCounter::new(m.extent_maps),
    );
    r.register(
        "remaps",
        "Drains of a tagged file's direct I/O by its file system (truncate, punch, move, reflink; ext4 buffered writes), each making its map out of date",
        ConstCounter::new(m.remaps),
    );
    r.register(
        "write_backs",
        "Chain reads that wrote dirty page cache in their range back first",
        ConstCounter::new(m.write_backs),
    );
    r.register(
        "fallbacks",
        "Reads of chains after their first that the driver left to the module (process context), by reason",
        Labelled::counters("reason", abi::FALLBACKS.iter().copied().zip(m.fallbacks)),
    );
    r.register(
        "uring_chains",
        "Chain reads started by io_uring commands (counted in rnvme_chains too)",
        ConstCounter::new(m.uring_chains),
    );
    r.register(
        "uring_chains_in_flight",
        "io_uring chain reads in flight now",
        ConstGauge::<i64>::new(m.uring_in_flight as i64),
    );
    r.register(
        "budget_waits",
        "io_uring chain reads that waited for their tag's budget of chains in flight",
        ConstCounter::new(m.budget_waits),
    );
    r.register(
        "chain_errors",
        "Chain reads that ended with an error, by errno",
        Labelled::counters("errno", ERRNO_NAMES.iter().copied().zip(m.errors)),
    );
    r.register(
        "tags",
        "Files tagged now",
        ConstGauge::<i64>::new(s.tags as i64),
    );
    r.register(
        "hops_per_chain",
        "Reads per chain read",
        ConstHistogram {
            sum: s.hops as f64,
            count: m.hops.iter().sum(),
            // The kernel bounds a chain at 256 reads: nothing lands past the
            // last bucket, but Prometheus's quantiles need the +Inf one.
            buckets: abi::HOP_BUCKETS
                .iter()
                .map(|&b| b as f64)
                .zip(m.hops)
                .chain([(f64::INFINITY, 0)])
                .collect(),
        },
    );
    let mut lat: Vec<(f64, u64)> = abi::LATENCY_BUCKETS_US
        .iter()
        .map(|&us| us as f64 / 1e6)
        .zip(m.latency)
        .collect();
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
    if let Some(series) = tags {
        register_tag_series(&mut r, series);
    }
    let mut out = String::new();
    encode(&mut out, &r).expect("writing to a String cannot fail");
    out
}

impl Control {
    /// The module's metrics.
    pub fn metrics(&self) -> Result<abi::Metrics> {
        sys::ioc_metrics(self.file()).map_err(|cause| Error::Ioctl {
            what: "metrics",
            cause,
        })
    }
}

/// Serves `/metrics` on `listen` until the process ends (or, with
/// `max_scrapes`, after that many requests), with at most `tag_series`
/// per-tag series ([`tag_series`]). Without the right to list tags (CAP_PERFMON), or on a
/// module older than ABI 1.3, it serves the module-wide metrics only and
/// says so once on stderr.
pub fn serve(
    control: &Control,
    listen: SocketAddr,
    max_scrapes: Option<u64>,
    max_tag_series: usize,
) -> Result<()> {
    let server = tiny_http::Server::http(listen).map_err(|e| Error::Listen {
        addr: listen,
        cause: e.to_string(),
    })?;
    let mut tags_refused = false;
    for (served, request) in (1..).zip(server.incoming_requests()) {
        let response = if request.url() == "/metrics" {
            let tags = match control.tags() {
                Ok(t) => Some(tag_series(&t, max_tag_series)),
                Err(e) => {
                    if !tags_refused {
                        eprintln!("rnvme: no per-tag metrics: {e}");
                        tags_refused = true;
                    }
                    None
                }
            };
            match control.metrics() {
                Ok(m) => tiny_http::Response::from_string(encode_metrics(&m, tags.as_deref()))
                    .with_header(
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
        if max_scrapes.is_some_and(|m| served >= m) {
            break;
        }
    }
    Ok(())
}
