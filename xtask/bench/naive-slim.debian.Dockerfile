# naive.debian.Dockerfile with apt's own slimming (no recommended packages, no package lists), as the kit's base stage
# does it: what is left between this image and the release image is what the multi-stage build itself buys (no npm,
# no dev dependencies, no tests, no npm cache). `cargo xtask bench` (not --quick) reports it beside the naive one.
FROM debian:trixie-slim
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends nodejs npm \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY . .
# The host's CA bundle as the BuildKit secret "ca", for a TLS-intercepting proxy; unused when empty.
RUN --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/ca; fi \
    && npm install
CMD ["node", "src/server.js"]
