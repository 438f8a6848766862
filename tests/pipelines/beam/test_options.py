"""Beam options from pass-through flags: the names featureplex adds, the checks before any work, and the
shards a pass is split into."""

from __future__ import annotations

import os
import sys

import pytest

from featureplex.features.errors import InputError
from featureplex.pipelines.beam.dask_cluster import DASK_RUNNER
from featureplex.pipelines.beam.options import beam_arguments, known_workers, pipeline_options, pipeline_runner
from featureplex.pipelines.beam.passes import shard_count, split_shards


@pytest.mark.parametrize(
    "flags, expected",
    [
        ([], ["--runner=DirectRunner"]),
        (["--runner", "dask"], [f"--runner={DASK_RUNNER}"]),
        (["--runner=DaskRunner", "--dask_workers", "3"], [f"--runner={DASK_RUNNER}", "--dask_workers", "3"]),
        (["--runner", "DataflowRunner", "--dry_run", "--project", "p"], ["--runner=DataflowRunner", "--dry_run=True", "--project", "p"]),
        (["--dry_run"], ["--runner=DirectRunner", "--dry_run=True"]),
        (["--dry_run", "false", "--direct_num_workers", "2"], ["--runner=DirectRunner", "--direct_num_workers", "2"]),
        (["--dry_run=yes"], ["--runner=DirectRunner", "--dry_run=True"]),
    ],
)
def test_beam_arguments_name_the_dask_runner_and_give_dry_run_a_value(flags, expected):
    assert beam_arguments(flags) == expected


@pytest.mark.parametrize(
    "flags, workers",
    [([], 1), (["--direct_num_workers", "2", "--direct_running_mode", "multi_processing"], 2),
     (["--direct_num_workers", "0"], os.cpu_count()), (["--runner", "dask"], 2), (["--runner", "dask", "--dask_workers", "3"], 3)],
)
def test_known_workers_of_the_local_runners(flags, workers):
    if "dask" in flags:
        pytest.importorskip("distributed")
    assert known_workers(pipeline_options(flags)) == workers


def test_a_cluster_at_an_address_has_no_known_workers(tmp_path):
    pytest.importorskip("distributed")
    options = pipeline_options(["--runner", "dask", "--dask_client_address", "127.0.0.1:8786", "--temp_location", str(tmp_path)])
    assert known_workers(options) is None


@pytest.mark.parametrize(
    "row_groups, workers, shards",
    [(1, 1, 1), (40, 1, 1), (40, 2, 2), (3, 8, 3), (8, None, 8), (40, None, 16), (10_000, None, 100), (0, None, 1)],
)
def test_shards_are_one_per_known_worker_else_grow_with_the_square_root(row_groups, workers, shards):
    assert shard_count(row_groups, workers) == shards


def test_shards_are_runs_of_consecutive_row_groups_as_even_as_can_be():
    assert split_shards(list("abcde"), 2) == [("a", "b"), ("c", "d", "e")]
    assert split_shards(list("abc"), 3) == [("a",), ("b",), ("c",)]
    assert split_shards([], 1) == [()]  # no row group: one shard of none, still every pass's (empty) results


@pytest.mark.parametrize(
    "runner, module, extra",
    [("dask", "dask.distributed", "dask"), ("DataflowRunner", "apache_beam.runners.dataflow.internal.apiclient", "gcp")],
)
def test_a_runner_whose_extra_is_missing_names_the_extra(monkeypatch, runner, module, extra):
    monkeypatch.setitem(sys.modules, module, None)  # what an environment without the extra gives on import
    with pytest.raises(InputError, match=rf"--runner .*: cannot be imported: install featureplex's `{extra}` extra"):
        pipeline_options(["--runner", runner])


def test_an_unknown_runner_is_an_input_error():
    with pytest.raises(InputError, match="--runner Sparkle: not a Beam runner"):
        pipeline_options(["--runner", "Sparkle"])


def test_the_direct_runner_runs_on_its_fn_api_runner_without_trying_prism():
    """No download attempt of the Prism binary at every local run; the options reach the workers as the
    DirectRunner would give them."""
    from apache_beam.runners.portability.fn_api_runner.fn_runner import FnApiRunner

    for flags in ([], ["--runner", "DirectRunner", "--direct_num_workers", "2"]):
        runner = pipeline_runner(pipeline_options(flags))
        assert isinstance(runner, FnApiRunner)
        given = runner._provision_info.provision_info.pipeline_options
        assert given["beam:option:runner:v1"] == "DirectRunner"
    dataflow = ["--runner", "DataflowRunner", "--dry_run", "--project", "my-project", "--region", "europe-west1",
                "--temp_location", "gs://my-bucket/tmp"]
    assert pipeline_runner(pipeline_options(dataflow)) is None  # Beam creates the runner the options name
