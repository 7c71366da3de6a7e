#!/usr/bin/env bash
# dnsperf benchmark: dnsd vs BIND9 (named), and NSD / Knot when installed, serving the same
# generated zone. Each server is pinned to core 0, dnsperf to core 1. For each server:
#   * max QPS (dnsperf, 8 clients, 100 in flight, DURATION s) and the server's CPU time per
#     query (utime+stime from /proc over that run, children included, / queries completed);
#   * p99 latency at a fixed 20k qps (dnsperf -Q 20000 -v, P99_SECS s);
#   * ratios to BIND9 and NSD;
# then load time (start → first answer) and memory (PSS, all processes) with a 1M-host zone.
# The machine is shared and noisy: compare servers within one run only.
#
# Usage: benches/dnsperf.sh [--duration S] [--hosts N] [--big-hosts N] [--no-big] [--no-qps] [--rt]
#                           [--out FILE]
# --rt runs servers and dnsperf under SCHED_FIFO (chrt -f 10, root only) so that other jobs
# on a shared machine disturb the latency numbers less; every server gets the same treatment.
# Needs: dnsperf, dig, taskset, named; nsd and knotd are optional (apt-get install nsd knot).
set -euo pipefail

DURATION=10
HOSTS=10000
BIG_HOSTS=1000000
P99_SECS=5
DO_BIG=1
DO_QPS=1
OUT=""
RT=()
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION="$2"; shift 2 ;;
    --hosts) HOSTS="$2"; shift 2 ;;
    --big-hosts) BIG_HOSTS="$2"; shift 2 ;;
    --no-big) DO_BIG=0; shift ;;
    --no-qps) DO_QPS=0; shift ;;
    --out) OUT="$2"; shift 2 ;;
    --rt) RT=(chrt -f 10); shift ;;
    -h|--help) sed -n 2,16p "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
for t in dnsperf dig taskset named python3; do
  command -v "$t" >/dev/null || { echo "missing tool: $t" >&2; exit 1; }
done
cargo build --release -p dnsd --manifest-path "$ROOT/Cargo.toml" >&2
DNSD="$CARGO_TARGET_DIR/release/dnsd"
WORK="$(mktemp -d /tmp/dnsd-bench.XXXXXX)"
PIDS=()
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  for p in "${PIDS[@]:-}"; do
    if [ -n "$p" ]; then kill "$p" 2>/dev/null || true; fi
  done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
TICK=$(getconf CLK_TCK)
PORT=25353

gen_zone() { # $1 hosts, $2 file; 40% of hosts also get an AAAA
  python3 - "$1" "$2" <<'PY'
import sys
n, path = int(sys.argv[1]), sys.argv[2]
with open(path, "w") as f:
    f.write("$ORIGIN bench.test.\n$TTL 3600\n@ SOA ns1 hostmaster 1 3600 600 86400 300\n NS ns1\n NS ns2\n"
            "ns1 A 192.0.2.1\nns2 A 192.0.2.2\n")
    for i in range(n):
        f.write(f"h{i} A 10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}\n")
        if i % 5 < 2:
            f.write(f"h{i} AAAA 2001:db8::{i >> 16:x}:{i & 0xffff:x}\n")
PY
}

gen_queries() { # 70% existing A, 15% AAAA, 15% NXDOMAIN
  python3 - "$1" "$2" <<'PY'
import random, sys
n, path = int(sys.argv[1]), sys.argv[2]
random.seed(1)
with open(path, "w") as f:
    for _ in range(200000):
        r, i = random.random(), random.randrange(n)
        if r < 0.70:
            f.write(f"h{i}.bench.test A\n")
        elif r < 0.85:
            f.write(f"h{i - i % 5}.bench.test AAAA\n")
        else:
            f.write(f"nx{i}.bench.test A\n")
PY
}

# The pid and all its descendants (NSD runs xfrd -> main -> server children).
tree() {
  local p c
  for p in "$@"; do
    echo "$p"
    for c in $(pgrep -P "$p" || true); do tree "$c"; done
  done
}
# Process tree CPU ticks (utime+stime), memory (PSS) in KiB.
cpu_ticks() {
  local t=0 p v
  for p in $(tree "$1"); do
    # fields after "pid (comm) " (comm may hold spaces): utime and stime are the 12th and 13th
    v=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}' || true)
    t=$((t + ${v:-0}))
  done
  echo "$t"
}
mem_kib() {
  local t=0 p v
  for p in $(tree "$1"); do
    # PSS: shared pages split between NSD's processes instead of counted in each
    v=$(awk '/^Pss:/{print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || true)
    t=$((t + ${v:-0}))
  done
  echo "$t"
}

start_server() { # $1 kind, $2 zone file; prints pid
  local kind="$1" zone="$2" d="$WORK/$1"
  mkdir -p "$d"
  case "$kind" in
    dnsd)
      "${RT[@]}" taskset -c 0 "$DNSD" --listen "127.0.0.1:$PORT" --zone "bench.test=$zone" --workers 1 >"$d/log" 2>&1 &
      ;;
    named)
      cat >"$d/named.conf" <<CONF
options { directory "$d"; pid-file "$d/pid"; listen-on port $PORT { 127.0.0.1; }; listen-on-v6 { none; };
  recursion no; dnssec-validation no; minimal-responses yes; };
zone "bench.test" { type primary; file "$zone"; };
CONF
      "${RT[@]}" taskset -c 0 named -g -n 1 -c "$d/named.conf" >"$d/log" 2>&1 &
      ;;
    nsd)
      cat >"$d/nsd.conf" <<CONF
server:
  ip-address: 127.0.0.1@$PORT
  server-count: 1
  username: ""
  pidfile: "$d/nsd.pid"
  zonelistfile: "$d/zone.list"
  xfrdfile: "$d/xfrd.state"
  database: ""
  verbosity: 0
  rrl-ratelimit: 0
remote-control:
  control-enable: no
zone:
  name: bench.test
  zonefile: "$zone"
CONF
      "${RT[@]}" taskset -c 0 nsd -d -c "$d/nsd.conf" >"$d/log" 2>&1 &
      ;;
    knot)
      cat >"$d/knot.conf" <<CONF
server:
  rundir: "$d"
  listen: 127.0.0.1@$PORT
  udp-workers: 1
  tcp-workers: 1
  background-workers: 1
database:
  storage: "$d"
zone:
  - domain: bench.test
    file: "$zone"
    storage: "$d"
    journal-content: none
    zonefile-load: whole
CONF
      "${RT[@]}" taskset -c 0 knotd -c "$d/knot.conf" >"$d/log" 2>&1 &
      ;;
  esac
  echo $!
}

wait_answer() { # bounded: 120 s
  local end=$((SECONDS + 120))
  while [ "$SECONDS" -lt "$end" ]; do
    if dig +time=1 +tries=1 @127.0.0.1 -p "$PORT" h1.bench.test A +short 2>/dev/null | grep -q '^10\.'; then
      return 0
    fi
    sleep 0.1
  done
  return 1
}

stop_server() { # the whole process tree (NSD's serving child outlives its parent briefly)
  local pids
  pids=$(tree "$1")
  # shellcheck disable=SC2086
  kill $pids 2>/dev/null || true
  for _ in $(seq 1 100); do
    # shellcheck disable=SC2086
    kill -0 $pids 2>/dev/null || break
    sleep 0.1
  done
  # shellcheck disable=SC2086
  kill -9 $pids 2>/dev/null || true
  # every server gets a fresh port, so a slow exit cannot block the next one
  PORT=$((PORT + 1))
}

SERVERS=(dnsd named)
command -v nsd >/dev/null && SERVERS+=(nsd)
command -v knotd >/dev/null && SERVERS+=(knot)

gen_zone "$HOSTS" "$WORK/bench.test.zone"
gen_queries "$HOSTS" "$WORK/queries.txt"
declare -A QPS CPU P99
QPS_SERVERS=("${SERVERS[@]}")
[ "$DO_QPS" = 1 ] || QPS_SERVERS=()
for s in "${QPS_SERVERS[@]}"; do
  pid=$(start_server "$s" "$WORK/bench.test.zone")
  PIDS+=("$pid")
  if ! wait_answer; then echo "$s did not answer; log:" >&2; tail -20 "$WORK/$s/log" >&2; stop_server "$pid"; continue; fi
  # warm-up, then the measured max-QPS run
  "${RT[@]}" taskset -c 1 dnsperf -s 127.0.0.1 -p "$PORT" -d "$WORK/queries.txt" -l 1 -c 8 -q 100 >/dev/null 2>&1 || true
  t0=$(cpu_ticks "$pid")
  "${RT[@]}" taskset -c 1 dnsperf -s 127.0.0.1 -p "$PORT" -d "$WORK/queries.txt" -l "$DURATION" -c 8 -q 100 >"$WORK/$s.max" 2>&1
  t1=$(cpu_ticks "$pid")
  done_q=$(awk '/Queries completed/{print $3}' "$WORK/$s.max")
  QPS[$s]=$(awk '/Queries per second/{printf "%.0f", $4}' "$WORK/$s.max")
  CPU[$s]=$(python3 -c "print(f'{($t1 - $t0) / $TICK * 1e6 / max($done_q, 1):.2f}')")
  "${RT[@]}" taskset -c 1 dnsperf -s 127.0.0.1 -p "$PORT" -d "$WORK/queries.txt" -l "$P99_SECS" -Q 20000 -v >"$WORK/$s.p99" 2>&1
  P99[$s]=$(awk '/^> /{print $NF}' "$WORK/$s.p99" | sort -g | awk '{a[NR]=$1} END {if (NR) printf "%.3f", a[int(NR*0.99)]*1000; else print "n/a"}')
  stop_server "$pid"
done

ratio() { python3 -c "a, b = '$1', '$2'; print(f'{float(a) / float(b):.2f}' if a and b and float(b) else 'n/a')"; }
{
  echo "## dnsperf: ${HOSTS}-host zone, ${DURATION} s per server, server on core 0, dnsperf on core 1 ($(date -u +%Y-%m-%dT%H:%MZ))"
  echo
  echo "| server | max QPS | CPU µs/query | p99 @20k qps (ms) | CPU vs BIND9 | CPU vs NSD | QPS vs NSD |"
  echo "|---|---|---|---|---|---|---|"
  for s in "${QPS_SERVERS[@]}"; do
    [ -n "${QPS[$s]:-}" ] || continue
    echo "| $s | ${QPS[$s]} | ${CPU[$s]} | ${P99[$s]} | $(ratio "${CPU[$s]}" "${CPU[named]:-}") | $(ratio "${CPU[$s]}" "${CPU[nsd]:-}") | $(ratio "${QPS[$s]}" "${QPS[nsd]:-}") |"
  done
} | tee "$WORK/report.md"

if [ "$DO_BIG" = 1 ]; then
  RT=() # load time and RSS need no real-time priority (and should not starve other jobs)
  gen_zone "$BIG_HOSTS" "$WORK/big.zone"
  recs=$(grep -c . "$WORK/big.zone")
  {
    echo
    echo "## ${BIG_HOSTS}-host zone ($recs lines): start → first answer, memory (PSS) after load"
    echo
    echo "| server | load time (s) | PSS (MiB) |"
    echo "|---|---|---|"
  } | tee -a "$WORK/report.md"
  for s in "${SERVERS[@]}"; do
    t0=$(date +%s.%N)
    pid=$(start_server "$s" "$WORK/big.zone")
    PIDS+=("$pid")
    if wait_answer; then
      t1=$(date +%s.%N)
      sleep 1
      echo "| $s | $(python3 -c "print(f'{$t1 - $t0:.2f}')") | $(( $(mem_kib "$pid") / 1024 )) |" | tee -a "$WORK/report.md"
    else
      echo "| $s | did not answer in 120 s | - |" | tee -a "$WORK/report.md"
    fi
    stop_server "$pid"
  done
fi
[ -n "$OUT" ] && cp "$WORK/report.md" "$OUT"
exit 0
