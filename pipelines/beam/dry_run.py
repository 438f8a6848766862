"""A Dataflow job built and not submitted (`--runner DataflowRunner --dry_run`): its steps, for the user to check.

Beam's DataflowRunner builds the whole job with `--dry_run` (every transform serialised into the job's
pipeline proto, the workers' environment with the packages they install) and returns before any call to
Google Cloud; `run_passes` then raises DryRunJob, since no step ran and the stage has no results to
build an artifact from. The CLI prints the steps and exits 0.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # importing Beam logs to stderr: the CLI imports this module before it knows the input is good
    from apache_beam.pipeline import AppliedPTransform
    from apache_beam.portability.api import beam_runner_api_pb2


class DryRunJob(Exception):
    """The job was built and not run. `steps`: one line per step, in the order they were applied;
    `warnings`: what would fail once it runs (a dataset the workers cannot read); `pipeline`: the job's
    pipeline proto, every transform serialised as the workers would receive it."""

    def __init__(self, steps: list[str], warnings: list[str], pipeline: beam_runner_api_pb2.Pipeline):
        super().__init__(f"a dry run: the job of {len(steps)} steps was built and not run")
        self.steps = steps
        self.warnings = warnings
        self.pipeline = pipeline


def job_steps(root: AppliedPTransform, own: tuple[type, ...]) -> list[str]:
    """The steps under `root` in the order they were applied: the transforms of featureplex's composites
    (`own`: those it descends into), each of Beam's own composites (a Create, a CoGroupByKey, a
    CombineGlobally) one step: "Rank/CountFeatureLabel/CountShards"."""
    steps: list[str] = []
    for part in root.parts:
        if isinstance(part.transform, own):
            steps += job_steps(part, own)
        else:
            steps.append(part.full_label)
    return steps
