"""Training a CTR model on a vocab artifact and Parquet data, exported and tracked: what the train stage
does, and what the select stage does for its final model on the pruned layout.

A straight line of small steps: check the inputs -> assemble the model (models.assembly.build_model)
-> fit (models.training: a checkpoint per epoch, resume after a kill) -> evaluate (validation, and the
test file when `train.test` names one) -> export the SavedModel -> the model card -> write the train
artifact (pipelines.artifacts.train, all or nothing, `checkpoints/` kept) and track it in MLflow. A killed
run leaves checkpoints, never a half-written model.

Validation rows are a share of DATA (`train.validation_fraction`, or the rows from `train.split_time` on),
or with `train.validation` every row of that file, the whole of DATA then training (pipelines.held_out).

`inputs.vocab` is the vocab artifact; `inputs.rank`, when given, is linked to the MLflow run.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from featureplex.features.counting.numeric_moments import NumericMoments
from featureplex.features.data.artifact_dir import Manifest, Stopwatch, artifact_lock
from featureplex.features.data.config import TrainParams
from featureplex.features.data.dataset import ParquetDataset
from featureplex.features.data.schema import DatasetSchema, Kind
from featureplex.features.data.sequence_checks import check_timestamp_lengths, seconds_since_epoch
from featureplex.features.embedding.layout import Layout
from featureplex.features.embedding.vocab_artifact import VocabArtifact
from featureplex.features.errors import InputError
from featureplex.pipelines.artifacts.train import CHECKPOINTS, STAGE, TrainArtifact
from featureplex.pipelines.cluster import WorkerCluster, check_cluster_fits
from featureplex.pipelines.held_out import HeldOut, open_held_out
from featureplex.pipelines.inputs import StageInputs

RUN_ID_FILE = "mlflow_run_id"
EXAMPLE_ROWS = 5


def check_layout_matches(layout: Layout, schema: DatasetSchema, vocab_dir: str) -> None:
    """Every feature the layout embeds must be a column of the right kind in the data."""
    kinds = {spec.name: spec.kind for spec in schema.features}
    for name in layout.features:
        if kinds.get(name) != Kind.CATEGORICAL:
            raise InputError(f"{vocab_dir} layout.json: feature '{name}' is not a categorical column of the data")
    for name in layout.sequences:
        if kinds.get(name) != Kind.SEQUENCE:
            raise InputError(f"{vocab_dir} layout.json: sequence '{name}' is not a sequence column of the data")


def check_both_classes(inputs: StageInputs) -> tuple[int, int]:
    rows, positives = inputs.label_counts
    if positives in (0, rows):
        raise InputError(
            f"label '{inputs.schema.label}': a single class ({positives} positives in {rows} rows); "
            "training needs both clicks and non-clicks"
        )
    return rows, positives


def check(inputs: StageInputs, params: TrainParams, out: Path, resume: bool) -> tuple[VocabArtifact, HeldOut]:
    """Bad input is found before TensorFlow and MLflow load (seconds of imports): the vocab artifact and the
    held-out files."""
    if inputs.vocab is None:
        raise InputError("train: no vocab artifact (give --vocab DIR)")
    check_layout_matches(inputs.vocab.layout, inputs.schema, "the vocab artifact")
    check_both_classes(inputs)
    check_timestamp_lengths(inputs.dataset, inputs.schema)
    held_out = open_held_out(inputs, params)
    if not resume and (out / CHECKPOINTS).exists():
        raise InputError(f"{out / CHECKPOINTS}: exists from an earlier run; pass --resume to continue it, or another --out")
    return inputs.vocab, held_out


@dataclass(frozen=True)
class Assembled:
    """A model ready to fit, and how its data is read."""

    model: Any
    raw_specs: dict  # the raw inputs the model takes: name -> tf.TypeSpec
    split: Any  # models.input.Split of DATA
    options: Any  # models.input.InputOptions
    validation_data: ParquetDataset  # where the validation rows are: DATA, or the validation file
    validation_split: Any  # models.input.Split of validation_data whose "validation" rows validate
    moments: tuple  # the numeric features' (names, means, stds) the model normalises with


def data_split(params: TrainParams):
    """The split of DATA (every row trains when `params.validation` names a validation file) and the input options."""
    from featureplex.models.input import InputOptions, Split

    options = InputOptions(batch_size=params.batch_size, shuffle_rows=params.shuffle_rows, seed=params.seed)
    if params.validation:
        return Split(validation_fraction=0.0), options
    split_time = np.datetime64(params.split_time.replace(tzinfo=None), "s") if params.split_time else None
    return Split(params.validation_fraction, params.seed, split_time), options


def numeric_moments(inputs: StageInputs, split, options, workers=None) -> tuple[list[str], list[float], list[float]]:
    """The numeric features with the means and standard deviations of their training rows (each worker
    counts its shard's, the counts summed across workers)."""
    from featureplex.models.input import iter_split_tables

    names = inputs.schema.names(Kind.NUMERIC)
    moments = NumericMoments(tuple(names))
    if names:
        dataset = inputs.dataset if workers is None else inputs.dataset.shard(workers.rank, workers.size)
        for table in iter_split_tables(dataset, inputs.schema, split, "train", options, epoch=None):
            moments.add(table)
        if workers is not None:
            count, total, squares = np.split(workers.sum(np.concatenate([moments.count, moments.total, moments.squares])), 3)
            moments = NumericMoments(moments.names, count, total, squares)
    means, stds = moments.mean_and_std()
    return names, means, stds


def numeric_fields(moments: tuple[list[str], list[float], list[float]], layout: Layout):
    """The numeric features as fields, normalised by their moments (None without any)."""
    from featureplex.models.layers.numeric_fields import NumericFields

    names, means, stds = moments
    return NumericFields(names, means, stds, layout.dimension) if names else None


def assemble(inputs: StageInputs, params: TrainParams, gate=None, held_out: HeldOut = HeldOut(), workers=None,
             moments: tuple | None = None) -> Assembled:
    """The model of `params` on the vocab artifact's layout (OptFS passes its gate), seeded; validated on
    `held_out.validation` when given; built under the workers' strategy when given
    (models.distributed.Workers); `moments` counted unless given."""
    from featureplex.models.assembly import build_model, check_model_name
    from featureplex.models.distributed import workers_scope
    from featureplex.models.input import Split, raw_feature_specs
    from featureplex.models.training import seed_everything

    check_model_name(params.model)
    split, options = data_split(params)
    moments = moments or numeric_moments(inputs, split, options, workers)
    numeric = numeric_fields(moments, inputs.vocab.layout)
    seed_everything(params.seed)
    with workers_scope(workers):
        model = build_model(inputs.vocab.layout, inputs.vocab.vocabularies, inputs.schema, params, numeric, gate)
    all_specs = raw_feature_specs(inputs.schema, inputs.dataset.schema)
    validation = (inputs.dataset, split) if held_out.validation is None else (held_out.validation, Split(validation_fraction=1.0))
    return Assembled(model, {name: all_specs[name] for name in model.encoder.input_names}, split, options, *validation,
                     moments)


def streams(inputs: StageInputs, assembled: Assembled, workers=None):
    """The training stream (DATA's training rows, shuffled per epoch) and the validation stream (unshuffled);
    under `workers`, this worker's shard of each at its share of the global batch (models.distributed)."""
    from featureplex.models.distributed import DistributedStream
    from featureplex.models.input import EpochStream, split_streams

    data, validation_data, options = inputs.dataset, assembled.validation_data, assembled.options
    if workers is not None:
        options = dataclasses.replace(options, batch_size=options.batch_size // workers.size)
        data, validation_data = (dataset.shard(workers.rank, workers.size) for dataset in (data, validation_data))
    if assembled.validation_data is inputs.dataset:
        pair = split_streams(data, inputs.schema, assembled.split, options)
    else:
        pair = (EpochStream(data, inputs.schema, assembled.split, "train", options),
                EpochStream(validation_data, inputs.schema, assembled.validation_split, "validation", options, shuffle=False))
    return pair if workers is None else tuple(DistributedStream(stream, workers) for stream in pair)


def single_process_copy(inputs: StageInputs, params: TrainParams, trained: Assembled, held_out: HeldOut) -> Assembled:
    """The model of `trained` (built under the workers' strategy) as one process builds it, with its weights:
    what the chief evaluates and exports once the other workers are gone (reading the strategy's metric
    variables would wait for them)."""
    from featureplex.features.data.dataset import iter_record_batches
    from featureplex.models.input import to_feature_dict

    copy = assemble(inputs, params, held_out=held_out, moments=trained.moments)
    batch = next(iter_record_batches(inputs.dataset, columns=[*copy.raw_specs, inputs.schema.label], batch_rows=EXAMPLE_ROWS))
    copy.model(to_feature_dict(batch, copy.raw_specs, inputs.schema.label)[0])  # builds the weights
    for part in ("encoder", "tower"):
        getattr(copy.model, part).set_weights(getattr(trained.model, part).get_weights())
    return copy


def training_options(params: TrainParams):
    from featureplex.models.training import TrainingOptions

    return TrainingOptions.from_params(params)


def scored_rows(inputs: StageInputs, assembled: Assembled, dataset: ParquetDataset, split,
                subset: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None] | None:
    """(labels, the model's logits, the rows' users or None without a user column) of `subset` of `dataset`
    in file order, in batches of the training batch size; None when the subset has no rows."""
    from featureplex.models.input import iter_split_tables, raw_feature_specs, to_feature_dict

    user = inputs.schema.user
    specs = {name: spec for name, spec in raw_feature_specs(inputs.schema, dataset.schema).items()
             if name in assembled.raw_specs}
    groups, labels, scores = [], [], []
    size = assembled.options.batch_size
    for table in iter_split_tables(dataset, inputs.schema, split, subset, assembled.options, epoch=None):
        for start in range(0, table.num_rows, size):
            piece = table.slice(start, size)
            features, label = to_feature_dict(piece, specs, inputs.schema.label)
            scores.append(assembled.model(features, training=False).numpy()[:, 0])
            labels.append(label)
            if user is not None:
                groups.append(piece.column(user).to_numpy(zero_copy_only=False))
    if not scores:
        return None
    return np.concatenate(labels), np.concatenate(scores), (np.concatenate(groups) if user is not None else None)


def grouped_auc(inputs: StageInputs, assembled: Assembled) -> float | None:
    """GAUC over validation rows by the config's user column, when there is one."""
    from featureplex.models.metrics import grouped_auc as gauc

    if inputs.schema.user is None:
        return None
    scored = scored_rows(inputs, assembled, assembled.validation_data, assembled.validation_split, "validation")
    if scored is None:
        return None
    labels, scores, groups = scored
    return gauc(groups, labels, scores)


def metrics_on_test_file(inputs: StageInputs, assembled: Assembled, test: ParquetDataset) -> dict:
    """test_auc, test_logloss, test_calibration, test_gauc (by the config's user column) and test_rows of the
    model as it is now (the kept weights) on every row of the test file (models.metrics.ctr_metrics)."""
    from featureplex.models.input import Split
    from featureplex.models.metrics import ctr_metrics

    labels, logits, groups = scored_rows(inputs, assembled, test, Split(validation_fraction=1.0), "validation")
    metrics = ctr_metrics(labels, logits, groups)
    return {f"test_{name}": metrics[name] for name in ("auc", "logloss", "gauc", "calibration", "rows") if name in metrics}


def evaluate(inputs: StageInputs, assembled: Assembled, result) -> dict:
    """The best epoch's validation metrics, the grouped AUC and the best epoch."""
    metrics = {k: v for k, v in result.best_metrics.items() if k.startswith("val_")}
    gauc = grouped_auc(inputs, assembled)
    if gauc is not None and math.isfinite(gauc):
        metrics["val_gauc"] = gauc
    metrics["best_epoch"] = result.best_epoch
    return metrics


def example_rows(inputs: StageInputs, names: list[str]) -> list[dict]:
    """A few raw rows of the model's inputs, JSON-ready (NaN as null, timestamps as seconds)."""
    from featureplex.features.data.dataset import iter_record_batches

    batch = seconds_since_epoch(next(iter_record_batches(inputs.dataset, columns=names, batch_rows=EXAMPLE_ROWS)))
    return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()} for row in batch.to_pylist()]


def export(assembled: Assembled, schema: DatasetSchema, staging: Path) -> Path:
    """The SavedModel with its raw-feature signature, under `staging`."""
    from featureplex.serving.export import export_saved_model

    timestamps = {spec.timestamps: spec.name for spec in schema.features if spec.timestamps and spec.timestamps in assembled.raw_specs}
    return Path(export_saved_model(assembled.model, assembled.raw_specs, staging / TrainArtifact.SAVED_MODEL, timestamps))


def model_card(inputs: StageInputs, params: TrainParams, assembled: Assembled, metrics: dict, run_id: str,
               model_uri: str, held_out: HeldOut, split_rows: dict[str, int]) -> dict:
    """What the model is: features, inputs, layout, the data it was trained on (and validated / tested on, when
    those are files of their own) with the rows of each split, its metrics and its MLflow run and model."""
    encoder, layout = assembled.model.encoder, inputs.vocab.layout
    held_out_data = {"held_out_fingerprints": held_out.fingerprints()} if held_out.fingerprints() else {}
    return {
        "model": params.model,
        "features": {"categorical": encoder.categorical_names, "sequence": encoder.sequence_names,
                     "numeric": encoder.numeric_names},
        "inputs": {name: spec.dtype.name for name, spec in assembled.raw_specs.items()},
        "label": inputs.schema.label,
        "user": inputs.schema.user,  # the column gAUC groups by (featureplex evaluate reads it from here)
        "layout": layout_summary(layout),
        "data_fingerprint": inputs.dataset.fingerprint(),
        **held_out_data,
        "rows": split_rows,
        "metrics": metrics,
        "mlflow_run_id": run_id,
        "mlflow_model_uri": model_uri,
    }


def track_lineage(inputs: StageInputs, held_out: HeldOut) -> None:
    """What a training run was made from: the dataset (training and validation splits of it, or the training
    data and the held-out files), the resolved config, the git commit of the code when there is one."""
    import mlflow

    from featureplex.pipelines.tracking import git_commit, log_dataset

    log_dataset(inputs.dataset, inputs.schema, "training", "data")
    log_dataset(held_out.validation or inputs.dataset, inputs.schema, "validation",
                "validation" if held_out.validation else "data")
    if held_out.test is not None:
        log_dataset(held_out.test, inputs.schema, "test", "test")
    mlflow.log_dict(inputs.config.model_dump(mode="json"), "config.json")
    commit = git_commit()
    if commit:
        mlflow.set_tag("mlflow.source.git.commit", commit)


def layout_summary(layout: Layout) -> dict:
    return {"mode": layout.mode, "dimension": layout.dimension, "rows": layout.rows, "head_rows": layout.head_rows,
            "tail_rows": layout.tail_rows, "parameters": layout.parameters}


def train_and_export(
    inputs: StageInputs,
    params: TrainParams,
    out: str | os.PathLike,
    resume: bool = False,
    on_epoch_end: Callable[[int, dict], None] | None = None,
    callbacks: list | None = None,
) -> TrainArtifact | None:
    """Train `params.model` on `inputs.vocab`; export, write the artifact and track the run.

    `callbacks`: Keras callbacks for the training loop (the CLI's progress bar). When TF_CONFIG names a
    cluster (pipelines.cluster), this process is one of its workers (models.distributed): every worker
    trains on its share of the data; the chief also checkpoints, exports, writes the artifact and tracks
    the run, and returns the artifact; the other workers return None.
    """
    out = Path(out)
    cluster = WorkerCluster.from_environment()
    if cluster is not None and not cluster.is_chief:
        _, held_out = check(inputs, params, out, resume)
        workers = start_workers(inputs, params, cluster)
        _fit(params, out / CHECKPOINTS, resume, workers, *prepare(inputs, params, held_out, workers)[:3])
        return None
    with artifact_lock(out):  # checkpoints and the artifact: one writer at a time
        return _train_and_export(inputs, params, out, resume, on_epoch_end, callbacks, cluster)


def start_workers(inputs: StageInputs, params: TrainParams, cluster: WorkerCluster):
    """This process's models.distributed.Workers, once the data and the table are known to suit the cluster."""
    from featureplex.models.distributed import Workers

    check_cluster_fits(cluster, params.batch_size, len(inputs.dataset.row_groups()), inputs.vocab.layout)
    return Workers(cluster.rank, cluster.size)


def prepare(inputs: StageInputs, params: TrainParams, held_out: HeldOut, workers):
    """The model assembled, its training and validation streams and the rows of each split. Under workers
    every worker calls this at the same point: counting the moments and the streams' steps are collectives."""
    assembled = assemble(inputs, params, held_out=held_out, workers=workers)
    train_stream, validation = streams(inputs, assembled, workers)
    split_rows = {"train": int(train_stream.batch_rows(0).sum()), "validation": int(validation.batch_rows(0).sum()),
                  **({"test": held_out.test.num_rows} if held_out.test is not None else {})}
    return assembled, train_stream, validation, split_rows


def _fit(params: TrainParams, checkpoints: Path, resume: bool, workers, assembled: Assembled, train_stream, validation,
         on_epoch_end: Callable[[int, dict], None] | None = None, callbacks: list | None = None):
    """The model trained on this process's streams (its shard under `workers`)."""
    from featureplex.models.training import train

    return train(assembled.model, train_stream, validation, checkpoints, training_options(params), resume=resume,
                 on_epoch_end=on_epoch_end, callbacks=callbacks, chief=workers is None or workers.is_chief)


def _train_and_export(inputs: StageInputs, params: TrainParams, out: Path, resume: bool,
                      on_epoch_end: Callable[[int, dict], None] | None, callbacks: list | None,
                      cluster: WorkerCluster | None) -> TrainArtifact:
    vocab, held_out = check(inputs, params, out, resume)
    # the penalty the layout gets, logged and written as a number (build_model resolves it the same way)
    params = params.model_copy(update={"embedding_l2": params.embedding_l2_on(vocab.layout.mode)})
    workers = None if cluster is None else start_workers(inputs, params, cluster)
    import mlflow
    import pandas as pd

    from featureplex.pipelines.tracking import flatten, log_artifacts, tracked_run
    from featureplex.serving.mlflow_model import log_pyfunc_model

    stopwatch = Stopwatch()
    with stopwatch.time("assemble"):
        assembled, train_stream, validation, split_rows = prepare(inputs, params, held_out, workers)
    checkpoints = out / CHECKPOINTS  # after assembling: under workers, the others have passed `check` by then
    checkpoints.mkdir(parents=True, exist_ok=True)
    rows, positives = inputs.label_counts
    tags = {
        "featureplex.stage": STAGE,
        "featureplex.model": params.model,
        "featureplex.data_fingerprint": inputs.dataset.fingerprint(),
        "featureplex.layout_sha256": vocab.layout_sha256(),
    }
    run_id_file = checkpoints / RUN_ID_FILE
    previous_run = run_id_file.read_text().strip() if resume and run_id_file.exists() else None

    def log_epoch(epoch: int, metrics: dict) -> None:
        # per user, on the validation rows (None without a user column); under workers at the end only: the
        # whole validation split, which no worker reads while training
        gauc = grouped_auc(inputs, assembled) if workers is None else None
        if gauc is not None:
            metrics = {**metrics, "val_gauc": gauc}
        mlflow.log_metrics({k: v for k, v in metrics.items() if math.isfinite(v)}, step=epoch)
        if on_epoch_end is not None:
            on_epoch_end(epoch, metrics)

    with tracked_run(f"train-{params.model}", tags=tags, run_id=previous_run) as tracked:
        run_id_file.write_text(tracked.info.run_id)
        if previous_run is None:
            mlflow.log_params(flatten({
                "train": params.model_dump(mode="json"),
                "layout": layout_summary(vocab.layout),
                "data": {"fingerprint": inputs.dataset.fingerprint(), "rows": rows, "positives": positives,
                         **{f"{name}_rows": count for name, count in split_rows.items()}},
                "features": ",".join(assembled.model.encoder.field_names),
            }))
            track_lineage(inputs, held_out)
        with stopwatch.time("train"):
            result = _fit(params, checkpoints, resume, workers, assembled, train_stream, validation, log_epoch, callbacks)
        if workers is not None:
            assembled = single_process_copy(inputs, params, assembled, held_out)
        metrics = evaluate(inputs, assembled, result)
        mlflow.log_metrics({("best_epoch" if k == "best_epoch" else f"best_{k}"): float(v) for k, v in metrics.items()})
        if held_out.test is not None:
            with stopwatch.time("test"):
                tested = metrics_on_test_file(inputs, assembled, held_out.test)
            mlflow.log_metrics({name: float(value) for name, value in tested.items() if math.isfinite(value)})
            metrics.update(tested)
        examples = example_rows(inputs, list(assembled.raw_specs))
        summary: list[str] = []
        assembled.model.summary(print_fn=summary.append, expand_nested=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.export-") as staging:
            with stopwatch.time("export"):
                saved_model = export(assembled, inputs.schema, Path(staging))
            model_info = log_pyfunc_model(saved_model, pd.DataFrame(examples))
            card = model_card(inputs, params, assembled, metrics, tracked.info.run_id, model_info.model_uri, held_out,
                              split_rows)
            manifest = Manifest(STAGE, inputs={"data": inputs.dataset.fingerprint(), "vocab": vocab.layout_sha256(),
                                               **held_out.fingerprints()},
                                parameters=params.model_dump(mode="json"), timings=stopwatch.timings, key=inputs.key)
            artifact = TrainArtifact(saved_model, card, result.history, examples, "\n".join(summary) + "\n", manifest,
                                     assembled.model, assembled.raw_specs).write(out)
        log_artifacts(artifact.logged_files(out))
        mlflow.log_text(vocab.layout.to_json(), VocabArtifact.LAYOUT)
        if inputs.rank is not None:
            mlflow.log_text(inputs.rank.ranking.write_csv(separator="\t"), f"ranking/{inputs.rank.RANKING_TSV}")
    return artifact
