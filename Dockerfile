# Builds whistle with cargo alone (protobuf is compiled by protox, SQLite is
# bundled) and runs it on a slim Debian with CA certificates for SMTP over TLS.
FROM rust:1.95-bookworm AS build
WORKDIR /src

# The dependencies first, against stand-in sources: this layer is rebuilt only
# when Cargo.toml or Cargo.lock change, not on every edit of whistle itself.
# build.rs and proto/ come along because the build script compiles the protos.
COPY Cargo.toml Cargo.lock build.rs ./
COPY proto proto
RUN mkdir src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && cargo build --release --locked --bin whistle \
    && rm -rf src

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
