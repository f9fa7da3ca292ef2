# library/redis:<major> for the kit's compose stack, built by .ci/engine-up (Docker Hub is unreachable on CI hosts).
# Debian 13's redis-server, in the foreground, reachable from other containers, no config file.
FROM debian:trixie-slim
# DL3008 (pin apt versions): the version is whatever Debian 13 ships; engine-up checks it before choosing the tag.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends redis-server \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir /data \
    && chown redis:redis /data
VOLUME /data
WORKDIR /data
# DL3066 (numeric user): the package's postinst picks the system uid; the name is what is stable.
# hadolint ignore=DL3066
USER redis
EXPOSE 6379
CMD ["redis-server", "--bind", "0.0.0.0", "--protected-mode", "no", "--daemonize", "no", "--dir", "/data"]
