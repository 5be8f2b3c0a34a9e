#!/usr/bin/env bash
# The main job on a shipped dataset: build retap, summarise a recorded
# workload, then run the seed article's SystemTap listings over it, as stap
# would have printed them had it been running while the trace was recorded.
# Needs no root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release -q
trace=${1:-datasets/mixed}
retap=target/release/retap
$retap info "$trace"
for q in profile syslog_profile net nethist; do
  echo
  echo "\$ retap run queries/$q.stp --trace $trace"
  $retap run "queries/$q.stp" --trace "$trace" syslogd
done
