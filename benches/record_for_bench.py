#!/usr/bin/env python3
"""A recording made for a script (`retap record --for`) against a full one
of the same workload (root needed): bytes on disk, rows, the recorder's
CPU time (wait4: everything it did, loading and, for --for, passes 1-2)
and peak RSS, and the workload's wall time against an untraced run. The
script's output over both recordings must be the same (checked).

Workload, pinned to CPU 0: `retap-workload calls --write W` (writes to
/dev/null) then `retap-workload loop getppid G` (syscalls the script does
not read). The script sums write sizes by process. The recorder runs
system-wide on CPU 1, started before the workload and stopped after it.

Usage: python3 benches/record_for_bench.py [--writes 300000] [--getppid 3000000] [--runs 3]
Build first: cargo build --release
"""
import argparse, json, os, signal, subprocess, tempfile, time

from tracers import LOAD, ROOT, pinned, wait_for

RETAP = os.path.join(ROOT, "target/release/retap")
SCRIPT = """global bytes
probe syscall.write { if (execname() == "retap-workload") bytes[execname()] <<< count }
probe end { foreach (e in bytes) printf("%s %d %d\\n", e, @count(bytes[e]), @sum(bytes[e])) }
"""


def work(writes, getppid):
    t = time.perf_counter()
    subprocess.run(pinned([LOAD, "calls", "--write", str(writes)], "0"), check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run(pinned([LOAD, "loop", "getppid", str(getppid)], "0"), check=True)
    return time.perf_counter() - t


def record(out, args, writes, getppid):
    """(workload seconds, recorder CPU s, peak RSS MiB, bytes, rows)."""
    p = subprocess.Popen(pinned([RETAP, "record", "-o", out, "-q", *args], "1"))
    wait_for(lambda: os.path.exists(os.path.join(out, "trace.json")))
    time.sleep(1.0)
    secs = work(writes, getppid)
    p.send_signal(signal.SIGINT)
    _, status, ru = os.wait4(p.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, status
    m = json.load(open(os.path.join(out, "trace.json")))
    size = sum(f["bytes"] for t in m["tables"].values() for f in t.get("files", []))
    rows = sum(t["events"] for t in m["tables"].values())
    return secs, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024, size, rows


def output(trace, script):
    return subprocess.run([RETAP, "run", script, "--trace", trace], check=True,
                          capture_output=True, text=True).stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--writes", type=int, default=300_000)
    ap.add_argument("--getppid", type=int, default=3_000_000)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        script = os.path.join(tmp, "writes.stp")
        open(script, "w").write(SCRIPT)
        rows = {"untraced": [], "full": [], "for": []}
        for i in range(a.runs):
            rows["untraced"].append((work(a.writes, a.getppid), 0, 0, 0, 0))
            outs = {}
            for kind, args in [("full", []), ("for", ["--for", script])]:
                d = os.path.join(tmp, f"{kind}{i}")
                rows[kind].append(record(d, args, a.writes, a.getppid))
                outs[kind] = output(d, script)
            assert outs["full"] == outs["for"], outs
            assert outs["for"].startswith(f"retap-workload {a.writes + 1} "), outs["for"]
        base = min(r[0] for r in rows["untraced"])
        print(f"workload: {a.writes} writes + {a.getppid} getppid, best of {a.runs}")
        print(f"{'':10} {'workload s':>10} {'vs untraced':>11} {'rec CPU s':>9} "
              f"{'RSS MiB':>8} {'MB':>8} {'rows':>10}")
        for kind, rs in rows.items():
            best = min(rs, key=lambda r: r[0])
            cpu = min(r[1] for r in rs)
            rss = min(r[2] for r in rs)
            mb = min(r[3] for r in rs) / 1e6
            n = min(r[4] for r in rs)
            print(f"{kind:10} {best[0]:10.3f} {best[0] / base:10.2f}x {cpu:9.2f} "
                  f"{rss:8.1f} {mb:8.2f} {n:10}")


if __name__ == "__main__":
    main()
