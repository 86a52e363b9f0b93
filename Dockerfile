# One image, three entrypoints (wagate-operator, wagate-router, wagate-session): the
# binaries share almost all dependencies, so one build and one layer per node serve all
# three; the chart picks the binary with `command`. SQLite is bundled and TLS is rustls, so
# the final stage needs only glibc and libgcc (distroless/cc), runs as uid 65532.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
      -p wagate-operator --bin wagate-operator \
      -p wagate-router --bin wagate-router \
      -p wagate-session --bin wagate-session \
 && mkdir /out \
 && cp target/release/wagate-operator target/release/wagate-router target/release/wagate-session /out/

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/ /usr/local/bin/
USER 65532:65532
EXPOSE 8080 9090
# The chart sets `command`; alone, the image runs the gateway in embedded mode.
ENTRYPOINT ["wagate-router"]
