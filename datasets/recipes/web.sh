#!/usr/bin/env bash
# A local web server under load on loopback: python3's http.server serving a
# small directory, and a client with 4 threads doing GETs for 4 seconds.
set -euo pipefail
root=$(mktemp -d)
head -c 2000 /dev/urandom | base64 > "$root/small.txt"
head -c 60000 /dev/urandom | base64 > "$root/large.txt"
python3 -m http.server 18080 --bind 127.0.0.1 --directory "$root" >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$root"' EXIT
python3 - <<'PY'
import threading, time, urllib.request
for _ in range(50):
    try:
        urllib.request.urlopen("http://127.0.0.1:18080/small.txt").read(); break
    except OSError:
        time.sleep(0.1)
stop = time.time() + 4
def client(i):
    n = 0
    while time.time() < stop:
        name = "large.txt" if n % 4 == 0 else "small.txt"
        urllib.request.urlopen(f"http://127.0.0.1:18080/{name}").read()
        n += 1
ts = [threading.Thread(target=client, args=(i,)) for i in range(4)]
[t.start() for t in ts]
[t.join() for t in ts]
PY
