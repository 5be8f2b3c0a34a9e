#!/usr/bin/env python3
"""The recorder's own cost (root needed): CPU time of its user-space half
per million events and its peak RSS, at set event rates and at the
highest this machine sustains, and a steady-rate recording under
--max-size whose Parquet files are sampled for the bound.

The workload (`retap-workload loop getppid N RATE`, pinned to CPU 0) makes
getppid calls at RATE a second; `retap-record --events syscalls` runs on
CPU 1; its CPU time and peak RSS come from wait4(2) (everything it did,
loading the BPF programs included). `max` is the loop unpaced.

Usage: python3 benches/recorder_cost.py [--seconds S] [--rates 100000,300000,max]
       [--bound-seconds S] [--bound 64M]
Build first: cargo build --release
"""
import argparse, json, os, signal, subprocess, tempfile, threading, time

from tracers import LOAD, REC, pinned, wait_for


def size(spec):
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(spec[:-1]) * units[spec[-1]] if spec[-1] in units else int(spec)


def record(out, args, work):
    """Runs work() under the recorder on CPU 1; (manifest, CPU s, peak RSS
    bytes, what work() returned)."""
    p = subprocess.Popen(pinned([REC, "-o", out, "--events", "syscalls", "-q", *args], "1"))
    wait_for(lambda: os.path.exists(os.path.join(out, "trace.json")))
    time.sleep(1.0)
    result = work()
    p.send_signal(signal.SIGINT)
    _, status, ru = os.wait4(p.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, status
    m = json.load(open(os.path.join(out, "trace.json")))
    return m, ru.ru_utime + ru.ru_stime, ru.ru_maxrss * 1024, result


def load(rate, seconds):
    n = int((rate if rate else 3_000_000) * seconds)
    cmd = ["taskset", "-c", "0", LOAD, "loop", "getppid", str(n)] + ([str(rate)] if rate else [])
    t = time.perf_counter()
    subprocess.run(cmd, check=True)
    return n / (time.perf_counter() - t)


def parquet_bytes(d):
    n = 0
    for root, _, files in os.walk(d):
        if "snapshot-" in root:
            continue
        n += sum(os.path.getsize(os.path.join(root, f)) for f in files
                 if f.endswith(".parquet") or f.endswith(".tmp"))
    return n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--rates", default="100000,300000,max")
    ap.add_argument("--bound-seconds", type=float, default=30)
    ap.add_argument("--bound", default="64M")
    a = ap.parse_args()
    print(f"{'rate (calls/s)':>16} {'achieved':>10} {'events':>10} {'lost':>6} "
          f"{'CPU s':>7} {'CPU s/M events':>15} {'peak RSS':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        for r in a.rates.split(","):
            rate = None if r == "max" else int(r)
            out = os.path.join(tmp, f"r{r}")
            m, cpu, rss, achieved = record(out, [], lambda: load(rate, a.seconds))
            t = m["tables"]["syscalls"]
            ev = t["events"]
            print(f"{r:>16} {achieved:10.0f} {ev:10d} {t['dropped']:6d} {cpu:7.2f} "
                  f"{cpu / (ev / 1e6):15.2f} {rss / 2**20:8.1f} MB")
        # Steady rate under a disk bound, sampled every 10 ms.
        bound = size(a.bound)
        out = os.path.join(tmp, "bound")
        most = [0]
        done = threading.Event()

        def sample():
            while not done.is_set():
                most[0] = max(most[0], parquet_bytes(out))
                time.sleep(0.01)

        th = threading.Thread(target=sample)
        th.start()
        m, cpu, rss, achieved = record(out, ["--max-size", a.bound],
                                       lambda: load(300_000, a.bound_seconds))
        done.set()
        th.join()
        t = m["tables"]["syscalls"]
        print(f"\n{a.bound_seconds:.0f} s at 300k calls/s under --max-size {a.bound}: "
              f"{t['events'] + t.get('expired', 0)} rows written, {t.get('expired', 0)} "
              f"removed by retention in {t.get('expired_files', 0)} files, {t['dropped']} lost; "
              f"Parquet on disk at most {most[0] / 2**20:.1f} MiB of {bound / 2**20:.0f} MiB; "
              f"recorder {cpu:.2f} CPU s, peak RSS {rss / 2**20:.1f} MB")
        assert most[0] <= bound, (most[0], bound)


if __name__ == "__main__":
    main()
