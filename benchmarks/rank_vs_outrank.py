"""featureplex rank vs the OutRank reference, side by side, on the same synthetic rows.

- Data: pipelines.datasets.synth (25 features) plus seeded noise columns up to 40 features, as Parquet
  (featureplex) and, from the same rows, `data.csv` (the reference; features.scoring.outrank_compat.csv_text).
- featureplex: `featureplex rank DATA --out OUT` (the command line's own entry, pipelines.cli.run_command,
  and its exit) with the default config, all rows, installed as a user installs it: `pip install -e .`
  without extras into .bench/featureplex-venv (created on first use; `--featureplex-python` picks another
  interpreter, e.g. the project's .venv with the test extras). The floors run under the same python.
- OutRank 0.97.5: MI-numba-randomized from CSV, all rows (--subsampling 1), 2 threads.
- I/O floor: the columns rank reads (the label, the timestamp and every ranked feature; not the
  sequence columns, which rank skips) read with polars (streamed in batches) and one bincount per
  column (of a hash of each value): the least any ranking over these columns must do.
- Beam floor: the same reads and bincounts as one pass of the Beam pipeline rank runs
  (pipelines.beam.passes, the local runner, Beam imported inside the timing as rank does): what
  Beam and our reader cost before any counting of ours.

Each contender runs in its own process; featureplex and the floors `--repeats` times (3 by default up
to 1M rows), interleaved, and the run with the median wall time is reported; OutRank once (its minutes
average out the machine's moments). Wall time, CPU time (user + system) and peak RSS (wait4) are
measured from the outside (CPU time says how much of a contended machine a contender got; the load
average is printed too), and the time of the work itself (after imports) from the inside. Prints a
table with the ratios. Large runs skip the reference (hours at 10M rows) unless --outrank is given:

    .venv/bin/python benchmarks/rank_vs_outrank.py                 # 400k rows, all three
    .venv/bin/python benchmarks/rank_vs_outrank.py --rows 10000000 # featureplex and floor only
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TARGET_FEATURES = 40
ROW_GROUP_ROWS = 100_000
FLOOR_BUCKETS = 1 << 16
OUTRANK_MAX_AUTO_ROWS = 1_000_000  # above this the reference takes hours: opt in with --outrank
# featureplex as `pip install featureplex` installs it: no extras (the project's .venv has the test extras,
# whose Google Cloud clients alone add ~0.3 s to Beam's import)
BASE_VENV = REPO / ".bench" / "featureplex-venv"


# ---------------------------------------------------------------- data


def extra_noise_columns(rng: np.random.Generator, rows: int, count: int) -> dict[str, pa.Array]:
    """`count` label-independent columns cycling through the kinds a CTR log has: low / mid / high
    cardinality integers, strings, and floats."""
    columns = {}
    for index in range(count):
        name = f"extra_noise_{index:02d}"
        kind = index % 5
        if kind == 0:
            columns[name] = pa.array(rng.integers(0, 10, rows))
        elif kind == 1:
            columns[name] = pa.array(rng.integers(0, 1_000, rows))
        elif kind == 2:
            columns[name] = pa.array(rng.integers(0, 200_000, rows))
        elif kind == 3:
            columns[name] = pa.array(np.char.add("s", rng.integers(0, 500, rows).astype(str)))
        else:
            columns[name] = pa.array(np.round(rng.normal(size=rows), 3))
    return columns


def prepare_parquet(workdir: Path, rows: int, seed: int) -> Path:
    """Synthetic data with noise columns added up to 40 features, row group by row group (memory
    bounded). Reused when a previous run made the same (rows, seed)."""
    from featureplex.features.data.dataset import open_dataset
    from featureplex.features.data.schema import resolve_schema
    from featureplex.pipelines.datasets.synth import generate_synthetic

    target = workdir / f"parquet-{rows}-{seed}"
    done = target / "_DONE"
    if done.exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    synth = workdir / f"synth-{rows}-{seed}"
    shutil.rmtree(synth, ignore_errors=True)
    print(f"generating {rows} synthetic rows ...", flush=True)
    generate_synthetic(synth, rows=rows, seed=seed, row_group_rows=ROW_GROUP_ROWS)
    source = open_dataset(synth)
    extra = TARGET_FEATURES - len(resolve_schema(source).names())
    target.mkdir(parents=True)
    writer = None
    for chunk_index, ref in enumerate(source.row_groups()):
        table = pq.ParquetFile(ref.path).read_row_group(ref.row_group)
        rng = np.random.default_rng(np.random.SeedSequence([seed, 1_000_003, chunk_index]))
        for name, column in extra_noise_columns(rng, table.num_rows, extra).items():
            table = table.append_column(name, column)
        writer = writer or pq.ParquetWriter(str(target / "part-00000.parquet"), table.schema)
        writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
    writer.close()
    shutil.rmtree(synth)
    done.touch()
    return target


def prepare_csv(workdir: Path, parquet: Path) -> Path:
    """The reference's data.csv: label and feature columns of the same rows, as csv_text prints them."""
    import polars as pl

    from featureplex.features.data.dataset import open_dataset
    from featureplex.features.data.schema import resolve_schema
    from featureplex.features.scoring.outrank_compat import csv_text

    target = workdir / f"csv-{parquet.name.removeprefix('parquet-')}"
    if (target / "_DONE").exists():
        return target
    target.mkdir(parents=True, exist_ok=True)
    dataset = open_dataset(parquet)
    schema = resolve_schema(dataset)
    csv_text(pl.read_parquet(list(dataset.files), columns=[schema.label, *schema.names()])).write_csv(target / "data.csv")
    (target / "_DONE").touch()
    return target


# ---------------------------------------------------------------- the contenders (child processes)


def child_featureplex(data: str, out: str) -> dict:
    """`featureplex rank DATA --out OUT` as a user runs it (OutRank runs as its command too): the
    command's work is timed, and the child ends as the command line does (pipelines.cli.exit_after)."""
    from featureplex.pipelines.cli import run_command

    start = time.perf_counter()
    code = run_command(["rank", data, "--out", out])
    if code:
        sys.exit(code)
    return {"seconds": time.perf_counter() - start}


def ranked_columns(data: str) -> tuple[object, list[str], list[str]]:
    """The dataset, the columns rank reads (label, timestamp, ranked features) and the text ones among them."""
    from featureplex.features.counting.key_rules import key_rules
    from featureplex.features.data.config import FeatureplexConfig
    from featureplex.features.data.dataset import open_dataset, text_columns
    from featureplex.features.data.schema import resolve_schema

    dataset = open_dataset(data)
    schema = resolve_schema(dataset)
    features = [rule.name for rule in key_rules(dataset, schema, FeatureplexConfig().rank)]
    columns = [name for name in (schema.label, schema.timestamp) if name] + features
    return dataset, columns, text_columns(dataset, features)


def hashed_bincount(series) -> np.ndarray:
    return np.bincount((series.hash(seed=0) % FLOOR_BUCKETS).to_numpy().astype(np.int64), minlength=FLOOR_BUCKETS)


def child_floor(data: str) -> dict:
    """Read the columns rank reads and bincount a hash of each value."""
    import polars as pl

    dataset, columns, _ = ranked_columns(data)
    start = time.perf_counter()
    counts = {name: np.zeros(FLOOR_BUCKETS, dtype=np.int64) for name in columns}
    for frame in pl.scan_parquet(list(dataset.files)).select(columns).collect_batches():
        for series in frame.iter_columns():
            counts[series.name] += hashed_bincount(series)
    return {"seconds": time.perf_counter() - start}


class FloorCounts:
    """The floor's bincounts as an accumulator of the Beam pass (pipelines.beam.passes's protocol)."""

    def __init__(self):
        self.counts: dict[str, np.ndarray] = {}

    def prepare(self, origin, batch) -> dict[str, np.ndarray]:  # on the reading threads, as rank's counting
        import polars as pl

        return {name: hashed_bincount(pl.from_arrow(column).to_physical())
                for name, column in zip(batch.schema.names, batch.columns)}

    def add_prepared(self, origin, counts: dict[str, np.ndarray]) -> "FloorCounts":
        for name, part in counts.items():
            self.counts[name] = self.counts.get(name, 0) + part
        return self

    def merge(self, others: list["FloorCounts"]) -> "FloorCounts":
        for other in others:
            self.add_prepared(None, other.counts)
        return self

    def compact(self) -> "FloorCounts":
        return self

    def result(self) -> dict[str, int]:
        return {name: int(part.sum()) for name, part in self.counts.items()}


def child_beam_floor(data: str) -> dict:
    """The floor's reads and bincounts as one Beam pass, Beam imported inside the timing (as rank() does)."""
    from featureplex.features.data.config import FeatureplexConfig
    from featureplex.pipelines.beam.pass_spec import PassSpec

    dataset, columns, text = ranked_columns(data)
    start = time.perf_counter()
    from featureplex.pipelines.beam.passes import run_passes

    run_passes(dataset, FeatureplexConfig().rank.batch_rows, PassSpec("CountFloor", tuple(columns), (("floor", FloorCounts),), tuple(text)))
    return {"seconds": time.perf_counter() - start}


CHILDREN = {"featureplex": child_featureplex, "floor": child_floor, "beam-floor": child_beam_floor}


def reference_command(data: str, out: str) -> list[str]:
    from benchmarks.outrank_compat_check import ensure_reference_venv
    from benchmarks.outrank_compat_check import reference_command as command

    return command(ensure_reference_venv(), Path(data), Path(out), "label", 2)


def measure(command: list[str], cwd: Path, log_name: str) -> dict:
    """Run a process; its wall seconds, peak RSS in MiB (this child only, via wait4), and the JSON it
    printed last (the child's own timing), if any. Output goes to files in cwd (the reference logs
    a lot; a pipe nobody reads would block it)."""
    stdout_path, stderr_path = cwd / f"{log_name}.out", cwd / f"{log_name}.log"
    start = time.perf_counter()
    with open(stdout_path, "w") as stdout, open(stderr_path, "w") as stderr:
        process = subprocess.Popen(
            command, cwd=cwd, stdout=stdout, stderr=stderr, env={**os.environ, "PYTHONPATH": str(REPO)}
        )
        _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{log_name} failed (see {stderr_path}):\n{stderr_path.read_text()[-4000:]}")
    lines = [line for line in stdout_path.read_text().splitlines() if line.startswith("{")]
    cpu = usage.ru_utime + usage.ru_stime
    return {"wall": wall, "cpu": cpu, "peak_mib": usage.ru_maxrss / 1024, **(json.loads(lines[-1]) if lines else {})}


def ensure_base_venv(venv: Path = BASE_VENV) -> Path:
    """The python of a venv with featureplex installed without extras (editable: this checkout's code)."""
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"installing featureplex without extras into {venv} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "-e", str(REPO)], check=True)
    return python


def median_run(runs: list[dict]) -> dict:
    """The run with the median wall time (of an even number, the faster middle one): a few-second run
    is at the mercy of one slow moment of a shared machine, OutRank's minutes average it out."""
    return sorted(runs, key=lambda run: run["wall"])[(len(runs) - 1) // 2]


# ---------------------------------------------------------------- report


def row(name: str, result: dict | None, rows: int) -> str:
    if result is None:
        return f"{name:<22} {'skipped':>10}"
    work = "-" if result.get("seconds") is None else f"{result['seconds']:.1f}"
    return (
        f"{name:<22} {result['wall']:>10.1f} {work:>10} "
        f"{result['cpu']:>10.1f} {rows / result['wall']:>12,.0f} {result['peak_mib']:>10,.0f}"
    )


def main(argv: list[str] | None = None) -> int:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--child":
        kind, *paths = sys.argv[2:]
        print(json.dumps(CHILDREN[kind](*paths)), flush=True)
        if kind == "featureplex":
            from featureplex.pipelines.cli import exit_after

            exit_after(0)
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=400_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", type=Path, default=REPO / ".bench" / "rank_vs_outrank")
    parser.add_argument("--repeats", type=int, default=None,
                        help="runs of featureplex and the floors, the median's run reported "
                             f"(default: 3 up to {OUTRANK_MAX_AUTO_ROWS:,} rows, else 1)")
    parser.add_argument("--featureplex-python", type=Path, default=None,
                        help=f"the python featureplex and the floors run under (default: {BASE_VENV.relative_to(REPO)}, "
                             "created with featureplex installed without extras, as a user installs it)")
    parser.add_argument("--outrank", action=argparse.BooleanOptionalAction, default=None,
                        help=f"run the reference (default: only up to {OUTRANK_MAX_AUTO_ROWS:,} rows)")
    args = parser.parse_args(argv)
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    run_outrank = args.outrank if args.outrank is not None else args.rows <= OUTRANK_MAX_AUTO_ROWS
    args.repeats = args.repeats or (3 if args.rows <= OUTRANK_MAX_AUTO_ROWS else 1)

    parquet = prepare_parquet(workdir, args.rows, args.seed)
    python = args.featureplex_python or ensure_base_venv()
    me = [str(python), str(Path(__file__).resolve()), "--child"]
    print(f"{args.rows:,} rows x {TARGET_FEATURES} features, seed {args.seed}, {os.cpu_count()} cores; "
          f"featureplex and the floors under {python}", flush=True)

    commands = {"floor": [*me, "floor", str(parquet)], "beam_floor": [*me, "beam-floor", str(parquet)],
                "featureplex": [*me, "featureplex", str(parquet), str(workdir / "rank_out")]}
    runs = {name: [] for name in commands}
    for repeat in range(args.repeats):  # interleaved, so a slow minute of the machine hits every contender
        for name, command in commands.items():
            runs[name].append(measure(command, workdir, name))
        print(f"round {repeat + 1}: " + ", ".join(f"{name} {runs[name][-1]['wall']:.1f} s" for name in commands), flush=True)
    floor, beam_floor, ours = (median_run(runs[name]) for name in commands)
    reference = None
    if run_outrank:
        csv_dir = prepare_csv(workdir, parquet)
        out = workdir / "outrank_out"
        shutil.rmtree(out, ignore_errors=True)
        reference = measure(reference_command(str(csv_dir), str(out)), workdir, "outrank")
        print(f"outrank done: {reference['wall']:.1f} s", flush=True)

    print()
    print(f"load average (1, 5, 15 min) at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"{'':<22} {'wall s':>10} {'work s':>10} {'cpu s':>10} {'rows/s':>12} {'peak MiB':>10}")
    print(row("featureplex (Parquet)", ours, args.rows))
    print(row("outrank 0.97.5 (CSV)", reference, args.rows))
    print(row("I/O floor (polars)", floor, args.rows))
    print(row("Beam floor (1 pass)", beam_floor, args.rows))
    print()
    if reference is not None:
        print(f"outrank / featureplex, end to end (wall): {reference['wall'] / ours['wall']:.1f}x  (goal >= 40x)")
    print(f"featureplex / I/O floor, work:            {ours['seconds'] / floor['seconds']:.1f}x  (goal <= 5x)")
    print(f"featureplex / I/O floor, wall:            {ours['wall'] / floor['wall']:.1f}x")
    print(f"Beam floor / I/O floor, work:             {beam_floor['seconds'] / floor['seconds']:.1f}x  (Beam and the reader alone)")
    print(f"featureplex / Beam floor, work:           {ours['seconds'] / beam_floor['seconds']:.1f}x  (our counting and artifact)")
    print("work s: inside the process, after imports (featureplex: the rank command, Beam imported in it;")
    print("        floor: read + bincounts; Beam floor: Beam import + the pass)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
