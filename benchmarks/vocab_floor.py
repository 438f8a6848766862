"""Vocab pipeline wall time against the I/O + counting floor: a polars group-by count of the same columns.

The vocab stage reads every categorical and sequence column, counts each feature's values, lays out
the table and writes the artifact (`pipelines.stages.vocab.build_vocabulary`, Beam DirectRunner).
The floor reads the same columns from the same Parquet files and counts them with polars (lazy
scans, one `group_by(column).len()` per categorical column, the sequence exploded first, all
collected together on every core), and does nothing else. The goal (issue 4) is a ratio of at most 2.

Both are timed in this process after their imports, alternated, best of `--repeat` runs (wall
clock, and the process's CPU time, which a loaded machine disturbs less); the vocab time is
the whole `build_vocabulary` call (schema, Beam start-up, reading, counting, merging, layout and
writing). `--profile` adds the vocab pipeline's phases measured outside Beam (read only; read, count
and compact as the pipeline does them, reading and counting on two threads; the pickle round trip of
the counts Beam ships; merge and rank; layout and write) to see where the time goes.

    .venv/bin/python benchmarks/vocab_floor.py                     # 4M synthetic rows, generated into a temp dir
    .venv/bin/python benchmarks/vocab_floor.py --data /tmp/synth4m  # reuse (or create) the data there
    .venv/bin/python benchmarks/vocab_floor.py --beam-args="--direct_num_workers=2 --direct_running_mode=multi_processing"
"""

from __future__ import annotations

import argparse
import pickle
import shlex
import sys
import tempfile
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

GOAL = 2.0


def polars_floor(files: list[str], categorical: list[str], sequences: list[str]) -> dict[str, int]:
    """Distinct values per column by a polars group-by count: the least any vocabulary build must do."""
    import polars as pl

    frames = [pl.scan_parquet(files).select(column).group_by(column).len() for column in categorical]
    frames += [pl.scan_parquet(files).select(pl.col(column).explode()).group_by(column).len() for column in sequences]
    counted = pl.collect_all(frames)
    return {column: frame.height for column, frame in zip([*categorical, *sequences], counted)}


def profile_phases(dataset, counts_template, batch_rows: int) -> dict[str, float]:
    """The pipeline's work without Beam, phase by phase, in one process."""
    from featureplex.features.data.artifact_dir import Manifest
    from featureplex.features.data.config import VocabParams
    from featureplex.features.data.dataset import read_row_groups
    from featureplex.features.embedding.layout import build_layout
    from featureplex.features.embedding.vocab_artifact import VocabArtifact
    from featureplex.features.embedding.vocabulary import ValueCounts
    from featureplex.pipelines.stages.vocab import dictionary_columns

    columns = [*counts_template.categorical, *counts_template.sequences]
    text = dictionary_columns(counts_template, dataset)  # read as the pipeline reads them
    refs = dataset.row_groups()
    phases = {}
    start = time.perf_counter()
    for _ in read_row_groups(refs, columns, batch_rows, text):
        pass
    phases["read (2 row groups at a time)"] = time.perf_counter() - start
    start = time.perf_counter()
    counts = ValueCounts(counts_template.categorical, counts_template.sequences)
    for origin, parts in read_row_groups(refs, columns, batch_rows, text, prepare=counts.prepare):  # as the pipeline
        counts.add_prepared(origin, parts)
    counts.compact()
    phases["read + count + compact"] = time.perf_counter() - start
    start = time.perf_counter()
    shipped = pickle.loads(pickle.dumps(counts))  # what Beam ships between the count and the write steps
    phases["pickle + unpickle"] = time.perf_counter() - start
    start = time.perf_counter()
    merged = ValueCounts.merge_all([shipped])
    for feature in merged.features:
        merged.ranked(feature)
    phases["merge + rank"] = time.perf_counter() - start
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="vocab-floor-profile-") as out, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        layout = build_layout(merged, VocabParams())
        VocabArtifact.from_counts(merged, layout, Manifest("vocab")).write(Path(out) / "vocab")
    phases["layout + write"] = time.perf_counter() - start
    return phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4_000_000, help="synthetic rows to generate")
    parser.add_argument("--data", type=Path, default=None, help="synthetic data folder: reused if it exists, else generated there")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each; the best is kept")
    parser.add_argument("--beam-args", default="", help="Beam flags for the vocab pipeline, one string")
    parser.add_argument("--profile", action="store_true", help="also time the pipeline's phases outside Beam")
    parser.add_argument("--ignore", default="", help="columns to leave out of both (comma separated), e.g. noise_row_id")
    args = parser.parse_args()

    import apache_beam  # noqa: F401  (imports out of the timings)
    import polars as pl

    from featureplex.features.data.config import parse_config
    from featureplex.features.data.dataset import DEFAULT_BATCH_ROWS, open_dataset
    from featureplex.features.data.schema import resolve_schema
    from featureplex.pipelines.datasets.synth import generate_synthetic
    from featureplex.pipelines.stages.vocab import build_vocabulary, vocabulary_columns

    with tempfile.TemporaryDirectory(prefix="vocab-floor-") as scratch:
        data = args.data or Path(scratch) / "data"
        if not data.exists():
            start = time.perf_counter()
            generate_synthetic(data, rows=args.rows, seed=0)
            print(f"generated {args.rows:,} synthetic rows in {time.perf_counter() - start:.0f} s -> {data}")
        dataset = open_dataset(str(data))
        ignored = [name for name in args.ignore.split(",") if name]
        config = parse_config({"features": {name: {"role": "ignore"} for name in ignored}})
        template = vocabulary_columns(resolve_schema(dataset, config, None))
        categorical, sequences = list(template.categorical), list(template.sequences)
        print(f"data: {dataset.num_rows:,} rows, {len(dataset.files)} file(s), {len(dataset.row_groups())} row groups; "
              f"{len(categorical)} categorical columns + {len(sequences)} sequence column(s) "
              f"({', '.join(sequences) or 'none'})")

        floor_times, vocab_times, floor_cpu, vocab_cpu = [], [], [], []
        distinct = {}
        for run in range(args.repeat):  # alternated, so both see the same load on a shared machine
            start, cpu = time.perf_counter(), time.process_time()
            distinct = polars_floor(dataset.files, categorical, sequences)
            floor_times.append(time.perf_counter() - start)
            floor_cpu.append(time.process_time() - cpu)
            start, cpu = time.perf_counter(), time.process_time()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                layout = build_vocabulary(str(data), config, Path(scratch) / f"vocab-{run}", shlex.split(args.beam_args))
            vocab_times.append(time.perf_counter() - start)
            vocab_cpu.append(time.process_time() - cpu)
        counted = {name: spec.distinct for name, spec in layout.features.items()}
        print(f"distinct values: floor {sum(distinct.values()):,} (per column, nulls included), "
              f"vocab {sum(counted.values()):,} (per feature, missing apart)")

        floor, vocab = min(floor_times), min(vocab_times)
        ratio = vocab / floor
        runs = lambda times: ", ".join(f"{t:.1f}" for t in times)  # noqa: E731
        print(f"\n{'':22s} {'wall':>8s} {'cpu':>8s}   runs (wall)")
        print(f"{'polars group-by floor':22s} {floor:7.1f}s {min(floor_cpu):7.1f}s   {runs(floor_times)}")
        print(f"{'vocab pipeline':22s} {vocab:7.1f}s {min(vocab_cpu):7.1f}s   {runs(vocab_times)}"
              f"{'   beam args: ' + args.beam_args if args.beam_args else ''}")
        in_process = "multi_processing" not in args.beam_args and "--runner" not in args.beam_args
        cpu_ratio = f"{min(vocab_cpu) / min(floor_cpu):7.2f}x" if in_process else f"{'n/a':>8s}"
        print(f"{'ratio':22s} {ratio:7.2f}x {cpu_ratio}   "
              f"goal <= {GOAL:g}x (wall): {'met' if ratio <= GOAL else 'NOT met'}")
        print(f"polars threads: {pl.thread_pool_size()}; cpu is this process's (all its threads), "
              "so it leaves out Beam worker processes when --beam-args asks for them")

        if args.profile:
            phases = profile_phases(dataset, template, DEFAULT_BATCH_ROWS)
            print("\nvocab phases outside Beam (one process):")
            for name, seconds in phases.items():
                print(f"  {name:30s} {seconds:7.1f} s")
            accounted = sum(seconds for name, seconds in phases.items() if not name.startswith("read ("))
            print(f"  {'Beam':30s} {vocab - accounted:7.1f} s  (pipeline wall time less the phases but reading alone)")
    sys.exit(0 if ratio <= GOAL else 1)


if __name__ == "__main__":
    main()
