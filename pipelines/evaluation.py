"""`featureplex evaluate`: a trained model scored on labelled Parquet data: AUC, logloss, gAUC per user,
calibration and the reliability bins (models.metrics, the same code as train's test metrics).

MODEL is a train artifact directory, a SavedModel directory or an MLflow model URI (models:/name/version,
models:/name@alias). The label and user columns come from the options, else from the model card (a train
artifact's model_card.json, or the one its MLflow run logged), else the label is `label` or `click` and
gAUC is left out. Data is read in record batches of the columns the model takes and fed to the SavedModel
column by column (serving.arrow_request); only the labels, logits and users of all rows are held.

Example::

    evaluation = evaluate_model("artifacts/train", "data/test.parquet")
    evaluation.metrics["auc"], evaluation.write("artifacts/eval")
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa

from featureplex.features.data.artifact_dir import Manifest
from featureplex.features.data.dataset import ParquetDataset, iter_record_batches, open_dataset
from featureplex.features.data.schema import LABEL_NAMES, check_label_values
from featureplex.features.errors import InputError
from featureplex.pipelines.artifacts.evaluation import STAGE, EvaluationArtifact
from featureplex.pipelines.artifacts.train import TrainArtifact

RELIABILITY_BINS = 10
BATCH_ROWS = 65_536


@dataclass(frozen=True)
class ModelSource:
    """Where a model's SavedModel is (a local path or an MLflow URI) and its model card ({} without one)."""

    saved_model: str
    card: dict


def model_card_of_version(uri: str) -> dict:
    """The model card the training run of a registered version logged ({} when it logged none)."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException
    from mlflow.store.artifact.utils.models import get_model_name_and_version

    client = MlflowClient()
    try:
        name, version = get_model_name_and_version(client, uri)
        run_id = client.get_model_version(name, version).run_id
    except MlflowException as error:
        raise InputError(f"{uri}: {error.message.splitlines()[0]}") from None
    try:
        card = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=TrainArtifact.CARD) if run_id else None
    except (MlflowException, OSError):  # a model registered from elsewhere: no card, the options decide
        card = None
    return json.loads(Path(card).read_text()) if card else {}


def open_model(model: str) -> ModelSource:
    """A train artifact directory (its SavedModel and model card), a SavedModel directory, or an MLflow URI."""
    root = Path(model)
    if (root / TrainArtifact.SAVED_MODEL / "saved_model.pb").is_file():
        card = root / TrainArtifact.CARD
        return ModelSource(str(root / TrainArtifact.SAVED_MODEL), json.loads(card.read_text()) if card.is_file() else {})
    if model.startswith(("models:/", "runs:/", "mlflow-artifacts:/")):
        from featureplex.pipelines.tracking import configure_tracking

        configure_tracking()  # the URI resolves against the tracking URI in force
        return ModelSource(model, model_card_of_version(model) if model.startswith("models:/") else {})
    return ModelSource(model, {})


def evaluate_model(model: str, data: str, label: str | None = None, user: str | None = None,
                   bins: int = RELIABILITY_BINS, on_note: Callable[[str], None] = lambda note: None,
                   batch_rows: int = BATCH_ROWS) -> EvaluationArtifact:
    """Score every row of `data` with `model`; the metrics and reliability bins as an artifact to write.

    `on_note` hears what is worth a line to the user: the columns the model does not use, a user column
    of the model card that the data lacks (no gAUC then).
    """
    dataset = open_dataset(data)
    source = open_model(model)
    names = dataset.schema.names
    label = label or source.card.get("label") or next((name for name in LABEL_NAMES if name in names), None)
    if label is None or label not in names:
        raise InputError(f"{data}: no label column '{label or ' or '.join(LABEL_NAMES)}' (name it with --label)")
    label_type = dataset.schema.field(label).type
    if not (pa.types.is_integer(label_type) or pa.types.is_boolean(label_type) or pa.types.is_floating(label_type)):
        raise InputError(f"{data}: label '{label}': expected 0/1 values, got column type {label_type}")
    if user is not None and user not in names:
        raise InputError(f"{data}: column '{user}' (--user) is not in the data")
    if user is None and source.card.get("user"):
        user = source.card["user"] if source.card["user"] in names else None
        if user is None:
            on_note(f"no gAUC: the model card's user column '{source.card['user']}' is not in {data}")
    try:
        rows, positives = check_label_values(dataset, label)
    except InputError as error:
        raise InputError(f"{data}: {error}") from None
    if positives in (0, rows):
        raise InputError(f"{data}: label '{label}': a single class ({positives} positives in {rows} rows); "
                         "AUC needs both clicks and non-clicks")

    from featureplex.models.metrics import ctr_metrics, reliability_bins, sigmoid
    from featureplex.serving.arrow_request import check_arrow_types
    from featureplex.serving.mlflow_model import local_saved_model
    from featureplex.serving.predictor import SavedModelPredictor

    predictor = SavedModelPredictor(local_saved_model(source.saved_model))
    check_arrow_types(predictor, dataset.schema, data)
    unused = sorted(set(names) - set(predictor.inputs) - {label, user})
    if unused:
        on_note(f"ignored the columns the model does not use: {', '.join(unused)}")
    labels, logits, users = score(predictor, dataset, data, label, user, batch_rows)
    metrics = ctr_metrics(labels, logits, users)
    manifest = Manifest(STAGE, inputs={"data": dataset.fingerprint(), "model": model},
                        parameters={"label": label, "user": user, "bins": bins})
    return EvaluationArtifact(metrics, reliability_bins(labels, sigmoid(logits), bins), manifest)


def score(predictor, dataset: ParquetDataset, data: str, label: str, user: str | None,
          batch_rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(labels, logits, users or None) of every row of `dataset`, in file order."""
    from featureplex.serving.arrow_request import arrow_request
    from featureplex.serving.predictor import RequestError

    columns = list(dict.fromkeys([*predictor.inputs, label, *([user] if user else [])]))
    labels, logits, users, start = [], [], [], 0
    for batch in iter_record_batches(dataset, columns=columns, batch_rows=batch_rows):
        try:
            logits.append(predictor.run(arrow_request(predictor, batch))["logit"].astype(np.float64))
        except RequestError as error:
            raise InputError(f"{data}: rows {start + 1}-{start + batch.num_rows}: {error}") from None
        labels.append(batch.column(label).cast(pa.float64()).to_numpy(zero_copy_only=False))
        if user:
            users.append(batch.column(user).to_numpy(zero_copy_only=False))
        start += batch.num_rows
    return np.concatenate(labels), np.concatenate(logits), (np.concatenate(users) if user else None)
