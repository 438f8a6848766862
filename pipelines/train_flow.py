"""The train stage: a vocab artifact and Parquet data -> a trained CTR model, exported and tracked.

`out` holds `checkpoints/` (kept across kills, so `resume` can continue) and, once training ends,
the results, each written to a temporary sibling and renamed: `saved_model/`, `model_card.json`,
`metrics.json`, `history.json`, `input_example.jsonl`, `training_curve.png`, `model_summary.txt`,
`manifest.json` (last). A killed run leaves checkpoints, never a half-written model.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from features.artifacts import Stopwatch, write_json, write_manifest
from features.config import TrainParams
from features.errors import InputError
from features.layout import LAYOUT_FILE, Layout, read_vocab_artifact
from features.numeric_moments import NumericMoments
from features.schema import DatasetSchema, Kind, check_label_values
from features.sequence_checks import check_timestamp_lengths, seconds_since_epoch
from pipelines.command_inputs import CommandInputs

CHECKPOINTS = "checkpoints"
SAVED_MODEL = "saved_model"
RUN_ID_FILE = "mlflow_run_id"
EXAMPLE_ROWS = 5


@dataclass(frozen=True)
class TrainOutcome:
    out: Path
    saved_model: Path
    metrics: dict[str, float]
    run_id: str
    best_epoch: int
    history: list[dict]
    model: Any  # the trained Keras model, best epoch's weights
    raw_specs: dict  # its raw inputs: name -> tf.TypeSpec


def check_layout_matches(layout: Layout, schema: DatasetSchema, vocab_dir: str) -> None:
    """Every feature the layout embeds must be a column of the right kind in the data."""
    kinds = {spec.name: spec.kind for spec in schema.features}
    for name in layout.features:
        if kinds.get(name) != Kind.CATEGORICAL:
            raise InputError(f"{vocab_dir}/{LAYOUT_FILE}: feature '{name}' is not a categorical column of the data")
    for name in layout.sequences:
        if kinds.get(name) != Kind.SEQUENCE:
            raise InputError(f"{vocab_dir}/{LAYOUT_FILE}: sequence '{name}' is not a sequence column of the data")


def check_both_classes(inputs: CommandInputs) -> tuple[int, int]:
    rows, positives = check_label_values(inputs.dataset, inputs.schema.label)
    if positives in (0, rows):
        raise InputError(
            f"label '{inputs.schema.label}': a single class ({positives} positives in {rows} rows); "
            "training needs both clicks and non-clicks"
        )
    return rows, positives


def _split(params: TrainParams):
    from models.input import Split

    split_time = np.datetime64(params.split_time.replace(tzinfo=None), "s") if params.split_time else None
    return Split(params.validation_fraction, params.seed, split_time)


def _embedding(layout: Layout, params: TrainParams):
    """The multiplexed embedding of `layout`, with the L2 penalty of `params.embedding_l2` when set."""
    import tensorflow as tf

    from models.multiplexed_embedding import MultiplexedEmbedding

    regularizer = tf.keras.regularizers.L2(params.embedding_l2) if params.embedding_l2 else None
    return MultiplexedEmbedding.from_layout(layout, embeddings_regularizer=regularizer)


def _numeric_moments(inputs: CommandInputs, split, options) -> tuple[list[str], list[float], list[float]]:
    from models.input import iter_split_tables

    names = inputs.schema.names(Kind.NUMERIC)
    moments = NumericMoments(tuple(names))
    if names:
        for table in iter_split_tables(inputs.dataset, inputs.schema, split, "train", options, epoch=None):
            moments.add(table)
    means, stds = moments.mean_and_std()
    return names, means, stds


def _example_rows(inputs: CommandInputs, names: list[str]) -> list[dict]:
    from features.dataset import iter_record_batches

    batch = seconds_since_epoch(next(iter_record_batches(inputs.dataset, columns=names, batch_rows=EXAMPLE_ROWS)))
    rows = batch.to_pylist()
    return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()} for row in rows]


def _write_text(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def _plot_history(history: list[dict], path: Path) -> None:
    from matplotlib.figure import Figure  # not pyplot: a library must not change the caller's backend

    epochs = [record["epoch"] for record in history]
    figure = Figure(figsize=(10, 3.5))
    auc_axis, loss_axis = figure.subplots(1, 2)
    for prefix, style in (("train", "--"), ("val", "-")):
        auc_axis.plot(epochs, [r.get(f"{prefix}_auc") for r in history], style, marker="o", label=prefix)
        loss_axis.plot(epochs, [r.get(f"{prefix}_logloss") for r in history], style, marker="o", label=prefix)
    auc_axis.set(title="AUC", xlabel="epoch")
    loss_axis.set(title="logloss", xlabel="epoch")
    for axis in (auc_axis, loss_axis):
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    temporary = path.with_name(f".{path.name}.tmp.png")
    figure.savefig(temporary, dpi=110)
    os.replace(temporary, path)


def _grouped_auc(model, inputs: CommandInputs, split, options) -> float | None:
    """GAUC over validation rows by the config's user column, when there is one."""
    from models.input import iter_split_tables, raw_feature_specs, to_feature_dict
    from models.metrics import grouped_auc

    user = inputs.schema.user
    if user is None:
        return None
    specs = raw_feature_specs(inputs.schema, inputs.dataset.schema)
    groups, labels, scores = [], [], []
    for table in iter_split_tables(inputs.dataset, inputs.schema, split, "validation", options, epoch=None):
        for start in range(0, table.num_rows, options.batch_size):
            piece = table.slice(start, options.batch_size)
            features, label = to_feature_dict(piece, specs, inputs.schema.label)
            scores.append(model(features, training=False).numpy()[:, 0])
            labels.append(label)
            groups.append(piece.column(user).to_numpy(zero_copy_only=False))
    if not scores:
        return None
    return grouped_auc(np.concatenate(groups), np.concatenate(labels), np.concatenate(scores))


def train_ctr_model(
    inputs: CommandInputs,
    vocab_dir: str,
    out: str | os.PathLike,
    params: TrainParams,
    resume: bool = False,
    ranking_dir: str | None = None,
    on_epoch_end: Callable[[int, dict], None] | None = None,
    callbacks: list | None = None,
) -> TrainOutcome:
    """Train `params.model` on the layout of `vocab_dir`; export, write the results and track the run.

    `callbacks`: Keras callbacks for the training loop (the CLI's progress bar).
    """
    # bad input is found before TensorFlow and MLflow load (seconds of imports)
    stopwatch = Stopwatch()
    out = Path(out)
    layout, vocabularies = read_vocab_artifact(vocab_dir)
    check_layout_matches(layout, inputs.schema, vocab_dir)
    rows, positives = check_both_classes(inputs)
    check_timestamp_lengths(inputs.dataset, inputs.schema)
    checkpoints = out / CHECKPOINTS
    if not resume and checkpoints.exists():
        raise InputError(f"{checkpoints}: exists from an earlier run; pass --resume to continue it, or another --out")

    import models  # noqa: F401  (first: selects Keras 2 and quiets TensorFlow before anything loads it)
    from models.field_encoder import FieldEncoder
    from models.input import InputOptions, raw_feature_specs, split_streams
    from models.numeric_fields import NumericFields
    from models.preprocessing import FeaturePreprocessing
    from models.registry import build_ctr_model, check_model_name
    from models.training import TrainingOptions, seed_everything, train
    from pipelines.tracking import flatten, log_artifacts, tracked_run
    from serving.export import export_saved_model
    from serving.mlflow_model import log_pyfunc_model
    import mlflow

    check_model_name(params.model)
    checkpoints.mkdir(parents=True, exist_ok=True)

    split = _split(params)
    options = InputOptions(batch_size=params.batch_size, shuffle_rows=params.shuffle_rows, seed=params.seed)
    with stopwatch.time("numeric_moments"):
        numeric_names, means, stds = _numeric_moments(inputs, split, options)
    seed_everything(params.seed)
    numeric = NumericFields(numeric_names, means, stds, layout.dimension) if numeric_names else None
    fields = FieldEncoder(FeaturePreprocessing(layout, vocabularies), _embedding(layout, params), numeric)
    timestamps = {spec.name: spec.timestamps for spec in inputs.schema.features if spec.timestamps}
    model = build_ctr_model(params.model, fields, params.model_parameters, timestamps)
    encoder = model.encoder  # decides the raw inputs: HSTU's include the history's timestamps
    all_specs = raw_feature_specs(inputs.schema, inputs.dataset.schema)
    raw_specs = {name: all_specs[name] for name in encoder.input_names}
    train_stream, validation = split_streams(inputs.dataset, inputs.schema, split, options)

    layout_bytes = (Path(vocab_dir) / LAYOUT_FILE).read_bytes()
    tags = {
        "featureplex.stage": "train",
        "featureplex.model": params.model,
        "featureplex.data_fingerprint": inputs.dataset.fingerprint(),
        "featureplex.vocab_dir": str(Path(vocab_dir).resolve()),
        "featureplex.layout_sha256": hashlib.sha256(layout_bytes).hexdigest(),
    }
    if ranking_dir:
        tags["featureplex.ranking_dir"] = str(Path(ranking_dir).resolve())
    run_id_file = checkpoints / RUN_ID_FILE
    previous_run = run_id_file.read_text().strip() if resume and run_id_file.exists() else None

    def log_epoch(epoch: int, metrics: dict) -> None:
        mlflow.log_metrics({k: v for k, v in metrics.items() if math.isfinite(v)}, step=epoch)
        if on_epoch_end is not None:
            on_epoch_end(epoch, metrics)

    with tracked_run(f"train-{params.model}", tags=tags, run_id=previous_run) as run:
        run_id_file.write_text(run.info.run_id)
        if previous_run is None:
            mlflow.log_params(flatten({
                "train": params.model_dump(mode="json"),
                "layout": {"mode": layout.mode, "dimension": layout.dimension, "rows": layout.rows,
                           "parameters": layout.parameters, "head_rows": layout.head_rows, "tail_rows": layout.tail_rows},
                "data": {"fingerprint": inputs.dataset.fingerprint(), "rows": rows, "positives": positives},
                "features": ",".join(encoder.field_names),
            }))
        with stopwatch.time("train"):
            result = train(model, train_stream, validation, checkpoints,
                           TrainingOptions(params.epochs, params.learning_rate, params.learning_rate_decay,
                                           params.patience, params.seed),
                           resume=resume, on_epoch_end=log_epoch, callbacks=callbacks)
        metrics = {k: v for k, v in result.best_metrics.items() if k.startswith("val_")}
        gauc = _grouped_auc(model, inputs, split, options)
        if gauc is not None and math.isfinite(gauc):
            metrics["val_gauc"] = gauc
        metrics["best_epoch"] = result.best_epoch
        mlflow.log_metrics({f"best_{k}": float(v) for k, v in metrics.items()})

        with stopwatch.time("export"):
            saved_model = export_saved_model(model, raw_specs, out / SAVED_MODEL,
                                             {spec.timestamps: spec.name for spec in inputs.schema.features
                                              if spec.timestamps and spec.timestamps in raw_specs})
        examples = _example_rows(inputs, list(raw_specs))
        _write_text(out / "input_example.jsonl", "".join(json.dumps(row) + "\n" for row in examples))
        summary: list[str] = []
        model.summary(print_fn=summary.append, expand_nested=True)
        _write_text(out / "model_summary.txt", "\n".join(summary) + "\n")
        _plot_history(result.history, out / "training_curve.png")
        write_json(out / "history.json", result.history)
        write_json(out / "metrics.json", metrics)
        import pandas as pd

        model_info = log_pyfunc_model(saved_model, pd.DataFrame(examples))
        card = {
            "model": params.model,
            "features": {"categorical": encoder.categorical_names, "sequence": encoder.sequence_names,
                         "numeric": encoder.numeric_names},
            "inputs": {name: spec.dtype.name for name, spec in raw_specs.items()},
            "layout": {"mode": layout.mode, "dimension": layout.dimension, "rows": layout.rows,
                       "head_rows": layout.head_rows, "tail_rows": layout.tail_rows, "parameters": layout.parameters},
            "data_fingerprint": inputs.dataset.fingerprint(),
            "metrics": metrics,
            "mlflow_run_id": run.info.run_id,
            "mlflow_model_uri": model_info.model_uri,
        }
        write_json(out / "model_card.json", card)
        log_artifacts([Path(vocab_dir) / LAYOUT_FILE, out / "training_curve.png", out / "model_summary.txt",
                       out / "model_card.json", out / "history.json"])
        if ranking_dir:
            log_artifacts([Path(ranking_dir) / "report.html", Path(ranking_dir) / "ranking.tsv"], "ranking")
        write_manifest(out, stage="train",
                       inputs={"data": inputs.dataset.fingerprint(), "vocab": tags["featureplex.layout_sha256"]},
                       parameters=params.model_dump(mode="json"),
                       outputs=[SAVED_MODEL, "model_card.json", "metrics.json", "history.json", "input_example.jsonl",
                                "training_curve.png", "model_summary.txt"],
                       timings=stopwatch.timings)
    return TrainOutcome(out, saved_model, metrics, run.info.run_id, result.best_epoch, result.history, model, raw_specs)
