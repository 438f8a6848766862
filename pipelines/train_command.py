"""`featureplex train DATA --vocab DIR --model NAME --out DIR`."""

from __future__ import annotations

import time

import click

from pipelines.command_inputs import data_arguments, resolve_inputs


@click.command()
@data_arguments
@click.option("--vocab", "vocab_dir", required=True, type=click.Path(file_okay=False), help="Vocab artifact (featureplex vocab).")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output directory (checkpoints, SavedModel, metrics).")
@click.option("--model", default=None, help="lr, dnn, dcn, autoint, autoint+, din or hstu (default: the config's train.model).")
@click.option("--epochs", type=int, default=None, help="Maximum epochs (early stopping on validation AUC).")
@click.option("--batch-size", type=int, default=None)
@click.option("--learning-rate", type=float, default=None)
@click.option("--seed", type=int, default=None)
@click.option("--resume", is_flag=True, help="Continue from the checkpoints in --out after an interruption.")
@click.option("--ranking", "ranking_dir", type=click.Path(file_okay=False), default=None,
              help="Rank artifact to link to the MLflow run (its report is logged).")
@click.option("--select", type=click.Choice(["none", "optfs"]), default="none",
              help="optfs: learn gates on every feature value (config `optfs:`), prune the layout, train on it.")
def train(data, config_path, label, vocab_dir, out, model, epochs, batch_size, learning_rate, seed, resume, ranking_dir,
          select):
    """Train a CTR model on DATA with the multiplexed embedding of --vocab; track it in MLflow."""
    from rich.table import Table

    from pipelines.progress import console, training_progress_callback
    from pipelines.train_flow import train_ctr_model

    inputs = resolve_inputs(data, config_path, label)
    overrides = {"model": model, "epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate, "seed": seed}
    params = inputs.config.train.model_copy(update={k: v for k, v in overrides.items() if v is not None})
    started = time.perf_counter()

    def report(epoch: int, metrics: dict) -> None:
        console.print(f"epoch {epoch}: val_auc {metrics['val_auc']:.4f}  val_logloss {metrics['val_logloss']:.4f}  "
                      f"train_auc {metrics.get('train_auc', float('nan')):.4f}  lr {metrics['learning_rate']:.2e}  "
                      f"({time.perf_counter() - started:.0f}s)")

    if select == "optfs":
        from pipelines.optfs_command import run_optfs

        outcome = run_optfs(inputs, vocab_dir, out, params, resume, report)
    else:
        outcome = train_ctr_model(inputs, vocab_dir, out, params, resume=resume, ranking_dir=ranking_dir,
                                  on_epoch_end=report, callbacks=[training_progress_callback(params.batch_size)])
    table = Table(title=f"{params.model}: best epoch {outcome.best_epoch}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in outcome.metrics.items():
        table.add_row(name, f"{value:.4f}" if isinstance(value, float) else str(value))
    console.print(table)
    click.echo(f"saved model: {outcome.saved_model}\nmlflow run: {outcome.run_id}")
