"""What the recorder benchmarks share: the binaries, and running a
workload under a tracer started on the other CPU (retap-record until its
trace.json exists, bpftrace until it says it is attaching), stopped with
SIGINT afterwards."""
import json, os, signal, subprocess, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REC = os.path.join(ROOT, "target/release/retap-record")
LOAD = os.path.join(ROOT, "target/release/retap-workload")


def wait_for(pred, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


def pinned(cmd, cpu):
    return ["taskset", "-c", cpu, *cmd] if cpu is not None else cmd


def under(cmd, ready, work, cpu="1"):
    """Runs work() while cmd traces (pinned to `cpu`, unless None);
    returns work()'s result. `ready`: a line cmd prints once attached, or
    None."""
    p = subprocess.Popen(pinned(cmd, cpu), stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    if ready:
        wait_for(lambda: ready in (p.stdout.readline() or ""))
    time.sleep(1.0)
    result = work()
    p.send_signal(signal.SIGINT)
    try:
        p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
    return result


def under_retap(out, args, work, cpu="1", rec=REC, env=None):
    """work(recorder's pid) under `retap-record -o out ARGS -q` (`rec`:
    another build of it, for before/after runs; `env`: variables added to
    its environment); (its result, the manifest)."""
    p = subprocess.Popen(pinned([rec, "-o", out, *args, "-q"], cpu), stderr=subprocess.PIPE,
                         env={**os.environ, **(env or {})})
    # trace.json appears before attach; the probes list is filled after.
    wait_for(lambda: os.path.exists(os.path.join(out, "trace.json")))
    time.sleep(1.0)
    result = work(p.pid)
    p.send_signal(signal.SIGINT)
    p.wait()
    return result, json.load(open(os.path.join(out, "trace.json")))
