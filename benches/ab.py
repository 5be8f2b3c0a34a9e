#!/usr/bin/env python3
"""Two builds of retap run alternately on one script and trace, fresh
processes each time (old, new, old, new, ...), so that both meet the
machine in the same states; prints each build's median and least wall
time and median user and system CPU. Best-of-N of one build after the
other moves by 10-25% on a 2-core VM; alternating medians are what
BENCHMARKS.md quotes for before/after figures of one change.

Usage: python3 benches/ab.py N SCRIPT TRACE OLD_RETAP NEW_RETAP [ARGS...]
(SCAN=1 in the environment adds --no-rollups; ARGS go to both runs.)
"""
import os
import resource
import statistics
import subprocess
import sys
import time


def main():
    n, script, trace = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    bins, extra = sys.argv[4:6], sys.argv[6:]
    scan = ["--no-rollups"] if os.environ.get("SCAN") else []
    runs = {b: [] for b in bins}
    for _ in range(n):
        for b in bins:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.perf_counter()
            subprocess.run([b, "run", *scan, script, "--trace", trace,
                            "-D", "MAXMAPENTRIES=2000000", "-D", "MAXACTION=100000000", *extra],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            wall = time.perf_counter() - t
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            runs[b].append((wall, after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime))
    for b in bins:
        w, u, s = zip(*runs[b])
        print(f"{os.path.basename(trace):22} {os.path.basename(script):18} {b:28} "
              f"wall med {statistics.median(w):.3f} min {min(w):.3f}  "
              f"user med {statistics.median(u):.3f}  sys med {statistics.median(s):.3f}")


if __name__ == "__main__":
    main()
