#!/usr/bin/env python3
"""Cost of recording file names, side by side in one run (root needed).

A tight loop of openat("/etc/hostname") + close (`retap-workload loop
openat N`) pinned to CPU 0, the tracers on CPU 1: untraced, under `retap
record --events syscalls` (every syscall in full, openat's file name read
at entry), the same with `--string-max 0` (no file names), and bpftrace
counting openat by file name in the kernel
(`tracepoint:syscalls:sys_enter_openat { @[str(args->filename)] = count(); }`).
Added cost is per openat (each round is one openat and one close; retap
records both, bpftrace only sees the openat).

Usage: python3 benches/paths_bench.py [--rounds N] [--repeat R] [--before REC]
Build first: cargo build --release. `--before`: another build of
retap-record (e.g. the previous commit's), run side by side with
`--syscalls openat`.
"""
import argparse, os, random, statistics, subprocess, tempfile, time

from tracers import LOAD, REC, under, under_retap


def run_loop(n):
    t = time.perf_counter()
    subprocess.run(["taskset", "-c", "0", LOAD, "loop", "openat", str(n)], check=True)
    return (time.perf_counter() - t) / n * 1e9


BPFTRACE = ["bpftrace", "-e",
            "tracepoint:syscalls:sys_enter_openat { @[str(args->filename)] = count(); }"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--before", help="another retap-record build to compare")
    a = ap.parse_args()
    n = a.rounds
    res = {"untraced": [], "retap, file names": [], "retap, --string-max 0": [],
           "retap --syscalls openat": [], "bpftrace": []}
    runs = [("retap, file names", [], REC),
            ("retap, --string-max 0", ["--string-max", "0"], REC),
            # What bpftrace's program sees: the openats alone.
            ("retap --syscalls openat", ["--syscalls", "openat"], REC)]
    if a.before:
        res["before: --syscalls openat"] = []
        runs.append(("before: --syscalls openat", ["--syscalls", "openat"], a.before))
    sizes = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(a.repeat):
            # Each repeat in its own order: drift over the run (this
            # machine's speed wanders) does not favour whoever goes first.
            order = ["untraced", "bpftrace", *range(len(runs))]
            random.shuffle(order)
            for r in order:
                if r == "untraced":
                    res["untraced"].append(run_loop(n))
                    continue
                if r == "bpftrace":
                    res["bpftrace"].append(under(BPFTRACE, "Attaching", lambda: run_loop(n)))
                    continue
                name, extra, rec = runs[r]
                out = os.path.join(tmp, f"{i}-{r}")
                ns, m = under_retap(out, ["--events", "syscalls", *extra], lambda _: run_loop(n),
                                    rec=rec)
                res[name].append(ns)
                t = m["tables"]["syscalls"]
                assert t["dropped"] == 0 and t.get("strings_lost", 0) == 0, t
                sizes.setdefault(name, []).append(
                    sum(f["bytes"] for f in t["files"]) / t["events"])
    med = {k: statistics.median(v) for k, v in res.items()}
    base = med["untraced"]
    bp = med["bpftrace"] - base
    print(f"openat+close loop, {n} rounds, median of {a.repeat} runs (shuffled), loop pinned to CPU 0")
    print(f"{'':26} {'ns/round':>9} {'added ns/openat':>16} {'vs bpftrace':>12}")
    for k, v in med.items():
        added = v - base
        rel = f"{added / bp:.2f}" if k != "untraced" else "-"
        print(f"{k:26} {v:9.0f} {added:16.0f} {rel:>12}")
    for k, v in sizes.items():
        print(f"{k}: {statistics.median(v):.2f} bytes per syscall row on disk")


if __name__ == "__main__":
    main()
