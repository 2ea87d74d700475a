#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The dashboard checked by the real thing: boots the VM in metrics mode
# (qemu/run.sh metrics: the exporter under a load that moves every series),
# with the guest's exporter forwarded to a free port of 127.0.0.1 only;
# runs Debian's Prometheus on another loopback port, scraping it every
# second; then evaluates every query of grafana/rnvme-dashboard.json
# against that Prometheus and fails unless each one returns data.
#
#   scripts/prometheus-check.sh     (with KERNEL, INITRAMFS, BUILD set, as
#                                    `make test-prometheus` does)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
: "${BUILD:?set BUILD}"
DASHBOARD=$ROOT/grafana/rnvme-dashboard.json
# Seconds of scraping before the queries: every rate() and increase()
# needs two samples in its window, histogram quantiles need rates.
WARM=${RNVME_PROM_WARM:-25}

log() { printf '[prometheus] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

command -v prometheus >/dev/null || die "prometheus not installed (scripts/deps.sh installs it)"

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Writes what http://127.0.0.1:$1/metrics answers to $2; fails if nothing.
scrape() {
	python3 -c 'import sys, urllib.request
sys.stdout.write(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=5).read().decode())' "$1" >"$2" 2>/dev/null
}

WORK=$BUILD/prometheus
rm -rf "$WORK" && mkdir -p "$WORK/data"
EXPORTER_PORT=$(free_port)
PROM_PORT=$(free_port)
cat >"$WORK/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: rnvme
    static_configs:
      - targets: ["127.0.0.1:$EXPORTER_PORT"]
EOF

pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT

log "VM with the exporter at 127.0.0.1:$EXPORTER_PORT"
RNVME_METRICS_PORT=$EXPORTER_PORT RNVME_METRICS_SECS=$((WARM + 40)) \
	"$ROOT/qemu/run.sh" metrics >"$WORK/vm.log" 2>&1 &
vm=$!
pids+=("$vm")
for _ in $(seq 1 600); do
	scrape "$EXPORTER_PORT" "$WORK/first-scrape.txt" && break
	kill -0 "$vm" 2>/dev/null || { tail -n 40 "$WORK/vm.log" >&2; die "the VM ended before its exporter answered"; }
	sleep 1
done
scrape "$EXPORTER_PORT" "$WORK/first-scrape.txt" ||
	die "the exporter does not answer on 127.0.0.1:$EXPORTER_PORT"
log "exporter up ($(grep -c '^rnvme_' "$WORK/first-scrape.txt") samples); Prometheus on 127.0.0.1:$PROM_PORT"
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/data" \
	--web.listen-address="127.0.0.1:$PROM_PORT" >"$WORK/prometheus.log" 2>&1 &
pids+=($!)
sleep "$WARM"

# Every query of the dashboard, evaluated now; each must return data: at
# least one series, and numbers (a NaN is a histogram Prometheus cannot
# read, a division by nothing: a panel that shows no line).
python3 - "$DASHBOARD" "http://127.0.0.1:$PROM_PORT" <<'EOF'
import json, sys, urllib.parse, urllib.request

dashboard, prom = sys.argv[1], sys.argv[2]
queries = []
def walk(panels):
    for p in panels:
        walk(p.get("panels", []))
        for t in p.get("targets", []):
            if t.get("expr"):
                queries.append((p.get("title", "?"), t["expr"]))
walk(json.load(open(dashboard))["panels"])
if not queries:
    sys.exit("no queries in the dashboard")
empty = []
for title, expr in queries:
    url = prom + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=30) as r:
        answer = json.load(r)
    if answer.get("status") != "success":
        sys.exit(f"{title}: {expr}: {answer}")
    result = answer["data"]["result"]
    values = [s["value"][1] for s in result]
    good = bool(result) and all(v not in ("NaN", "+Inf", "-Inf") for v in values)
    print(f"{'ok' if good else 'NO DATA':7} {title}: {expr} -> {len(result)} series {values[:4]}")
    if not good:
        empty.append(expr)
if empty:
    sys.exit(f"{len(empty)} of {len(queries)} dashboard queries returned no data")
print(f"all {len(queries)} dashboard queries returned data")
EOF

log "waiting for the VM to finish its load and power off"
if ! wait "$vm"; then
	tail -n 40 "$WORK/vm.log" >&2
	die "the metrics VM failed (see $WORK/vm.log)"
fi
pids=("${pids[@]:1}")
grep -q '^rnvme-metrics: done' "$WORK/vm.log" || die "the guest's load did not finish"
log "passed"
