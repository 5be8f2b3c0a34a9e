#!/usr/bin/env python3
"""Live `retap run` (no --trace) against bpftrace, side by side (root):

1. Start-up: wall time of `retap run -e 'probe begin { exit() }'` (no
   recorder: nothing to record), of a script that also has a syscall probe
   (the recorder is started, loaded and attached, then exit() at begin),
   and of `bpftrace -e 'BEGIN { exit(); }'`.
2. Added cost per syscall of counting syscalls by process name live:
   (and of the recorder alone, with and without its live stream)
   `retap run -e 'probe syscall.* { c[execname()]++ }'` (counted in the
   kernel), the same with a guard (`if (pid() > 0)`: every syscall
   streamed and interpreted), against
   `bpftrace -e 'tracepoint:raw_syscalls:sys_enter { @[comm] = count(); }'`,
   each on CPU 1 while `retap-workload loop getppid N` runs on CPU 0;
   (traced - untraced) / N.
3. The highest getppid rate followed live with no event lost, every
   syscall streamed (the guarded script; the run's exit status says;
   retap reports losses as stap's skipped probes).
4. Event-to-output latency of a per-event printf: the script prints the
   event's own time (gettimeofday_ns() is the event's, as over a trace);
   this script reads each line as it comes and subtracts. 1000 calls/s.

Usage: python3 benches/live_bench.py [--runs 5] [--calls 3000000]
Build first: cargo build --release
"""
import argparse, os, signal, statistics, subprocess, time

from tracers import LOAD, REC, ROOT, pinned, under

RETAP = os.path.join(ROOT, "target/release/retap")
COUNT = "global c probe syscall.* { c[execname()]++ } probe end { foreach (n in c- limit 3) printf(\"%s %d\\n\", n, c[n]) }"
# The same with a guard: not counted in the kernel, every syscall streamed.
STREAMED = COUNT.replace("{ c[execname()]++ }", "{ if (pid() > 0) c[execname()]++ }")


def timed(cmd):
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def startup(runs):
    rows = {
        "retap, begin only": [RETAP, "run", "-e", "probe begin { exit() }"],
        "retap, with a syscall probe": [RETAP, "run", "-e",
                                        "probe begin { exit() } probe syscall.read { }"],
        "bpftrace BEGIN": ["bpftrace", "-e", "BEGIN { exit(); }"],
    }
    print("start-up (wall s, best / median of %d):" % runs)
    for name, cmd in rows.items():
        ts = [timed(cmd) for _ in range(runs)]
        print(f"  {name:30} {min(ts):.3f} / {statistics.median(ts):.3f}")


def getppid(n, rate=None):
    cmd = pinned([LOAD, "loop", "getppid", str(n)] + ([str(rate)] if rate else []), "0")
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def cost(calls, runs):
    base = min(getppid(calls) for _ in range(runs))
    print(f"\ncost per syscall ({calls} getppid on CPU 0, tracer on CPU 1, best of {runs}):")
    print(f"  untraced: {base:.3f} s ({base / calls * 1e9:.0f} ns/call)")
    tracers = {
        "retap run (live)": ([RETAP, "run", "-e", COUNT], None),
        "retap run, streamed": ([RETAP, "run", "-e", STREAMED], None),
        "bpftrace": (["bpftrace", "-e",
                      "tracepoint:raw_syscalls:sys_enter { @[comm] = count(); }"], "Attaching"),
    }
    out = {}
    for name, (cmd, ready) in tracers.items():
        best = min(under(cmd, ready, lambda: getppid(calls)) for _ in range(runs))
        out[name] = (best - base) / calls * 1e9
        print(f"  {name:18} {best:.3f} s, +{out[name]:.0f} ns/call")
    print(f"  retap / bpftrace added cost: {out['retap run (live)'] / out['bpftrace']:.2f}x")
    recorder_alone(calls, runs)


def recorder_alone(calls, runs):
    """The recorder by itself, with and without the live stream (to
    /dev/null): what the entry records and the stream add."""
    import shutil, tempfile
    base = min(getppid(calls) for _ in range(runs))
    for name, extra in [("retap-record --events syscalls", ""),
                        ("  ... --stream-fd 3", "--stream-fd 3 3>/dev/null")]:
        best = None
        for _ in range(runs):
            d = tempfile.mkdtemp()
            shutil.rmtree(d)
            cmd = ["bash", "-c", f"exec {REC} -o {d} -q --events syscalls {extra}"]
            t = under(cmd, None, lambda: getppid(calls))
            best = t if best is None else min(best, t)
            shutil.rmtree(d, ignore_errors=True)
        print(f"  {name:32} +{(best - base) / calls * 1e9:.0f} ns/call")


def live_rate(rate, seconds):
    """Whether `retap run` followed `rate` getppid/s for `seconds` with no
    loss; (achieved rate, exit status)."""
    p = subprocess.Popen(pinned([RETAP, "run", "-e", STREAMED], "1"), stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    n = int(rate * seconds) if rate else 6_000_000
    t = getppid(n, rate)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    return n / t, p.returncode, err


def rates(seconds):
    print(f"\nfollowed live, every syscall streamed ({seconds} s per rate; exit 0 = no event lost):")
    for r in [100_000, 300_000, 1_000_000, None]:
        achieved, code, err = live_rate(r, seconds)
        lost = next((l for l in err.splitlines() if "skipped probes" in l), "")
        print(f"  {('max' if r is None else r):>9} calls/s: achieved {achieved:10.0f}/s, "
              f"exit {code} {lost}")


def latency(seconds):
    script = ('probe syscall.getppid { if (execname() == "retap-workload") '
              'printf("%d\\n", gettimeofday_ns()) }')
    p = subprocess.Popen([RETAP, "run", "-e", script], stdout=subprocess.PIPE, text=True,
                         bufsize=1)
    time.sleep(1.0)
    load = subprocess.Popen(pinned([LOAD, "loop", "getppid", str(int(1000 * seconds)), "1000"],
                                   "0"), stdout=subprocess.DEVNULL)
    lat = []
    deadline = time.time() + seconds + 5
    while time.time() < deadline and len(lat) < 1000 * seconds:
        line = p.stdout.readline()
        if not line:
            break
        lat.append(time.time_ns() - int(line))
    load.wait()
    p.send_signal(signal.SIGINT)
    p.communicate(timeout=60)
    lat.sort()
    ms = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] / 1e6
    print(f"\nevent-to-output latency, per-event printf at 1000 calls/s ({len(lat)} lines): "
          f"median {ms(0.5):.1f} ms, p99 {ms(0.99):.1f} ms, max {lat[-1] / 1e6:.1f} ms")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--calls", type=int, default=3_000_000)
    ap.add_argument("--seconds", type=float, default=3)
    a = ap.parse_args()
    startup(a.runs)
    cost(a.calls, a.runs)
    rates(a.seconds)
    latency(a.seconds)


if __name__ == "__main__":
    main()
