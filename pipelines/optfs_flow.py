"""`featureplex train --select optfs`: OptFS search and retrain, a pruned layout, the final model trained on it.

Three MLflow runs nest under one parent (`optfs-<model>`): `optfs-search` (search epochs, then the
rewound retrain with hard gates, metrics prefixed `search_` / `retrain_`), and the ordinary train
run of `train_ctr_model` on the pruned vocab artifact (the final, exported model).

`out` holds:
- `optfs/`: search and retrain checkpoints (resume after a kill), the rewind snapshot;
- `selection/`: `gate_logits.npy`, `keep_ratios.json` and `.tsv`, `dropped_fields.json`,
  `gate_histogram.png`, `keep_ratios.png`, `optfs_metrics.json`;
- `pruned_vocab/`: the pruned vocab artifact (layout.json, vocab/, counts.parquet, manifest);
- `final/`: what `featureplex train` writes, for the model on the pruned layout.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from features.artifacts import write_json
from features.config import OptFsParams, TrainParams
from features.errors import InputError
from features.layout import LAYOUT_FILE, read_vocab_artifact
from features.pruning import (
    KeepRatio, dropped_fields, head_counts_from_artifact, keep_ratios, prune_layout, write_pruned_vocab_artifact,
)
from pipelines.command_inputs import CommandInputs

OPTFS_DIR = "optfs"
SELECTION = "selection"
PRUNED_VOCAB = "pruned_vocab"
FINAL = "final"


@dataclass
class OptFsOutcome:
    keep_ratios: dict[str, KeepRatio]
    dropped: list[str]
    search_metrics: dict
    retrain_metrics: dict
    parameters_before: int
    parameters_after: int
    pruned_vocab: Path
    final: object  # TrainOutcome of the model on the pruned layout (None with final=False)


def plot_selection(logits: np.ndarray, ratios: dict[str, KeepRatio], histogram: Path, bars: Path) -> None:
    """A histogram of the gate logits (the mask keeps m > 0) and a per-feature keep-ratio bar chart."""
    from matplotlib.figure import Figure  # not pyplot: a library must not change the caller's backend

    figure = Figure(figsize=(6, 3.5))
    axis = figure.subplots()
    axis.hist(logits[1:], bins=60, color="tab:blue")
    axis.axvline(0.0, color="tab:red", linestyle="--", label="m = 0 (kept to the right)")
    axis.set(title=f"OptFS gate logits ({int((logits[1:] > 0).sum())} of {len(logits) - 1} kept)", xlabel="m",
             ylabel="gates", yscale="log")
    axis.legend()
    figure.tight_layout()
    figure.savefig(histogram, dpi=110)

    names = sorted(ratios)
    figure = Figure(figsize=(max(6, 0.45 * len(names)), 4))
    axis = figure.subplots()
    positions = np.arange(len(names))
    axis.bar(positions - 0.2, [ratios[n].value_ratio for n in names], 0.4, label="values kept")
    axis.bar(positions + 0.2, [ratios[n].row_ratio for n in names], 0.4, label="rows kept")
    axis.set_xticks(positions, names, rotation=60, ha="right")
    axis.set(ylim=(0, 1.05), title="OptFS keep ratio per feature")
    axis.legend()
    figure.tight_layout()
    figure.savefig(bars, dpi=110)


def _write_tsv(path: Path, ratios: dict[str, KeepRatio]) -> None:
    columns = list(asdict(next(iter(ratios.values()))))
    lines = ["\t".join(columns)] + ["\t".join(str(asdict(r)[c]) for c in columns) for r in ratios.values()]
    path.write_text("\n".join(lines) + "\n")


def select_optfs(
    inputs: CommandInputs,
    vocab_dir: str,
    out: str | os.PathLike,
    params: TrainParams,
    optfs: OptFsParams,
    resume: bool = False,
    final: bool = True,
    on_epoch_end=None,
) -> OptFsOutcome:
    """Search the gates on the layout of `vocab_dir`, prune it, and train the final model on the pruned layout."""
    import models  # noqa: F401
    from models.field_encoder import FieldEncoder
    from models.input import InputOptions, split_streams
    from models.numeric_fields import NumericFields
    from models.optfs_gate import GatedEmbedding, OptFsCtrModel, OptFsGate
    from models.optfs_search import OptFsOptions, optfs_search
    from models.preprocessing import FeaturePreprocessing
    from models.registry import build_ctr_model, check_model_name
    from models.training import TrainingOptions, seed_everything
    from pipelines.tracking import flatten, log_artifacts, tracked_run
    from pipelines.train_flow import _embedding, _numeric_moments, _split, check_both_classes, check_layout_matches, train_ctr_model
    import mlflow

    out = Path(out)
    layout, vocabularies = read_vocab_artifact(vocab_dir)
    check_layout_matches(layout, inputs.schema, vocab_dir)
    check_both_classes(inputs)
    check_model_name(params.model)
    counts = head_counts_from_artifact(vocab_dir, vocabularies)
    work = out / OPTFS_DIR
    if not resume and work.exists():
        raise InputError(f"{work}: exists from an earlier run; pass --resume to continue it, or another --out")

    split = _split(params)
    options = InputOptions(batch_size=params.batch_size, shuffle_rows=params.shuffle_rows, seed=params.seed)
    numeric_names, means, stds = _numeric_moments(inputs, split, options)
    seed_everything(params.seed)
    numeric = NumericFields(numeric_names, means, stds, layout.dimension) if numeric_names else None
    gate = OptFsGate(layout, penalty=optfs.penalty)
    fields = FieldEncoder(FeaturePreprocessing(layout, vocabularies),
                          GatedEmbedding(_embedding(layout, params), gate), numeric)
    timestamps = {spec.name: spec.timestamps for spec in inputs.schema.features if spec.timestamps}
    base = build_ctr_model(params.model, fields, params.model_parameters, timestamps)
    model = OptFsCtrModel(base.encoder, base.tower, gate, gate_learning_rate=optfs.gate_learning_rate)
    train_stream, validation = split_streams(inputs.dataset, inputs.schema, split, options)

    def log_epoch(phase: str, epoch: int, metrics: dict) -> None:
        mlflow.log_metrics({f"{phase}_{k}": v for k, v in metrics.items() if math.isfinite(v)}, step=epoch)
        if on_epoch_end is not None:
            on_epoch_end(phase, epoch, metrics)

    tags = {"featureplex.stage": "train", "featureplex.select": "optfs", "featureplex.model": params.model,
            "featureplex.vocab_dir": str(Path(vocab_dir).resolve())}
    with tracked_run(f"optfs-{params.model}", tags=tags):
        with tracked_run("optfs-search", tags={**tags, "featureplex.stage": "optfs-search"}):
            mlflow.log_params(flatten({"train": params.model_dump(mode="json"), "optfs": optfs.model_dump(mode="json"),
                                       "gates": gate.size}))
            result = optfs_search(
                model, gate, train_stream, validation, work,
                TrainingOptions(params.epochs, params.learning_rate, params.learning_rate_decay, params.patience,
                                params.seed),
                OptFsOptions(optfs.search_epochs, optfs.final_tau, optfs.rewind_epoch),
                resume=resume, on_epoch_end=log_epoch)
            ratios = keep_ratios(layout, counts, result.masks)
            dropped = dropped_fields(result.masks)
            pruned, pruned_tokens = prune_layout(layout, vocabularies, result.masks, counts)
            selection = out / SELECTION
            selection.mkdir(parents=True, exist_ok=True)
            np.save(selection / "gate_logits.npy", result.logits)
            write_json(selection / "keep_ratios.json", {name: asdict(r) for name, r in ratios.items()})
            _write_tsv(selection / "keep_ratios.tsv", ratios)
            write_json(selection / "dropped_fields.json", dropped)
            plot_selection(result.logits, ratios, selection / "gate_histogram.png", selection / "keep_ratios.png")
            import pyarrow.parquet as pq

            counts_table = pq.read_table(Path(vocab_dir) / "counts.parquet")
            write_pruned_vocab_artifact(out / PRUNED_VOCAB, pruned, pruned_tokens, counts_table,
                                        inputs={"vocab": str(Path(vocab_dir).resolve())},
                                        parameters={"optfs": optfs.model_dump(mode="json"), "dropped_fields": dropped})
            search_best = {k: v for k, v in result.search.best_metrics.items() if k.startswith("val_")}
            retrain_best = {k: v for k, v in (result.retrain.best_metrics if result.retrain else {}).items()
                            if k.startswith("val_")}
            summary = {"search": search_best, "retrain": retrain_best, "parameters_before": layout.parameters,
                       "parameters_after": pruned.parameters, "dropped_fields": dropped,
                       "gates_kept": int((result.logits[1:] > 0).sum()), "gates": int(len(result.logits) - 1)}
            write_json(selection / "optfs_metrics.json", summary)
            mlflow.log_metrics({"gates_kept": summary["gates_kept"], "parameters_before": layout.parameters,
                                "parameters_after": pruned.parameters, "fields_dropped": len(dropped),
                                **{f"retrain_best_{k}": float(v) for k, v in retrain_best.items()},
                                **{f"keep_ratio.{n}": r.value_ratio for n, r in ratios.items()},
                                **{f"row_keep_ratio.{n}": r.row_ratio for n, r in ratios.items()}})
            log_artifacts([selection, out / PRUNED_VOCAB / LAYOUT_FILE], "optfs")
        outcome = None
        if final:
            outcome = train_ctr_model(inputs, str(out / PRUNED_VOCAB), out / FINAL, params, resume=resume,
                                      on_epoch_end=(lambda e, m: on_epoch_end("final", e, m)) if on_epoch_end else None)
    return OptFsOutcome(ratios, dropped, search_best, retrain_best, layout.parameters, pruned.parameters,
                        out / PRUNED_VOCAB, outcome)
