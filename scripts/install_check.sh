#!/usr/bin/env bash
# The README's install commands into a scratch root: both binaries land side
# by side, and `retap record` runs the recorder beside it (not one on PATH).
# scripts/test.sh runs this after the tests with --debug in their target
# directory, reusing most of their build; `bash scripts/install_check.sh
# --profile=release` installs what a user gets (CARGO_TARGET_DIR to build
# elsewhere).
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${1:---debug}
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
install() {
  cargo install -q --locked --offline "$profile" --target-dir "${CARGO_TARGET_DIR:-target}" \
    --root "$root" "$@"
}
install --path .
install --path recorder --bin retap-record
test "$(ls "$root/bin" | tr '\n' ' ')" = "retap retap-record "
test -x "$root/bin/retap"
test -x "$root/bin/retap-record"
# The recorder's own help, reached through retap with nothing on PATH.
env PATH=/nonexistent "$root/bin/retap" record --help | grep -q -- '--uprobe'
if [ "$(id -u)" = 0 ]; then
  "$root/bin/retap" record -o "$root/trace" -q -c true
  n=$("$root/bin/retap" sql "$root/trace" --format csv \
    "SELECT count(*) FROM syscalls WHERE execname = 'true'" | tail -1)
  test "$n" -gt 0
  echo "install check: both binaries installed; retap record recorded $n syscalls of true(1)"
elif [ "${CI:-}" = true ]; then
  echo "install check: recording needs root, and CI=true makes that a failure" >&2
  exit 1
else
  echo "install check: both binaries installed; recording skipped (needs root)"
fi
