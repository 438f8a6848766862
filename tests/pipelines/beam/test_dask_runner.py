"""The Beam stages on Beam's Dask runner: a dask.distributed cluster of 2 worker processes (a scheduler,
TCP between them, every DoFn and CombineFn pickled to the workers) gives byte-identical artifacts to the
DirectRunner."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")

from featureplex.features.data.config import FeatureplexConfig, RankParams, VocabParams  # noqa: E402
from featureplex.pipelines.beam.dask_cluster import local_cluster  # noqa: E402
from featureplex.pipelines.datasets.synth import generate_synthetic  # noqa: E402
from featureplex.pipelines.inputs import resolve_inputs  # noqa: E402
from featureplex.pipelines.stages import profile, rank, vocab  # noqa: E402

CONFIG = FeatureplexConfig(rank=RankParams(top_k_interactions=6), vocab=VocabParams(budget_parameters=50_000))
STAGES = {
    "profile": lambda inputs, out: profile.run(inputs, CONFIG.rank, out),
    "rank": lambda inputs, out: rank.run(inputs, CONFIG.rank, out),
    "vocab": lambda inputs, out: vocab.run(inputs, CONFIG.vocab, out, batch_rows=1_000),
}


@pytest.fixture(scope="module")
def cluster_address():
    """One cluster for the module: 2 worker processes on 127.0.0.1, as `--runner dask` starts them."""
    with local_cluster(2) as address:
        yield address


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dask") / "data"
    generate_synthetic(out, rows=20_000, seed=5, row_group_rows=2_500, files=2)
    return out


def artifact_bytes(out: Path) -> dict[str, bytes]:
    """Every file of an artifact; the manifest without its timings."""
    files = {str(path.relative_to(out)): path.read_bytes() for path in sorted(out.rglob("*")) if path.is_file()}
    manifest = json.loads(files.pop("manifest.json"))
    manifest.pop("timings")
    return {**files, "manifest.json": json.dumps(manifest, sort_keys=True).encode()}


@pytest.mark.filterwarnings("ignore::UserWarning")  # the synthetic data's sequence columns and empty vocabularies
@pytest.mark.parametrize("stage", sorted(STAGES))
def test_two_dask_workers_write_the_direct_runners_artifact(stage, cluster_address, data, tmp_path):
    STAGES[stage](resolve_inputs(data, CONFIG), tmp_path / "direct")
    scratch = tmp_path / "scratch"
    dask_flags = ["--runner", "dask", "--dask_client_address", cluster_address, "--temp_location", str(scratch)]
    STAGES[stage](resolve_inputs(data, CONFIG, beam_args=dask_flags), tmp_path / "dask")
    direct = artifact_bytes(tmp_path / "direct")
    assert direct == artifact_bytes(tmp_path / "dask")
    assert len(direct) >= 3
    assert list(scratch.iterdir()) == []  # the passes' results were read back and removed


def worker_environment() -> dict[str, str | None]:
    return {name: os.environ.get(name) for name in ("OMP_NUM_THREADS", "MALLOC_TRIM_THRESHOLD_")}


def test_a_local_cluster_limits_no_worker_and_leaves_this_process_environment_alone(monkeypatch):
    for name in ("OMP_NUM_THREADS", "MALLOC_TRIM_THRESHOLD_", "PYTHONHASHSEED"):
        monkeypatch.delenv(name, raising=False)
    before = dict(os.environ)
    with local_cluster(1) as address, distributed.Client(address) as client:
        (seen,) = client.run(worker_environment).values()
    assert seen == {"OMP_NUM_THREADS": None, "MALLOC_TRIM_THRESHOLD_": None}
    assert dict(os.environ) == before


def test_cli_starts_and_closes_a_local_cluster(cli, data, tmp_path):
    result = cli("profile", data, "--out", tmp_path / "dask", "--runner", "dask", "--dask_workers", "2")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no log line of the cluster, no retry of a client left open after it closed
    direct = cli("profile", data, "--out", tmp_path / "direct")
    assert direct.returncode == 0, direct.stderr
    assert artifact_bytes(tmp_path / "dask") == artifact_bytes(tmp_path / "direct")


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--dask_workers", "2"], "--dask_workers: sizes the local cluster of --runner dask"),
        (["--runner", "dask", "--dask_workers", "0"], "--dask_workers: expected at least 1, got 0"),
        (["--runner", "dask", "--dask_client_address", "127.0.0.1:1"], "--temp_location: needed with --dask_client_address"),
    ],
)
def test_cli_dask_flags_that_cannot_work_are_one_line_errors(cli, data, tmp_path, flags, message):
    result = cli("profile", data, "--out", tmp_path / "out", *flags)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stderr.strip().count("\n") == 0 and message in result.stderr, result.stderr
    assert not (tmp_path / "out").exists()
