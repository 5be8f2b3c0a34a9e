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
import argparse, json, os, statistics, subprocess, tempfile, time

from tracers import LOAD, ROOT, under, under_retap


def run_loop(n):
    t = time.perf_counter()
    subprocess.run(["taskset", "-c", "0", LOAD, "loop", "getppid", str(n)], check=True)
    return (time.perf_counter() - t) / n * 1e9


def vm_hwm(pid):
    """A process's peak RSS in bytes (0 when it is gone)."""
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


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
            (ns, h), m = under_retap(out, ["--events", "syscalls"],
                                     lambda pid: (run_loop(n), vm_hwm(pid)))
            res["retap"].append(ns)
            hwm.append(h)
            t = m["tables"]["syscalls"]
            drops.append(t["dropped"] + t["unpaired"])
            rows.append(t["events"])
            bytes_.append(sum(f["bytes"] for f in t["files"]))
            res["bpftrace"].append(under(
                ["bpftrace", "-e", "tracepoint:raw_syscalls:sys_enter { @[comm] = count(); }"],
                "Attaching", lambda: run_loop(n), cpu=None))
            pdata = os.path.join(tmp, f"perf{i}.data")
            res["perf"].append(under(
                ["perf", "record", "-q", "-a", "-e", "raw_syscalls:sys_enter",
                 "-e", "raw_syscalls:sys_exit", "-o", pdata], None, lambda: run_loop(n), cpu=None))
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
