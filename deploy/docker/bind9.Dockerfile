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
FROM debian:bookworm-slim
RUN groupadd --system --gid 101 bind \
 && useradd --system --uid 101 --gid bind --home-dir /var/cache/bind --shell /usr/sbin/nologin bind \
 && apt-get update \
 && apt-get install -y --no-install-recommends bind9 \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/bind /var/cache/bind /run/named \
 && chown -R bind:bind /var/lib/bind /var/cache/bind /run/named
USER 101:101
EXPOSE 5353/udp 5353/tcp 9530/tcp
ENTRYPOINT ["/usr/sbin/named"]
CMD ["-g", "-c", "/etc/bind/named.conf"]
