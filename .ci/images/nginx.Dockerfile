# library/nginx:<major.minor> for the kit's compose stack, built by .ci/engine-up (Docker Hub is unreachable on CI
# hosts). Debian 13's nginx in the foreground, logs to the container's stdout/stderr like the official image.
FROM debian:trixie-slim
# DL3008 (pin apt versions): the version is whatever Debian 13 ships; engine-up checks it before choosing the tag.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends nginx \
    && rm -rf /var/lib/apt/lists/* \
    && ln -sf /dev/stdout /var/log/nginx/access.log \
    && ln -sf /dev/stderr /var/log/nginx/error.log
EXPOSE 80
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
