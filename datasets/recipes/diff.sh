#!/usr/bin/env bash
# Recorded pairs for `retap diff` with known changes (run as root from the
# repository root, after cargo build --release). One request loop of
# retap-workload (per request: 5 preads of a file, one write to /dev/null,
# one 1 ms nanosleep), recorded five times unchanged (base-1..5), once with
# twice the reads per request (reads2x) and once with 2 ms sleeps (slow,
# i.e. 1 ms added to one syscall path).
set -euo pipefail
out=${1:-datasets/diff}
bin=target/release
mkdir -p "$out"
rec() {
    rm -rf "$out/$1"
    "$bin/retap" record -o "$out/$1" --events syscalls,processes --zstd-level 9 \
        -c "$bin/retap-workload service --requests 300 --file $bin/retap-workload $2" >/dev/null
}
for i in 1 2 3 4 5; do rec "base-$i" ""; done
rec reads2x "--reads 10"
rec slow "--sleep-us 2000"
