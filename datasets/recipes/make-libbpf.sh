#!/usr/bin/env bash
# Compiling a C project: libbpf (vendored by the libbpf-sys crate, so it is
# on any machine that built retap) with make -j2, static library only.
set -euo pipefail
src=$(ls -d ~/.cargo/registry/src/*/libbpf-sys-*/libbpf/src | head -1)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$src/.." "$work/libbpf"
make -s -C "$work/libbpf/src" -j2 OBJDIR="$work/obj" BUILD_STATIC_ONLY=y >/dev/null
