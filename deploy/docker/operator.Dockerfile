# Bindy operator image. Build from the repository root:
#   docker build -f deploy/docker/operator.Dockerfile -t ghcr.io/firestoned/bindy:0.1.0 .
# Multi-stage: a pinned Rust toolchain builds a release binary; the runtime is distroless
# (no shell, no package manager) and runs as the non-root uid 65532.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p bindy-operator --bin bindy

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/bindy /usr/local/bin/bindy
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/bindy"]
