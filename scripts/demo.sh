#!/usr/bin/env bash
# The main job on a shipped dataset: build retap and summarise a recorded
# workload (a web server under load on loopback). Needs no root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release -q
trace=${1:-datasets/web}
target/release/retap info "$trace"
