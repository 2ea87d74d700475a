// SPDX-License-Identifier: GPL-2.0 OR MIT

//! The exporter's exposition, read back with a real exposition-format parser.

use rnvme::{
    abi,
    metrics::{encode_metrics, tag_series, OTHER},
};

#[test]
fn exposition_parses_and_carries_every_number() {
    let mut m = abi::Metrics::default();
    m.stats.chains = 12;
    m.stats.done = 9;
    m.stats.aborts = 1;
    m.stats.errors = 2;
    m.stats.hops = 40;
    m.stats.driver_hops = 28;
    m.stats.process_hops = 12;
    m.stats.cache_hits = 28;
    m.stats.cache_misses = 3;
    m.stats.tags = 2;
    m.hops[2] = 5; // 4 reads or fewer
    m.hops[3] = 7;
    m.latency[1] = 10;
    m.latency[10] = 2;
    m.latency_sum_ns = 3_000_000;
    m.errors[0] = 1; // EIO
    m.errors[4] = 1; // ELOOP
    m.extent_maps = 4;
    m.fallbacks[0] = 6; // length
    m.fallbacks[3] = 2; // device
    let text = encode_metrics(&m, None);
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
    let value = |name: &str, label: Option<(&str, &str)>| -> f64 {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name && label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
            .map(|s| match &s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => *v,
                other => panic!("{name}: {other:?}"),
            })
            .unwrap_or_else(|| panic!("no {name} {label:?} in\n{text}"))
    };
    assert_eq!(value("rnvme_chains_total", None), 12.0);
    assert_eq!(
        value("rnvme_chains_ended_total", Some(("result", "abort"))),
        1.0
    );
    assert_eq!(
        value("rnvme_reads_total", Some(("issued_by", "driver"))),
        28.0
    );
    assert_eq!(
        value("rnvme_translations_total", Some(("result", "miss"))),
        3.0
    );
    assert_eq!(
        value("rnvme_chain_errors_total", Some(("errno", "ELOOP"))),
        1.0
    );
    assert_eq!(value("rnvme_extent_maps_built_total", None), 4.0);
    assert_eq!(
        value("rnvme_fallbacks_total", Some(("reason", "length"))),
        6.0
    );
    assert_eq!(
        value("rnvme_fallbacks_total", Some(("reason", "device"))),
        2.0
    );
    assert_eq!(
        value("rnvme_fallbacks_total", Some(("reason", "other"))),
        0.0
    );
    assert_eq!(value("rnvme_tags", None), 2.0);
    assert_eq!(value("rnvme_hops_per_chain_count", None), 12.0);
    assert_eq!(value("rnvme_chain_duration_seconds_count", None), 12.0);
    assert!((value("rnvme_chain_duration_seconds_sum", None) - 0.003).abs() < 1e-9);
    // Buckets are cumulative in the exposition.
    let hist = scrape
        .samples
        .iter()
        .find_map(|s| match &s.value {
            prometheus_parse::Value::Histogram(h) if s.metric == "rnvme_hops_per_chain" => {
                Some(h.clone())
            }
            _ => None,
        })
        .expect("hops histogram");
    let le8 = hist.iter().find(|b| b.less_than == 8.0).unwrap().count;
    assert_eq!(le8, 12.0);
}

fn tag(function: &str, file: &str, chains: u64) -> abi::TagInfo {
    let mut t = abi::TagInfo::default();
    t.function[..function.len()].copy_from_slice(function.as_bytes());
    t.file[..file.len()].copy_from_slice(file.as_bytes());
    t.chains = chains;
    t.done = chains;
    t.hops = 3 * chains;
    t.driver_hops = 2 * chains;
    t
}

#[test]
fn per_tag_series_are_summed_by_label_and_bounded() {
    let tags = [
        tag("chain", "/a", 5),
        tag("chain", "/a", 1),
        tag("bptree", "/b", 9),
        tag("scan", "/c", 2),
        tag("scan", "/d", 2),
    ];
    let s = tag_series(&tags, 2);
    let summary: Vec<_> = s
        .iter()
        .map(|s| (s.function.as_str(), s.file.as_str(), s.tags, s.chains))
        .collect();
    assert_eq!(
        summary,
        [
            ("bptree", "/b", 1, 9),
            ("chain", "/a", 2, 6),
            (OTHER, OTHER, 2, 4)
        ]
    );
    assert_eq!(
        (s[2].driver_reads, s[2].process_reads, s[2].done),
        (8, 4, 4)
    );
    // Under the bound, nothing is folded.
    assert_eq!(tag_series(&tags, 4).len(), 4);
    assert!(tag_series(&tags, 4).iter().all(|s| s.function != OTHER));
    assert!(tag_series(&[], 0).is_empty());
    // One series more than the bound at most, whatever is attached.
    let many: Vec<_> = (0..500)
        .map(|i| tag("chain", &format!("/f{i}"), i))
        .collect();
    assert_eq!(tag_series(&many, 32).len(), 33);

    let text = encode_metrics(&abi::Metrics::default(), Some(&s));
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
    let get = |name: &str, function: &str, extra: Option<(&str, &str)>| -> f64 {
        scrape
            .samples
            .iter()
            .find(|x| {
                x.metric == name
                    && x.labels.get("function") == Some(function)
                    && extra.is_none_or(|(k, v)| x.labels.get(k) == Some(v))
            })
            .map(|x| match x.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                ref other => panic!("{name}: {other:?}"),
            })
            .unwrap_or_else(|| panic!("no {name} {function} in\n{text}"))
    };
    assert_eq!(get("rnvme_tag_attached", "chain", None), 2.0);
    assert_eq!(get("rnvme_tag_chains_total", "bptree", None), 9.0);
    assert_eq!(
        get(
            "rnvme_tag_chains_ended_total",
            OTHER,
            Some(("result", "done"))
        ),
        4.0
    );
    assert_eq!(
        get(
            "rnvme_tag_reads_total",
            "chain",
            Some(("issued_by", "driver"))
        ),
        12.0
    );
    assert_eq!(
        get(
            "rnvme_tag_reads_total",
            "chain",
            Some(("issued_by", "process"))
        ),
        6.0
    );

    // A path is a label value: quotes, backslashes and newlines are escaped.
    let odd = tag_series(&[tag("chain", "/x\"y\\z\nw", 1)], 1);
    let text = encode_metrics(&abi::Metrics::default(), Some(&odd));
    assert!(text.contains(r#"file="/x\"y\\z\nw""#), "{text}");
}

#[test]
fn the_grafana_dashboard_only_queries_exported_metrics() {
    let tags = tag_series(&[tag("chain", "/a", 1)], 1);
    let text = encode_metrics(&abi::Metrics::default(), Some(&tags));
    let dash: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../grafana/rnvme-dashboard.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let panels = dash["panels"].as_array().unwrap();
    assert!(panels.len() >= 5);
    let mut checked = 0;
    for p in panels {
        for t in p["targets"].as_array().unwrap() {
            let expr = t["expr"].as_str().unwrap();
            for (i, _) in expr.match_indices("rnvme_") {
                let name: String = expr[i..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                assert!(
                    text.lines()
                        .any(|l| l.starts_with(&name) && l[name.len()..].starts_with([' ', '{'])),
                    "panel {:?} queries {name}, which the exporter does not produce",
                    p["title"]
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 10);
}
