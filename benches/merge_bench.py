#!/usr/bin/env python3
"""Issue 22's interpreter merge over many overlapping files: the same 20M
rows (datasets/mixed's syscalls copied 507 times, pids shifted) as 507
files whose times are equal (every file interleaves with every other),
as the same 507 files laid end to end in time (each copy after the one
before), and as one file in the order the merge gives. `retap run
--interpret-only` of a count, fresh processes, runs alternating between
the traces (and with --before, between the builds); medians and the
overlapping files' ratio to the others.

Usage: python3 benches/merge_bench.py [--before /path/to/old/retap] [--repeat 5]
Build first: cargo build --release; pip install pyarrow
"""
import json, os, shutil, statistics, subprocess, time

from bench_cache import recorder_writer
from sort_ties_bench import CACHE, RETAP, options
from shapes_bench import copies

COUNT = "global n\nprobe syscall.* { n++ }\nprobe end { printf(\"%d\\n\", n) }\n"


def variant(src, name, rewrite):
    """`src` with its syscalls files rewritten by `rewrite(tables)`, which
    returns [(file name, table)]."""
    import pyarrow.parquet as pq
    d = os.path.join(CACHE, name)
    if os.path.exists(os.path.join(d, "trace.json")):
        return d
    shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(src, d, ignore=shutil.ignore_patterns("syscalls", "trace.json"))
    os.makedirs(os.path.join(d, "syscalls"))
    m = json.load(open(os.path.join(src, "trace.json")))
    files = m["tables"]["syscalls"]["files"]
    tables = [pq.read_table(os.path.join(src, f["path"])) for f in files]
    entries = []
    for path, t in rewrite(tables):
        w = recorder_writer(os.path.join(d, path), t.schema)
        w.write_table(t, row_group_size=131072)
        w.close()
        ts = t["ts"].to_pylist()
        entries.append({**files[0], "path": path, "rows": t.num_rows, "min_ts": min(ts),
                        "max_ts": max(ts), "bytes": os.path.getsize(os.path.join(d, path))})
    m["tables"]["syscalls"]["files"] = entries
    json.dump(m, open(os.path.join(d, "trace.json"), "w"), indent=1)
    return d


def end_to_end(tables):
    import pyarrow as pa, pyarrow.compute as pc
    at = 0
    for k, t in enumerate(tables):
        ts = t["ts"]
        span = pc.max(ts).as_py() - pc.min(ts).as_py() + 1
        i = t.schema.get_field_index("ts")
        yield (f"syscalls/part-{k:06}.parquet",
               t.set_column(i, t.schema.field(i), pc.add(ts, pa.scalar(at, pa.int64()))))
        at += span


def one_file(tables):
    import pyarrow as pa
    marked = [t.append_column("_k", pa.array([k] * t.num_rows, pa.int32()))
               .append_column("_r", pa.array(range(t.num_rows), pa.int32()))
              for k, t in enumerate(tables)]
    t = pa.concat_tables(marked).sort_by([("ts", "ascending"), ("_k", "ascending"),
                                          ("_r", "ascending")])
    yield "syscalls/part-000000.parquet", t.drop_columns(["_k", "_r"])


def run(binary, trace, script):
    t = time.perf_counter()
    out = subprocess.run([binary, "run", "--interpret-only", "--trace", trace, script],
                         check=True, capture_output=True, text=True).stdout
    return time.perf_counter() - t, out


def main():
    a = options()
    script = os.path.join(CACHE, "merge_count.stp")
    open(script, "w").write(COUNT)
    src = copies(507)
    traces = [("507 overlapping files", src),
              ("507 files end to end", variant(src, "recorded-copies-507-end-to-end", end_to_end)),
              ("one file", variant(src, "recorded-copies-one-file", one_file))]
    builds = [("after", RETAP)] + ([("before", a.before)] if a.before else [])
    times = {(b, t): [] for b, _ in builds for t, _ in traces}
    outs = set()
    for _ in range(a.repeat):
        for b, binary in builds:
            for t, d in traces:
                s, out = run(binary, d, script)
                times[(b, t)].append(s)
                outs.add(out)
    assert len(outs) == 1, outs
    print(f"{'trace':24} " + " ".join(f"{b:>14}" for b, _ in builds))
    for t, _ in traces:
        cells = []
        for b, _ in builds:
            m = statistics.median(times[(b, t)])
            ratio = m / statistics.median(times[(b, traces[0][0])])
            cells.append(f"{m:6.2f} s {1 / ratio:4.2f}x")
        print(f"{t:24} " + " ".join(f"{c:>14}" for c in cells))
    print("(each cell: the median, and the overlapping files' time over this one's)")


if __name__ == "__main__":
    main()
