#!/usr/bin/env bash
# Twelve seconds of a small, mixed system, long enough for the article's
# 10-second listings: a "syslogd" (a python script by that name, so its comm
# is syslogd) writing log lines with writev between select() timeouts and
# blocking signals around each write; a UDP echo pair on loopback sending
# datagrams of assorted sizes (for nethist.stp); a TCP request loop; short
# shell commands forking now and then (one of them sync(1) each second, for
# Listing 3); and a few direct-I/O disk writes.
set -euo pipefail
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

cat > "$work/syslogd" <<'PY'
#!/usr/bin/python3
import os, select, signal, time
fd = os.open(os.environ["LOG"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
end = time.time() + 12
n = 0
while time.time() < end:
    select.select([], [], [], 0.05)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
    os.writev(fd, [b"<30>", ("message %d" % n).encode(), b"\n"])
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP})
    n += 1
PY
chmod +x "$work/syslogd"
LOG="$work/messages" "$work/syslogd" &

/usr/bin/python3 - <<'PY' &
import socket, time, random
random.seed(7)
srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); srv.bind(("127.0.0.1", 0))
cli = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sizes = [16, 40, 100, 200, 400, 700, 1000, 1400, 3000]
end = time.time() + 12
while time.time() < end:
    n = random.choice(sizes)
    cli.sendto(b"x" * n, srv.getsockname())
    data, addr = srv.recvfrom(65536)
    srv.sendto(data[: max(1, len(data) // 2)], addr)
    cli.recvfrom(65536)
    time.sleep(0.004)
PY

/usr/bin/python3 "$(dirname "$0")/http_load.py" 12 0.05 &

for i in $(seq 1 12); do
  ls / >/dev/null; date >/dev/null; cat /proc/loadavg >/dev/null; sync
  dd if=/dev/zero of="$work/blk" bs=64k count=16 oflag=direct status=none
  sleep 1
done
wait
