#!/usr/bin/env python3
"""Recorder benchmarks, side by side in one run (root needed):

  1. added cost per syscall of a tight getppid() loop: untraced, under
     `retap record` (syscalls table), under bpftrace counting per comm in the
     kernel, and under `perf record` of raw_syscalls enter+exit;
  2. whether that loop, pinned to one core, is recorded with zero drops
     (the highest rate this machine can generate on one core);
  3. bytes per event on disk for the loop and for the shipped datasets;
  4. the recorder's peak RSS (VmHWM) during the loop.

Usage: python3 benches/record_bench.py [--calls N] [--repeat R]
Build first: cargo build --release
"""
import argparse, json, os, signal, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REC = os.path.join(ROOT, "target/release/retap-record")
LOAD = os.path.join(ROOT, "target/release/retap-workload")


def run_loop(n):
    t = time.perf_counter()
    subprocess.run(["taskset", "-c", "0", LOAD, "loop", "getppid", str(n)], check=True)
    return (time.perf_counter() - t) / n * 1e9


def wait_for(pred, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


def under_retap(n, out):
    p = subprocess.Popen(["taskset", "-c", "1", REC, "-o", out, "--events", "syscalls", "-q"],
                         stderr=subprocess.PIPE)
    # trace.json appears before attach; the probes list is filled after.
    wait_for(lambda: os.path.exists(os.path.join(out, "trace.json")))
    time.sleep(1.0)
    ns = run_loop(n)
    hwm = 0
    try:
        for line in open(f"/proc/{p.pid}/status"):
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) * 1024
    except OSError:
        pass
    p.send_signal(signal.SIGINT)
    p.wait()
    m = json.load(open(os.path.join(out, "trace.json")))
    return ns, hwm, m


def under(cmd, ready, n):
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    buf = []
    def is_ready():
        line = p.stdout.readline()
        buf.append(line)
        return ready in line
    if ready:
        wait_for(is_ready)
    time.sleep(1.0)
    ns = run_loop(n)
    p.send_signal(signal.SIGINT)
    try:
        p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
    return ns


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=5_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    n = a.calls
    res = {"untraced": [], "retap": [], "bpftrace": [], "perf": []}
    hwm, drops, rows, bytes_, per_syscall = [], [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(a.repeat):
            res["untraced"].append(run_loop(n))
            out = os.path.join(tmp, f"r{i}")
            ns, h, m = under_retap(n, out)
            res["retap"].append(ns)
            hwm.append(h)
            t = m["tables"]["syscalls"]
            drops.append(t["dropped"] + t["unpaired"])
            rows.append(t["events"])
            bytes_.append(sum(f["bytes"] for f in t["files"]))
            res["bpftrace"].append(under(
                ["bpftrace", "-e", "tracepoint:raw_syscalls:sys_enter { @[comm] = count(); }"],
                "Attaching", n))
            pdata = os.path.join(tmp, f"perf{i}.data")
            res["perf"].append(under(
                ["perf", "record", "-q", "-a", "-e", "raw_syscalls:sys_enter",
                 "-e", "raw_syscalls:sys_exit", "-o", pdata], None, n))
    med = {k: statistics.median(v) for k, v in res.items()}
    base = med["untraced"]
    print(f"tight getppid() loop, {n} calls, median of {a.repeat} runs, loop pinned to CPU 0")
    print(f"{'':10} {'ns/call':>9} {'added ns':>9} {'added vs bpftrace':>18}")
    for k in ["untraced", "retap", "bpftrace", "perf"]:
        added = med[k] - base
        rel = added / (med["bpftrace"] - base) if k != "untraced" else float("nan")
        print(f"{k:10} {med[k]:9.0f} {added:9.0f} {rel:18.2f}")
    print(f"retap: {statistics.median(rows):.0f} rows/run, dropped per run: {drops}, "
          f"{statistics.median(bytes_) / statistics.median(rows):.2f} bytes/syscall on disk, "
          f"recorder peak RSS {max(hwm) / 2**20:.1f} MiB")
    print(f"generated rate under retap: {1e9 / med['retap'] / 1e6:.2f} M syscalls/s on one core")
    print("\ndatasets (bytes per event on disk):")
    for d in sorted(os.listdir(os.path.join(ROOT, "datasets"))):
        mp = os.path.join(ROOT, "datasets", d, "trace.json")
        if not os.path.exists(mp):
            continue
        m = json.load(open(mp))
        parts = []
        for t, s in sorted(m["tables"].items()):
            b = sum(f["bytes"] for f in s["files"])
            parts.append(f"{t} {b / s['events']:.2f}" if s["events"] else f"{t} -")
        print(f"  {d:12} " + ", ".join(parts))


if __name__ == "__main__":
    main()
