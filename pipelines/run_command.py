"""`featureplex run CONFIG`: every stage end to end, as one MLflow parent run."""

from __future__ import annotations

import time

import click


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("config_path", type=click.Path(dir_okay=False))
@click.option("--data", default=None, help="Parquet file, directory or glob (default: the config's `dataset`).")
@click.option("--out", default=None, help="Directory of the stage artifacts (default: the config's run.out).")
@click.option("--label", default=None, help="Label column (default: the config's label, else 'label' or 'click').")
@click.option("--force", is_flag=True, help="Redo every stage, even those whose artifact is current.")
@click.pass_context
def run(ctx: click.Context, config_path: str, data: str | None, out: str | None, label: str | None, force: bool) -> None:
    """Profile, rank, select, build the vocabulary, train, export and register, skipping current stages.

    Unknown options go to Beam (e.g. --direct_num_workers 2 --direct_running_mode multi_processing,
    or --runner DataflowRunner ...).
    """
    from rich.console import Console
    from rich.table import Table

    from pipelines.progress import console, stage_status
    from pipelines.run_flow import run_pipeline

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

    summary = run_pipeline(config_path, out, data, label, force, ctx.args, on_stage)
    table = Table(title=f"featureplex run: {summary.out}")
    table.add_column("")
    table.add_column("")
    table.add_row("top features", ", ".join(f"{name} ({score:.4f})" for name, score in summary.top_features))
    table.add_row("kept features", f"{len(summary.kept_features)}: " + ", ".join(summary.kept_features))
    before = f" (OptFS pruned from {summary.parameters_before_optfs:,})" if summary.parameters_before_optfs else ""
    table.add_row("embedding parameters", f"{summary.parameters:,}{before}")
    for name in ("val_auc", "val_logloss", "val_gauc"):
        if name in summary.metrics:
            table.add_row(name, f"{summary.metrics[name]:.4f}")
    table.add_row("model", summary.model_uri)
    table.add_row("mlflow run", summary.run_id)
    Console(width=120).print(table)
