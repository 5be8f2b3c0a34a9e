#!/usr/bin/env python3
"""Tracepoint recording cost, side by side in one run (root needed).

A scheduler-heavy workload: two threads passing a byte over two pipes
(`retap-workload calls --pingpong N`), each blocking on its read every
round. Both threads are pinned to CPU 0, so each round is two direct
switches between them (no idle task in between: with it, wake-up latency
from idle dominates, and any tracer running on the other CPU changes how
deep the CPUs sleep more than it costs); the tracers run on CPU 1. Timed
untraced, under `retap record --events tracepoints` (the default
tracepoint set, nothing else), under the full default recording, with
sched_switch alone (with and without `--stacks sched_switch`), and
under bpftrace counting sched_switch by comm in the kernel (and, the peer
of --stacks, by kernel stack). The default set's busiest tracepoints
are recorded through raw hooks (tp_btf); the `classic` runs record the
same through the classic tracepoint hooks (RETAP_CLASSIC_TRACEPOINTS=1),
side by side. The added
cost per context switch divides the added time by the sched_switch rows
retap recorded during the run.

Usage: python3 benches/sched_bench.py [--rounds N] [--repeat R]
Build first: cargo build --release
"""
import argparse, os, random, statistics, subprocess, tempfile, time

from tracers import LOAD, under, under_retap


def run_load(rounds):
    t = time.perf_counter()
    subprocess.run(["taskset", "-c", "0", LOAD, "calls", "--pingpong", str(rounds)], check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def retap_args(events):
    if events == "sched_switch":
        # The one tracepoint bpftrace's program probes, nothing else.
        return ["--events", "tracepoints", "--tracepoints=-*,sched:sched_switch"]
    if events == "sched_switch+stacks":
        # The same with each switch's kernel stack (off-CPU analysis).
        return [*retap_args("sched_switch"), "--stacks", "sched_switch"]
    return ["--events", events]


BPFTRACE = ["bpftrace", "-e", "tracepoint:sched:sched_switch { @[comm] = count(); }"]
# The off-CPU peer of --stacks: every switch's kernel stack, counted.
BPFTRACE_STACKS = ["bpftrace", "-e", "tracepoint:sched:sched_switch { @[kstack] = count(); }"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    n = a.rounds
    res = {"untraced": [], "retap sched_switch": [], "retap +stacks": [],
           "retap tracepoints": [], "retap default": [],
           "classic sched_switch": [], "classic tracepoints": [], "bpftrace": [],
           "bpftrace kstack": []}
    switches, tables = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(a.repeat):
            res["untraced"].append(run_load(n))
            runs = [("retap sched_switch", "sched_switch"),
                    ("retap +stacks", "sched_switch+stacks"),
                    ("retap tracepoints", "tracepoints"),
                    ("retap default", "syscalls,processes,net,block,samples,tracepoints"),
                    ("classic sched_switch", "sched_switch"),
                    ("classic tracepoints", "tracepoints")]
            # In a new order each repeat: the machine's drift spreads over all.
            random.shuffle(runs)
            for name, events in runs:
                out = os.path.join(tmp, f"{i}-{name.replace(' ', '_')}")
                env = {"RETAP_CLASSIC_TRACEPOINTS": "1"} if name.startswith("classic") else None
                secs, m = under_retap(out, retap_args(events), lambda _: run_load(n), env=env)
                res[name].append(secs)
                t = m["tables"]["sched.sched_switch"]
                assert t["dropped"] == 0, f"{name}: {t['dropped']} sched_switch rows dropped"
                if name == "retap tracepoints":
                    switches.append(t["events"])
                    for tn, s in m["tables"].items():
                        b = sum(f["bytes"] for f in s["files"])
                        tables.setdefault(tn, []).append((s["events"], b))
            res["bpftrace"].append(under(BPFTRACE, "Attaching", lambda: run_load(n)))
            res["bpftrace kstack"].append(
                under(BPFTRACE_STACKS, "Attaching", lambda: run_load(n)))
    med = {k: statistics.median(v) for k, v in res.items()}
    sw = statistics.median(switches)
    base = med["untraced"]
    print(f"pipe ping-pong, {n} rounds, median of {a.repeat} runs; "
          f"{sw:.0f} sched_switch rows per retap run ({sw / n:.2f} per round)")
    print(f"{'':18} {'s':>7} {'added ns/switch':>16} {'vs bpftrace':>12}")
    bp = (med["bpftrace"] - base) / sw * 1e9
    for k, v in med.items():
        added = (v - base) / sw * 1e9
        rel = f"{added / bp:.2f}" if k != "untraced" else "-"
        print(f"{k:18} {v:7.3f} {added:16.0f} {rel:>12}")
    print("\nbytes per row on disk (retap --events tracepoints run, ping-pong and background):")
    for tn, v in sorted(tables.items()):
        ev = sum(e for e, _ in v)
        b = sum(b for _, b in v)
        print(f"  {tn:28} {ev / len(v):10.0f} rows  " + (f"{b / ev:.2f} B/row" if ev else "-"))


if __name__ == "__main__":
    main()
