#!/usr/bin/env bash
# Installs what retap needs from the system on a fresh Debian machine:
# clang/llvm compile bpf/*.bpf.c, libelf/zlib headers and pkg-config build the
# vendored libbpf, bpftool is not needed (vmlinux types are hand-kept in bpf/).
# bpftrace, perf and DuckDB are the independent peers the tests and benchmarks
# compare against. systemtap-doc ships stap's example scripts, which the
# front end's tests parse (stap itself is not installed). chromium renders
# retap diff's HTML report in a test; s3s-fs is the S3 server of the
# object-storage tests. Idempotent: does nothing when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v clang >/dev/null || need+=(clang)
command -v llvm-strip >/dev/null || need+=(llvm)
[ -e /usr/include/libelf.h ] || need+=(libelf-dev)
[ -e /usr/include/zlib.h ] || need+=(zlib1g-dev)
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v bpftrace >/dev/null || need+=(bpftrace)
command -v perf >/dev/null || need+=(linux-perf)
# SystemTap's own example scripts (and tapsets, for argstr/errno reference):
# the front end's real-world parse test reads them from /usr/share/systemtap.
[ -d /usr/share/systemtap/examples ] || need+=(systemtap-doc)
[ -d /usr/share/systemtap/tapset ] || need+=(systemtap-common)
# <sys/sdt.h>: the user-space probe tests build a program with USDT marks.
[ -e /usr/include/x86_64-linux-gnu/sys/sdt.h ] || [ -e /usr/include/sys/sdt.h ] \
  || need+=(systemtap-sdt-dev)
# Headless Chromium opens retap diff's HTML report in its test.
command -v chromium >/dev/null || need+=(chromium)
# systemd-analyze verifies contrib/retap-record.service in its test.
command -v systemd-analyze >/dev/null || need+=(systemd)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: need root to install: ${need[*]}" >&2; exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
python3 -c 'import duckdb' 2>/dev/null || python3 -m pip install -q duckdb
# A real S3-compatible server for the object-storage tests (s3s-fs, run on
# loopback by the tests themselves): built from crates.io into target/tools
# once (~1.5 min). 0.14 is the newest line this toolchain (Rust 1.95) builds.
# One change (scripts/s3s-fs-nodelay.patch): its connections send without
# Nagle's delay, as S3's do; unpatched, every GET waited ~40 ms for the
# client's delayed ACK, and the store benchmarks measured that.
if [ ! -x target/tools/bin/s3s-fs ] || [ ! -e target/tools/s3s-fs-nodelay ]; then
  fetch=$(mktemp -d)
  mkdir -p "$fetch/src" && : > "$fetch/src/lib.rs"
  printf '[package]\nname = "fetch"\nversion = "0.0.0"\nedition = "2021"\n[dependencies]\ns3s-fs = "=0.14.1"\n[workspace]\n' > "$fetch/Cargo.toml"
  (cd "$fetch" && cargo fetch --quiet)
  src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/s3s-fs-0.14.1 | head -1)
  build=$(mktemp -d)
  cp -r "$src/." "$build" && chmod -R u+w "$build"
  patch -s -p1 -d "$build" < scripts/s3s-fs-nodelay.patch
  cargo install --quiet --locked --path "$build" --features binary --root target/tools --force
  rm -rf "$fetch" "$build"
  touch target/tools/s3s-fs-nodelay
fi
# tracefs: the recorder reads tracepoint ids from it on some libbpf paths.
if [ "$(id -u)" -eq 0 ] && [ ! -e /sys/kernel/tracing/events ]; then
  mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null || true
fi
