#!/usr/bin/env python3
"""User-space probes against bpftrace, side by side (root):

1. Added cost per call of a probed function: the test program
   (testkit/c/uprobe_target.c, built here with cc -O2) calls rt_add N
   times in a tight loop on CPU 0 while the tracer runs on CPU 1;
   (traced - untraced) / N. Entry: retap live counting the calls by
   process name (`process(BIN).function("rt_add") { c[execname()]++ }`:
   counted in the kernel), the same with a guard (every call streamed and
   interpreted), retap-record recording them (`--uprobe
   function:BIN:rt_add`), and `bpftrace -e 'uprobe:BIN:rt_add {
   @[comm] = count(); }'`; return: `.return` (streamed: returns are not
   counted in the kernel), `--uprobe return:...` and `uretprobe:`.
2. Bytes per uprobe event on disk: a recording of N entries and of N
   returns, the uprobes table's Parquet bytes / rows.

Usage: python3 benches/uprobe_bench.py [--runs 5] [--calls 1000000]
Build first: cargo build --release
"""
import argparse, json, os, subprocess, tempfile, time

from tracers import REC, ROOT, pinned, under, under_retap

RETAP = os.path.join(ROOT, "target/release/retap")
SRC = os.path.join(ROOT, "testkit/c/uprobe_target.c")


def build(tmp):
    out = os.path.join(tmp, "uprobe_target")
    subprocess.run(["cc", "-O2", "-o", out, SRC], check=True)
    return out


def calls(bin, n):
    t = time.perf_counter()
    subprocess.run(pinned([bin, str(n)], "0"), check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def script(bin, suffix, guard=False):
    body = "if (pid() > 0) c[execname()]++" if guard else "c[execname()]++"
    return ('global c probe process("%s").function("rt_add")%s { %s } '
            'probe end { foreach (k in c) printf("%%s %%d\\n", k, c[k]) }' % (bin, suffix, body))


def cost(bin, n, runs, tmp):
    base = min(calls(bin, n) for _ in range(runs))
    print(f"cost per call ({n} calls of rt_add on CPU 0, tracer on CPU 1, best of {runs}):")
    print(f"  untraced: {base:.3f} s ({base / n * 1e9:.0f} ns/call)")
    for kind, suffix, bt in [("entry", "", "uprobe"), ("return", ".return", "uretprobe")]:
        rows = {
            "retap run (live)": lambda: min(
                under([RETAP, "run", "-e", script(bin, suffix)], None, lambda: calls(bin, n))
                for _ in range(runs)),
            "retap run, streamed": lambda: min(
                under([RETAP, "run", "-e", script(bin, suffix, True)], None,
                      lambda: calls(bin, n))
                for _ in range(runs)),
            "retap-record": lambda: min(
                under_retap(os.path.join(tmp, f"rec-{kind}-{i}"),
                            ["--events", "processes", "--uprobe",
                             f"{'function' if kind == 'entry' else 'return'}:{bin}:rt_add"],
                            lambda _pid: calls(bin, n))[0]
                for i in range(runs)),
            "bpftrace": lambda: min(
                under(["bpftrace", "-e", f"{bt}:{bin}:rt_add {{ @[comm] = count(); }}"],
                      "Attaching", lambda: calls(bin, n))
                for _ in range(runs)),
        }
        added = {}
        print(f"  {kind}:")
        for name, run in rows.items():
            best = run()
            added[name] = (best - base) / n * 1e9
            print(f"    {name:18} {best:.3f} s, +{added[name]:.0f} ns/call")
        for name in ("retap run (live)", "retap run, streamed", "retap-record"):
            print(f"    {name} / bpftrace added cost: {added[name] / added['bpftrace']:.2f}x")


def size(bin, n, tmp):
    print(f"\nbytes on disk per uprobe event ({n} calls):")
    for kind in ("function", "return"):
        out = os.path.join(tmp, f"size-{kind}")
        subprocess.run([REC, "-o", out, "--events", "processes", "--uprobe",
                        f"{kind}:{bin}:rt_add", "-q", "-c", f"{bin} {n}"],
                       check=True, stdout=subprocess.DEVNULL)
        m = json.load(open(os.path.join(out, "trace.json")))
        t = m["tables"]["uprobes"]
        b = sum(f["bytes"] for f in t["files"])
        print(f"  {kind:8} {t['events']} rows, {b} bytes: {b / t['events']:.2f} bytes/event")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--calls", type=int, default=1_000_000)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bin = build(tmp)
        cost(bin, a.calls, a.runs, tmp)
        size(bin, a.calls, tmp)


if __name__ == "__main__":
    main()
