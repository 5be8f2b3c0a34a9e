#!/usr/bin/env python3
"""What checking checksums costs the plans: the four plan_bench scripts,
warm (analyzer/benches/plans.rs: a whole retap run repeated in one
process), over the same synthetic trace written with checksums (every
page's CRC checked as it is read, each footer's tail checked) and without
them (as recorders wrote traces before), alternating A and B so that the
machine's drift falls on both alike. Prints best-of times and the ratio.

Usage: python3 benches/checksum_bench.py [--events 10000000] [--rounds 5] [--repeat 20]
Build first: cargo build --release
"""
import argparse, os, subprocess, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import plan_bench  # noqa: E402  (its traces, scripts and warm bench)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=20)
    a = ap.parse_args()
    warm = plan_bench.warm_bench()
    with_crc = plan_bench.trace(a.events, checksums=True)
    without = plan_bench.trace(a.events, checksums=False)
    print(f"{a.events} events; warm best of {a.rounds} x {a.repeat} runs each")
    print(f"{'script':<17} {'checked':>10} {'unchecked':>10} {'cost':>7}")
    for name in plan_bench.SQL:
        script = os.path.join(plan_bench.SCRIPTS, name + ".stp")
        best = {with_crc: 1e9, without: 1e9}
        for _ in range(a.rounds):
            for d in (with_crc, without):
                w = subprocess.run([warm, script, d, str(a.repeat)], capture_output=True, text=True)
                if w.returncode != 0:
                    sys.exit(f"{name}: {w.stderr[-2000:]}")
                best[d] = min(best[d], float(w.stdout.split()[0]))
        c, u = best[with_crc], best[without]
        print(f"{name:<17} {c * 1000:>8.2f}ms {u * 1000:>8.2f}ms {(c / u - 1) * 100:>+6.1f}%")


if __name__ == "__main__":
    main()
