#!/usr/bin/env python3
"""A value sort printing every element (issue 22's shape): counts tie all
the time. `retap synth --events 20000000 --processes 50000 --seconds 600`
(cached under target/bench-traces-v2), profile.stp's aggregation printed
whole (`foreach ([p, n] in c-)`), against DuckDB's warm in-process
`GROUP BY pid, execname ORDER BY count DESC` over the same files, and the
four plan_bench scripts at 10M for what the change costs elsewhere. With
--before BIN, the same runs with another build side by side (outputs
must be equal).

Usage: python3 benches/sort_ties_bench.py [--before /path/to/old/retap] [--repeat 5]
Build first: cargo build --release
"""
import argparse, os, subprocess, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RETAP = os.path.join(ROOT, "target/release/retap")
from bench_cache import CACHE  # noqa: E402
SCRIPTS = os.path.join(ROOT, "benches/scripts")
FULL = """global c
probe syscall.* { c[pid(), execname()]++ }
probe end { foreach ([p, n] in c-) printf("%s %d %d\\n", n, p, c[p, n]) }
"""
# Limited sorts: the top 100 shows no ties on the 20M trace, the top 1000
# and 10000 do (their tied elements' first firings are read again).
TOP = FULL.replace("in c-)", "in c- limit {n})")


def trace(events, processes, seconds):
    d = os.path.join(CACHE, f"synth-{events}-p{processes}")
    if not os.path.exists(os.path.join(d, "trace.json")):
        subprocess.run([RETAP, "synth", "-o", d, "--events", str(events), "--processes",
                        str(processes), "--seconds", str(seconds)], check=True)
    return d


def best(cmd, repeat):
    ts, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True,
                           env={**os.environ, "RETAP_STRICT_PLANS": "1"})
        ts.append(time.perf_counter() - t)
        assert r.returncode == 0, r.stderr
        out = r.stdout
    return min(ts), out


def options():
    """--before BIN and --repeat N, the A/B benches' options; makes the cache."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--before")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--only", help="shapes whose name contains this (shapes_bench.py)")
    a = ap.parse_args()
    os.makedirs(CACHE, exist_ok=True)
    return a


def main():
    a = options()
    big = trace(20_000_000, 50_000, 600)
    small = trace(10_000_000, 300, 60)
    full = os.path.join(CACHE, "full_print.stp")
    open(full, "w").write(FULL)
    limits = ["-D", "MAXMAPENTRIES=1000000", "-D", "MAXACTION=100000000"]
    cases = [("full print, 20M events, 50k processes", full, big, limits)]
    for n in [100, 1000, 10000]:
        top = os.path.join(CACHE, f"top_{n}.stp")
        open(top, "w").write(TOP.replace("{n}", str(n)))
        cases.append((f"top {n}, 20M events, 50k processes", top, big, limits))
    cases += [
        (f"{s} (10M)", os.path.join(SCRIPTS, f"{s}.stp"), small, [])
        for s in ["profile_end", "syscall_filtered", "latency", "nethist_end"]]
    for name, script, d, extra in cases:
        after, out = best([RETAP, "run", script, "--trace", d] + extra, a.repeat)
        line = f"{name:40} retap {after:.3f} s"
        if a.before:
            before, out_b = best([a.before, "run", script, "--trace", d] + extra, a.repeat)
            assert out_b == out, name
            line += f"  (before {before:.3f} s: {after / before:.2f}x)"
        print(line, flush=True)
    import duckdb
    con = duckdb.connect()
    q = (f"select pid, execname, count(*) c from '{big}/syscalls/*.parquet' "
         "group by all order by c desc")
    ts = []
    for _ in range(a.repeat):
        t = time.perf_counter()
        con.sql(q).fetchall()
        ts.append(time.perf_counter() - t)
    print(f"{'DuckDB warm, the full print query':40} {min(ts):.3f} s")


if __name__ == "__main__":
    main()
