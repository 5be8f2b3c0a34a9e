#!/usr/bin/env bash
# The whole test suite, from a fresh machine: system packages, formatting,
# lints, then every test. Tests that need root (BPF) run when this is run as
# root, as CI does; otherwise they print why they skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
