# The BIND9 image the operator deploys by default: Debian bookworm's `bind9` package
# (BIND 9.18.x), the same build the test suite runs as a real `named`, so what CI proves is
# what the cluster runs. Build from the repository root:
#   docker build -f deploy/docker/bind9.Dockerfile -t ghcr.io/firestoned/bindy-bind9:9.18 .
# named runs in the foreground as the non-root user `bind` (fixed uid/gid 10053) and listens
# on 5353 (DNS) and 9530 (rndc) inside the pod; the Services map 53 to 5353.
FROM debian:bookworm-slim
RUN groupadd --system --gid 10053 bind \
 && useradd --system --uid 10053 --gid bind --home-dir /var/cache/bind --shell /usr/sbin/nologin bind \
 && apt-get update \
 && apt-get install -y --no-install-recommends bind9 bind9-utils \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/bind /var/cache/bind /run/named \
 && chown -R bind:bind /var/lib/bind /var/cache/bind /run/named
USER 10053:10053
EXPOSE 5353/udp 5353/tcp 9530/tcp
ENTRYPOINT ["/usr/sbin/named", "-g", "-c", "/etc/bind/generated/named.conf"]
