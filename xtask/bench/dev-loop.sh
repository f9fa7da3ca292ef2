#!/usr/bin/env bash
# dev-loop.sh [EDITS] [REBUILDS]: how long a saved source edit takes to reach the running service.
#
#   XTASK_FLAVOR=debian xtask/bench/dev-loop.sh          # 10 edits with `dev`, 5 with `release` + `run`
#
# On a scratch copy of the template (image xtask-bench-dev, port 3918, inspector 9918), each edit rewrites the
# status string of GET /healthz in node-app/src/app.js, and the time is taken from the write to the first /healthz
# answer that shows the new string (polled every 20 ms with bash's /dev/tcp: no process started per poll):
#   1. `cargo xtask dev` running: EDITS edits in a row, each PAUSE seconds (default 2: a look at the answer) after
#      the service answered or the previous edit showed up; every one must show up (within 60 s), and the dev image must not change (no image
#      build);
#   2. the rebuild-and-restart way, for the same edit: `cargo xtask release` (the release stage, tagged), then
#      `cargo xtask run` (what `run` starts is the release tag), REBUILDS times.
# Prints each time, the medians (min-max), their ratio and the load average, and judges the goals: a median under
# 1 s, and at least 20 times faster than the rebuild. With XTASK_DEV_TRACE=1, dev-watch.mjs logs when each step of a
# restart ended, and the dev time is split into: the change seen and copied in, the old service stopped, the new one
# running (the spare told to go, once it has loaded the dependencies), and the service's own start until it answers.
# dev's log is left in ${TMPDIR:-/tmp}/xtask-dev-loop-dev.log. Exits non-zero only when it could not measure (an edit lost,
# the image rebuilt, a step failing). Removes its copy, containers, network, volume and images at the end.
set -euo pipefail

edits=${1:-10}
rebuilds=${2:-5}
pause=${PAUSE:-2}
port=3918
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/xtask-dev-loop.XXXXXX")
copy=$work/project
name=xtask-bench-dev
kit_pid=

cleanup() {
    if [[ -n $kit_pid ]] && kill -0 "$kit_pid" 2>/dev/null; then
        kill -INT "$kit_pid" 2>/dev/null || true
        wait "$kit_pid" 2>/dev/null || true
    fi
    docker compose --project-name "$name-dev" down --volumes --remove-orphans >/dev/null 2>&1 || true
    docker image ls --format '{{.Repository}}:{{.Tag}}' "$name" | xargs -r docker image rm >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say() { printf '%s\n' "$*" >&2; }

# The body of GET /healthz, or nothing (bash builtins only).
healthz() {
    local line='' body=''
    { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || return 0
    printf 'GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3 2>/dev/null || { exec 3<&-; return 0; }
    while IFS= read -r -t 2 line <&3 2>/dev/null || [[ -n $line ]]; do body+=$line; line=; done
    exec 3<&-
    printf '%s' "$body"
}

exec 9<> <(:)  # never readable: `read -t` on it is a sleep without a process
nap() { read -r -t "$1" -u 9 || true; }

# wait_for TEXT SECONDS: polls until /healthz shows TEXT; prints the seconds since $edited.
wait_for() {
    local text=$1 limit=$2 now
    while :; do
        now=$EPOCHREALTIME
        if [[ $(healthz) == *"$text"* ]]; then
            awk -v a="$edited" -v b="$now" 'BEGIN { printf "%.3f\n", b - a }'
            return 0
        fi
        if awk -v a="$edited" -v b="$now" -v l="$limit" 'BEGIN { exit !(b - a > l) }'; then return 1; fi
        nap 0.02
    done
}

set_status() {
    sed -i -E "s/\\(\\{ status: '[^']*' \\}\\)/({ status: '$1' })/" "$copy/node-app/src/app.js"
    edited=$EPOCHREALTIME
}

# median and min-max of the numbers on stdin
stats() { sort -n | awk '{ v[NR] = $1 } END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.3f %.3f %.3f\n", m, v[1], v[NR] }'; }

load() { cut -d' ' -f1-3 /proc/loadavg; }

say "dev-loop: building the xtask"
(cd "$root" && cargo build --quiet --package xtask)
kit=$root/target/debug/xtask
mkdir -p "$copy"
cp -r "$root/xtask.toml" "$root/docker" "$copy/"
(cd "$root/node-app" && tar --exclude=node_modules -cf - .) | (mkdir "$copy/node-app" && cd "$copy/node-app" && tar -xf -)
sed -i -e "s/^name = \"[^\"]*\"/name = \"$name\"/" -e "s/^port = [0-9]*/port = $port/" \
    -e "s/^inspect_port = [0-9]*/inspect_port = 9918/" "$copy/xtask.toml"
git -C "$copy" init -q && git -C "$copy" add -A && git -C "$copy" -c user.name=bench -c user.email=bench@localhost commit -qm bench

cd "$copy"
load_start=$(load)
say "dev-loop: cargo xtask dev (load average $load_start)"
# The service logs each request at info: 50 polls a second would be 100 log lines a second through compose.
LOG_LEVEL=warn XTASK_DEV_TRACE=1 "$kit" dev >"$work/dev.log" 2>&1 &
kit_pid=$!
edited=$EPOCHREALTIME
wait_for '"status"' 600 >/dev/null || { tail -20 "$work/dev.log" >&2; say "dev-loop: dev did not answer"; exit 1; }
image=$(docker image inspect --format '{{.Id}}' "$name:dev")
dev_times=()
edits_at=()
for i in $(seq "$edits"); do
    nap "$pause"
    want=dev-$i-$RANDOM
    set_status "$want"
    t=$(wait_for "$want" 60) || { say "dev-loop: edit $i never showed up"; exit 1; }
    say "  dev edit $i: $t s"
    dev_times+=("$t")
    edits_at+=("$edited $t")
done
if [[ $(docker image inspect --format '{{.Id}}' "$name:dev") != "$image" ]]; then
    say "dev-loop: the dev image changed during the edits"; exit 1
fi
kill -INT "$kit_pid"; wait "$kit_pid" || true; kit_pid=
cp "$work/dev.log" "${TMPDIR:-/tmp}/xtask-dev-loop-dev.log"
load_dev=$(load)

# `release`, tried once more if it fails: someone else pruning the engine's build cache meanwhile fails a build.
release() {
    "$kit" release >"$work/release.log" 2>&1 || "$kit" release >"$work/release.log" 2>&1 || {
        tail -20 "$work/release.log" >&2
        exit 1
    }
}

say "dev-loop: release + run (load average $load_dev)"
release
rebuild_times=()
for i in $(seq "$rebuilds"); do
    want=rebuild-$i-$RANDOM
    set_status "$want"
    release
    "$kit" run >"$work/run.log" 2>&1 &
    kit_pid=$!
    t=$(wait_for "$want" 120) || { say "dev-loop: rebuild $i never showed up"; exit 1; }
    say "  release + run $i: $t s"
    rebuild_times+=("$t")
    kill -INT "$kit_pid"; wait "$kit_pid" || true; kit_pid=
done
load_end=$(load)

# Per edit: the first trace of each step after the save; each phase's median, in ms.
phases=$(
    {
        printf 'edit %s\n' "${edits_at[@]}"
        grep -ao 'trace [a-z]* [0-9]*' "$work/dev.log" | cut -d' ' -f2- || true
    } | awk '
        $1 == "edit" { n++; at[n] = $2 * 1000; shown[n] = at[n] + $3 * 1000; next }
        { k[$1]++; t[$1, k[$1]] = $2 }
        function after(step, from,   j) { for (j = 1; j <= k[step]; j++) if (t[step, j] >= from) return t[step, j]; return -1 }
        function median(a, m,   i, j, x) {
            for (i = 2; i <= m; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
            return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
        }
        END {
            for (i = 1; i <= n; i++) {
                c = after("copied", at[i]); s = after("stopped", c); r = after("started", s); l = after("loaded", r)
                if (c < 0 || s < 0 || r < 0 || l < 0 || l > shown[i]) { missing = missing " " i; continue }
                m++; copy[m] = c - at[i]; stop[m] = s - c; go[m] = l - s; own[m] = shown[i] - l
            }
            if (m == 0) { print "no trace"; exit }
            printf "copied in %d ms, old service stopped %d ms, new one running %d ms (waiting for the spare to load), its own start until it answers %d ms%s",
                median(copy, m), median(stop, m), median(go, m), median(own, m), missing ? " (edits without a full trace:" missing ")" : ""
        }'
)
read -r dev_median dev_min dev_max < <(printf '%s\n' "${dev_times[@]}" | stats)
read -r rb_median rb_min rb_max < <(printf '%s\n' "${rebuild_times[@]}" | stats)
ratio=$(awk -v a="$rb_median" -v b="$dev_median" 'BEGIN { printf "%.1f", a / b }')
verdict() { if awk "BEGIN { exit !($1) }"; then echo PASS; else echo FAIL; fi; }
cat <<EOF
dev-loop: $edits edits with \`cargo xtask dev\` ($pause s apart), $rebuilds with \`release\` + \`run\`; $(nproc) cores, load average $load_start at the start, $load_dev after dev, $load_end at the end
  dev, saved -> first response showing it   median ${dev_median} s (min ${dev_min}, max ${dev_max}); every edit showed up, no image build
    medians of its steps                    $phases
  release + run, the same edit              median ${rb_median} s (min ${rb_min}, max ${rb_max})
  ratio                                     ${ratio}x
  goals: median under 1 s: $(verdict "$dev_median < 1"); at least 20x faster: $(verdict "$ratio >= 20")
EOF
