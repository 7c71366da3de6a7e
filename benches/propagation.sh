#!/usr/bin/env bash
# Propagation latency of dnsd as a secondary of BIND9 (issue 4): nsupdate on the primary →
# the new answer visible on dnsd, p50/p99 over PROP_N (default 200) updates, (a) with BIND's
# own NOTIFY only and (b) with a NOTIFY sent straight to dnsd by the updater.
# Needs named, nsupdate, dig, rndc. Builds in release mode into $CARGO_TARGET_DIR.
#   benches/propagation.sh            # 200 rounds per mode
#   PROP_N=500 benches/propagation.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PROP_N="${PROP_N:-200}"
exec cargo test --release -p dnsd --test secondary_propagation -- --ignored --nocapture \
    propagation_latency
