#!/usr/bin/env python3
"""Analyzer benchmarks, side by side in one run, over synthetic traces made
by `retap synth` (cached under target/bench-traces-v2):

  - the interpreter (pass 5, --interpret-only) on a profile.stp-style script (count by pid,
    execname) over 10M and 100M syscall events: events/s on one core and
    peak RSS (it must stay flat as the trace grows);
  - DuckDB running the equivalent GROUP BY over the same Parquet files, for
    scale (it uses all cores and no interpreter).

Usage: python3 benches/analyze_bench.py [--sizes 10000000,100000000]
Build first: cargo build --release
"""
import argparse, os, re, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RETAP = os.path.join(ROOT, "target/release/retap")
from bench_cache import CACHE  # noqa: E402
SCRIPT = """global c
probe syscall.* { c[pid(), execname()]++ }
probe end { foreach ([p, e] in c- limit 5) printf("%d %s %d\\n", p, e, c[p, e]) }
"""


def trace(n):
    d = os.path.join(CACHE, f"synth-{n}")
    if not os.path.exists(os.path.join(d, "trace.json")):
        os.makedirs(CACHE, exist_ok=True)
        secs = max(60, n // 170_000)
        subprocess.run([RETAP, "synth", "-o", d, "--events", str(n), "--seconds", str(secs)], check=True)
    return d


def timed(cmd):
    """(wall seconds, peak RSS MiB, stdout, stderr) via /usr/bin/time -v."""
    t = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        sys.exit(f"{cmd[0]} failed: {p.stderr}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr).group(1)) / 1024
    return wall, rss, p.stdout, p.stderr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000000,100000000")
    a = ap.parse_args()
    script = os.path.join(CACHE, "profile_bench.stp")
    os.makedirs(CACHE, exist_ok=True)
    open(script, "w").write(SCRIPT)
    print(f"{'events':>12} {'retap interp':>14} {'events/s':>10} {'RSS MiB':>8} {'duckdb':>8} {'RSS MiB':>8}")
    for n in [int(x) for x in a.sizes.split(",")]:
        d = trace(n)
        wall, rss, out, err = timed(["taskset", "-c", "0", RETAP, "run", "-v", "--interpret-only", script, "--trace", d])
        pass5 = int(re.search(r"Pass 5: run completed in (\d+)usr", err).group(1)) / 1000
        sql = (f"select pid, execname, count(*) c from read_parquet('{d}/syscalls/*.parquet') "
               "group by all order by c desc limit 5")
        dwall, drss, dout, _ = timed([sys.executable, "-c",
            f"import duckdb; print(duckdb.sql(\"{sql}\").fetchall())"])
        print(f"{n:>12} {wall:>12.2f} s {n / pass5 / 1e6:>8.1f} M {rss:>8.0f} {dwall:>6.2f} s {drss:>8.0f}")


if __name__ == "__main__":
    main()
