#!/usr/bin/env python3
"""Cost of recording socket addresses and packet headers, side by side in
one run (root needed).

A tight loop of sendto(self) + recvfrom by address on a UDP socket bound
to 127.0.0.1 (`retap-workload loop udp N`) pinned to CPU 0, the tracers on
CPU 1: untraced; `retap record --events syscalls` (sendto's address read
at entry, recvfrom's at exit); `--events net` (two packets a round, each
IP/UDP header parsed in the kernel for addresses and ports); and, with
--before BIN, the same two under another build of retap-record (one that
records neither addresses nor packet headers) for the added cost; and
bpftrace counting the sent packets by length in the kernel
(`tracepoint:net:net_dev_xmit { @[args->len] = count(); }`) as a peer.

Usage: python3 benches/net_bench.py [--rounds N] [--repeat R] [--before BIN]
Build first: cargo build --release
"""
import argparse, os, statistics, subprocess, tempfile, time

from tracers import LOAD, under, under_retap


def run_loop(n):
    t = time.perf_counter()
    subprocess.run(["taskset", "-c", "0", LOAD, "loop", "udp", str(n)], check=True)
    return (time.perf_counter() - t) / n * 1e9


BPFTRACE = ["bpftrace", "-e", "tracepoint:net:net_dev_xmit { @[args->len] = count(); }"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=500_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--before", help="another retap-record build to compare with")
    a = ap.parse_args()
    n = a.rounds
    variants = [("syscalls", ["--events", "syscalls"], None), ("net", ["--events", "net"], None)]
    if a.before:
        variants += [("syscalls, before", ["--events", "syscalls"], a.before),
                     ("net, before", ["--events", "net"], a.before)]
    res = {"untraced": [], **{v[0]: [] for v in variants}, "bpftrace net_dev_xmit": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(a.repeat):
            res["untraced"].append(run_loop(n))
            for name, args, rec in variants:
                out = os.path.join(tmp, f"{i}-{name.replace(' ', '_').replace(',', '')}")
                kw = {"rec": rec} if rec else {}
                ns, m = under_retap(out, args, lambda _: run_loop(n), **kw)
                for t in m["tables"].values():
                    assert t["dropped"] == 0, (name, t)
                res[name].append(ns)
            res["bpftrace net_dev_xmit"].append(under(BPFTRACE, "Attaching", lambda: run_loop(n)))
    med = {k: statistics.median(v) for k, v in res.items()}
    base = med["untraced"]
    print(f"sendto+recvfrom UDP loop on lo, {n} rounds, median of {a.repeat} runs, loop pinned to CPU 0")
    print(f"{'':24} {'ns/round':>9} {'added ns/round':>15}")
    for k, v in med.items():
        print(f"{k:24} {v:9.0f} {v - base:15.0f}")
    if a.before:
        for t in ["syscalls", "net"]:
            print(f"{t}: now - before = {med[t] - med[t + ', before']:+.0f} ns/round")


if __name__ == "__main__":
    main()
