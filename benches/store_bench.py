#!/usr/bin/env python3
"""Issue 21: a fleet of synthetic traces read from a local S3-compatible
server (s3s-fs, as the tests run it) against the same traces on local disk,
and through an Apache DataFusion Ballista cluster (`retap cluster`, a
scheduler and one or two executors as processes of their own, reading the
same store), side by side with pyarrow reading the same objects from the
same server with the same aggregation. Three questions: a SQL GROUP BY
host, execname over the set; profile.stp's shape keyed by hostname(); a
latency histogram. For each, retap's bytes fetched from the store (`-v`)
against the compressed bytes of the columns the question needs. Every
mode's output must be the local one's.

On one machine a cluster cannot beat a local run (its executors share the
cores, and add a shuffle and gRPC round trips); the cluster columns say
what going through Ballista costs, which the paper estimate at the end
starts from.

Usage: python3 benches/store_bench.py [--traces 100] [--events 1000000] [--repeat 3]
Build first: cargo build --release; bash scripts/setup.sh (s3s-fs); pip install pyarrow
"""
import argparse, json, os, shutil, signal, socket, subprocess, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RETAP = os.path.join(ROOT, "target/release/retap")
S3S = os.path.join(ROOT, "target/tools/bin/s3s-fs")
from bench_cache import CACHE  # noqa: E402

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


def listening(port):
    for _ in range(600):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


class Cluster:
    """A scheduler and `executors` executors sharing this machine's cores,
    each reading the store with `env`'s settings."""

    def __init__(self, executors, env):
        cores = os.cpu_count()
        self.port = free_port()
        bind = f"127.0.0.1:{self.port}"
        self.procs = [subprocess.Popen([RETAP, "cluster", "scheduler", "--bind", bind],
                                       env=env, stderr=subprocess.DEVNULL)]
        flights = []
        for _ in range(executors):
            f = free_port()
            flights.append(f)
            self.procs.append(subprocess.Popen(
                [RETAP, "cluster", "executor", "--scheduler", bind, "--bind", f"127.0.0.1:{f}",
                 "--grpc-port", str(free_port()), "--concurrent-tasks",
                 str(max(1, cores // executors))], env=env, stderr=subprocess.DEVNULL))
        listening(self.port)
        for f in flights:
            listening(f)
        self.url = f"df://{bind}"

    def stop(self):
        for p in self.procs:
            p.send_signal(signal.SIGTERM)
            p.wait()


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
    ap.add_argument("--traces", type=int, default=100)
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
        events = a.traces * a.events
        print(f"{a.traces} traces x {a.events} events, {size / 1e6:.0f} MB on disk, "
              f"{os.cpu_count()} cores; best of {a.repeat}")
        needed = {"profile": ["execname", "syscall"], "latency": ["ts", "dur_ns", "syscall"],
                  "sql": ["execname"]}
        cmds = {
            # (100 hosts x 30 programs: more elements than stap's default 2048)
            "profile": lambda t, x: [RETAP, "run", "-v", "-D", "MAXMAPENTRIES=100000", *x,
                                     scripts["profile"], "--trace", t],
            "latency": lambda t, x: [RETAP, "run", "-v", *x, scripts["latency"], "--trace", t],
            "sql": lambda t, x: [RETAP, "sql", "-v", "--format", "csv", *x, t, SQL],
        }
        times, fetches, want = {}, {}, {}
        for k, cmd in cmds.items():
            times[(k, "local")], want[k], _ = best(cmd(local, []), a.repeat, env)
            times[(k, "store")], out, err = best(cmd(url, []), a.repeat, env)
            assert out == want[k], (k, out, want[k])
            fetches[k] = fetched(err)
        for n in (1, 2):
            c = Cluster(n, env)
            try:
                # A first query: the executors' first tasks open connections.
                subprocess.run(cmds["sql"](url, ["--cluster", c.url]), check=True, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                for k, cmd in cmds.items():
                    times[(k, f"c{n}")], out, _ = best(cmd(url, ["--cluster", c.url]), a.repeat, env)
                    assert out == want[k], (k, n, out, want[k])
            finally:
                c.stop()
        import pyarrow.fs as pafs
        fs = pafs.S3FileSystem(endpoint_override=f"127.0.0.1:{port}", scheme="http", access_key="bench",
                               secret_key="benchsecret", region="us-east-1")
        tp = []
        for _ in range(a.repeat):
            t = time.perf_counter()
            top = pyarrow_group(fs, "fleet", a.traces)
            tp.append(time.perf_counter() - t)
        ours = [tuple(l.split(",")) for l in want["sql"].strip().splitlines()[1:]]
        assert [(h, e, str(n)) for (h, e), n in top] == ours, (top, ours)
        print(f"{'question':9} {'local':>7} {'store':>7} {'1 exec':>7} {'2 execs':>7} "
              f"{'fetched':>9} {'needed':>9} {'pyarrow':>8}")
        for k in cmds:
            nb = column_bytes(local, needed[k])
            f = fetches[k]
            row = [times[(k, m)] for m in ("local", "store", "c1", "c2")]
            print(f"{k:9} " + " ".join(f"{v:7.3f}" for v in row) +
                  f" {f / 1e6:8.2f}M {nb / 1e6:8.2f}M " +
                  (f"{min(tp):8.3f}" if k == "sql" else f"{'-':>8}"))
        print(f"peer: pyarrow {__import__('pyarrow').__version__} reading the execname column of every "
              f"trace from the same server, counting by (host, execname)")

        # 1000 hosts x 1 h on paper: a busy host's syscalls, this fleet's
        # bytes per event, the local per-core rate of the profile question,
        # the cluster's measured cost on top, and the bytes it fetches.
        rate = 20_000
        total = rate * 3600 * 1000
        per_event = size / events
        fetch_per_event = fetches["profile"] / events
        per_core = events / times[("profile", "local")] / os.cpu_count()
        cost = times[("profile", "c2")] / times[("profile", "local")]
        print(f"\n1000 hosts x 1 h at {rate} syscalls/s each: {total / 1e9:.0f}G events, "
              f"{total * per_event / 1e12:.2f} TB stored ({per_event:.2f} B/event); the profile "
              f"question fetches {total * fetch_per_event / 1e12:.2f} TB ({fetch_per_event:.3f} B/event)")
        print(f"profile: {per_core / 1e6:.1f}M events/s per core locally, x{cost:.2f} through "
              f"the cluster here; at 1 GB/s of store bandwidth per executor:")
        for execs, c in ((10, 16), (50, 16), (100, 32)):
            cpu = total / (per_core * execs * c) * cost
            io = total * fetch_per_event / (execs * 1e9)
            print(f"  {execs:3} executors x {c:2} cores: compute {cpu / 60:5.1f} min, "
                  f"fetch {io / 60:5.1f} min")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait()


if __name__ == "__main__":
    main()
