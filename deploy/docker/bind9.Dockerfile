# The BIND9 image the operator deploys by default (the operator Deployment sets
# BINDY_BIND9_IMAGE=ghcr.io/firestoned/bindy-bind9; the Bind9Cluster's `version` is the tag):
# Debian bookworm's `bind9` package (BIND 9.18.x), the same build the test suite runs as a real
# `named`, so what CI proves is what the cluster runs. Build from the repository root:
#   docker build -f deploy/docker/bind9.Dockerfile -t ghcr.io/firestoned/bindy-bind9:9.18 .
# Consistent with operator/src/resources/instance.rs: user `bind` with uid/gid 101
# (BIND_UID), config mounted at /etc/bind (named.conf, bootstrap.db, keys/), state on the
# volume at /var/lib/bind, and the operator passes `-g -c /etc/bind/named.conf` as args.
# The operator Deployment sets BINDY_DNS_PORT=5353 and BINDY_RNDC_PORT=9530, so named needs
# no capability to bind its ports.
# Pinning: the base is an exact Debian point release (12.11, what CI's machine runs) and BIND
# is held to the 9.18 series the test suite runs (9.18.49-1~deb12u3 at the time of writing);
# a glob, because Debian's security archive keeps only the newest build of a package. The
# registry digest could not be verified from this build environment (no registry access):
# at release, append it with `docker buildx imagetools inspect debian:12.11-slim`, e.g.
# FROM debian:12.11-slim@sha256:<digest>.
FROM debian:12.11-slim
ARG BIND9_VERSION=1:9.18.*
RUN groupadd --system --gid 101 bind \
 && useradd --system --uid 101 --gid bind --home-dir /var/cache/bind --shell /usr/sbin/nologin bind \
 && apt-get update \
 && apt-get install -y --no-install-recommends "bind9=${BIND9_VERSION}" \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/bind /var/cache/bind /run/named \
 && chown -R bind:bind /var/lib/bind /var/cache/bind /run/named
USER 101:101
EXPOSE 5353/udp 5353/tcp 9530/tcp
ENTRYPOINT ["/usr/sbin/named"]
CMD ["-g", "-c", "/etc/bind/named.conf"]
