#!/usr/bin/env bash
# crate-build.sh [ROUNDS]: what the xtask crate's own compile costs, cold and after a one-line edit, under the
# profile settings that could shorten the cold build.
#
#   xtask/bench/crate-build.sh      # 5 rounds: about 3 minutes on 2 cores
#
# `cargo xbench` section 1 times the whole cold build (dependencies and crate) against the seven-crate baseline. Its
# dependencies are the baseline's plus lexopt and serde_json, so what the kit controls is the crate's own compile: the
# last rustc, alone at the end of the build. This times that rustc, the dependencies already built, for three
# variants of the workspace's [profile.dev], each in its own target folder under target/crate-build/, alternately:
#   default    the workspace's profile as it is (incremental, rustc's default 256 codegen units);
#   cgu16      the xtask package with 16 codegen units (`--config profile.dev.package.xtask.codegen-units=16`);
#   noinc      incremental compilation off (`--config profile.dev.incremental=false`; CI already sets
#              CARGO_INCREMENTAL=0, where every build is cold).
# cold: the crate's incremental state removed and its sources touched; edit: then one string in run.rs changed, the
# edit a team makes when it extends a command. Prints each round and the medians (min-max). run.rs is restored at the
# end, also on errors and Ctrl-C.
set -euo pipefail

rounds=${1:-5}
root=$(cd "$(dirname "$0")/../.." && pwd)
edited=$root/xtask/src/run.rs
backup=$(mktemp "${TMPDIR:-/tmp}/xtask-crate-build.XXXXXX")
cp "$edited" "$backup"
trap 'cp "$backup" "$edited"; rm -f "$backup"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

variants=(default cgu16 noinc)
declare -A config=([default]="" [cgu16]="profile.dev.package.xtask.codegen-units=16" [noinc]="profile.dev.incremental=false")
declare -A times

build() {
    local setting=${config[$1]}
    (cd "$root" && XTASK_E2E=0 CARGO_TARGET_DIR="$root/target/crate-build/$1" \
        cargo build --quiet --package xtask --offline ${setting:+--config "$setting"})
}

seconds() {
    local started ended
    started=$(date +%s.%N)
    "$@"
    ended=$(date +%s.%N)
    awk -v s="$started" -v e="$ended" 'BEGIN { printf "%.2f", e - s }'
}

median() {
    tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.2f s (%.2f-%.2f)", m, v[1], v[NR] }'
}

echo "building the dependencies of each variant once"
for variant in "${variants[@]}"; do build "$variant"; done

for round in $(seq "$rounds"); do
    for variant in "${variants[@]}"; do
        rm -rf "$root/target/crate-build/$variant"/debug/incremental/xtask-*
        touch "$root"/xtask/src/*.rs
        cold=$(seconds build "$variant")
        sed -i 's/"{base}-{what}-{}"/"{base}-{what}-{}" /' "$edited"
        if cmp -s "$backup" "$edited"; then
            echo "crate-build.sh: the string it edits is no longer in $edited; choose another one" >&2
            exit 1
        fi
        edit=$(seconds build "$variant")
        cp "$backup" "$edited"
        build "$variant"
        times[$variant.cold]+="$cold "
        times[$variant.edit]+="$edit "
        printf 'round %s  %-8s cold %6s s   edit %6s s\n' "$round" "$variant" "$cold" "$edit"
    done
done

echo
echo "medians of $rounds rounds (the crate's own compile; dependencies built):"
for variant in "${variants[@]}"; do
    printf '  %-8s cold %s   edit %s\n' "$variant" "$(median <<<"${times[$variant.cold]}")" \
        "$(median <<<"${times[$variant.edit]}")"
done
