"""OptFS search then retrain, on top of `models.training.train` (checkpoints, resume, early stopping).

1. search: `search_epochs` epochs (no early stopping) with soft gates, the penalty, and tau on the
   continuation schedule; the non-gate weights saved at the start of epoch `rewind_epoch`. On small data
   the search runs more epochs, enough for `search_steps` gate updates: Adam moves a logit about
   gate_learning_rate per step, so a gate the data does not hold up needs m0 / gate_learning_rate (500 at
   the defaults) updates of the penalty alone to close; 20 epochs of 8 batches (Criteo 10k) left every gate
   open, and OptFS returned the unpruned model. 1,000 updates at the default penalty went the other way on
   the real data sets (80-95% of the embedding pruned, 0.005-0.13 test AUC lost), so it is 0 (off) unless
   set, with a lower penalty;
2. the mask m > 0 of the last search epoch is frozen (hard gates 1[m > 0], logits no longer
   trained), the other weights rewound to the snapshot;
3. retrain with hard gates and early stopping on validation AUC.

`directory` holds `search/` and `retrain/` (each train's checkpoints), `rewind.npz` and
`search_done.json`; with `resume`, a killed run continues where it stopped (the schedule is a
function of the checkpointed epoch counter).

Example::

    gate = OptFsGate(layout, penalty=1e-4)
    encoder = FieldEncoder(preprocessing, GatedEmbedding(MultiplexedEmbedding.from_layout(layout), gate))
    base = build_ctr_model("dnn", encoder)
    result = optfs_search(OptFsCtrModel(base.encoder, base.tower, gate), gate, stream, validation, "out/optfs",
                          TrainingOptions(epochs=10), OptFsOptions(search_epochs=5))
    result.masks  # {feature: FeatureMask}
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import tensorflow as tf

from featureplex.features.embedding.pruning import FeatureMask
from featureplex.models.input import EpochStream
from featureplex.models.optfs.gate import OptFsContinuation, OptFsGate, rewind
from featureplex.models.training import LATEST, TrainingOptions, TrainingResult, train

SEARCH = "search"
RETRAIN = "retrain"
SNAPSHOT = "rewind.npz"
SEARCH_DONE = "search_done.json"


@dataclass(frozen=True)
class OptFsOptions:
    search_epochs: int = 20
    final_tau: float = 200.0
    rewind_epoch: int = 0
    retrain: bool = True
    search_steps: int = 0  # at least this many gate updates: more epochs than search_epochs on small data


@dataclass
class OptFsResult:
    search: TrainingResult
    retrain: TrainingResult | None
    logits: np.ndarray  # the gate logits at the end of the search
    masks: dict[str, FeatureMask]


def search_epochs(optfs: OptFsOptions, steps_per_epoch: int) -> int:
    """The search's epochs: `search_epochs`, or more when that many epochs are fewer than `search_steps` steps."""
    return max(optfs.search_epochs, -(-optfs.search_steps // max(steps_per_epoch, 1)))


def optfs_search(
    model: tf.keras.Model,
    gate: OptFsGate,
    train_data: EpochStream,
    validation_data: EpochStream,
    directory: str | os.PathLike,
    options: TrainingOptions,
    optfs: OptFsOptions = OptFsOptions(),
    resume: bool = False,
    on_epoch_end: Callable[[str, int, dict], None] | None = None,
) -> OptFsResult:
    """Search the gates, freeze the mask, rewind and retrain (see the module docstring)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    features, _ = validation_data.example()
    model(features)  # build every weight before the rewind snapshot can be taken
    done = directory / SEARCH_DONE
    search_result = None
    if not (resume and done.exists()):
        epochs = search_epochs(optfs, train_data.steps(0))
        continuation = OptFsContinuation(gate, epochs, optfs.final_tau, optfs.rewind_epoch, directory / SNAPSHOT)
        # every search epoch runs, evaluated once each, at the per-epoch schedule that the temperature's follows
        search_options = replace(options, epochs=epochs, patience=epochs + 1,
                                 eval_steps=None, plateau_factor=1.0, early_stopping=True)
        search_result = train(model, train_data, validation_data, directory / SEARCH, search_options, resume=resume,
                              on_epoch_end=(lambda e, m: on_epoch_end(SEARCH, e, m)) if on_epoch_end else None,
                              callbacks=[continuation])
    # the mask is the last search epoch's, not the best validation epoch's that `train` restored
    tf.train.Checkpoint(model=model).restore(tf.train.latest_checkpoint(directory / SEARCH / LATEST)).expect_partial()
    logits = gate.logits.numpy().copy()
    if search_result is None:
        search_result = TrainingResult(**json.loads(done.read_text()))
    else:
        temporary = directory / f".{SEARCH_DONE}.tmp"
        temporary.write_text(json.dumps({"history": search_result.history, "best_epoch": search_result.best_epoch,
                                         "best_metrics": search_result.best_metrics}))
        os.replace(temporary, done)
    masks = gate.feature_masks()
    retrain_result = None
    if optfs.retrain:
        rewind(model, gate, directory / SNAPSHOT)
        gate.freeze()
        retrain_result = train(model, train_data, validation_data, directory / RETRAIN, options, resume=resume,
                               on_epoch_end=(lambda e, m: on_epoch_end(RETRAIN, e, m)) if on_epoch_end else None)
    return OptFsResult(search_result, retrain_result, logits, masks)
