#!/usr/bin/env bash
# The whole test suite, from a fresh machine: system packages, formatting,
# lints, then every test. Tests that need root (BPF) run when this is run as
# root, as CI does; otherwise they print why they skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# A clean clone gains nothing from incremental state, and it costs disk.
export CARGO_INCREMENTAL=0
df -h . | awk 'NR==2 {print "disk: " $4 " free on " $6 " before the build"}'
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
# The README's install commands, reusing the build above.
bash scripts/install_check.sh
