#!/usr/bin/env bash
# Twelve seconds of small-file work for the tracepoints a recording takes
# only when asked (kmem's allocations, the block layer's requests, the
# scheduler's process reaping): every half second a shell writes 20 small
# files, fsyncs one with sync(1) (block requests), reads them with cat,
# forks a child and waits for it (sched_process_wait), sends itself
# SIGUSR1 with kill (the kill syscall) and removes the files. Long enough for
# vm.tracepoints.stp's 10-second report. Recorded with -c, as the README
# says, with the tracepoints named:
#   target/release/retap record -o datasets/kmem --zstd-level 9 \
#     --events processes,syscalls,tracepoints \
#     --tracepoints 'kmem:kmalloc,kmem:kfree,kmem:kmem_cache_alloc,kmem:kmem_cache_free,sched:sched_process_wait,sched:sched_process_free,block:block_rq_insert,block:block_rq_issue,block:block_rq_complete,block:block_plug' \
#     -c "bash datasets/recipes/kmem.sh"
set -euo pipefail
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
got=0
trap 'got=$((got + 1))' USR1
end=$(($(date +%s) + 12))
round=0
while [ "$(date +%s)" -lt "$end" ]; do
    for ((j = 1; j <= 20; j++)); do
        echo "round $round file $j" > "$work/f$j"
    done
    sync "$work/f1"
    cat "$work"/f* > /dev/null
    (exit 0) &
    wait $!
    kill -USR1 $$
    rm -f "$work"/f*
    round=$((round + 1))
    sleep 0.5
done
echo "rounds=$round signals=$got"
