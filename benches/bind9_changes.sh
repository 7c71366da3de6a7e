#!/bin/sh
# Measures record changes pushed to a real BIND9 primary (batched vs one UPDATE per change),
# one-change latency, and propagation to a BIND9 secondary (operator NOTIFY vs BIND's own).
# Usage: benches/bind9_changes.sh [changes]   (default 2000; needs named, rndc, dig)
# BIND9_RATE=N overrides notify-rate/serial-query-rate (generated default 1000, BIND's 20).
# BIND9_BENCH_GAP_MS=N pauses between propagation rounds (isolated vs back-to-back changes).
# PROFILE=release for optimised client code (BIND dominates either way).
set -eu
cd "$(dirname "$0")/.."
export BIND9_BENCH_CHANGES="${1:-2000}"
if [ "${PROFILE:-debug}" = release ]; then set -- --release; else set --; fi
cargo test "$@" -p bindy-tests --test bind9_bench -- --ignored --nocapture --test-threads=1 2>&1 | grep -E '^BENCH|test result|panicked'
