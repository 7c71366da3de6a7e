#!/usr/bin/env bash
# Bindy demo: the whole data path on one machine, no cluster.
#
#   deploy/examples/ (DNSZone + 8 record kinds)
#     -> the operator's BIND9 layer (bindy_operator::bind9, run by the `bindy-demo` binary):
#        zone file + `rndc addzone` over BIND's control channel, one TSIG-signed RFC 2136
#        UPDATE per RRset, then NOTIFY
#     -> a real BIND9 primary (Debian's named, unprivileged, high port, temp dir)
#     -> dnsd following it as a secondary (AXFR/IXFR over TCP with TSIG, NOTIFY-driven)
#     -> dig answers printed from both.
# Then a record change travels the same path and the time until dnsd serves it is printed.
# Everything is removed on exit.
#
# Usage: ./scripts/demo.sh [--hold] [--no-build]
#   --hold       keep BIND9 and dnsd running after the demo until Ctrl-C, to try things by hand
#   --no-build   skip `cargo build` (use binaries already in the target dir)
# Env: DEMO_PORT (BIND9, default: first free from 15353), DEMO_RNDC_PORT (15953),
#      DEMO_DNSD_PORT (25353), DEMO_METRICS_PORT (29153), DEMO_KEEP=1 keeps the temp dir,
#      CARGO_TARGET_DIR as usual.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib/common.sh
source scripts/lib/common.sh

HOLD=0 BUILD=1
for arg in "$@"; do
  case "$arg" in
    --hold) HOLD=1 ;;
    --no-build) BUILD=0 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) die "unknown argument: $arg (try --help)" ;;
  esac
done

ZONE=example.com
EXAMPLES="$ROOT/deploy/examples"
KEY_NAME=bindy-operator
IP=127.0.0.1
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
WORK="" NAMED_PID="" DNSD_PID=""

stop_pid() { # stop_pid PID: SIGTERM, wait up to 5 s, then SIGKILL
  local pid=$1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  stop_pid "$DNSD_PID"
  if [ -n "$NAMED_PID" ] && kill -0 "$NAMED_PID" 2>/dev/null; then
    rndc_ stop >/dev/null 2>&1 || true
    stop_pid "$NAMED_PID"
  fi
  if [ -n "$WORK" ]; then
    if [ "${DEMO_KEEP:-0}" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_in_use() { ss -Hlntu "( sport = :$1 )" 2>/dev/null | grep -q .; }
pick_port() {
  local p=$1
  for _ in $(seq 100); do port_in_use "$p" || { echo "$p"; return; }; p=$((p + 1)); done
  die "no free port near $1"
}

rndc_() { rndc -c "$WORK/rndc.conf" "$@"; }
dig_() { dig @"$IP" -p "$PORT" +norec +time=1 +tries=2 "$@"; }
digd_() { dig @"$IP" -p "$DNSD_PORT" +norec +time=1 +tries=2 "$@"; }
demo_() { "$TARGET/debug/bindy-demo" "$@"; }
apply_() { # apply_ [RECORDS_FILE]: the operator's BIND9 layer applies deploy/examples/
  demo_ apply --examples "$EXAMPLES" ${1:+--records "$1"} --dir "$WORK" \
    --primary "$IP:$PORT" --rndc "$IP:$RNDC_PORT" \
    --key "$WORK/$KEY_NAME.key" --rndc-key "$WORK/rndc.key" --notify "$IP:$DNSD_PORT"
}
# show CMD...: prints the command as a user would type it, then its indented output.
show() {
  local shown="$*"
  shown=${shown/#rndc_/rndc -c \$WORK/rndc.conf}
  shown=${shown/#digd_/dig @$IP -p $DNSD_PORT +norec}
  shown=${shown/#dig_/dig @$IP -p $PORT +norec}
  printf '$ %s\n' "$shown"
  "$@" | sed 's/^/    /'
}
# wait_for SECONDS CMD...: polls CMD every 50 ms until it succeeds or time is up.
wait_for() {
  local secs=$1; shift
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt "$deadline" ] || return 1
    sleep 0.05
  done
}
now_ms() { date +%s%3N; }

install_deps() {
  log "1. tools (installed with apt-get when missing)"
  ensure_commands named rndc named-checkconf named-checkzone tsig-keygen dig nsupdate ss curl
  named -v
}

build() {
  [ "$BUILD" = 1 ] || return 0
  log "2. build dnsd and bindy-demo (the operator's BIND9 layer as a command)"
  ensure_rust
  cargo build -p dnsd --bin dnsd -p bindy-tests --bin bindy-demo
}

write_config() {
  for b in dnsd bindy-demo; do
    [ -x "$TARGET/debug/$b" ] || die "$TARGET/debug/$b missing: run without --no-build"
  done
  WORK=$(mktemp -d -t bindy-demo.XXXXXX)
  PORT=${DEMO_PORT:-$(pick_port 15353)}
  RNDC_PORT=${DEMO_RNDC_PORT:-$(pick_port 15953)}
  DNSD_PORT=${DEMO_DNSD_PORT:-$(pick_port 25353)}
  METRICS_PORT=${DEMO_METRICS_PORT:-$(pick_port 29153)}
  log "3. keys (tsig-keygen) and named.conf from the operator's generator (bind9::namedconf)"
  tsig-keygen -a hmac-sha256 "$KEY_NAME" >"$WORK/$KEY_NAME.key"
  tsig-keygen -a hmac-sha256 rndc-key >"$WORK/rndc.key"
  demo_ named-conf --dir "$WORK" --listen "$IP:$PORT" --rndc "$IP:$RNDC_PORT" \
    --key "$WORK/$KEY_NAME.key" --rndc-key "$WORK/rndc.key" >"$WORK/named.conf"
  named-checkconf "$WORK/named.conf"
  grep -v secret "$WORK/named.conf" | sed -n '/^options/,/^};/p' | sed 's/^/    /'
  cat >"$WORK/rndc.conf" <<CONF
include "$WORK/rndc.key";
options { default-key "rndc-key"; default-server $IP; default-port $RNDC_PORT; };
CONF
}

start_servers() {
  log "4. start BIND9 (primary) on $IP:$PORT, rndc on $RNDC_PORT; dnsd (secondary) on $IP:$DNSD_PORT"
  named -g -c "$WORK/named.conf" -p "$PORT" >"$WORK/named.log" 2>&1 &
  NAMED_PID=$!
  if ! wait_for 15 bash -c "rndc -c '$WORK/rndc.conf' status && dig @$IP -p $PORT +time=1 +tries=1 . SOA"; then
    tail -n 30 "$WORK/named.log" >&2
    die "named did not become ready"
  fi
  rndc_ status | sed -n '/^version/p;/server is up/p' | sed 's/^/    /'
  mkdir -p "$WORK/dnsd"
  "$TARGET/debug/dnsd" --listen "$IP:$DNSD_PORT" --metrics "$IP:$METRICS_PORT" --workers 1 \
    --secondary "$ZONE=$IP:$PORT" --tsig-key "$WORK/$KEY_NAME.key" --state-dir "$WORK/dnsd" \
    >"$WORK/dnsd.log" 2>&1 &
  DNSD_PID=$!
  if ! wait_for 15 dig @"$IP" -p "$DNSD_PORT" +time=1 +tries=1 . SOA; then
    tail -n 30 "$WORK/dnsd.log" >&2
    die "dnsd did not start"
  fi
  echo "    \$ dnsd --listen $IP:$DNSD_PORT --secondary $ZONE=$IP:$PORT --tsig-key \$WORK/$KEY_NAME.key --state-dir \$WORK/dnsd"
  echo "    dnsd is up; it does not have $ZONE yet (the primary does not either):"
  show digd_ +noall +comments "$ZONE" SOA | grep -i status || true
}

apply_examples() {
  log "5. apply deploy/examples/ through the operator's BIND9 layer (bindy-demo apply)"
  apply_
  serial=$(dig_ +short "$ZONE" SOA | awk '{print $3}')
  echo "    primary serves $ZONE serial $serial; waiting for dnsd to transfer it..."
  wait_for 15 bash -c "[ \"\$(dig @$IP -p $DNSD_PORT +short $ZONE SOA | awk '{print \$3}')\" = '$serial' ]" ||
    { tail -n 20 "$WORK/dnsd.log" >&2; die "dnsd did not pick up serial $serial"; }
}

compare() {
  log "6. the same answers from BIND9 (primary) and dnsd (secondary)"
  local q name type a b diff=0
  for q in "$ZONE SOA" "www.$ZONE A" "www.$ZONE AAAA" "blog.$ZONE CNAME" "$ZONE MX" "$ZONE TXT" \
           "_sip._tcp.$ZONE SRV" "$ZONE CAA" "ns1.$ZONE A" "mail.$ZONE A" "sip.$ZONE A"; do
    read -r name type <<<"$q"
    a=$(dig_ +short "$name" "$type" | sort | paste -sd' ')
    b=$(digd_ +short "$name" "$type" | sort | paste -sd' ')
    printf '    %-22s %-5s bind9: %s\n' "$name" "$type" "$a"
    if [ "$a" = "$b" ]; then printf '    %-28s dnsd:  (same)\n' ""; else printf '    %-28s dnsd:  %s  <-- differs\n' "" "$b"; diff=1; fi
  done
  [ "$diff" = 0 ] || die "dnsd and BIND9 disagree"
  echo "    the delegation dev.$ZONE as a client sees it from dnsd (referral, glue-less):"
  show digd_ +noall +authority "x.dev.$ZONE" A
}

change_record() {
  log "7. change a record: www.$ZONE A -> 192.0.2.99 (the same path; time until dnsd serves it)"
  sed 's/- 192.0.2.10$/- 192.0.2.99/' "$EXAMPLES/records.yaml" >"$WORK/records-changed.yaml"
  local t0 t1
  t0=$(now_ms)
  apply_ "$WORK/records-changed.yaml"
  wait_for 10 bash -c "dig @$IP -p $DNSD_PORT +short www.$ZONE A | grep -qx 192.0.2.99" ||
    die "dnsd did not serve the change"
  t1=$(now_ms)
  echo "    dnsd serves the change $((t1 - t0)) ms after bindy-demo started (process start, rndc check, UPDATE, NOTIFY, IXFR)"
  show digd_ +short www."$ZONE" A
  log "8. applying the same manifests again writes nothing (idempotent)"
  apply_ "$WORK/records-changed.yaml" | grep RFC
  log "9. an unsigned UPDATE is refused by the primary"
  if printf 'server %s %s\nupdate add evil.%s. 60 A 192.0.2.66\nsend\n' "$IP" "$PORT" "$ZONE" | nsupdate -v -t 5 2>&1 | sed 's/^/    /'; then
    die "unsigned update was accepted"
  fi
  echo "    dnsd's view (http://$IP:$METRICS_PORT/metrics):"
  curl -fsS "http://$IP:$METRICS_PORT/metrics" |
    grep -E '^dnsd_secondary_(serial|transfers_total|notify_total)' | sed 's/^/    /' || true
}

next_steps() {
  log "what to try next"
  cat <<TXT
  ./scripts/test.sh                                   # all tests (installs tools when missing)
  cargo test -p bindy-tests --test bind9_update       # the BIND9 layer against real named
  cargo test -p bindy-tests --test deploy_demo        # this demo's apply step, as a test
  cargo test -p bindy-kube-double --test agent_dnsd   # Kubernetes flow on the API-server test double:
                                                      #   real named + deploy/dnsd/ tier following it
  kubectl kustomize deploy/ | less                    # CRDs + operator manifests (apply -k deploy/)
  less docs/README.md                                 # docs index: quickstart, architecture, ...
TXT
  if [ "$HOLD" = 1 ]; then
    cat <<TXT
  BIND9 and dnsd keep running (Ctrl-C stops them and removes $WORK):
  dig @$IP -p $PORT www.$ZONE A          # primary
  dig @$IP -p $DNSD_PORT www.$ZONE A          # dnsd
  nsupdate -v -k $WORK/$KEY_NAME.key      # then: server $IP $PORT / update add x.$ZONE. 60 A 192.0.2.7 / send
  curl -s http://$IP:$METRICS_PORT/metrics
  rndc -c $WORK/rndc.conf zonestatus $ZONE
TXT
    wait "$NAMED_PID" || true
  else
    echo "  ./scripts/demo.sh --hold   # keep BIND9 and dnsd running to try dig/nsupdate/rndc by hand"
  fi
}

START=$SECONDS
install_deps
build
write_config
start_servers
apply_examples
compare
change_record
echo
echo "demo finished in $((SECONDS - START)) s"
next_steps
