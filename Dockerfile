# Builds whistle with cargo alone (protobuf is compiled by protox, SQLite is
# bundled) and runs it on a slim Debian with CA certificates for SMTP over TLS.
# tests/dockerfile.rs replays the build stages without Docker on every
# `cargo test`, so that a change to the manifest cannot silently break them.

# What the dependency layer is built from: the manifests, the build script and
# the protos, and a stand-in for every crate root cargo looks for (the library,
# the binary, each test, bench and example). It is the same files whatever is
# edited, as long as no target is added or removed, so the layer stays cached.
# A target at a path of its own (`path = ...` elsewhere) needs a line here.
FROM rust:1.95-bookworm AS plan
WORKDIR /src
COPY . .
RUN mkdir -p skeleton \
    && cp -r Cargo.toml Cargo.lock build.rs proto skeleton/ \
    && for root in src/main.rs src/lib.rs src/bin/*.rs \
                   tests/*.rs benches/*.rs benches/*/main.rs examples/*.rs; do \
         if [ -f "$root" ]; then \
           mkdir -p "skeleton/$(dirname "$root")" && echo 'fn main() {}' > "skeleton/$root"; \
         fi; \
       done

FROM rust:1.95-bookworm AS build
WORKDIR /src
# The dependencies first, against the stand-ins: rebuilt only when the
# manifests, build.rs, the protos or the set of targets change, not on every
# edit of whistle itself.
COPY --from=plan /src/skeleton ./
RUN cargo build --release --locked --bin whistle \
    && rm -rf src tests benches examples

COPY . .
# COPY keeps the files' own modification times, which can be older than the
# stand-ins' build; touching the crate roots makes cargo rebuild whistle.
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked --bin whistle

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates tzdata \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/whistle --create-home whistle
COPY --from=build /src/target/release/whistle /usr/local/bin/whistle
USER whistle
WORKDIR /var/lib/whistle
ENV WHISTLE__GRPC__LISTEN=0.0.0.0:50051
EXPOSE 50051
# The standard gRPC health check, by the binary itself: the image needs no
# grpc_health_probe. It reads grpc.listen from the same environment.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["whistle", "health", "--timeout-secs", "3"]
ENTRYPOINT ["whistle"]
CMD ["serve"]
