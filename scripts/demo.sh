#!/usr/bin/env bash
# The main job on a shipped dataset: build retap, summarise a recorded
# workload, then run the seed article's SystemTap listings over it, as stap
# would have printed them had it been running while the trace was recorded.
# Then a SQL query over the same files and a diff of two recordings.
# Needs no root, and nothing installed but the Rust toolchain: it builds the
# analysis half alone (-p retap), which needs neither clang nor libelf (the
# recorder, which does, is for recording; scripts/setup.sh installs what it
# and the tests need). It builds Cargo.toml's `demo` profile, unoptimized:
# over this dataset the job takes well under a second either way, and the
# build takes a fifth of a release build's time (BENCHMARKS.md). What it
# prints is what the release build prints.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --profile demo -q -p retap
trace=${1:-datasets/mixed}
retap=target/demo/retap
$retap info "$trace"
for q in profile syslog_profile net nethist; do
  echo
  echo "\$ retap run queries/$q.stp --trace $trace"
  $retap run "queries/$q.stp" --trace "$trace" syslogd
done
echo
echo "\$ retap sql $trace 'SELECT execname, count(*) AS calls, sum(dur_ns) / 1e6 AS ms FROM syscalls GROUP BY 1 ORDER BY 2 DESC LIMIT 5'"
$retap sql "$trace" 'SELECT execname, count(*) AS calls, sum(dur_ns) / 1e6 AS ms FROM syscalls GROUP BY 1 ORDER BY 2 DESC LIMIT 5'
# Two recordings of one request loop, the second with 1 ms added to each
# sleep: diff finds that and nothing else (exit status 1 = a change).
echo
echo "\$ retap diff datasets/diff/base-1 datasets/diff/slow"
$retap diff datasets/diff/base-1 datasets/diff/slow || [ $? -eq 1 ]
