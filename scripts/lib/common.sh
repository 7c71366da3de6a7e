# shellcheck shell=bash
# Shared helpers for scripts/*.sh (sourced, not run). Bash only.
#
# Everything here is idempotent: on a machine that already has the tools nothing is installed
# and nothing needs root.

# Debian's named/rndc live in /usr/sbin, which a non-root PATH often lacks.
case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH="$PATH:/usr/sbin:/sbin" ;; esac
[ -d "$HOME/.cargo/bin" ] && case ":$PATH:" in *":$HOME/.cargo/bin:"*) ;; *) PATH="$HOME/.cargo/bin:$PATH" ;; esac
export PATH

log() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Which Debian package provides each command the scripts and tests use.
declare -A BINDY_PKG_OF=(
  [named]=bind9
  [rndc]=bind9-utils [named-checkconf]=bind9-utils [named-checkzone]=bind9-utils [tsig-keygen]=bind9-utils
  [dig]=bind9-dnsutils [nsupdate]=bind9-dnsutils
  [kdig]=knot-dnsutils [knotd]=knot
  [dnsperf]=dnsperf
  [ip]=iproute2 [ss]=iproute2
  [cc]=build-essential [make]=build-essential
  [pkg-config]=pkg-config
  [curl]=curl
  [kubectl]=kubernetes-client
  [shellcheck]=shellcheck
)

# sudo only when not root (CI and the dev machines run as root).
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# ensure_commands CMD...: apt-get installs the packages of the commands that are missing.
ensure_commands() {
  local cmd pkgs=()
  for cmd in "$@"; do
    command -v "$cmd" >/dev/null 2>&1 && continue
    [ -n "${BINDY_PKG_OF[$cmd]:-}" ] || die "no package known for missing command '$cmd'"
    pkgs+=("${BINDY_PKG_OF[$cmd]}")
  done
  [ "${#pkgs[@]}" -eq 0 ] && return 0
  # shellcheck disable=SC2207
  pkgs=($(printf '%s\n' "${pkgs[@]}" | sort -u))
  command -v apt-get >/dev/null 2>&1 || die "missing ${pkgs[*]} and no apt-get: install them by hand"
  log "installing ${pkgs[*]} (apt-get)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ca-certificates "${pkgs[@]}"
  for cmd in "$@"; do
    command -v "$cmd" >/dev/null 2>&1 || die "'$cmd' still missing after installing ${pkgs[*]}"
  done
}

# ensure_rust: cargo with rustfmt and clippy. Uses rustup when Rust is missing (needs network
# to the Rust download servers; machines without it must come with Rust preinstalled).
ensure_rust() {
  if ! command -v cargo >/dev/null 2>&1; then
    ensure_commands curl cc
    log "installing Rust 1.95 with rustup"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs |
      sh -s -- -y --profile minimal --default-toolchain 1.95 -c rustfmt -c clippy ||
      die "could not install Rust; install rustup + Rust 1.95 by hand"
    PATH="$HOME/.cargo/bin:$PATH"
  fi
  command -v cc >/dev/null 2>&1 || ensure_commands cc
  local comp
  for comp in rustfmt clippy; do
    if ! cargo "${comp/rustfmt/fmt}" --version >/dev/null 2>&1; then
      command -v rustup >/dev/null 2>&1 || die "cargo $comp missing and no rustup to add it"
      rustup component add "$comp"
    fi
  done
}
