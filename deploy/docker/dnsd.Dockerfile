# dnsd image. Build from the repository root:
#   docker build -f deploy/docker/dnsd.Dockerfile -t ghcr.io/firestoned/dnsd:0.1.0 .
# dnsd listens on 5353 inside the pod (no privileged port, no capability needed): the
# hand-deployed tier (deploy/dnsd/) sets it in dnsd.toml and its Service maps 53 to it; the
# operator-managed tier uses BINDY_DNS_PORT (5353 in deploy/operator/deployment.yaml).
# 9153: /metrics, /health, /ready.
# Pinning: exact tags (the workspace's rust-version 1.95, rustc 1.95.0 as CI runs it, on
# bookworm like the runtime). distroless has no version tags; its digest (and the Rust
# image's) could not be verified from this build environment (no registry access): at release,
# append them with `docker buildx imagetools inspect IMAGE`, e.g. FROM IMAGE:TAG@sha256:<digest>.
# .dockerignore (repository root) keeps target/ and .git out of `COPY . .`.
FROM rust:1.95.0-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p dnsd --bin dnsd

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/dnsd /usr/local/bin/dnsd
USER 65532:65532
EXPOSE 5353/udp 5353/tcp 9153/tcp
ENTRYPOINT ["/usr/local/bin/dnsd"]
