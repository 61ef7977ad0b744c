# Multi-stage build of one TodoGenie service; the build context is the
# workspace root:
#   docker build --build-arg SERVICE=task-service .
#   docker build --build-arg SERVICE=notifier-service .
FROM rust:1.95-bookworm AS build
ARG SERVICE=task-service
WORKDIR /src
COPY . .
# protox compiles the protos in Rust: no protoc needed.
RUN cargo build --release --locked -p "$SERVICE" --bin "$SERVICE" \
    && cp "target/release/$SERVICE" /service

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 todogenie
COPY --from=build /service /usr/local/bin/service
USER todogenie
# Listen on all interfaces inside the container (both services' variables).
ENV TASK_GRPC_ADDR=0.0.0.0:50051 \
    TASK_HTTP_ADDR=0.0.0.0:9101 \
    NOTIFIER_GRPC_ADDR=0.0.0.0:50052 \
    NOTIFIER_HTTP_ADDR=0.0.0.0:8080
EXPOSE 50051 9101 50052 8080
ENTRYPOINT ["service"]
