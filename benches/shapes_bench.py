#!/usr/bin/env python3
"""Issue 22's shapes of one workload, side by side with DuckDB: the same 20M
synthetic syscall events (80k processes) in 5 files of 4M rows and in 500
files of 40k (a long recording's rotation, or a fleet's many small traces),
and with 1M processes (a million groups); and datasets/mixed's syscalls
copied 507 times with their timestamps equal and pids shifted (20M rows,
82k groups: a fleet's copies of one workload, where every element first
appears at the same time as hundreds of others); and 300 synthetic traces
of 100k events taken as one set (30M events, a fleet). On each, profile.stp's
aggregation by (pid, execname) with its top 10, the same printed whole
(by count, and in insertion order), one process's syscalls by name, and
every syscall by name;
against DuckDB's warm in-process SQL over the same files, and (with the
duckdb-cli wheel installed) against the DuckDB CLI as a fresh process,
start-up and all, as `retap run` always is. Beside retap as a user runs
it, the same with `--no-rollups` ("scan": every file's rows read even
where its footer's rollup answers the script; outputs must be equal).
With --before BIN, the same runs with another build (outputs must be
equal).

Usage: python3 benches/shapes_bench.py [--before /path/to/old/retap] [--repeat 5] [--only copies]
Build first: cargo build --release; pip install duckdb pyarrow zstandard
"""
import os, subprocess, time

from plan_bench import duckdb_cli
from bench_cache import recorder_writer
from sort_ties_bench import CACHE, RETAP, best, options
from store_bench import fleet

TOP = """global c
probe syscall.* { c[pid(), execname()]++ }
probe end { foreach ([p, n] in c- limit 10) printf("%s %d %d\\n", n, p, c[p, n]) }
"""
ALL = TOP.replace(" limit 10", "")
INSERTION = ALL.replace("in c-", "in c")
FILTERED = """global c
probe syscall.* { if (execname() == "postgres") c[name]++ }
probe end { foreach (n in c- limit 10) printf("%s = %d\\n", n, c[n]) }
"""
# stap's commonest script: every syscall counted by name (a name some
# syscalls take from an argument: epoll_create1 with flags 0 is
# epoll_create, which DuckDB's SQL leaves as recorded).
NAMES = """global c
probe syscall.* { c[name]++ }
probe end { foreach (n in c-) printf("%s %d\\n", n, c[n]) }
"""
SQL = {
    "top": "select pid, execname, count(*) c from '{files}' group by all order by c desc limit 10",
    "all": "select pid, execname, count(*) c from '{files}' group by all order by c desc",
    "insertion": "select pid, execname, count(*) c from '{files}' group by all order by min(ts)",
    "filtered": "select syscall, count(*) c from '{files}' where execname = 'postgres' group by all order by c desc limit 10",
    "names": "select syscall, count(*) c from '{files}' group by all order by c desc",
}


def trace(name, processes, rows_per_file):
    d = os.path.join(CACHE, name)
    if not os.path.exists(os.path.join(d, "trace.json")):
        subprocess.run([RETAP, "synth", "-o", d, "--events", "20000000", "--processes",
                        str(processes), "--seconds", "600", "--rows-per-file",
                        str(rows_per_file)], check=True, stdout=subprocess.DEVNULL)
    return d


SYSCALL_GRAIN = ["pid", "uid", "execname", "syscall", "nr"]
PROCESS_GRAIN = SYSCALL_GRAIN[:3]
CALL_GRAIN = SYSCALL_GRAIN[3:]


def rollup_value(t, shift, keys):
    """The rollup of grain `keys` the recorder writes for a syscalls file
    of rows `t` (schema/src/rollups.rs; docs/trace-format.md), its pids
    shifted: rows by the keys, first ts, count and first row (the file is
    sorted by ts: its least row), as one Arrow IPC stream compressed whole
    (one zstd frame with its content's checksum, which readers require)."""
    import pyarrow as pa, pyarrow.compute as pc
    import zstandard
    types = {"pid": pa.int32(), "uid": pa.uint32(), "execname": pa.string(),
             "syscall": pa.string(), "nr": pa.int32()}
    plain = t.select(["ts"] + keys).cast(pa.schema(
        [("ts", pa.int64())] + [(k, types[k]) for k in keys]))
    plain = plain.append_column("row", pa.array(range(t.num_rows), pa.int64()))
    g = plain.group_by(keys, use_threads=False).aggregate(
        [("ts", "min"), ("ts", "count"), ("row", "min")])
    dict_str = pa.dictionary(pa.int32(), pa.string())
    schema = pa.schema([pa.field("ts", pa.int64(), False)]
                       + [pa.field(k, dict_str if types[k] == pa.string() else types[k], False)
                          for k in keys]
                       + [pa.field("rows", pa.int64(), False), pa.field("first_row", pa.int64(), False)])
    keyed = {"pid": pc.add(g["pid"], pa.scalar(shift, pa.int32()))} if "pid" in keys else {}
    cols = ([g["ts_min"]]
            + [keyed.get(k, g[k].dictionary_encode() if types[k] == pa.string() else g[k]) for k in keys]
            + [g["ts_count"], g["row_min"]])
    batch = pa.record_batch([c.combine_chunks() if hasattr(c, "combine_chunks") else c for c in cols],
                            schema=schema)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, schema) as w:
        w.write_batch(batch)
    return zstandard.ZstdCompressor(level=3, write_checksum=True).compress(sink.getvalue().to_pybytes())


def copies(n, rollups=False):
    """datasets/mixed with its syscalls file copied n times, timestamps
    equal, pids and tids shifted by 100000 a copy; with `rollups`, each
    file with the rollups the recorder would have written."""
    import json, shutil
    import pyarrow as pa, pyarrow.compute as pc, pyarrow.parquet as pq
    d = os.path.join(CACHE, f"recorded-copies-{n}" + ("-rollups" if rollups else ""))
    if os.path.exists(os.path.join(d, "trace.json")):
        return d
    src = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "datasets/mixed")
    shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(src, d, ignore=shutil.ignore_patterns("syscalls", "trace.json"))
    os.makedirs(os.path.join(d, "syscalls"))
    m = json.load(open(os.path.join(src, "trace.json")))
    t = pq.read_table(os.path.join(src, "syscalls/part-000000.parquet"))
    f0 = m["tables"]["syscalls"]["files"][0]
    files = []
    for k in range(n):
        c = t
        for col in ("pid", "tid"):
            shifted = pc.add(c[col], pa.scalar(100_000 * k, pa.int32()))
            c = c.set_column(c.schema.get_field_index(col), c.schema.field(col), shifted)
        path = f"syscalls/part-{k:06}.parquet"
        # The rollups after the rows, their places under the footer's
        # keys, as the recorder writes them (pyarrow writes each row group
        # through the file object, so its position is the file's).
        with open(os.path.join(d, path), "wb") as out:
            w = recorder_writer(out, c.schema, page_index=not rollups)
            w.write_table(c, row_group_size=131072)
            placed = {}
            if rollups:
                for key, grain in [("retap.rollup.v2", SYSCALL_GRAIN),
                                   ("retap.rollup.process.v2", PROCESS_GRAIN),
                                   ("retap.rollup.syscall.v2", CALL_GRAIN)]:
                    z = rollup_value(t, 100_000 * k, grain)
                    placed[key] = (out.tell(), z)
                    out.write(z)
                w.add_key_value_metadata({key: f"{at} {len(z)}" for key, (at, z) in placed.items()})
            w.close()
        with open(os.path.join(d, path), "rb") as back:
            for at, z in placed.values():
                back.seek(at)
                assert back.read(len(z)) == z, (path, "a rollup not where its place says")
        files.append({**f0, "path": path, "bytes": os.path.getsize(os.path.join(d, path))})
    m["tables"]["syscalls"]["files"] = files
    m["tables"]["syscalls"]["events"] = f0["rows"] * n
    json.dump(m, open(os.path.join(d, "trace.json"), "w"), indent=1)
    return d


def main():
    a = options()
    scripts = {}
    for k, text in [("top", TOP), ("all", ALL), ("insertion", INSERTION), ("filtered", FILTERED), ("names", NAMES)]:
        scripts[k] = os.path.join(CACHE, f"shape_{k}.stp")
        open(scripts[k], "w").write(text)
    one = "{d}/syscalls/*.parquet"
    shapes = [("5 files, 80k processes", lambda: trace("shape-few", 80_000, 4_000_000), one),
              ("500 files, 80k processes", lambda: trace("shape-many", 80_000, 40_000), one),
              ("5 files, 1M processes", lambda: trace("shape-1m", 1_000_000, 4_000_000), one),
              ("507 copies, equal times", lambda: copies(507), one),
              ("507 copies with rollups", lambda: copies(507, rollups=True), one),
              # A fleet's set: retap runs the script over the set as one
              # trace (each member's ts shifted to wall-clock time, which
              # DuckDB's insertion order by min(ts) leaves unshifted).
              ("300 traces x 100k, a set", lambda: fleet(300, 100_000), "{d}/*/run/syscalls/*.parquet")]
    limits = ["-D", "MAXMAPENTRIES=2000000", "-D", "MAXACTION=100000000"]
    import duckdb
    con = duckdb.connect()
    cli = duckdb_cli()
    if not cli:
        print("(pip install duckdb-cli to time DuckDB as a fresh process too)")
    print(f"{'shape':26} {'script':9} {'retap':>8} {'scan':>8} {'DuckDB':>8} {'ratio':>6} {'scan':>6}"
          + (f" {'CLI':>8} {'ratio':>6}" if cli else "")
          + ("  before   after/before" if a.before else ""))
    for shape, make, files in shapes:
        if a.only and a.only not in shape:
            continue
        d = make()
        files = files.format(d=d)
        for k, script in scripts.items():
            after, out = best([RETAP, "run", script, "--trace", d] + limits, a.repeat)
            scan, out_s = best([RETAP, "run", script, "--trace", d, "--no-rollups"] + limits, a.repeat)
            assert out_s == out, (shape, k, "--no-rollups")
            ts = []
            for _ in range(a.repeat):
                t = time.perf_counter()
                con.sql(SQL[k].format(files=files)).fetchall()
                ts.append(time.perf_counter() - t)
            duck = min(ts)
            line = (f"{shape:26} {k:9} {after:8.3f} {scan:8.3f} {duck:8.3f} {after / duck:5.2f}x"
                    f" {scan / duck:5.2f}x")
            if cli:
                fresh, _ = best([cli, "-c", SQL[k].format(files=files)], a.repeat)
                line += f" {fresh:8.3f} {after / fresh:5.2f}x"
            if a.before:
                before, out_b = best([a.before, "run", script, "--trace", d] + limits, a.repeat)
                assert out_b == out, (shape, k)
                line += f"  {before:7.3f}  {after / before:5.2f}x"
            print(line, flush=True)


if __name__ == "__main__":
    main()
