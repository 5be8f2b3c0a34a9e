"""Where the benchmarks keep the traces they make, named by the format's
version that benchmarks see, so that a change of format is never measured
over files written in the old one (v2: syscalls files' rollups after their
rows, not in their footers)."""
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.path.join(ROOT, "target/bench-traces-v2")
