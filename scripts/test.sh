#!/usr/bin/env bash
# Runs all of Bindy's checks on a fresh Debian machine (this is what CI runs, via .ci/run):
#   1. installs what the tests drive when missing: BIND9 (named, rndc, dig, nsupdate), kdig,
#      dnsperf, iproute2, shellcheck, a C toolchain, and Rust (rustup) if cargo is absent;
#   2. cargo fmt --check, shellcheck, build (all targets), clippy -D warnings, test (workspace).
# All steps run even if one fails; a summary and cargo test's result lines end the output.
# CI=true is set unless given, so tests that need a missing tool fail instead of skipping.
# Extra arguments go to `cargo test` (e.g. `./scripts/test.sh -- --test-threads=1`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib/common.sh
source scripts/lib/common.sh

ensure_commands named rndc named-checkconf named-checkzone tsig-keygen dig nsupdate kdig knotd dnsperf kubectl ip cc pkg-config shellcheck
ensure_rust

export CI="${CI:-true}"
export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"
export CARGO_TERM_PROGRESS_WHEN=never
if [ "$CI" = true ]; then export CARGO_INCREMENTAL=0; fi

log "tool versions"
{ cargo --version; rustc --version; named -v; dig -v 2>&1; kdig --version 2>&1 | head -n1; dnsperf -h 2>&1 | grep -m1 -i version; } || true

declare -a STEP_NAMES=() STEP_RESULTS=()
step() {
  local name=$1; shift
  log "$name: $*"
  local start=$SECONDS rc=0
  "$@" || rc=$?
  STEP_NAMES+=("$name"); STEP_RESULTS+=("$([ $rc -eq 0 ] && echo ok || echo "FAILED (exit $rc)") in $((SECONDS - start))s")
  return $rc
}

failed=0
step fmt cargo fmt --all --check || failed=1
step shellcheck shellcheck -x scripts/*.sh scripts/lib/*.sh .ci/run || failed=1
if step build cargo build --workspace --all-targets; then
  step clippy cargo clippy --workspace --all-targets -- -D warnings || failed=1
  test_log=$(mktemp -t bindy-test-log.XXXXXX)
  trap 'rm -f "$test_log"' EXIT
  # shellcheck disable=SC2016 # expanded by the inner bash
  step test bash -o pipefail -c 'cargo test --workspace --no-fail-fast "$@" 2>&1 | tee "$0"' "$test_log" "$@" || failed=1
else
  failed=1
fi

log "summary"
for i in "${!STEP_NAMES[@]}"; do printf '  %-10s %s\n' "${STEP_NAMES[$i]}" "${STEP_RESULTS[$i]}"; done
if [ -n "${test_log:-}" ] && [ -s "$test_log" ]; then
  echo "  cargo test result lines:"
  grep -E '^(     Running|   Doc-tests|test result:)' "$test_log" | sed 's/^ */    /' || true
fi
if [ $failed -ne 0 ]; then
  echo "FAILED"; exit 1
fi
echo "ALL CHECKS PASSED"
