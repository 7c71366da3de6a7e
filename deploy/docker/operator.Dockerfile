# Bindy operator image. Build from the repository root:
#   docker build -f deploy/docker/operator.Dockerfile -t ghcr.io/firestoned/bindy:0.1.0 .
# Multi-stage: a pinned Rust toolchain builds a release binary; the runtime is distroless
# (no shell, no package manager) and runs as the non-root uid 65532.
# Pinning: exact tags (the workspace's rust-version 1.95, rustc 1.95.0 as CI runs it, on
# bookworm like the runtime). distroless has no version tags; its digest (and the Rust
# image's) could not be verified from this build environment (no registry access): at release,
# append them with `docker buildx imagetools inspect IMAGE`, e.g. FROM IMAGE:TAG@sha256:<digest>.
# .dockerignore (repository root) keeps target/ and .git out of `COPY . .`.
FROM rust:1.95.0-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p bindy-operator --bin bindy

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/bindy /usr/local/bin/bindy
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/bindy"]
