"""`featureplex run CONFIG`: every stage end to end, as one MLflow parent run."""

from __future__ import annotations

import time

import click

from featureplex.features.errors import InputError
from featureplex.pipelines.cli.options import BEAM_OPTIONS_HELP, beam_flags, rerun_as_workers, warning_lines


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True}, epilog=BEAM_OPTIONS_HELP)
@click.argument("config_path", type=click.Path(dir_okay=False))
@click.option("--data", default=None, help="Parquet file, directory or glob (default: the config's `dataset`).")
@click.option("--out", default=None, help="Directory of the stage artifacts (default: the config's run.out).")
@click.option("--label", default=None, help="Label column (default: the config's label, else 'label' or 'click').")
@click.option("--force", is_flag=True, help="Redo every stage, even those whose artifact is current.")
@click.option("--workers", type=click.IntRange(min=1), default=1,
              help="Train on N local worker processes (MultiWorkerMirroredStrategy on 127.0.0.1; each reads 1/N of the "
                   "row groups at batch_size / N rows per step); worker 0 runs the Beam stages, once, and tracks the "
                   "run. A cluster elsewhere sets TF_CONFIG instead (docs/distributed.md).")
@click.pass_context
def run(ctx: click.Context, config_path: str, data: str | None, out: str | None, label: str | None, force: bool,
        workers: int) -> None:
    """Profile, rank, select, build the vocabulary, train, export and register, skipping current stages.

    Unknown options go to Beam (e.g. --direct_num_workers 2 --direct_running_mode multi_processing,
    --runner dask, or --runner DataflowRunner ...).
    """
    from rich.console import Console

    from featureplex.features.data.config import load_config
    from featureplex.features.embedding.layout import EmptyVocabularyWarning
    from featureplex.pipelines.held_out import UnusedSplitWarning
    from featureplex.pipelines.progress import console, stage_status
    from featureplex.pipelines.run import check_workers, run_pipeline
    from featureplex.pipelines.stages.rank import ColumnWarning

    started: dict[str, float] = {}
    status = {"current": None}

    def on_stage(stage: str, state: str) -> None:
        if state == "waiting":  # a worker other than the chief (TF_CONFIG): the chief runs the Beam stages
            console.print(f"{stage}: waiting for the chief (worker 0) to write it")
            return
        if state == "start":
            started[stage] = time.perf_counter()
            status["current"] = stage_status(f"[bold]{stage}[/bold] running")
            status["current"].__enter__()
            return
        if status["current"] is not None:
            status["current"].__exit__(None, None, None)
            status["current"] = None
        took = f" in {time.perf_counter() - started[stage]:.0f}s" if stage in started else ""
        console.print(f"{stage}: {'done' + took if state == 'ran' else 'current, skipped'}")

    flags = beam_flags(ctx)
    if "--dry_run" in {flag.split("=", 1)[0] for flag in flags}:
        raise InputError("--dry_run: builds one stage's Dataflow job; use it with `featureplex profile`, `rank` or "
                         "`vocab` (under `run`, a stage's job depends on the results of the stages before it)")
    if workers > 1:
        check_workers(load_config(config_path), force, "--workers")
        rerun_as_workers(ctx, workers, "run the same command again")
        return
    with warning_lines(ColumnWarning, EmptyVocabularyWarning, UnusedSplitWarning):
        summary = run_pipeline(config_path, out, data, label, force, flags, on_stage)
    if summary is not None:  # None: a worker other than the chief, which reports
        Console(width=120).print(summary.table())
