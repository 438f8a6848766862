"""The Beam stages as Google Cloud Dataflow jobs, built offline by Beam's DataflowRunner with `--dry_run`
(every transform serialised into the job, the workers' environment with the wheel they install) and
checked without submitting: the steps say what they count, no step carries a local path, and the
options docs/dataflow.md shows are accepted."""

from __future__ import annotations

import base64
import bz2
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import pytest

pytest.importorskip("apache_beam.runners.dataflow.internal.apiclient", reason="the gcp extra is not installed")

from apache_beam.portability.api import beam_runner_api_pb2  # noqa: E402

from featureplex.features.data.config import FeatureplexConfig, RankParams, VocabParams  # noqa: E402
from featureplex.pipelines.beam.dry_run import DryRunJob  # noqa: E402
from featureplex.pipelines.datasets.synth import generate_synthetic  # noqa: E402
from featureplex.pipelines.inputs import resolve_inputs  # noqa: E402
from featureplex.pipelines.stages import profile, rank, vocab  # noqa: E402
from tests.conftest import REPO  # noqa: E402

CONFIG = FeatureplexConfig(rank=RankParams(top_k_interactions=4), vocab=VocabParams(budget_parameters=50_000))
DATAFLOW = ["--runner", "DataflowRunner", "--dry_run", "--project", "my-project", "--region", "europe-west1",
            "--temp_location", "gs://my-bucket/tmp"]
STAGES = {
    "profile": lambda inputs: profile.run(inputs, CONFIG.rank, None),
    "rank": lambda inputs: rank.run(inputs, CONFIG.rank, None),
    "vocab": lambda inputs: vocab.run(inputs, CONFIG.vocab, None),
}
# what each stage's passes count: pass label -> its steps
COUNTING_STEPS = {
    "profile": ["Profile/CountValues/CountShards"],
    "rank": ["Rank/CountFeatureLabel/CountShards", "Rank/PlanCountTopPairsAndTimeWindows",
             "Rank/CountTopPairsAndTimeWindows/CountShards"],
    "vocab": ["Vocabulary/CountVocabulary/CountShards"],
}


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """The synthetic data (data/) and the wheel the workers install (dist/), built from a copy of the source."""
    root = tmp_path_factory.mktemp("dataflow")
    generate_synthetic(root / "data", rows=3_000, seed=2, row_group_rows=1_000)
    source = root / "source"
    for name in ("features", "models", "serving", "pipelines"):
        shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation", "--quiet",
                    "-w", str(root / "dist")], check=True, capture_output=True)
    return root


def wheel(root: Path) -> Path:
    (built,) = (root / "dist").glob("featureplex-*.whl")
    return built


def built_job(stage: str, root: Path) -> DryRunJob:
    inputs = resolve_inputs(root / "data", CONFIG, beam_args=[*DATAFLOW, "--extra_package", str(wheel(root))])
    with pytest.raises(DryRunJob) as built:
        STAGES[stage](inputs)
    return built.value


def step_payloads(pipeline: beam_runner_api_pb2.Pipeline) -> dict[str, bytes]:
    """Each transform's serialised function as the workers unpickle it (Beam's pickler: base64 of a bz2 or
    zlib compressed pickle), or its raw payload."""
    payloads = {}
    for transform in pipeline.components.transforms.values():
        spec = transform.spec
        if spec.urn == "beam:transform:pardo:v1":
            payload = beam_runner_api_pb2.ParDoPayload.FromString(spec.payload).do_fn.payload
        elif spec.urn == "beam:transform:combine_per_key:v1":
            payload = beam_runner_api_pb2.CombinePayload.FromString(spec.payload).combine_fn.payload
        else:
            payloads[transform.unique_name] = spec.payload
            continue
        try:
            compressed = base64.b64decode(payload, validate=True)
            payloads[transform.unique_name] = next(
                decompress(compressed) for decompress in (bz2.decompress, zlib.decompress) if _works(decompress, compressed))
        except (ValueError, StopIteration):
            payloads[transform.unique_name] = payload
    return payloads


def _works(decompress, data: bytes) -> bool:
    try:
        decompress(data)
        return True
    except (OSError, ValueError, zlib.error):
        return False


@pytest.mark.filterwarnings("ignore::UserWarning")  # the synthetic data's sequence columns and empty vocabularies
@pytest.mark.parametrize("stage", sorted(STAGES))
def test_stage_builds_a_dataflow_job_whose_steps_say_what_they_count(stage, root):
    job = built_job(stage, root)
    names = {transform.unique_name for transform in job.pipeline.components.transforms.values()}
    assert set(job.steps) <= names  # the printed steps are the job's
    for step in COUNTING_STEPS[stage]:
        assert step in job.steps, job.steps
    assert not [step for step in job.steps if re.search(r"(First|Second)Pass", step)]
    assert job.steps[-1].endswith("/SaveResults")
    assert job.warnings == [f"{root / 'data' / 'part-00000.parquet'}: a file on this machine, which Dataflow's "
                            "workers cannot read (give DATA as gs://...)"]


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("stage", sorted(STAGES))
def test_no_step_carries_a_local_path_and_the_workers_install_the_wheel(stage, root):
    job = built_job(stage, root)
    payloads = step_payloads(job.pipeline)
    data, scratch = str(root / "data").encode(), b"gs://my-bucket/tmp/featureplex-"
    # the decoding works: the row groups' paths (the data a user gives as gs://) and the scratch results
    assert any(data in payload for name, payload in payloads.items() if name.endswith("/ListShards/FlatMap(<lambda at core.py:4094>)"))
    assert scratch in payloads[job.steps[-1]]
    local = [str(root).encode(), str(REPO / "pipelines").encode(), str(REPO / "features").encode(),
             f"{tempfile.gettempdir()}/featureplex-".encode()]
    carrying = {name: path for name, payload in payloads.items() for path in local
                if path in payload.replace(data, b"").replace(scratch, b"")}
    assert carrying == {}
    (environment,) = [env for env in job.pipeline.components.environments.values()]
    staged = [beam_runner_api_pb2.ArtifactStagingToRolePayload.FromString(dependency.role_payload).staged_name
              for dependency in environment.dependencies]
    assert wheel(root).name in staged


def documented_commands() -> list[list[str]]:
    """The `featureplex ...` commands of docs/dataflow.md, continuation lines joined."""
    text = (REPO / "docs" / "dataflow.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, re.S)
    return [shlex.split(line.split("featureplex", 1)[1]) for block in blocks
            for line in block.replace("\\\n", " ").splitlines() if re.match(r"\s*(\.venv/bin/)?featureplex ", line)]


@pytest.mark.parametrize("command", documented_commands(), ids=lambda command: command[0])
def test_documented_dataflow_commands_build_their_job_and_print_its_steps(command, root, cli, tmp_path):
    """The docs' options, with local data and the wheel built here, and `--dry_run`: accepted, steps printed,
    nothing written."""
    stage, _data, *flags = command
    replaced = {"--out": str(tmp_path / "out"), "--config": str(tmp_path / "config.yaml"), "--extra_package": str(wheel(root))}
    flags = [replaced.get(flags[index - 1], flag) if index else flag for index, flag in enumerate(flags)]
    (tmp_path / "config.yaml").write_text("rank: {top_k_interactions: 4}\nvocab: {budget_parameters: 50000}\n")
    guard = ["--allow-suspect-columns"] if stage == "vocab" else []  # the synthetic data holds a leak on purpose
    result = cli(stage, root / "data", *flags, *guard, "--dry_run")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("dry run: a Dataflow job of ") and "no artifact written" in lines[0]
    assert any(step in lines[1:] for step in COUNTING_STEPS[stage]), lines
    assert "a file on this machine, which Dataflow's workers cannot read" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "flags, message",
    [
        # with --dry_run: a real run's validation goes on to ask Cloud Storage about the bucket's soft-delete policy
        (["--runner", "DataflowRunner", "--dry_run", "--project", "p", "--region", "r", "--temp_location", "gs://my-bucket/tmp"],
         "Invalid Project ID (p)"),
        (["--runner", "DataflowRunner", "--dry_run", "--project", "my-project", "--region", "europe-west1",
          "--temp_location", "gs://b/tmp"], "--temp_location: Invalid GCS bucket (gs://b/tmp)"),
        (["--runner", "DataflowRunner", "--dry_run", "--project", "my-project", "--region", "europe-west1"],
         "--temp_location: needed with --runner DataflowRunner"),
        (["--dry_run"], "--dry_run: builds a Dataflow job without running it"),
        (["--dry_run", "maybe"], "--dry_run: expected true or false"),
    ],
)
def test_dataflow_flags_that_cannot_work_are_one_line_errors_before_any_network(flags, message, root, cli, tmp_path):
    result = cli("profile", root / "data", "--out", tmp_path / "out", *flags)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stderr.strip().count("\n") == 0 and message in result.stderr, result.stderr
    assert not (tmp_path / "out").exists()


def test_run_refuses_a_dry_run(root, cli, tmp_path):
    """Under `run`, a stage's job depends on the results of the stages before it: no one job to show."""
    config = tmp_path / "config.yaml"
    config.write_text(f"dataset: {root / 'data'}\n")
    result = cli("run", config, "--out", tmp_path / "out", *DATAFLOW)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stderr.strip().count("\n") == 0 and "--dry_run: builds one stage's Dataflow job" in result.stderr
    assert not (tmp_path / "out").exists()
