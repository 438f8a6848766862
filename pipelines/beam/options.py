"""Beam pipeline options from the flags a command passes through, checked before any work starts.

Beyond Beam's own flags: `--runner dask` names Beam's Dask runner, `--dask_workers N` sizes the local
Dask cluster featureplex starts when no `--dask_client_address` is given (pipelines.beam.dask_cluster),
and a bare `--dry_run` (Beam's option wants a value) builds a Dataflow job without submitting it.
"""

from __future__ import annotations

import importlib
import os
from typing import Sequence

from apache_beam.options.pipeline_options import (
    DirectOptions, GoogleCloudOptions, PipelineOptions, StandardOptions, TestOptions,
)

from featureplex.features.data.dataset import is_uri
from featureplex.features.errors import InputError
from featureplex.pipelines.beam.dask_cluster import (
    DASK_RUNNER, DaskClusterOptions, dask_options, local_dask_workers, register_dask_options,
)

# a module each runner needs to run (Beam imports it only then), and featureplex's extra that installs it
_RUNNER_EXTRAS = {
    "DataflowRunner": ("apache_beam.runners.dataflow.internal.apiclient", "gcp"),
    "DaskRunner": ("dask.distributed", "dask"),
}
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")
# the runners of Beam's direct family (--direct_num_workers)
LOCAL_DIRECT_RUNNERS = ("DirectRunner", "SwitchingDirectRunner", "FnApiRunner", "BundleBasedDirectRunner")


def runner_class_path(runner: str) -> str:
    """`dask` / `DaskRunner` (in any case) as the Dask runner's class path, which Beam needs for it;
    other names unchanged."""
    return DASK_RUNNER if runner.lower() in ("dask", "daskrunner") else runner


def beam_arguments(beam_args: Sequence[str]) -> list[str]:
    """The flags as Beam's parser takes them: the Dask runner by its class path, `--dry_run` with a
    value (a bare one means true; false leaves it out), and `--runner=DirectRunner` when no runner is
    given (Beam 2.7x would pick the Prism runner, which downloads a binary at start)."""
    args, rest = [], list(beam_args)
    while rest:
        arg = rest.pop(0)
        name, equals, value = arg.partition("=")
        if name == "--runner" and not equals and rest:
            equals, value = "=", rest.pop(0)
        if name == "--runner" and equals:
            args.append(f"--runner={runner_class_path(value)}")
        elif name == "--dry_run":
            if not equals:
                value = rest.pop(0) if rest and not rest[0].startswith("--") else "true"
            if value.lower() not in _TRUE + _FALSE:
                raise InputError(f"--dry_run: expected true or false (or no value), got {value!r}")
            args += ["--dry_run=True"] if value.lower() in _TRUE else []
        else:
            args.append(arg)
    if not any(arg.startswith("--runner=") for arg in args):
        args = ["--runner=DirectRunner", *args]
    return args


def runner_of(options: PipelineOptions) -> str:
    """The runner's class name, e.g. "DataflowRunner"."""
    return options.view_as(StandardOptions).runner.rsplit(".", 1)[-1]


def known_workers(options: PipelineOptions) -> int | None:
    """How many workers run the pipeline, where the options say: the DirectRunner's
    `--direct_num_workers` (0: one per core) and the local Dask cluster's `--dask_workers`; None on
    Dataflow and a Dask cluster at an address (autoscaled, or not ours to size)."""
    name = runner_of(options)
    if name in LOCAL_DIRECT_RUNNERS:
        return options.view_as(DirectOptions).direct_num_workers or os.cpu_count()
    return local_dask_workers(options) if name == "DaskRunner" else None


def _runner(options: PipelineOptions):
    """The runner the options name; InputError when it is not installed (its extra named) or not a runner."""
    from apache_beam.runners.runner import create_runner

    runner = options.view_as(StandardOptions).runner
    needs, extra = _RUNNER_EXTRAS.get(runner_of(options), (None, None))
    try:
        if needs:
            importlib.import_module(needs)
        return create_runner(runner)
    except ImportError:
        hint = f": install featureplex's `{extra}` extra (pip install 'featureplex[{extra}]')" if extra else ""
        raise InputError(f"--runner {runner}: cannot be imported{hint}") from None
    except ValueError:
        raise InputError(f"--runner {runner}: not a Beam runner (DirectRunner, DataflowRunner, dask, "
                         "or a runner's class path)") from None


def _check_featureplex_flags(options: PipelineOptions) -> None:
    """`--dry_run` off Dataflow, `--dask_workers` off a local Dask cluster, and a remote runner (Dataflow,
    a Dask cluster at an address) without `--temp_location`, where its workers leave the pass results
    for this process to read."""
    name = runner_of(options)
    if options.view_as(TestOptions).dry_run and name != "DataflowRunner":
        raise InputError("--dry_run: builds a Dataflow job without running it; use it with --runner DataflowRunner")
    workers = options.view_as(DaskClusterOptions).dask_workers
    address = dask_options(options).get("address") if name == "DaskRunner" else None
    if workers is not None and (name != "DaskRunner" or address):
        raise InputError("--dask_workers: sizes the local cluster of --runner dask without --dask_client_address")
    if workers is not None and workers < 1:
        raise InputError(f"--dask_workers: expected at least 1, got {workers}")
    remote = "--runner DataflowRunner" if name == "DataflowRunner" else address and "--dask_client_address"
    if remote and not options.view_as(GoogleCloudOptions).temp_location:
        raise InputError(f"--temp_location: needed with {remote}: the workers write each pass's results there "
                         "for this process to read (gs://... or storage every worker and this machine share)")


def _check_with_beam(options: PipelineOptions, runner) -> None:
    """Beam's own validation of the runner's options (a malformed `--project`, a missing `--region`)."""
    from apache_beam.options.pipeline_options_validator import PipelineOptionsValidator

    validator = PipelineOptionsValidator(options, runner)
    cloud = options.view_as(GoogleCloudOptions)
    for flag in ("temp_location", "staging_location") if runner_of(options) == "DataflowRunner" else ():
        # first: with neither location a valid gs:// path, Beam's validation goes on to create a bucket
        errors = validator.validate_gcs_path(cloud, flag) if getattr(cloud, flag) is not None else []
        if errors:
            raise InputError(f"--{flag}: {errors[0]}")
    errors = validator.validate()
    if errors:
        raise InputError(errors[0].strip().splitlines()[0])


def check_options(options: PipelineOptions) -> None:
    """InputError, naming the flag, where the options cannot work (checked before any data is read):
    the runner (`_runner`), featureplex's rules (`_check_featureplex_flags`), then Beam's own."""
    runner = _runner(options)
    _check_featureplex_flags(options)
    _check_with_beam(options, runner)


def pipeline_runner(options: PipelineOptions):
    """The runner instance to build the pipeline with, or None to let Beam create the one the options name.

    For Beam's DirectRunner in batch, its FnApiRunner itself, given the options as the DirectRunner
    gives them: Beam 2.7x's DirectRunner first tries the Prism runner, which downloads a binary from
    GitHub at every run and, with no network (or no binary), falls back to the FnApiRunner after a
    failed download, a second conversion of the pipeline and a gRPC worker pool left running for the
    rest of the run (about 0.3 s, and no download at run time).
    """
    if runner_of(options) not in ("DirectRunner", "SwitchingDirectRunner") or options.view_as(StandardOptions).streaming:
        return None
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.portability.fn_api_runner.fn_runner import ExtendedProvisionInfo, FnApiRunner
    from apache_beam.runners.portability.portable_runner import JobServiceHandle

    encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
    return FnApiRunner(provision_info=ExtendedProvisionInfo(beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded)))


def unreadable_by_workers(options: PipelineOptions, files: Sequence[str]) -> str | None:
    """Why Dataflow's workers cannot read the dataset (a file on this machine), or None. Dask workers may
    share this machine's storage, so local paths are theirs to judge."""
    local = [file for file in files if not is_uri(file) or file.startswith("file://")]
    if runner_of(options) != "DataflowRunner" or not local:
        return None
    return f"{local[0]}: a file on this machine, which Dataflow's workers cannot read (give DATA as gs://...)"


def pipeline_options(beam_args: Sequence[str] = ()) -> PipelineOptions:
    """Checked options from pass-through flags; the in-process DirectRunner unless `--runner` is given."""
    args = beam_arguments(beam_args)
    register_dask_options(args)
    options = PipelineOptions(args)
    check_options(options)
    return options
