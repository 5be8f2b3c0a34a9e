#!/usr/bin/env python3
"""Plan compiler benchmarks, side by side in one run, over synthetic traces
(`retap synth`, cached under target/bench-traces-v2): four scripts
(benches/scripts/) run by retap with plans, by retap's interpreter alone
(--interpret-only), and the equivalent SQL in DuckDB over the same Parquet
files. Wall time (best of --repeat) and peak RSS.

Two ways to time each engine, each compared with its like:
- warm, inside one process that has already started: DuckDB's
  `duckdb.sql(...)` in Python against retap's whole run (script text to
  last output byte) in `analyzer/benches/plans.rs`. The issue's target
  (retap <= 1.0x DuckDB) is judged here: an embedded engine's query time.
- fresh process: `retap run` against the DuckDB CLI (`duckdb -c`, when the
  duckdb-cli wheel is installed), start-up and all.
The interpreter is timed as a fresh `retap run --interpret-only` against
the fresh `retap run`.

Usage: python3 benches/plan_bench.py [--sizes 10000000,100000000] [--repeat 5]
Build first: cargo build --release (the in-process bench is built here)
"""
import json
import shutil
import argparse, os, re, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RETAP = os.path.join(ROOT, "target/release/retap")
from bench_cache import CACHE  # noqa: E402
SCRIPTS = os.path.join(ROOT, "benches/scripts")

SQL = {
    "profile_end": "select pid, execname, count(*) c from '{d}/syscalls/*.parquet' group by all order by c desc limit 10",
    "syscall_filtered": "select syscall, count(*) c from '{d}/syscalls/*.parquet' where execname = 'postgres' group by all order by c desc limit 10",
    "nethist_end": "select floor(log2(length)) b, count(*) from '{d}/net/*.parquet' group by b order by b",
    "latency": "select syscall, count(*), avg(dur_ns)::bigint, max(dur_ns), sum(dur_ns) s from '{d}/syscalls/*.parquet' where ret is not null group by all order by s desc limit 10",
}


def installed(binary):
    """A copy of `binary`, as `cargo install` or a package would put it:
    a freshly linked target/release/retap started 1.6 ms slower than a
    byte-identical copy (nethist at 10M, 9.2 vs 7.6 ms best of 25), the
    linker's writes leaving its pages in the page cache differently."""
    d = os.path.join(CACHE, "bin")
    os.makedirs(d, exist_ok=True)
    dst = os.path.join(d, os.path.basename(binary))
    tmp = dst + ".tmp"
    shutil.copyfile(binary, tmp)
    os.chmod(tmp, 0o755)
    os.replace(tmp, dst)
    return dst


def trace(n, checksums=True):
    """The synthetic trace of n events; without checksums (pages and
    manifest), as recorders wrote them before, to measure checking's cost.
    (Traces cached before checksums were written are made again.)"""
    d = os.path.join(CACHE, f"synth-{n}" if checksums else f"synth-{n}-nocrc")
    manifest = os.path.join(d, "trace.json")
    stale = checksums and os.path.exists(manifest) and '"crc32"' not in open(manifest).read()
    if stale:
        shutil.rmtree(d)
    if not os.path.exists(manifest):
        os.makedirs(CACHE, exist_ok=True)
        extra = [] if checksums else ["--no-checksums"]
        subprocess.run([RETAP, "synth", "-o", d, "--events", str(n), "--seconds", str(max(60, n // 170_000))] + extra, check=True)
    return d


def timed(cmd, repeat, ok=(0,)):
    """Best wall time of `repeat` runs, peak RSS (MiB) and the last stdout;
    exit statuses other than `ok` abort the benchmark."""
    best, rss = None, 0
    for _ in range(repeat):
        t = time.perf_counter()
        p = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t
        if p.returncode not in ok:
            sys.exit(f"{cmd} failed: {p.stderr[-2000:]}")
        rss = max(rss, int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr).group(1)) // 1024)
        best = wall if best is None else min(best, wall)
    return best, rss, p.stdout


def duckdb_cli():
    """The DuckDB CLI binary (the duckdb-cli wheel's), or None."""
    try:
        import duckdb_cli
    except ImportError:
        return None
    b = os.path.join(os.path.dirname(duckdb_cli.__file__), "duckdb")
    return b if os.access(b, os.X_OK) else None


def warm_bench():
    """Path of the in-process bench binary (analyzer/benches/plans.rs)."""
    p = subprocess.run(["cargo", "bench", "-p", "retap-analyzer", "--bench", "plans", "--no-run",
                        "--message-format=json"], cwd=ROOT, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"building the in-process bench failed: {p.stderr[-2000:]}")
    for line in p.stdout.splitlines():
        m = json.loads(line)
        if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "plans" and m.get("executable"):
            return m["executable"]
    sys.exit("cargo did not name the in-process bench's executable")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000000,100000000")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-checksums", action="store_true",
                    help="over traces without checksums (to set against a run with them)")
    a = ap.parse_args()
    warm = warm_bench()
    retap = installed(RETAP)
    cli = duckdb_cli()
    if cli is None:
        print("(pip install duckdb-cli to time DuckDB as a fresh process too)")
    print("warm: inside a running process; fresh: a new process per query;")
    print("ratio: retap/duckdb (target <= 1.0x); interp/: the interpreter's time over retap's plans' (target >= 20x)")
    print(f"{'':>28} {'------------- warm --------------':^43} {'-------------------- fresh process --------------------':^56}")
    print(f"{'events':>10} {'script':<17} {'retap':>9} {'duckdb':>9} {'RSS':>6} {'ratio':>7} {'interp/':>8}  {'retap':>9} {'RSS':>6} {'interp':>9} {'RSS':>6} {'interp/retap':>12} {'duckdb-cli':>10} {'ratio':>7}")
    for n in [int(x) for x in a.sizes.split(",")]:
        d = trace(n, checksums=not a.no_checksums)
        # Runs of each warm engine, best kept: a warm run is short, and
        # this machine's timings vary 5-20% from run to run.
        warm_n = max(a.repeat, 20 if n <= 10_000_000 else 8)
        for name in SQL:
            script = os.path.join(SCRIPTS, name + ".stp")
            tp, rp, out_p = timed([retap, "run", script, "--trace", d], a.repeat)
            ti, ri, out_i = timed([retap, "run", "--interpret-only", script, "--trace", d], 1)
            if out_p != out_i:
                sys.exit(f"{name}: plan and interpreter outputs differ")
            sql = SQL[name].format(d=d)
            # DuckDB's own query time, measured inside Python (interpreter
            # start and import excluded, which favours DuckDB by ~0.1 s).
            _, rd, out_d = timed([sys.executable, "-c",
                "import duckdb, time\nbest = 1e9\nfor _ in range(%d):\n t = time.perf_counter(); duckdb.sql(\"%s\").fetchall(); best = min(best, time.perf_counter() - t)\nprint(best)" % (warm_n, sql)], 1)
            td = float(out_d.strip())
            w = subprocess.run([warm, script, d, str(warm_n)], capture_output=True, text=True)
            if w.returncode != 0:
                sys.exit(f"{name}: in-process bench failed: {w.stderr[-2000:]}")
            tw = float(w.stdout.split()[0])
            # The interpreter warm too: best of 5 at 10M (a process's first
            # run of it varied 37-55 ms for nethist), once at 100M (seconds
            # a run, where a first run's extra milliseconds do not show).
            interp_n = 5 if n <= 10_000_000 else 1
            wi = subprocess.run([warm, "--interpret-only", script, d, str(interp_n)], capture_output=True, text=True)
            if wi.returncode != 0:
                sys.exit(f"{name}: in-process interpreter bench failed: {wi.stderr[-2000:]}")
            twi = float(wi.stdout.split()[0])
            ms = lambda t: f"{t * 1000:>7.1f}ms"
            line = (f"{n:>10} {name:<17} {ms(tw)} {ms(td)} {rd:>5}M {tw / td:>6.2f}x {twi / tw:>7.1f}x  "
                    f"{ms(tp)} {rp:>5}M {ms(ti)} {ri:>5}M {ti / tp:>11.1f}x")
            if cli:
                tc, _, _ = timed([cli, "-c", sql], a.repeat)
                line += f" {ms(tc):>10} {tp / tc:>6.2f}x"
            print(line)


if __name__ == "__main__":
    main()
