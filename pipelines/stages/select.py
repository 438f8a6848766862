"""The select stage (`featureplex train --select optfs`): OptFS search and retrain, a pruned vocab
artifact, and the final model trained on it.

Three MLflow runs nest under one parent (`optfs-<model>`): `optfs-search` (search epochs, then the
rewound retrain with hard gates, metrics prefixed `search_` / `retrain_`), and the ordinary train
run (pipelines.stages.train) on the pruned layout: the final, exported model.

`out` holds:
- `optfs/`: search and retrain checkpoints (resume after a kill), the rewind snapshot;
- `selection/`: the selection artifact (pipelines.artifacts.selection);
- `pruned_vocab/`: the pruned vocab artifact (features.embedding.vocab_artifact, no counts);
- `final/`: the train artifact of the model on the pruned layout.

Stage contract: `run(inputs, params, out) -> SelectionOutcome` with `inputs.vocab` (read with its counts).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from featureplex.features.data.artifact_dir import Manifest, artifact_lock
from featureplex.features.data.config import OptFsParams, TrainParams
from featureplex.features.embedding.pruning import dropped_fields, keep_ratios, prune_layout
from featureplex.features.embedding.vocab_artifact import VocabArtifact
from featureplex.features.errors import InputError
from featureplex.pipelines import training
from featureplex.pipelines.artifacts.selection import STAGE, SelectionArtifact
from featureplex.pipelines.artifacts.train import TrainArtifact
from featureplex.pipelines.held_out import open_held_out
from featureplex.pipelines.inputs import StageInputs
from featureplex.pipelines.reports.selection_table import selection_table

OPTFS_DIR = "optfs"
SELECTION = "selection"
PRUNED_VOCAB = "pruned_vocab"
FINAL = "final"


@dataclass(frozen=True)
class SelectionOutcome:
    """The selection, the pruned vocab artifact and the final model's train artifact (None with final=False)."""

    selection: SelectionArtifact
    pruned_vocab: VocabArtifact
    pruned_vocab_dir: Path
    final: TrainArtifact | None

    @property
    def keep_ratios(self):
        return self.selection.keep_ratios

    @property
    def dropped(self) -> list[str]:
        return self.selection.dropped

    @property
    def retrain_metrics(self) -> dict:
        return self.selection.summary["retrain"]

    @property
    def parameters_before(self) -> int:
        return self.selection.summary["parameters_before"]

    @property
    def parameters_after(self) -> int:
        return self.selection.summary["parameters_after"]


def run(
    inputs: StageInputs,
    params: TrainParams,
    optfs: OptFsParams,
    out: str | os.PathLike,
    resume: bool = False,
    final: bool = True,
    on_epoch_end: Callable[[str, int, dict], None] | None = None,
) -> SelectionOutcome:
    """Search the gates on `inputs.vocab`'s layout, prune it, and train the final model on the pruned layout."""
    out = Path(out)
    with artifact_lock(out):  # the search's checkpoints: one writer at a time
        return _select(inputs, params, optfs, out, resume, final, on_epoch_end)


def _select(inputs: StageInputs, params: TrainParams, optfs: OptFsParams, out: Path, resume: bool, final: bool,
            on_epoch_end: Callable[[str, int, dict], None] | None) -> SelectionOutcome:
    vocab = inputs.vocab
    if vocab is None or vocab.counts is None:
        raise InputError("optfs: the vocab artifact with its counts is needed (give --vocab DIR)")
    training.check_layout_matches(vocab.layout, inputs.schema, "the vocab artifact")
    training.check_both_classes(inputs)
    held_out = open_held_out(inputs, params)
    work = out / OPTFS_DIR
    if not resume and work.exists():
        raise InputError(f"{work}: exists from an earlier run; pass --resume to continue it, or another --out")
    import mlflow

    from featureplex.models.optfs.gate import OptFsCtrModel, OptFsGate
    from featureplex.models.optfs.search import OptFsOptions, optfs_search
    from featureplex.pipelines.tracking import flatten, log_artifacts, tracked_run

    counts = vocab.head_counts()
    gate = OptFsGate(vocab.layout, penalty=optfs.penalty)
    assembled = training.assemble(inputs, params, gate, held_out)
    base = assembled.model
    model = OptFsCtrModel(base.encoder, base.tower, gate, gate_learning_rate=optfs.gate_learning_rate)
    train_stream, validation = training.streams(inputs, assembled)

    def log_epoch(phase: str, epoch: int, metrics: dict) -> None:
        mlflow.log_metrics({f"{phase}_{k}": v for k, v in metrics.items() if math.isfinite(v)}, step=epoch)
        if on_epoch_end is not None:
            on_epoch_end(phase, epoch, metrics)

    tags = {"featureplex.stage": "train", "featureplex.select": "optfs", "featureplex.model": params.model,
            "featureplex.layout_sha256": vocab.layout_sha256()}
    with tracked_run(f"optfs-{params.model}", tags=tags):
        with tracked_run("optfs-search", tags={**tags, "featureplex.stage": "optfs-search"}):
            mlflow.log_params(flatten({"train": params.model_dump(mode="json"), "optfs": optfs.model_dump(mode="json"),
                                       "gates": gate.size}))
            result = optfs_search(
                model, gate, train_stream, validation, work, training.training_options(params),
                OptFsOptions(optfs.search_epochs, optfs.final_tau, optfs.rewind_epoch, search_steps=optfs.search_steps),
                resume=resume, on_epoch_end=log_epoch)
            ratios = keep_ratios(vocab.layout, counts, result.masks)
            dropped = dropped_fields(result.masks)
            pruned, pruned_tokens = prune_layout(vocab.layout, vocab.vocabularies, result.masks, counts)
            pruned_vocab = VocabArtifact(pruned, pruned_tokens, None, Manifest(
                "optfs-prune", inputs={"vocab": vocab.layout_sha256()},
                parameters={"optfs": optfs.model_dump(mode="json"), "dropped_fields": dropped}))
            pruned_vocab.write(out / PRUNED_VOCAB)
            search_best = {k: v for k, v in result.search.best_metrics.items() if k.startswith("val_")}
            retrain_best = {k: v for k, v in (result.retrain.best_metrics if result.retrain else {}).items()
                            if k.startswith("val_")}
            summary = {"search": search_best, "retrain": retrain_best, "parameters_before": vocab.layout.parameters,
                       "parameters_after": pruned.parameters, "dropped_fields": dropped,
                       "gates_kept": int((result.logits[1:] > 0).sum()), "gates": int(len(result.logits) - 1)}
            table = None
            if inputs.rank is not None:
                table = selection_table(inputs.rank.ranking, inputs.rank.recommended, ratios, dropped, vocab.layout.sequences)
            selection = SelectionArtifact(result.logits, ratios, dropped, summary, table,
                                          Manifest(STAGE, inputs={"vocab": vocab.layout_sha256()},
                                                   parameters={"optfs": optfs.model_dump(mode="json")}))
            selection.write(out / SELECTION)
            mlflow.log_metrics({"gates_kept": summary["gates_kept"], "parameters_before": vocab.layout.parameters,
                                "parameters_after": pruned.parameters, "fields_dropped": len(dropped),
                                **{f"retrain_best_{k}": float(v) for k, v in retrain_best.items()},
                                **{f"keep_ratio.{n}": r.value_ratio for n, r in ratios.items()},
                                **{f"row_keep_ratio.{n}": r.row_ratio for n, r in ratios.items()}})
            log_artifacts([out / SELECTION], "optfs")
            mlflow.log_text(pruned.to_json(), f"optfs/{VocabArtifact.LAYOUT}")
        trained = None
        if final:
            phase = (lambda e, m: on_epoch_end("final", e, m)) if on_epoch_end else None
            trained = training.train_and_export(inputs.with_artifacts(vocab=pruned_vocab), params, out / FINAL, resume=resume,
                                      on_epoch_end=phase)
    return SelectionOutcome(selection, pruned_vocab, out / PRUNED_VOCAB, trained)


def select_optfs(inputs: StageInputs, vocab_dir: str | os.PathLike, out: str | os.PathLike, params: TrainParams,
                 optfs: OptFsParams, resume: bool = False, final: bool = True, on_epoch_end=None) -> SelectionOutcome:
    """`run` with the vocab artifact (and its counts) read from `vocab_dir`."""
    vocab = VocabArtifact.read(vocab_dir, with_counts=True)
    return run(inputs.with_artifacts(vocab=vocab), params, optfs, out, resume, final, on_epoch_end)
