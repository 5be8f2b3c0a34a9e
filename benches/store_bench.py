#!/usr/bin/env python3
"""Issue 21: a fleet of synthetic traces read from a local S3-compatible
server (s3s-fs, as the tests run it) against the same traces on local disk,
side by side with pyarrow reading the same objects from the same server with
the same aggregation. Three questions: a SQL GROUP BY host, execname over
the set; profile.stp's shape keyed by hostname(); a latency histogram. For
each, retap's bytes fetched from the store (`retap run -v`) against the
compressed bytes of the columns the question needs.

Usage: python3 benches/store_bench.py [--traces 20] [--events 1000000] [--repeat 3]
Build first: cargo build --release; bash scripts/setup.sh (s3s-fs); pip install pyarrow
"""
import argparse, json, os, shutil, signal, socket, subprocess, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RETAP = os.path.join(ROOT, "target/release/retap")
S3S = os.path.join(ROOT, "target/tools/bin/s3s-fs")
CACHE = os.path.join(ROOT, "target/bench-traces")

PROFILE = """global c
probe syscall.* { c[hostname(), execname()]++ }
probe end { foreach ([h, e] in c- limit 10) printf("%s %s %d\\n", h, e, c[h, e]) }
"""
LATENCY = """global h
probe syscall.*.return { h <<< gettimeofday_ns() - @entry(gettimeofday_ns()) }
probe end { print(@hist_log(h)) }
"""
SQL = "SELECT host, execname, count(*) AS n FROM syscalls GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2 LIMIT 10"


def fleet(traces, events):
    d = os.path.join(CACHE, f"fleet-{traces}x{events}")
    if os.path.exists(os.path.join(d, "done")):
        return d
    shutil.rmtree(d, ignore_errors=True)
    for i in range(traces):
        t = os.path.join(d, f"host{i:03}", "run")
        subprocess.run([RETAP, "synth", "-o", t, "--events", str(events), "--seed", str(i + 1),
                        "--seconds", "60"], check=True, stdout=subprocess.DEVNULL)
        m = json.load(open(os.path.join(t, "trace.json")))
        m["host"] = f"host{i:03}"
        json.dump(m, open(os.path.join(t, "trace.json"), "w"), indent=1)
    open(os.path.join(d, "done"), "w").close()
    return d


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def best(cmd, repeat, env):
    ts, out, err = [], None, None
    for _ in range(repeat):
        t = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True, env=env)
        ts.append(time.perf_counter() - t)
        assert r.returncode == 0, r.stderr
        out, err = r.stdout, r.stderr
    return min(ts), out, err


def fetched(err):
    for line in err.splitlines():
        if line.startswith("Object storage: "):
            return int(line.split()[2])
    return None


def column_bytes(d, columns):
    """Compressed bytes of these columns of every syscalls file of the set."""
    import pyarrow.parquet as pq
    total = 0
    for root, _, files in os.walk(d):
        if not root.endswith("/syscalls"):
            continue
        for f in files:
            if not f.endswith(".parquet"):
                continue
            md = pq.ParquetFile(os.path.join(root, f)).metadata
            for g in range(md.num_row_groups):
                rg = md.row_group(g)
                for c in range(rg.num_columns):
                    col = rg.column(c)
                    if col.path_in_schema in columns:
                        total += col.total_compressed_size
    return total


def pyarrow_group(fs, base, traces):
    """pyarrow over the same objects: per trace the execname column, counted
    by (host, execname); the top 10."""
    import pyarrow.dataset as ds
    counts = {}
    for i in range(traces):
        host = f"host{i:03}"
        import pyarrow.fs as pafs
        files = [f.path for f in fs.get_file_info(pafs.FileSelector(f"{base}/{host}/run/syscalls"))
                 if f.path.endswith(".parquet")]
        t = ds.dataset(files, format="parquet", filesystem=fs)
        import pyarrow as pa, pyarrow.compute as pc
        col = t.to_table(columns=["execname"]).column("execname").cast(pa.string())
        for vc in pc.value_counts(col).to_pylist():
            counts[(host, vc["values"])] = counts.get((host, vc["values"]), 0) + vc["counts"]
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:10]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--traces", type=int, default=20)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    os.makedirs(CACHE, exist_ok=True)
    local = fleet(a.traces, a.events)
    root = os.path.join(CACHE, "s3root")
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(os.path.join(root, "fleet"))
    port = free_port()
    server = subprocess.Popen([S3S, "--host", "127.0.0.1", "--port", str(port), "--access-key", "bench",
                               "--secret-key", "benchsecret", root],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update({"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "bench",
                    "AWS_SECRET_ACCESS_KEY": "benchsecret", "RETAP_STRICT_PLANS": "1"})
        for i in range(a.traces):
            h = f"host{i:03}"
            subprocess.run([RETAP, "push", os.path.join(local, h, "run"), f"s3://fleet/{h}/run"],
                           check=True, env=env, stdout=subprocess.DEVNULL)
        url = "s3://fleet"
        scripts = {}
        for k, text in [("profile", PROFILE), ("latency", LATENCY)]:
            scripts[k] = os.path.join(CACHE, f"store_{k}.stp")
            open(scripts[k], "w").write(text)
        size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(local) for f in fs)
        print(f"{a.traces} traces x {a.events} events, {size / 1e6:.0f} MB on disk; best of {a.repeat}")
        print(f"{'question':10} {'local':>8} {'store':>8} {'store/local':>11} {'fetched':>10} {'needed':>10} {'peer':>8}")
        needed = {"profile": ["execname", "syscall"], "latency": ["ts", "dur_ns", "syscall"]}
        for k, s in scripts.items():
            tl, out_l, _ = best([RETAP, "run", "-v", s, "--trace", local], a.repeat, env)
            ts_, out_s, err = best([RETAP, "run", "-v", s, "--trace", url], a.repeat, env)
            assert out_l == out_s, (out_l, out_s)
            f = fetched(err)
            nb = column_bytes(local, needed[k])
            print(f"{k:10} {tl:8.3f} {ts_:8.3f} {ts_ / tl:11.2f} {f / 1e6:9.2f}M {nb / 1e6:9.2f}M {'-':>8}")
        tl, out_l, _ = best([RETAP, "sql", "--format", "csv", local, SQL], a.repeat, env)
        ts_, out_s, _ = best([RETAP, "sql", "--format", "csv", url, SQL], a.repeat, env)
        assert out_l == out_s
        import pyarrow.fs as pafs
        fs = pafs.S3FileSystem(endpoint_override=f"127.0.0.1:{port}", scheme="http", access_key="bench",
                               secret_key="benchsecret", region="us-east-1")
        tp = []
        for _ in range(a.repeat):
            t = time.perf_counter()
            top = pyarrow_group(fs, "fleet", a.traces)
            tp.append(time.perf_counter() - t)
        ours = [tuple(l.split(",")) for l in out_s.strip().splitlines()[1:]]
        assert [(h, e, str(n)) for (h, e), n in top] == ours, (top, ours)
        nb = column_bytes(local, ["execname"])
        print(f"{'sql':10} {tl:8.3f} {ts_:8.3f} {ts_ / tl:11.2f} {'':>10} {nb / 1e6:9.2f}M {min(tp):8.3f}")
        print(f"peer: pyarrow {__import__('pyarrow').__version__} reading the execname column of every "
              f"trace from the same server, counting by (host, execname)")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait()


if __name__ == "__main__":
    main()
