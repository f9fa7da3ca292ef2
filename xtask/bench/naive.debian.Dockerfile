# The naive single-stage image `cargo xtask bench` compares the release image with (flavor debian): the same service
# built the way a first Dockerfile often does it, as the benchmark issue describes it. Build context: the service's
# folder (node-app/). It keeps what the release image leaves out: npm, apt's recommended packages and lists, the dev
# dependencies, the tests, npm's cache. naive-slim.debian.Dockerfile is the same with apt's own slimming.
FROM debian:trixie-slim
# hadolint ignore=DL3008,DL3009,DL3015
RUN apt-get update && apt-get install -y nodejs npm
WORKDIR /app
COPY . .
# The host's CA bundle as the BuildKit secret "ca", for a TLS-intercepting proxy; unused when empty.
RUN --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/ca; fi \
    && npm install
CMD ["node", "src/server.js"]
