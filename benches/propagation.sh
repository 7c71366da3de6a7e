#!/usr/bin/env bash
# dnsd as a secondary of BIND9 (issue 4), release build, real named on loopback.
#   benches/propagation.sh        propagation latency: nsupdate on the primary → new answer
#                                 on dnsd, p50/p99 over PROP_N (200) updates, (a) BIND's own
#                                 NOTIFY only, (b) NOTIFY sent straight to dnsd by the updater;
#                                 PROP_RECORDS=100000 makes the zone bigger
#   benches/propagation.sh axfr   AXFR of an AXFR_N (1 000 000) record zone from BIND9: time
#                                 until served and RSS, dnsd next to Knot (when installed)
#   benches/propagation.sh delta  cost of applying one IXFR delta to an AXFR_N-record zone
# Needs named, nsupdate, dig, rndc (and knotd for the comparison).
set -euo pipefail
cd "$(dirname "$0")/.."
export PROP_N="${PROP_N:-200}" AXFR_N="${AXFR_N:-1000000}"
case "${1:-latency}" in
  axfr) test=axfr_1m_time_to_serve_and_rss ;;
  delta) test=ixfr_delta_apply_cost ;;
  *) test=propagation_latency ;;
esac
exec cargo test --release -p dnsd --test secondary_propagation -- --ignored --nocapture --exact "$test"
