#!/usr/bin/env bash
# Bindy demo (stage 1: real BIND9 driven the way the operator drives it).
#
# Starts Debian's BIND9 as an unprivileged foreground process on 127.0.0.1 and a high port,
# in a temp dir, then does what Bindy's operator does to a primary: adds a zone at run time
# with `rndc addzone`, changes records with TSIG-signed dynamic updates (nsupdate), and shows
# the answers with dig. Everything is removed on exit.
#
# Usage: ./scripts/demo.sh [--hold] [--no-build]
#   --hold       keep BIND9 running after the demo until Ctrl-C, to try the printed commands
#   --no-build   skip `cargo build` of the workspace binaries
# Env: DEMO_PORT / DEMO_RNDC_PORT (default: first free from 15353 / 15953),
#      DEMO_KEEP=1 keeps the temp dir.
#
# Each stage is one function below; later stages replace start_dns/load_zone/update_records
# with the Bindy operator and dnsd while keeping the same shape and output.
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
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) die "unknown argument: $arg (try --help)" ;;
  esac
done

ZONE=example.com
ZONE_SRC="$ROOT/deploy/examples/zones/example.com.zone"
KEY_NAME=bindy-demo-key
IP=127.0.0.1
WORK="" NAMED_PID=""

cleanup() {
  local rc=$?
  if [ -n "$NAMED_PID" ] && kill -0 "$NAMED_PID" 2>/dev/null; then
    rndc_ stop >/dev/null 2>&1 || true
    for _ in $(seq 50); do kill -0 "$NAMED_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$NAMED_PID" 2>/dev/null || true
    wait "$NAMED_PID" 2>/dev/null || true
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
# show CMD...: prints the command as a user would type it, then its indented output.
show() {
  local shown="$*"
  shown=${shown/#rndc_/rndc -c \$WORK/rndc.conf}
  shown=${shown/#dig_/dig @$IP -p $PORT +norec}
  printf '$ %s\n' "$shown"
  "$@" | sed 's/^/    /'
}

install_deps() {
  log "1. tools (installed with apt-get when missing)"
  ensure_commands named rndc named-checkconf named-checkzone tsig-keygen dig nsupdate ss
  named -v
}

build() {
  [ "$BUILD" = 1 ] || return 0
  log "2. build the workspace binaries (bindy operator, dnsd; later stages run them)"
  ensure_rust
  cargo build --workspace --bins
}

write_config() {
  WORK=$(mktemp -d -t bindy-demo.XXXXXX)
  mkdir -p "$WORK/zones" "$WORK/journal"
  PORT=${DEMO_PORT:-$(pick_port 15353)}
  RNDC_PORT=${DEMO_RNDC_PORT:-$(pick_port 15953)}
  tsig-keygen -a hmac-sha256 "$KEY_NAME" >"$WORK/tsig.key"
  tsig-keygen -a hmac-sha256 rndc-key >"$WORK/rndc.key"
  cat >"$WORK/named.conf" <<CONF
options {
	directory "$WORK";
	pid-file "$WORK/named.pid";
	lock-file "$WORK/named.lock";
	session-keyfile "$WORK/session.key";
	managed-keys-directory "$WORK";
	listen-on port $PORT { $IP; };
	listen-on-v6 { none; };
	recursion no;
	dnssec-validation no;
	allow-new-zones yes;
	notify-delay 0;
};
include "$WORK/tsig.key";
include "$WORK/rndc.key";
controls { inet $IP port $RNDC_PORT allow { 127.0.0.0/8; } keys { "rndc-key"; }; };
CONF
  cat >"$WORK/rndc.conf" <<CONF
include "$WORK/rndc.key";
options { default-key "rndc-key"; default-server $IP; default-port $RNDC_PORT; };
CONF
  named-checkconf "$WORK/named.conf"
}

start_dns() {
  log "3. start BIND9 on $IP port $PORT (rndc on $RNDC_PORT), files in $WORK"
  named -g -c "$WORK/named.conf" -p "$PORT" >"$WORK/named.log" 2>&1 &
  NAMED_PID=$!
  local deadline=$((SECONDS + 10))
  until rndc_ status >/dev/null 2>&1 && dig_ +short . SOA >/dev/null 2>&1; do
    if ! kill -0 "$NAMED_PID" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
      tail -n 30 "$WORK/named.log" >&2
      die "named did not become ready"
    fi
    sleep 0.1
  done
  rndc_ status | sed -n '/^version/p;/server is up/p'
}

load_zone() {
  log "4. add zone $ZONE at run time (rndc addzone) from deploy/examples/zones/"
  cp "$ZONE_SRC" "$WORK/zones/$ZONE.db"
  named-checkzone -q "$ZONE" "$WORK/zones/$ZONE.db"
  show rndc_ addzone "$ZONE" "{ type primary; file \"$WORK/zones/$ZONE.db\"; journal \"$WORK/journal/$ZONE.jnl\"; allow-update { key \"$KEY_NAME\"; }; allow-transfer { key \"$KEY_NAME\"; }; };"
  show dig_ +short "$ZONE" SOA
  show dig_ +short www."$ZONE" A
  show dig_ +short blog."$ZONE" CNAME
  show dig_ +short "$ZONE" MX
}

update_records() {
  log "5. dynamic update signed with TSIG key '$KEY_NAME' (nsupdate over TCP)"
  local script="server $IP $PORT
update add demo.$ZONE. 300 A 192.0.2.42
update add demo.$ZONE. 300 TXT \"added by scripts/demo.sh\"
send"
  printf '%s\n' "$script" | sed 's/^/    | /'
  printf '%s\n' "$script" | nsupdate -v -t 5 -k "$WORK/tsig.key"
  show dig_ +short demo."$ZONE" A
  show dig_ +short demo."$ZONE" TXT
  echo "SOA serial after the update (named bumps it):"
  show dig_ +short "$ZONE" SOA

  log "6. the same update without the key is refused"
  if printf 'server %s %s\nupdate add evil.%s. 60 A 192.0.2.66\nsend\n' "$IP" "$PORT" "$ZONE" | nsupdate -v -t 5 2>&1 | sed 's/^/    /'; then
    die "unsigned update was accepted"
  fi
  show dig_ +short evil."$ZONE" A
  echo "    (no answer: refused)"

  log "7. zone transfer, TSIG-signed"
  show dig_ -k "$WORK/tsig.key" +nocmd +nostats "$ZONE" AXFR
}

next_steps() {
  log "what to try next"
  cat <<TXT
  ./scripts/test.sh                                  # all tests (installs tools when missing)
  cargo test -p bindy-tests --test named_smoke       # BIND9 fixture smoke tests
  less deploy/examples/zones/example.com.zone        # the zone loaded above
TXT
  if [ "$HOLD" = 1 ]; then
    cat <<TXT
  BIND9 keeps running (Ctrl-C stops it and removes $WORK):
  dig @$IP -p $PORT www.$ZONE A
  nsupdate -v -k $WORK/tsig.key      # then: server $IP $PORT / update add x.$ZONE. 60 A 192.0.2.7 / send
  rndc -c $WORK/rndc.conf zonestatus $ZONE
TXT
    wait "$NAMED_PID" || true
  else
    echo "  ./scripts/demo.sh --hold   # keep BIND9 running to try dig/nsupdate/rndc by hand"
  fi
}

install_deps
build
write_config
start_dns
load_zone
update_records
next_steps
