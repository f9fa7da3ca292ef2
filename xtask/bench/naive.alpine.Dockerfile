# The naive single-stage image `cargo xtask bench` compares the release image with (flavor alpine): the same service
# built the way a first Dockerfile often does it. Build context: the service's folder (node-app/). It keeps what the
# release image leaves out: npm, the dev dependencies, the tests, npm's cache.
FROM alpine:3.21
# hadolint ignore=DL3018
RUN apk add --no-cache nodejs npm
WORKDIR /app
COPY . .
# The host's CA bundle as the BuildKit secret "ca", for a TLS-intercepting proxy; unused when empty.
RUN --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/ca; fi \
    && npm install
CMD ["node", "src/server.js"]
