"""`featureplex run CONFIG`: every stage end to end, as one MLflow parent run."""

from __future__ import annotations

import time

import click

from featureplex.features.errors import InputError
from featureplex.pipelines.cli.options import BEAM_OPTIONS_HELP, beam_flags, warning_lines


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True}, epilog=BEAM_OPTIONS_HELP)
@click.argument("config_path", type=click.Path(dir_okay=False))
@click.option("--data", default=None, help="Parquet file, directory or glob (default: the config's `dataset`).")
@click.option("--out", default=None, help="Directory of the stage artifacts (default: the config's run.out).")
@click.option("--label", default=None, help="Label column (default: the config's label, else 'label' or 'click').")
@click.option("--force", is_flag=True, help="Redo every stage, even those whose artifact is current.")
@click.pass_context
def run(ctx: click.Context, config_path: str, data: str | None, out: str | None, label: str | None, force: bool) -> None:
    """Profile, rank, select, build the vocabulary, train, export and register, skipping current stages.

    Unknown options go to Beam (e.g. --direct_num_workers 2 --direct_running_mode multi_processing,
    --runner dask, or --runner DataflowRunner ...).
    """
    from rich.console import Console

    from featureplex.features.embedding.layout import EmptyVocabularyWarning
    from featureplex.pipelines.held_out import UnusedSplitWarning
    from featureplex.pipelines.progress import console, stage_status
    from featureplex.pipelines.run import run_pipeline
    from featureplex.pipelines.stages.rank import ColumnWarning

    started: dict[str, float] = {}
    status = {"current": None}

    def on_stage(stage: str, state: str) -> None:
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
    with warning_lines(ColumnWarning, EmptyVocabularyWarning, UnusedSplitWarning):
        summary = run_pipeline(config_path, out, data, label, force, flags, on_stage)
    Console(width=120).print(summary.table())
