#!/usr/bin/env python3
"""Issue 21: a fleet of synthetic traces as one set, answered on this
machine (no cluster), through an Apache DataFusion Ballista cluster of one
executor and of two (`retap cluster`, as separate processes on loopback),
side by side with DuckDB over the same Parquet files. Two questions: the
SQL GROUP BY host, execname over the set, and profile.stp's shape keyed by
hostname() (a plan: `retap run --cluster` sends it to the executors). The
outputs must be equal in every mode; DuckDB's rows must be retap's.

On one machine a cluster cannot be faster than a local run (the executors
share its cores and add a shuffle and gRPC round trips): what this
measures is the cost of going through Ballista, the figure a scale-out
estimate starts from. The estimate for 1000 hosts x 1 h is printed last,
from the measured per-core throughput, with its assumptions.

Usage: python3 benches/cluster_bench.py [--traces 100] [--events 1000000] [--repeat 3]
Build first: cargo build --release; pip install duckdb
"""
import argparse, json, os, shutil, signal, socket, subprocess, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RETAP = os.path.join(ROOT, "target/release/retap")
CACHE = os.path.join(ROOT, "target/bench-traces")

PROFILE = """global c
probe syscall.* { c[hostname(), execname()]++ }
probe end { foreach ([h, e] in c- limit 10) printf("%s %s %d\\n", h, e, c[h, e]) }
"""
SQL = "SELECT host, execname, count(*) AS n FROM syscalls GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2 LIMIT 10"
DUCK = ("SELECT regexp_extract(filename, 'host[0-9]+') AS host, execname, count(*) AS n "
        "FROM read_parquet('{d}/*/run/syscalls/*.parquet', filename=true) "
        "GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2 LIMIT 10")


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
    """A scheduler and `executors` executors sharing this machine's cores."""

    def __init__(self, executors, cores):
        self.port = free_port()
        bind = f"127.0.0.1:{self.port}"
        self.procs = [subprocess.Popen([RETAP, "cluster", "scheduler", "--bind", bind],
                                       stderr=subprocess.DEVNULL)]
        flights = []
        for _ in range(executors):
            f = free_port()
            flights.append(f)
            self.procs.append(subprocess.Popen(
                [RETAP, "cluster", "executor", "--scheduler", bind, "--bind", f"127.0.0.1:{f}",
                 "--grpc-port", str(free_port()), "--concurrent-tasks",
                 str(max(1, cores // executors))], stderr=subprocess.DEVNULL))
        listening(self.port)
        for f in flights:
            listening(f)
        self.url = f"df://{bind}"

    def stop(self):
        for p in self.procs:
            p.send_signal(signal.SIGTERM)
            p.wait()


def best(cmd, repeat):
    ts, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True)
        ts.append(time.perf_counter() - t)
        assert r.returncode == 0, r.stderr
        out = r.stdout
    return min(ts), out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--traces", type=int, default=100)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    os.makedirs(CACHE, exist_ok=True)
    d = fleet(a.traces, a.events)
    cores = os.cpu_count()
    script = os.path.join(CACHE, "cluster_profile.stp")
    open(script, "w").write(PROFILE)
    size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(d) for f in fs)
    events = a.traces * a.events
    print(f"{a.traces} traces x {a.events} events, {size / 1e6:.0f} MB on disk, {cores} cores; "
          f"best of {a.repeat}")
    questions = {
        "sql": lambda extra: [RETAP, "sql", "--format", "csv", *extra, d, SQL],
        "profile": lambda extra: [RETAP, "run", *extra, "--trace", d, script],
    }
    rows = {}
    want = {}
    for q, cmd in questions.items():
        rows[(q, "local")], want[q] = best(cmd([]), a.repeat)
    for n in (1, 2):
        c = Cluster(n, cores)
        try:
            # One query first: the executors' first task pays for
            # connections and the set's footers.
            subprocess.run(questions["sql"](["--cluster", c.url]), check=True,
                           stdout=subprocess.DEVNULL)
            for q, cmd in questions.items():
                t, out = best(cmd(["--cluster", c.url]), a.repeat)
                assert out == want[q], (q, n, out, want[q])
                rows[(q, f"cluster{n}")] = t
        finally:
            c.stop()
    import duckdb
    con = duckdb.connect()
    td = []
    for _ in range(a.repeat):
        t = time.perf_counter()
        got = con.execute(DUCK.format(d=d)).fetchall()
        td.append(time.perf_counter() - t)
    ours = [tuple(l.split(",")) for l in want["sql"].strip().splitlines()[1:]]
    assert [(h, e, str(n)) for h, e, n in got] == ours, (got, ours)
    print(f"{'question':8} {'local':>8} {'1 exec':>8} {'2 execs':>8} {'1/local':>8} {'2/local':>8} "
          f"{'duckdb':>8} {'local/duckdb':>12}")
    for q in questions:
        l, c1, c2 = rows[(q, "local")], rows[(q, "cluster1")], rows[(q, "cluster2")]
        peer = min(td) if q == "sql" else None
        print(f"{q:8} {l:8.3f} {c1:8.3f} {c2:8.3f} {c1 / l:8.2f} {c2 / l:8.2f} "
              f"{peer if peer is None else f'{peer:.3f}':>8} "
              f"{'-' if peer is None else f'{l / peer:.2f}':>12}")
    print(f"peer: DuckDB {duckdb.__version__} over the same files (host from the path)")

    # 1000 hosts x 1 h, on paper: the events a busy host records, the
    # bytes they take (this fleet's), and the per-core rate of the profile
    # question locally (the cluster adds its measured overhead ratio).
    rate = 20_000  # syscalls/s a busy host records (entry and exit paired)
    hosts, hours = 1000, 1
    total = rate * 3600 * hours * hosts
    bytes_per_event = size / events
    per_core = events / rows[("profile", "local")] / cores
    overhead = rows[("profile", "cluster2")] / rows[("profile", "local")]
    print(f"\n1000 hosts x 1 h at {rate} syscalls/s each: {total / 1e9:.0f}G events, "
          f"{total * bytes_per_event / 1e12:.1f} TB at this fleet's {bytes_per_event:.1f} B/event")
    print(f"profile question, {per_core / 1e6:.1f}M events/s per core measured locally, "
          f"x{overhead:.2f} through the cluster here:")
    for execs, c in ((10, 16), (50, 16), (100, 32)):
        secs = total / (per_core * execs * c) * overhead
        print(f"  {execs:3} executors x {c} cores: {secs / 60:6.1f} min")


if __name__ == "__main__":
    main()
