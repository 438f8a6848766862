"""The Beam stages on Beam's Dask runner (1 and 2 local worker processes) against the DirectRunner.

Each stage (profile, rank, vocab) runs on the same synthetic data three ways, one after the other:
the in-process DirectRunner (featureplex's default), `--runner dask --dask_workers 1` and
`--runner dask --dask_workers 2` (a dask.distributed LocalCluster started for the run and closed after
it, as the CLI does). Times are the stage's whole call (wall clock), the Dask ones including the
cluster's start and close, which the script also times on its own (start an idle cluster, close it).
It checks that the three artifacts are byte-identical (the manifest's timings aside).

On a machine of 2 cores shared with other work, 2 Dask workers cannot be twice as fast as 1: the
ratios show what splitting the passes over processes costs (start-up, shipping the shards' counts to
the merge) and gains; the load average is printed with them.

    nice -n 5 .venv/bin/python benchmarks/beam_runners.py                       # 2M rows into .bench/beam_runners
    nice -n 5 .venv/bin/python benchmarks/beam_runners.py --rows 400000 --stages rank
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

RUNNERS = {
    "DirectRunner": [],
    "Dask 1 worker": ["--runner", "dask", "--dask_workers", "1"],
    "Dask 2 workers": ["--runner", "dask", "--dask_workers", "2"],
}


def run_stage(stage: str, data: Path, out: Path, beam_args: list[str]) -> float:
    """Seconds of one stage's run, its artifact written to `out`."""
    from featureplex.features.data.config import FeatureplexConfig, VocabParams
    from featureplex.pipelines.inputs import resolve_inputs
    from featureplex.pipelines.stages import profile, rank, vocab

    config = FeatureplexConfig(vocab=VocabParams(budget_parameters=1_000_000))
    stages = {"profile": (profile, config.rank), "rank": (rank, config.rank), "vocab": (vocab, config.vocab)}
    module, params = stages[stage]
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    module.run(resolve_inputs(data, config, beam_args=beam_args), params, out)
    return time.perf_counter() - started


def artifact_bytes(out: Path) -> dict[str, bytes]:
    files = {str(path.relative_to(out)): path.read_bytes() for path in sorted(out.rglob("*")) if path.is_file()}
    manifest = json.loads(files.pop("manifest.json"))
    manifest.pop("timings")
    return {**files, "manifest.json": json.dumps(manifest, sort_keys=True).encode()}


# what a Dask worker imports before its first task of a stage: Beam, and featureplex's counting code
WORKER_IMPORTS = ("apache_beam", "featureplex.pipelines.beam.passes", "featureplex.pipelines.stages.rank")


def cluster_seconds(workers: int) -> float:
    """The fixed cost of a `--runner dask` run: start a LocalCluster as it does, import on every worker
    what the first task imports, close the cluster."""
    import importlib

    from distributed import Client

    from featureplex.pipelines.beam.dask_cluster import local_cluster

    started = time.perf_counter()
    with local_cluster(workers) as address, Client(address) as client:
        for module in WORKER_IMPORTS:
            client.run(importlib.import_module, module)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--row-group-rows", type=int, default=100_000)
    parser.add_argument("--stages", default="profile,rank,vocab", help="Comma-separated stages to time.")
    parser.add_argument("--workdir", type=Path, default=REPO / ".bench" / "beam_runners")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")  # the synthetic data's sequence columns, empty vocabularies
    logging.getLogger().setLevel(logging.ERROR)  # Beam's and dask.distributed's progress lines

    from featureplex.features.data.dataset import open_dataset
    from featureplex.pipelines.datasets.synth import generate_synthetic

    data = args.workdir / f"data-{args.rows}-{args.row_group_rows}"
    if not data.exists():
        generate_synthetic(data, rows=args.rows, seed=7, row_group_rows=args.row_group_rows)
    row_groups = len(open_dataset(data).row_groups())
    startup = {name: cluster_seconds(int(flags[-1])) for name, flags in RUNNERS.items() if flags}

    print(f"{args.rows:,} rows in {row_groups} row groups, {os.cpu_count()} cores")
    print("Dask's fixed cost (start the cluster, import Beam and featureplex on its workers, close it): " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in startup.items()))
    header = f"{'stage':<8}" + "".join(f"{name:>16}" for name in RUNNERS) + f"{'Dask 1 / Direct':>17}{'Dask 2 / Dask 1':>17}{'Dask 2 / Direct':>17}  identical"
    print(header)
    for stage in args.stages.split(","):
        seconds = {name: run_stage(stage, data, args.workdir / f"{stage}-{index}", flags)
                   for index, (name, flags) in enumerate(RUNNERS.items())}
        artifacts = [artifact_bytes(args.workdir / f"{stage}-{index}") for index in range(len(RUNNERS))]
        direct, one, two = seconds.values()
        print(f"{stage:<8}" + "".join(f"{value:>14.1f} s" for value in seconds.values())
              + f"{one / direct:>16.2f}x{two / one:>16.2f}x{two / direct:>16.2f}x  "
              + ("yes" if all(artifact == artifacts[0] for artifact in artifacts) else "NO"), flush=True)
    print("load average (1, 5, 15 min) at the end: " + " ".join(f"{load:.1f}" for load in os.getloadavg()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
