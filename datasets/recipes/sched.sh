#!/usr/bin/env bash
# Eight seconds of scheduler, signal and interrupt activity, for the
# tracepoint tables a recording takes by default: two threads of a python
# "pingpong" passing a byte over pipes (each blocks every round, so the
# scheduler switches them out and wakes them), a "sigtarget" that handles
# SIGUSR1/SIGUSR2 sent by a shell loop (and SIGCHLD from its children), a
# busy "spinner" moved between the CPUs by taskset (migrations),
# loopback TCP requests (softirqs, connects, packets with ports) and a
# "udpecho" pair exchanging datagrams by address (sendto, recvfrom).
#
# Recorded system-wide (the scheduler's view needs the tasks switched in,
# which -c would leave out): run as
#   target/release/retap record -o datasets/sched --zstd-level 9 --duration 9 --events processes,syscalls,net,tracepoints &
#   sleep 0.5; bash datasets/recipes/sched.sh; wait
set -euo pipefail
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

cat > "$work/pingpong" <<'PY'
#!/usr/bin/python3
import os, threading, time
a_r, a_w = os.pipe(); b_r, b_w = os.pipe()
end = time.time() + 7
def other():
    while True:
        b = os.read(a_r, 1)
        if b == b"q":
            return
        os.write(b_w, b)
t = threading.Thread(target=other, name="pong"); t.start()
while time.time() < end:
    os.write(a_w, b"p"); os.read(b_r, 1)
    time.sleep(0.001)
os.write(a_w, b"q"); t.join()
PY
chmod +x "$work/pingpong"
"$work/pingpong" &

cat > "$work/sigtarget" <<'PY'
#!/usr/bin/python3
import os, signal, time
got = {}
def h(sig, frame):
    got[sig] = got.get(sig, 0) + 1
signal.signal(signal.SIGUSR1, h); signal.signal(signal.SIGUSR2, h)
open(os.environ["READY"], "w").close()
end = time.time() + 7.5
while time.time() < end:
    time.sleep(0.05)
PY
chmod +x "$work/sigtarget"
READY="$work/ready" "$work/sigtarget" &
target=$!
while [ ! -e "$work/ready" ]; do sleep 0.05; done
(for i in $(seq 1 40); do kill -USR1 $target; sleep 0.1; done
 for i in $(seq 1 10); do kill -USR2 $target; sleep 0.2; done) &

cat > "$work/spinner" <<'PY'
#!/usr/bin/python3
import time
end = time.time() + 6
while time.time() < end:
    pass
PY
chmod +x "$work/spinner"
"$work/spinner" &
spin=$!
(for i in $(seq 1 10); do taskset -p -c $((i % 2)) $spin >/dev/null; sleep 0.5; done) &

cat > "$work/udpecho" <<'PY'
#!/usr/bin/python3
import socket, time
srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); srv.bind(("127.0.0.1", 0))
cli = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); cli.bind(("127.0.0.1", 0))
for i in range(30):
    cli.sendto(b"ping %d" % i, srv.getsockname())
    data, peer = srv.recvfrom(64)
    srv.sendto(data, peer)
    cli.recvfrom(64)
    time.sleep(0.1)
PY
chmod +x "$work/udpecho"
"$work/udpecho" &

/usr/bin/python3 "$(dirname "$0")/http_load.py" 7 0.02 &
wait
