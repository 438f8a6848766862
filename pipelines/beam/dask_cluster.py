"""The dask.distributed cluster a run on Beam's Dask runner uses: the one at `--dask_client_address`, or a
LocalCluster started for the run and closed after it.

Beam's Dask runner (apache-beam[dask], featureplex's `dask` extra) translates a pipeline into dask.bag
operations and computes them on the cluster's workers. What it does not do by itself, done here:
- without an address it would start a LocalCluster sized to the machine's cores, with a dashboard web
  server on port 8787; featureplex starts `--dask_workers` worker processes on 127.0.0.1, one thread
  each (a shard reads its row groups on threads of its own), with no dashboard;
- it splits a Create into partitions of 128 elements, so a dataset of fewer row groups would be one task:
  unless `--dask_npartitions` / `--dask_partition_size` say otherwise, one partition per shard (a
  local cluster's passes have one shard per worker: pipelines.beam.passes.shard_count);
- it opens a distributed.Client and never closes it (the Client then outlives the cluster and retries
  the connection for 30 s): `close_client` closes it once the run is over.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from typing import Any, Iterator, Sequence

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

DASK_RUNNER = "apache_beam.runners.dask.dask_runner.DaskRunner"
DEFAULT_WORKERS = 2
# what distributed's nannies set for their workers and local_cluster does not (its docstring says why)
_WORKER_ENVIRONMENT = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MALLOC_TRIM_THRESHOLD_")


class DaskClusterOptions(PipelineOptions):
    """`--dask_workers`: a Beam option, so that Beam's parser (and `featureplex ... --help`'s check of
    pass-through flags) knows it."""

    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        parser.add_argument(
            "--dask_workers", type=int, default=None,
            help=f"Worker processes of the local Dask cluster featureplex starts for --runner dask when no "
                 f"--dask_client_address is given (default {DEFAULT_WORKERS}).")


@functools.cache
def dask_options_class() -> type[PipelineOptions] | None:
    """Beam's DaskOptions (--dask_client_address, --dask_npartitions, ...); None without the dask extra.
    Importing it registers its flags with Beam's parser."""
    try:
        from apache_beam.runners.dask.dask_runner import DaskOptions
    except ImportError:  # the dask extra is not installed: the Dask runner's flags are unknown
        return None
    return DaskOptions


def register_dask_options(args: Sequence[str]) -> None:
    """Make the Dask runner's flags known to Beam's parser when `args` name the Dask runner or a Dask flag.

    Only then: Beam's Dask runner module imports dask and distributed (about 0.3 s), which a run on
    any other runner never needs.
    """
    if any("dask" in arg.lower() for arg in args):
        dask_options_class()


def dask_options(options: PipelineOptions) -> dict[str, Any]:
    """The Dask runner's options that were given (their `dest` names: address, npartitions, ...)."""
    options_class = dask_options_class()
    if options_class is None:
        return {}
    return options.view_as(options_class).get_all_options(drop_default=True, current_only=True)


def local_dask_workers(options: PipelineOptions) -> int | None:
    """The worker processes of the LocalCluster featureplex starts (None: a cluster at an address)."""
    if "address" in dask_options(options):
        return None
    return options.view_as(DaskClusterOptions).dask_workers or DEFAULT_WORKERS


@contextlib.contextmanager
def dask_cluster(options: PipelineOptions, partitions: int) -> Iterator[None]:
    """Around a run: on the Dask runner, `partitions` Create partitions unless the options say, and
    without `--dask_client_address` a LocalCluster (its address set in `options`) closed afterwards.
    On any other runner: nothing."""
    if options.view_as(StandardOptions).runner != DASK_RUNNER:
        yield
        return
    given = dask_options(options)
    view = options.view_as(dask_options_class())
    if "npartitions" not in given and "partition_size" not in given:
        view.npartitions = partitions
    if "address" in given:
        yield
        return
    with local_cluster(local_dask_workers(options)) as address:
        view.address = address
        yield


@contextlib.contextmanager
def local_cluster(workers: int) -> Iterator[str]:
    """A LocalCluster of `workers` processes of one thread each on 127.0.0.1, no dashboard (the HTTP server
    a scheduler always starts, for its health and metrics routes, on a free port of 127.0.0.1, not on
    8787); yields the scheduler's address. Its log lines are silenced while it runs (a worker's
    heartbeat racing the scheduler's close logs an error): a task's error still reaches this process,
    raised by the run.

    distributed's nannies give their workers OMP_NUM_THREADS=1 (and MKL's and OpenBLAS's) and
    MALLOC_TRIM_THRESHOLD_=65536, by setting them in this process's environment, where they stay. In a
    worker, Arrow then decodes a row group's columns on one thread, and glibc maps and unmaps every
    array above 128 KiB afresh (an explicit trim threshold turns off its adaptive mmap threshold): the
    rank stage's second pass counted 2-2.5x slower than in the DirectRunner, and equally fast without
    them. Whatever runs here afterwards (`featureplex run`'s training) would inherit them too. So the
    workers get none, as the DirectRunner's processes get none, and the environment is restored when
    the cluster closes.
    """
    import dask
    from distributed import LocalCluster

    unset = {f"distributed.nanny.pre-spawn-environ.{name}": None for name in _WORKER_ENVIRONMENT}
    touched = (*dask.config.get("distributed.nanny.pre-spawn-environ"), *_WORKER_ENVIRONMENT, "PYTHONHASHSEED")
    environment = {name: os.environ.get(name) for name in touched}
    logger = logging.getLogger("distributed")  # the scheduler's and nannies' lines, in this process
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        with dask.config.set(unset), LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None,
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}, silence_logs=logging.CRITICAL,
        ) as cluster:
            yield cluster.scheduler_address
    finally:
        logger.setLevel(level)
        for name, value in environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def close_client(result: Any) -> None:
    """Close the distributed.Client Beam's Dask runner opened for a run (its result's `client`)."""
    client = getattr(result, "client", None)
    if client is not None:
        client.close()
