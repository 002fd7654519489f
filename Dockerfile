# Builds whistle with cargo alone (protobuf is compiled by protox, SQLite is
# bundled) and runs it on a slim Debian with CA certificates for SMTP over TLS.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin whistle

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
ENTRYPOINT ["whistle"]
CMD ["serve"]
