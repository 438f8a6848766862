"""Peak memory and speed of `generate_synthetic`: it must stay well under 2 GB at 10M rows.

The generator runs in a child process (so the peak is its own, not this script's) writing to a
temporary directory; the peak is the child's maximum resident set size.

    .venv/bin/python benchmarks/synth_memory.py --rows 10000000
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LIMIT_MB = 2048

CHILD = """
import sys
from featureplex.pipelines.datasets.synth import generate_synthetic
truth = generate_synthetic(sys.argv[1], rows=int(sys.argv[2]), seed=0, row_group_rows=int(sys.argv[3]), files=int(sys.argv[4]))
print(f"ctr {truth['ctr']:.4f}")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--row-group-rows", type=int, default=100_000)
    parser.add_argument("--files", type=int, default=1)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="synth-memory-") as scratch:
        out = Path(scratch) / "data"
        start = time.perf_counter()
        completed = subprocess.run(
            [sys.executable, "-c", CHILD, str(out), str(args.rows), str(args.row_group_rows), str(args.files)],
            env={**os.environ, "PYTHONPATH": str(REPO)},
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - start
        if completed.returncode != 0:
            sys.exit(f"generator failed:\n{completed.stderr}")
        size_mb = sum(path.stat().st_size for path in out.iterdir()) / 2**20
    # ru_maxrss is in KiB on Linux.
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    under = peak_mb < LIMIT_MB
    print(f"rows          {args.rows:,} ({args.files} file(s), row groups of {args.row_group_rows:,})")
    print(f"wall          {seconds:.1f} s")
    print(f"rows/s        {args.rows / seconds:,.0f}")
    print(f"peak RSS      {peak_mb:,.0f} MB ({'under' if under else 'OVER'} {LIMIT_MB} MB)")
    print(f"output        {size_mb:,.0f} MB, {completed.stdout.strip()}")
    sys.exit(0 if under else 1)


if __name__ == "__main__":
    main()
