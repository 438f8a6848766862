"""Passes over a dataset in one Beam pipeline: row groups -> shards -> counts -> results in the driver.

A pass (`PassSpec`) says which columns it reads, which accumulators it fills and what its step is
called in the job graph ("CountFeatureLabel", "CountTopPairs"). The row groups are split into shards
of consecutive row groups (`shard_count`: one per worker where the runner's workers are known); a pass
counts each shard in one step and merges the shards' counts (`CountPass`). A second pass may depend on
the first one's results: `then(first_results)` runs on a worker once the first pass is merged and
returns the second pass's `Planned` (what the driver keeps, and the `PassSpec` the workers need), which
is joined to every shard of the second pass as an element (`WithPlannedSpec`). Both passes are one
pipeline: one job start-up (minutes on Dataflow, about a second locally), not two.

Only constructs that both Dataflow and Beam's Dask runner run (docs/distributed.md has what the Dask
runner does with the others): Create, Map / FlatMap, Flatten, CoGroupByKey and a CombineGlobally
`without_defaults`. No side input (the Dask runner computes a side input's upstream again, from inside
the task that reads it), no output from `finish_bundle` (the Dask runner drops it), no multi-output
ParDo (the Dask runner hands every output to every consumer), and one leaf: the Dask runner computes only
the last step of the graph, so every result reaches the one `SaveResults` step.

The results are pickled to scratch files by that step and read back by the driver: the driver's own
intermediates (never user data), written under `--temp_location` when one is given (Dataflow, a Dask
cluster: gs:// or shared storage) and under a private local temporary directory otherwise.

Example::

    first = PassSpec("CountFeatureLabel", ("label", "city"), (("feature_counts", partial(FeatureCountsAccumulator, plan)),))
    passes = run_passes(dataset, 65536, first, then=plan_pairs, second_label="CountTopPairs")
    passes.first["feature_counts"], passes.kept, passes.second["pair_counts"]
"""

from __future__ import annotations

import math
import pickle
import shutil
import tempfile
import uuid
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import GoogleCloudOptions, TestOptions

from featureplex.features.data.dataset import ParquetDataset, RowGroupRef
from featureplex.features.errors import InputError
from featureplex.pipelines.beam.combine_fn import MergeCountsFn, ShardCounts, count_shard
from featureplex.pipelines.beam.dask_cluster import close_client, dask_cluster
from featureplex.pipelines.beam.dry_run import DryRunJob, job_steps
from featureplex.pipelines.beam.options import known_workers, pipeline_options, pipeline_runner, unreadable_by_workers
from featureplex.pipelines.beam.pass_spec import NamedResult, Passes, PassResults, PassSpec, Planned

FIRST, PLAN, SECOND = "first.pickle", "plan.pickle", "second.pickle"
# the inputs WithPlannedSpec joins (CoGroupByKey tags and its own)
ROW_GROUPS, SPEC, PLANNED, SHARDS = "row_groups", "spec", "planned", "shards"
# shards when the runner's workers are not known: enough to keep this many busy on a small dataset
UNKNOWN_WORKERS_SHARDS = 16


def shard_count(row_groups: int, workers: int | None) -> int:
    """The shards a pass's row groups are split into, never more than there are row groups.

    A shard is one step's work and ships one set of counts to the merge. Its row groups are read as
    one stream, overlapping reads and counting across their boundaries, so fewer shards read faster:
    one per worker when the runner's workers are known (the in-process DirectRunner: one shard, one
    stream, no merge). When they are not (Dataflow, a Dask cluster at an address),
    max(16, ceil(sqrt(row_groups))): 16 keep 16 workers busy, and the square root grows both the shards
    and the row groups per shard with the data (10,000 row groups: 100 shards of 100), bounding what
    the merge holds (on the Dask runner, every shard's counts at once).
    """
    wanted = workers if workers is not None else max(UNKNOWN_WORKERS_SHARDS, math.ceil(math.sqrt(row_groups)))
    return max(1, min(row_groups, wanted))


def split_shards(refs: Sequence[RowGroupRef], shards: int) -> list[tuple[RowGroupRef, ...]]:
    """`shards` runs of consecutive row groups, as even as can be (no row group: one empty shard)."""
    return [tuple(refs[len(refs) * shard // shards:len(refs) * (shard + 1) // shards]) for shard in range(shards)]


# The steps' functions are module-level: pickled by reference (module and name), so no step's payload
# carries the source file's local path, as a lambda's would.
def _named(result: Any, name: str) -> NamedResult:
    return NamedResult(name, result)


def _kept(plan: Planned) -> NamedResult:
    return NamedResult(PLAN, plan.kept)


def _with_spec(shard: tuple[int, tuple[RowGroupRef, ...]], spec: PassSpec) -> tuple[tuple[RowGroupRef, ...], PassSpec]:
    return shard[1], spec


def _spec_per_shard(plan: Planned, shards: int) -> Iterator[tuple[int, PassSpec]]:
    return ((shard, plan.spec) for shard in range(shards))


def _joined(grouped: tuple[int, Mapping[str, Iterable]]) -> tuple[tuple[RowGroupRef, ...], PassSpec]:
    (refs,), (spec,) = grouped[1][ROW_GROUPS], grouped[1][SPEC]
    return refs, spec


def _save(named: NamedResult, scratch: str) -> None:
    with FileSystems.create(FileSystems.join(scratch, named.name)) as handle:
        handle.write(pickle.dumps(named.value, protocol=pickle.HIGHEST_PROTOCOL))


class CountPass(beam.PTransform):
    """(a shard's row groups, the pass's spec) -> the pass's PassResults: each shard counted in one step,
    the shards' counts merged."""

    def __init__(self, batch_rows: int):
        super().__init__()
        self._batch_rows = batch_rows

    def expand(self, shards):
        return (
            shards
            | "CountShards" >> beam.Map(count_shard, self._batch_rows).with_output_types(ShardCounts)
            # without_defaults: the merged counts flow straight on, not also materialised as a side input
            # for a default that is never needed (one more encoding of the results)
            | "MergeShards" >> beam.CombineGlobally(MergeCountsFn()).without_defaults()
        )


class WithPlannedSpec(beam.PTransform):
    """{PLANNED: the Planned second pass, SHARDS: (index, a shard's row groups)} -> (a shard's row groups,
    the planned spec): the spec reaches every shard as an element, grouped with it by index
    (CoGroupByKey), not as a side input (which the Dask runner computes again inside the task that reads
    it)."""

    def __init__(self, shards: int):
        super().__init__()
        self._shards = shards

    def expand(self, inputs):
        spec = inputs[PLANNED] | "SpecPerShard" >> beam.FlatMap(_spec_per_shard, self._shards)
        return ({ROW_GROUPS: inputs[SHARDS], SPEC: spec}
                | "GroupByShard" >> beam.CoGroupByKey()
                | "Join" >> beam.Map(_joined))


class CountPasses(beam.PTransform):
    """Pass 1 over the row groups `refs` in `shards` shards of consecutive row groups, and when `then` is
    given, the plan it makes ("Plan" + the second label) and pass 2; every result saved under `scratch`
    by the one last step."""

    def __init__(self, refs: Sequence[RowGroupRef], shards: int, batch_rows: int, first: PassSpec,
                 then: Callable[[PassResults], Planned] | None, second_label: str | None, scratch: str):
        super().__init__()
        self._refs = refs
        self._shards = shards
        self._batch_rows = batch_rows
        self._first = first
        self._then = then
        self._second_label = second_label
        self._scratch = scratch

    def expand(self, pbegin):
        shards = pbegin | "ListShards" >> beam.Create(list(enumerate(split_shards(self._refs, self._shards))))
        label = self._first.label
        first = (shards
                 | f"With{label}Spec" >> beam.Map(_with_spec, self._first)
                 | label >> CountPass(self._batch_rows))
        # NamedResult: sized by SizedPickleCoder, not pickled whole by Beam's counters at each step to the save
        results = [first | f"Name{label}" >> beam.Map(_named, FIRST).with_output_types(NamedResult)]
        if self._then is not None:
            label = self._second_label
            planned = first | f"Plan{label}" >> beam.Map(self._then).with_output_types(Planned)
            second = ({PLANNED: planned, SHARDS: shards}
                      | f"With{label}Spec" >> WithPlannedSpec(self._shards)
                      | label >> CountPass(self._batch_rows))
            results += [planned | f"Name{label}Plan" >> beam.Map(_kept).with_output_types(NamedResult),
                        second | f"Name{label}" >> beam.Map(_named, SECOND).with_output_types(NamedResult)]
        _ = results | "GatherResults" >> beam.Flatten() | "SaveResults" >> beam.Map(_save, self._scratch)


def run_passes(
    dataset: ParquetDataset,
    batch_rows: int,
    first: PassSpec,
    then: Callable[[PassResults], Planned] | None = None,
    second_label: str | None = None,
    beam_args: Sequence[str] = (),
    step: str = "Passes",
) -> Passes:
    """Run the passes in one pipeline (`step` names the composite in the job graph).

    With `--dry_run` (Dataflow), raises DryRunJob with the job's steps once the job is built: nothing
    ran, so there are no results. A Dataflow run of a dataset on this machine is an InputError (a dry
    run's warning): its workers could not read it.
    """
    if then is not None and not second_label:
        raise ValueError("a planned second pass needs its step label")
    options = pipeline_options(beam_args)
    dry_run = options.view_as(TestOptions).dry_run
    unreadable = unreadable_by_workers(options, dataset.files)
    if unreadable and not dry_run:
        raise InputError(unreadable)
    temp_location = options.view_as(GoogleCloudOptions).temp_location
    local = temp_location is None
    scratch = tempfile.mkdtemp(prefix="featureplex-") if local else FileSystems.join(temp_location, f"featureplex-{uuid.uuid4().hex}")
    names = [FIRST] if then is None else [FIRST, PLAN, SECOND]
    paths = [FileSystems.join(scratch, name) for name in names]
    refs = dataset.row_groups()
    shards = shard_count(len(refs), known_workers(options))
    try:
        with dask_cluster(options, partitions=shards):
            pipeline = beam.Pipeline(runner=pipeline_runner(options), options=options)
            _ = pipeline | step >> CountPasses(refs, shards, batch_rows, first, then, second_label, scratch)
            result = pipeline.run()
            if dry_run:
                raise DryRunJob(job_steps(pipeline.transforms_stack[0], (CountPasses, CountPass)),
                                [unreadable] if unreadable else [], pipeline.runner.proto_pipeline)
            try:
                result.wait_until_finish()
            finally:
                close_client(result)
        results = []
        for path in paths:
            with FileSystems.open(path) as handle:
                results.append(pickle.loads(handle.read()))
        return Passes(*results)
    finally:
        if local:
            shutil.rmtree(scratch, ignore_errors=True)
        elif not dry_run:  # a dry run wrote nothing, and must not reach Google Cloud Storage to check
            FileSystems.delete([path for path in paths if FileSystems.exists(path)])
            if FileSystems.exists(scratch):  # a directory, on a filesystem that has them
                FileSystems.delete([scratch])
