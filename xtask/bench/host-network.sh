#!/usr/bin/env bash
# host-network.sh [ROUNDS]: where the release container on the host's network loses to plain node.
#
#   XTASK_FLAVOR=debian xtask/bench/host-network.sh      # 5 rounds of 5 s per target: about 2 minutes
#
# `cargo xbench` compares the release image on the host network (`--network host`) with plain node on the host
# (section 6). This splits that gap in two, with three targets on the host's network, each on its own port of
# 127.0.0.1, GET /healthz with autocannon (50 connections, DURATION seconds, default 5, after a 1 s warm-up),
# alternately, the first one rotating, as the bench does:
#   direct     node (the first on PATH) running a scratch copy of node-app with its production dependencies,
#              NODE_ENV=production, its log to a file;
#   image      the release image (the project's first tag, from `cargo xtask tags --json`; built with
#              `cargo xtask release` when missing), `--log-driver none`, as the bench runs it;
#   host node  the same container with the host's node binary mounted into it and run instead of the image's: the
#              image's files, tini and the container, but the same node build as direct.
# image / host node is what the image's node build costs; host node / direct what the container costs (namespaces,
# cgroup, seccomp). Prints each round, the medians (min-max) and the medians of the per-round ratios. Removes its
# containers, node process and scratch copy at the end, also on errors and Ctrl-C.
set -euo pipefail

rounds=${1:-5}
duration=${DURATION:-5}
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/xtask-host-network.XXXXXX")
autocannon=$root/target/bench-tools/node_modules/.bin/autocannon
containers=(xtask-hn-image xtask-hn-hostnode)
direct_pid=

cleanup() {
    [[ -z $direct_pid ]] || kill "$direct_pid" 2>/dev/null || true
    docker rm --force "${containers[@]}" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say() { printf '%s\n' "$*" >&2; }
free_port() { node -e 's=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
# median FORMAT: the median (min-max) of the numbers on stdin.
median() { sort -g | awk -v f="$1" '{v[NR]=$1} END {m = NR % 2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2; printf f " (" f "-" f ")", m, v[1], v[NR]}'; }

cd "$root"
[[ -x $autocannon ]] || npm install --prefix target/bench-tools autocannon@9 --no-audit --no-fund --loglevel=error
image=$(cargo xtask tags --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).tags[0]))')
docker image inspect "$image" >/dev/null 2>&1 || cargo xtask release
host_node=$(command -v node)
say "host-network: $image; host node $("$host_node" --version) ($host_node), image node $(docker run --rm --entrypoint node "$image" --version)"

cp -r node-app "$work/app"
rm -rf "$work/app/node_modules"
(cd "$work/app" && npm ci --omit=dev --no-audit --no-fund --loglevel=error >/dev/null)

declare -A port
for target in direct image hostnode; do port[$target]=$(free_port); done
(cd "$work/app" && NODE_ENV=production PORT=${port[direct]} HOST=127.0.0.1 exec node src/server.js >"$work/direct.log" 2>&1) &
direct_pid=$!
on_host=(run --detach --pull=never --network host --log-driver none -e HOST=127.0.0.1)
docker "${on_host[@]}" --name xtask-hn-image -e "PORT=${port[image]}" "$image" >/dev/null
docker "${on_host[@]}" --name xtask-hn-hostnode -e "PORT=${port[hostnode]}" -v "$host_node:/usr/local/bin/host-node:ro" \
    "$image" /bin/sh -c 'exec /usr/local/bin/host-node "$APP_START"' >/dev/null
for target in direct image hostnode; do
    for _ in $(seq 100); do
        curl -fs "http://127.0.0.1:${port[$target]}/healthz" >/dev/null && break
        sleep 0.1
    done
    curl -fs "http://127.0.0.1:${port[$target]}/healthz" >/dev/null || { say "host-network: $target does not answer"; exit 1; }
done

rate() {
    "$autocannon" -c 50 -d 1 "http://127.0.0.1:$1/healthz" >/dev/null 2>&1
    "$autocannon" -c 50 -d "$duration" -j "http://127.0.0.1:$1/healthz" 2>/dev/null |
        node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(Math.round(JSON.parse(s).requests.average)))'
}

order=(direct image hostnode)
declare -A rates
for round in $(seq "$rounds"); do
    declare -A this
    for target in "${order[@]}"; do this[$target]=$(rate "${port[$target]}"); done
    say "  round $round: direct ${this[direct]}, image ${this[image]}, host node ${this[hostnode]} req/s"
    for target in direct image hostnode; do rates[$target]+="${this[$target]} "; done
    rates[image/hostnode]+="$(awk "BEGIN {print ${this[image]} / ${this[hostnode]}}") "
    rates[hostnode/direct]+="$(awk "BEGIN {print ${this[hostnode]} / ${this[direct]}}") "
    rates[image/direct]+="$(awk "BEGIN {print ${this[image]} / ${this[direct]}}") "
    order=("${order[@]:1}" "${order[0]}")
done

show() { printf '  %-44s %s\n' "$1" "$(tr ' ' '\n' <<<"${rates[$2]}" | grep . | median "$3")$4"; }
say "host-network: GET /healthz, 50 connections, ${duration} s, $rounds rounds; load average $(cut -d' ' -f1-3 /proc/loadavg)"
show "direct (plain node on the host)" direct %d " req/s"
show "image (release container, host network)" image %d " req/s"
show "host node (the same, the host's node binary)" hostnode %d " req/s"
show "image / direct (the bench's figure)" image/direct %.2f x
show "image / host node (the image's node build)" image/hostnode %.2f x
show "host node / direct (the container)" hostnode/direct %.2f x
