# dnsd image. Build from the repository root:
#   docker build -f deploy/docker/dnsd.Dockerfile -t ghcr.io/firestoned/dnsd:0.1.0 .
# dnsd listens on 5353 inside the pod (no privileged port, no capability needed): the
# hand-deployed tier (deploy/dnsd/) sets it in dnsd.toml and its Service maps 53 to it; the
# operator-managed tier uses BINDY_DNS_PORT (5353 in deploy/operator/deployment.yaml).
# 9153: /metrics, /health, /ready.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p dnsd --bin dnsd

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/dnsd /usr/local/bin/dnsd
USER 65532:65532
EXPOSE 5353/udp 5353/tcp 9153/tcp
ENTRYPOINT ["/usr/local/bin/dnsd"]
