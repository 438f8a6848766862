"""Check `outrank-compat` against the OutRank package (0.97.5) on the same rows.

Generates synthetic data (pipelines.datasets.synth), writes it as Parquet for featureplex and, from the same
rows, as `data.csv` for the reference (label and feature columns, as `features.scoring.outrank_compat.csv_text`
prints them), runs the reference CLI with MI-numba-randomized, and compares per feature. Exits 1 when
any feature differs by more than the tolerance (or is missing on one side).

The reference lives in its own venv (it needs old numpy/pandas/numba; unpinned it crashes), created
here on first use under .bench/outrank-venv.

    .venv/bin/python benchmarks/outrank_compat_check.py --rows 200000 --seed 7
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import polars as pl

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from featureplex.features.data.config import RankParams  # noqa: E402
from featureplex.features.data.dataset import ParquetDataset, open_dataset  # noqa: E402
from featureplex.features.data.schema import DatasetSchema, resolve_schema  # noqa: E402
from featureplex.features.scoring.outrank_compat import csv_text, outrank_compat_scores  # noqa: E402
from featureplex.pipelines.datasets.synth import generate_synthetic  # noqa: E402

REFERENCE_VENV = REPO / ".bench" / "outrank-venv"
REFERENCE_PACKAGES = [
    "outrank==0.97.5", "xxhash==3.5.0", "pandas==2.2.3", "numpy==2.0.2",
    "numba==0.60.0", "scikit-learn==1.5.2", "scipy==1.14.1",
]
TOLERANCE = 1e-4
# The reference appends "-(cardinality; coverage %)" to every name in pairwise_ranks.tsv.
DECORATED_NAME = re.compile(r"^(?P<name>.*)-\(\d+; -?\d+\)$")


def ensure_reference_venv(venv: Path = REFERENCE_VENV) -> Path:
    """The reference CLI, installing it into its own venv if it is not there yet."""
    cli = venv / "bin" / "outrank"
    if not cli.exists():
        print(f"installing the reference into {venv} ...", flush=True)
        subprocess.run([shutil.which("python3") or "python3", "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", *REFERENCE_PACKAGES], check=True)
    return cli


def write_reference_csv(dataset: ParquetDataset, schema: DatasetSchema, csv_dir: Path) -> Path:
    """The Parquet rows, in file order, as the reference's `data.csv` (label and features only)."""
    csv_dir.mkdir(parents=True, exist_ok=True)
    frame = pl.read_parquet(list(dataset.files), columns=[schema.label, *schema.names()])
    target = csv_dir / "data.csv"
    csv_text(frame).write_csv(target)
    return target


def reference_command(cli: Path, data_dir: Path, out_dir: Path, label: str, threads: int) -> list[str]:
    """The invocation of issue 3 (plus --disable_tqdm: no progress bars in the log)."""
    return [
        str(cli), "--task", "ranking", "--data_path", str(data_dir), "--data_source", "csv-raw",
        "--subsampling", "1", "--num_threads", str(threads), "--heuristic", "MI-numba-randomized",
        "--target_ranking_only", "True", "--label_column", label, "--output_folder", str(out_dir),
        "--disable_tqdm", "True",
    ]


def run_reference(cli: Path, data_dir: Path, out_dir: Path, label: str, threads: int) -> float:
    """Run the reference CLI (its cwd gets a checkpoint file, so it runs inside out_dir's parent); wall seconds."""
    shutil.rmtree(out_dir, ignore_errors=True)
    start = time.perf_counter()
    completed = subprocess.run(
        reference_command(cli, data_dir, out_dir, label, threads), cwd=out_dir.parent, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - start
    if completed.returncode != 0 or not (out_dir / "pairwise_ranks.tsv").exists():
        sys.exit(f"reference failed (exit {completed.returncode}):\n{completed.stderr[-4000:]}")
    return elapsed


def read_reference_scores(out_dir: Path, label: str) -> dict[str, float]:
    """Feature -> score from pairwise_ranks.tsv: the rows (feature, label), names undecorated."""
    table = pl.read_csv(out_dir / "pairwise_ranks.tsv", separator="\t")

    def plain(name: str) -> str:
        match = DECORATED_NAME.match(name)
        return match["name"] if match else name

    scores = {}
    for first, second, score in table.select("FeatureA", "FeatureB", "Score").iter_rows():
        first, second = plain(first), plain(second)
        if second == label and first != label:
            scores[first] = float(score)
    return scores


def compare(reference: dict[str, float], ours: dict[str, float]) -> tuple[float, list[str]]:
    """Print both scores per feature; return the max abs difference and the features on one side only."""
    names = sorted(set(reference) | set(ours), key=lambda name: -ours.get(name, float("-inf")))
    missing = [name for name in names if name not in reference or name not in ours]
    width = max(map(len, names))
    print(f"{'feature':<{width}}  {'outrank 0.97.5':>15}  {'featureplex':>15}  {'abs diff':>10}")
    worst = 0.0
    for name in names:
        if name in missing:
            print(f"{name:<{width}}  {reference.get(name, 'missing')!s:>15}  {ours.get(name, 'missing')!s:>15}")
            continue
        diff = abs(reference[name] - ours[name])
        worst = max(worst, diff)
        print(f"{name:<{width}}  {reference[name]:>15.9f}  {ours[name]:>15.9f}  {diff:>10.2e}")
    return worst, missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2, help="reference --num_threads")
    parser.add_argument("--workdir", type=Path, default=REPO / ".bench" / "outrank_compat")
    parser.add_argument("--tolerance", type=float, default=TOLERANCE)
    args = parser.parse_args(argv)

    cli = ensure_reference_venv()
    workdir = args.workdir.resolve()
    parquet_dir, csv_dir, out_dir = workdir / "parquet", workdir / "csv", workdir / "reference_out"
    shutil.rmtree(parquet_dir, ignore_errors=True)
    # several row groups and files: batches of 16,384 rows must run across their boundaries
    generate_synthetic(parquet_dir, rows=args.rows, seed=args.seed, row_group_rows=50_000, files=2)
    dataset = open_dataset(parquet_dir)
    schema = resolve_schema(dataset)
    write_reference_csv(dataset, schema, csv_dir)
    print(f"{args.rows} rows, {len(schema.names())} features, seed {args.seed}; data in {workdir}", flush=True)

    reference_seconds = run_reference(cli, csv_dir, out_dir, schema.label, args.threads)
    start = time.perf_counter()
    ours = outrank_compat_scores(dataset, schema, RankParams(heuristic="outrank-compat"))
    our_seconds = time.perf_counter() - start

    worst, missing = compare(read_reference_scores(out_dir, schema.label), ours)
    print(f"\nreference {reference_seconds:.1f} s (CSV, {args.threads} threads), featureplex {our_seconds:.1f} s (Parquet, 1 process)")
    print(f"max abs difference: {worst:.3e} (tolerance {args.tolerance:g})")
    if missing:
        print(f"FAIL: on one side only: {', '.join(missing)}")
        return 1
    if worst > args.tolerance:
        print("FAIL: difference above tolerance")
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
