#!/usr/bin/env python3
"""`retap diff` of two synthetic traces (`retap synth`, seeds 1 and 2,
cached under target/bench-traces-v2) against DuckDB running the equivalent
aggregation over the same Parquet files: per execname x syscall the count,
the bytes of byte-moving syscalls and exact latency p50/p90/p99, for both
traces (what diff needs before its tests). Wall time (best of --repeat) and
peak RSS.

Usage: python3 benches/diff_bench.py [--sizes 10000000] [--repeat 3]
Build first: cargo build --release
"""
import argparse, os, subprocess, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from plan_bench import CACHE, RETAP, timed  # noqa: E402
BYTES = "'read','write','pread64','pwrite64','readv','writev','preadv','pwritev','preadv2','pwritev2','recvfrom','sendto','recvmsg','sendmsg','sendfile','splice','tee','copy_file_range'"
SQL = ("select execname, syscall, count(*), sum(case when ret > 0 and syscall in (" + BYTES + ") then ret else 0 end), "
       "quantile_cont(dur_ns, [0.5, 0.9, 0.99]) from '{d}/syscalls/*.parquet' group by all")


def trace(n, seed):
    name = f"synth-{n}" if seed == 1 else f"synth-{n}-seed{seed}"
    d = os.path.join(CACHE, name)
    if not os.path.exists(os.path.join(d, "trace.json")):
        os.makedirs(CACHE, exist_ok=True)
        subprocess.run([RETAP, "synth", "-o", d, "--events", str(n), "--seed", str(seed),
                        "--seconds", str(max(60, n // 170_000))], check=True)
    return d


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000000")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    print(f"{'events/trace':>12} {'retap diff':>10} {'RSS':>6} {'duckdb':>8} {'RSS':>6} {'diff/duckdb':>11} {'keys':>6}")
    for n in [int(x) for x in a.sizes.split(",")]:
        d1, d2 = trace(n, 1), trace(n, 2)
        tr, rr, out = timed([RETAP, "diff", d1, d2, "--format", "json"], a.repeat, ok=(0, 1))
        keys = out.count('"status"')
        q = "\n".join([
            "import duckdb, time",
            "best = 1e9",
            f"for _ in range({a.repeat}):",
            "  t = time.perf_counter()",
            f"  duckdb.sql({SQL.format(d=d1)!r}).fetchall()",
            f"  duckdb.sql({SQL.format(d=d2)!r}).fetchall()",
            "  best = min(best, time.perf_counter() - t)",
            "print(best)",
        ])
        _, rd, out_d = timed([sys.executable, "-c", q], 1)
        td = float(out_d.strip())
        print(f"{n:>12} {tr:>9.2f}s {rr:>5}M {td:>7.2f}s {rd:>5}M {tr / td:>10.2f}x {keys:>6}")


if __name__ == "__main__":
    main()
