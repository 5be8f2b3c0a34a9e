#!/usr/bin/env bash
# A disk-heavy job: 64 MiB written and read back with O_DIRECT (so every
# request reaches the block layer), then 200 small files written and synced.
set -euo pipefail
dir=$(mktemp -d /var/tmp/retap-disk.XXXXXX)
trap 'rm -rf "$dir"' EXIT
dd if=/dev/zero of="$dir/big" bs=1M count=64 oflag=direct status=none
dd if="$dir/big" of=/dev/null bs=256K iflag=direct status=none
for i in $(seq 200); do
  head -c 4096 /dev/urandom > "$dir/f$i"
done
sync
