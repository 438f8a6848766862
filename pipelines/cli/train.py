"""`featureplex train DATA --vocab DIR --model NAME --out DIR [--validation DATA2] [--test DATA3]` (and `--select optfs`:
OptFS, its keep ratios printed)."""

from __future__ import annotations

import time

import click

from featureplex.features.errors import InputError
from featureplex.pipelines.cli.options import data_arguments, guard_options, guarded, rerun_as_workers, warning_lines, with_flags
from featureplex.pipelines.cluster import WorkerCluster
from featureplex.pipelines.inputs import StageInputs, resolve_inputs


@click.command()
@data_arguments
@click.option("--vocab", "vocab_dir", required=True, type=click.Path(file_okay=False), help="Vocab artifact (featureplex vocab).")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output directory (checkpoints, SavedModel, metrics).")
@click.option("--model", default=None, help="lr, dnn, dcn, autoint, autoint+, din or hstu (default: the config's train.model).")
@click.option("--epochs", type=int, default=None, help="Maximum epochs (early stopping on validation AUC).")
@click.option("--batch-size", type=int, default=None, help="Rows per training step (default: the config's train.batch_size, else 1024).")
@click.option("--learning-rate", type=float, default=None,
              help="Adam's learning rate at the first epoch, then multiplied by train.learning_rate_decay each epoch "
                   "(default: the config's train.learning_rate, else 0.001).")
@click.option("--validation", default=None,
              help="Validate on this Parquet file, directory or glob (early stopping, best weights); the whole of DATA "
                   "then trains and train.validation_fraction is not used (default: the config's train.validation, "
                   "else a share of DATA).")
@click.option("--test", default=None,
              help="After training, score this Parquet file, directory or glob with the kept weights: test_auc, "
                   "test_logloss, test_gauc, test_calibration in metrics.json, the model card and MLflow "
                   "(default: the config's train.test).")
@click.option("--seed", type=int, default=None,
              help="Seed of the weights' initialisation, the shuffling and the validation split (default: the config's train.seed, else 0).")
@click.option("--resume", is_flag=True, help="Continue from the checkpoints in --out after an interruption.")
@click.option("--select", type=click.Choice(["none", "optfs"]), default="none",
              help="optfs: learn gates on every feature value (config `optfs:`), prune the layout, train on it.")
@click.option("--workers", type=click.IntRange(min=1), default=1,
              help="Train on N local worker processes (MultiWorkerMirroredStrategy on 127.0.0.1; each reads 1/N of the "
                   "row groups at batch-size / N rows per step). A cluster elsewhere sets TF_CONFIG instead (docs/distributed.md).")
@guard_options
@click.pass_context
def train(ctx, data, config_path, label, vocab_dir, out, model, epochs, batch_size, learning_rate, validation, test, seed,
          resume, select, workers, rank_dir, allow_suspect_columns):
    """Train a CTR model on DATA with the multiplexed embedding of --vocab; track it in MLflow."""
    from rich.table import Table

    from featureplex.features.embedding.vocab_artifact import VocabArtifact
    from featureplex.pipelines.held_out import UnusedSplitWarning
    from featureplex.pipelines.progress import console, training_progress_callback
    from featureplex.pipelines.stages import train as train_stage

    inputs = guarded(resolve_inputs(data, config_path, label), rank_dir, allow_suspect_columns)
    flags = {"model": model, "epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate,
             "validation": validation, "test": test, "seed": seed}
    params = with_flags(inputs.config.train, flags, {key: "--" + key.replace("_", "-") for key in flags}, "train")
    cluster = WorkerCluster.from_environment()  # a bad TF_CONFIG: one line, before TensorFlow loads
    if workers > 1:
        if select == "optfs":
            raise InputError("--workers: --select optfs trains in one process; give --workers 1")
        rerun_as_workers(ctx, workers, "rerun with --resume")
        return
    if cluster is not None and select == "optfs":
        raise InputError("--select optfs: trains in one process; unset TF_CONFIG (multi-worker training is `--select none`)")
    started = time.perf_counter()

    def report(epoch: int, metrics: dict) -> None:
        console.print(f"epoch {epoch}: val_auc {metrics['val_auc']:.4f}  val_logloss {metrics['val_logloss']:.4f}  "
                      f"train_auc {metrics.get('train_auc', float('nan')):.4f}  lr {metrics['learning_rate']:.2e}  "
                      f"{metrics.get('train_examples_per_second', float('nan')):,.0f} examples/s  "
                      f"({time.perf_counter() - started:.0f}s)")

    with warning_lines(UnusedSplitWarning):
        if select == "optfs":
            outcome = run_optfs(inputs, vocab_dir, out, params, resume, report)
        else:
            # no progress bar on a worker: a Keras callback starts TensorFlow, before the strategy could configure it
            progress = [] if cluster is not None else [training_progress_callback(params.batch_size)]
            outcome = train_stage.run(inputs.with_artifacts(vocab=VocabArtifact.read(vocab_dir)), params, out, resume,
                                      on_epoch_end=report, callbacks=progress)
    if outcome is None:  # a worker other than the chief: the chief reports
        return
    table = Table(title=f"{params.model}: best epoch {outcome.best_epoch}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in outcome.metrics.items():
        table.add_row(name, f"{value:.4f}" if isinstance(value, float) else str(value))
    console.print(table)
    click.echo(f"saved model: {outcome.saved_model}\nmlflow run: {outcome.run_id}")


def run_optfs(inputs: StageInputs, vocab_dir: str, out: str, params, resume: bool, report):
    """Run `select_optfs` with the config's `optfs:` section; print the selection; the final TrainOutcome."""
    from rich.table import Table

    from featureplex.pipelines.progress import console
    from featureplex.pipelines.stages.select import select_optfs

    def progress(phase: str, epoch: int, metrics: dict) -> None:
        console.print(f"[{phase}] ", end="")
        report(epoch, metrics)

    selected = select_optfs(inputs, vocab_dir, out, params, inputs.config.optfs, resume=resume, on_epoch_end=progress)
    table = Table(title=f"OptFS keep ratios (dropped: {', '.join(selected.dropped) or 'none'})")
    for column in ("feature", "values", "kept", "value ratio", "row ratio", "tail"):
        table.add_column(column, justify="left" if column == "feature" else "right")
    for name, ratio in selected.keep_ratios.items():
        table.add_row(name, str(ratio.values), str(ratio.values_kept), f"{ratio.value_ratio:.3f}", f"{ratio.row_ratio:.3f}",
                      "kept" if ratio.tail_kept else "dropped")
    console.print(table)
    console.print(f"embedding parameters {selected.parameters_before} -> {selected.parameters_after}; "
                  f"retrain (hard gates) val_auc {selected.retrain_metrics.get('val_auc', float('nan')):.4f}; "
                  f"pruned vocab: {selected.pruned_vocab_dir}")
    return selected.final
