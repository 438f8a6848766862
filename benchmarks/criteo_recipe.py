"""What separates featureplex's training recipe from FuxiCTR's on real data: one difference at a time.

On the Criteo 10k sample, split 80/10/10 once (seed 0) exactly as benchmarks/train_vs_fuxictr.py splits
it, each variant below builds its vocabulary on train, trains on train with early stopping on valid
(best evaluation kept, as `featureplex train` does), and is scored on test: test AUC and logloss, mean
and standard deviation over the seeds (initialisation and batch order; the split stays).

Variants:
- `defaults`: featureplex's defaults, nothing set (the config a new user starts from).
- `fuxictr`: FuxiCTR's protocol and the settings of its DeepFM on the unseen data set of issue 22,
  batch 512 instead of 4096 so that an epoch of 8,000 rows has 16 steps, like theirs a dozen: embedding
  10 from N(0, 1e-4), every value seen once gets a row (min_count 1), MLP [400, 400, 400] with batch
  norm (momentum 0.9 = PyTorch's 0.1) and dropout 0.2, embedding L2 0.05 at FuxiCTR's scale, Adam
  (epsilon 1e-8) at 1e-3 without decay, gradient norm clipped at 10, learning rate x0.1 on every
  evaluation without a better validation AUC (floor 1e-6), patience 2, up to 40 epochs.
- `fuxictr - X`: `fuxictr` with difference X put back to featureplex's default, one at a time; so each
  row's distance from `fuxictr` measures what that one difference is worth.
- `defaults + X`: featureplex's defaults with one of FuxiCTR's choices, to see what a new default buys.

The model is what `featureplex train` builds and trains (FieldEncoder over the vocabulary's
preprocessing and the embedding `pipelines.stages.train._embedding` makes from the train params,
`build_ctr_model`, `models.training.train` with `TrainingOptions.from_params`); the SavedModel export
and MLflow logging are skipped (a minute per run that measures nothing here). Results are appended
to `--work`/results.jsonl as they come, and a rerun skips the (variant, model, seed) already there.

    nice -n 5 .venv/bin/python benchmarks/criteo_recipe.py                      # every variant, dnn and dcn, 3 seeds
    nice -n 5 .venv/bin/python benchmarks/criteo_recipe.py --variants defaults fuxictr --models deepfm
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.train_vs_fuxictr import VALID_START, prepare_criteo  # noqa: E402  (the same split)

FUXICTR = {
    "vocab": {"dimension": 10, "min_count": 1},
    "train": {"batch_size": 512, "learning_rate": 1e-3, "learning_rate_decay": 1.0, "plateau_factor": 0.1,
              "plateau_patience": 1, "min_learning_rate": 1e-6, "patience": 2, "epochs": 40, "embedding_l2": 0.05,
              "embedding_initializer": "normal", "adam_epsilon": 1e-8, "gradient_clip_norm": 10.0},
    "model": {"hidden_units": [400, 400, 400], "batch_norm": True, "batch_norm_momentum": 0.9, "dropout": 0.2},
}
# each of FuxiCTR's choices and featureplex's default for it (a part of a variant: vocab, train, model)
DIFFERENCES = {
    "bn momentum 0.99": {"model": {"batch_norm_momentum": 0.99}},
    "no batch norm": {"model": {"batch_norm": False}},
    "no dropout": {"model": {"dropout": 0.0}},
    "uniform init": {"train": {"embedding_initializer": "uniform"}},
    "no embedding l2": {"train": {"embedding_l2": 0.0}},
    "embedding l2 1e-5": {"train": {"embedding_l2": 1e-5}},
    "no plateau cuts": {"train": {"plateau_factor": 1.0}},
    "decay 0.9, no cuts": {"train": {"plateau_factor": 1.0, "learning_rate_decay": 0.9}},
    "min_count 2": {"vocab": {"min_count": 2}},
    "adam eps 1e-7": {"train": {"adam_epsilon": 1e-7}},
    "no clipping": {"train": {"gradient_clip_norm": None}},
    "dim 16": {"vocab": {"dimension": 16}},
    "mlp 256-128": {"model": {"hidden_units": [256, 128]}},
    "batch 1024": {"train": {"batch_size": 1024}},
}
ADDITIONS = {  # to featureplex's defaults
    "normal init": {"train": {"embedding_initializer": "normal"}},
    "40 epochs": {"train": {"epochs": 40}},
    "40 epochs, plateau cuts": {"train": {"epochs": 40, "plateau_factor": 0.1}},
    "normal init, 40 epochs, plateau cuts": {"train": {"embedding_initializer": "normal", "epochs": 40, "plateau_factor": 0.1}},
    "adam eps 1e-8": {"train": {"adam_epsilon": 1e-8}},
    "clipping at 10": {"train": {"gradient_clip_norm": 10.0}},
    "embedding l2 1e-5": {"train": {"embedding_l2": 1e-5}},
    "batch norm": {"model": {"batch_norm": True}},
    "dropout 0.2": {"model": {"dropout": 0.2}},
    "wide part": {"model": {"wide": True}},
}
MODELS = ("dnn", "dcn", "deepfm", "autoint+")


def merged(base: dict, change: dict) -> dict:
    return {part: {**base.get(part, {}), **change.get(part, {})} for part in ("vocab", "train", "model")}


def variants() -> dict[str, dict]:
    table = {"defaults": merged({}, {}), "fuxictr": merged(FUXICTR, {})}
    table.update({f"fuxictr - {name}": merged(FUXICTR, change) for name, change in DIFFERENCES.items()})
    table.update({f"defaults + {name}": merged({}, change) for name, change in ADDITIONS.items()})
    return table


def model_parameters(model: str, variant: dict) -> dict:
    """The variant's MLP settings under the model's own names (AutoInt+ calls its MLP `dnn_units`)."""
    parameters = dict(variant["model"])
    if model == "autoint+" and "hidden_units" in parameters:
        parameters["dnn_units"] = parameters.pop("hidden_units")
    return parameters


def vocabulary(work: Path, train_path: Path, vocab: dict) -> Path:
    """The vocab artifact of the training split for these vocab params (built once, kept in `work`)."""
    import yaml

    from featureplex.pipelines.stages.vocab import build_vocabulary

    tag = "-".join(f"{k}{v}" for k, v in sorted(vocab.items())) or "default"
    out = work / f"vocab-{tag}"
    if not (out / "layout.json").exists():
        config = work / f"vocab-{tag}.yaml"
        config.write_text(yaml.safe_dump({"label": "label", "timestamp": "split_at", "vocab": vocab}))
        build_vocabulary(str(train_path), str(config), str(out))
    return out


def run_one(paths: dict[str, Path], work: Path, model_name: str, variant: dict, seed: int) -> dict:
    """Train one (variant, model, seed) and score it on test."""
    import pyarrow.parquet as pq

    from featureplex.features.data.config import TrainParams
    from featureplex.features.embedding.layout import read_vocab_artifact
    from featureplex.models.assembly import build_ctr_model
    from featureplex.models.input import InputOptions, raw_feature_specs, split_streams, to_feature_dict
    from featureplex.models.layers.field_encoder import FieldEncoder
    from featureplex.models.layers.preprocessing import FeaturePreprocessing
    from featureplex.models.metrics import grouped_auc
    from featureplex.models.training import TrainingOptions, seed_everything, train
    from featureplex.pipelines.inputs import resolve_inputs
    from featureplex.pipelines.stages.train import _embedding, _split

    vocab_dir = vocabulary(work, paths["train"], variant["vocab"])
    config = work / "train.yaml"
    config.write_text("label: label\ntimestamp: split_at\n")
    inputs = resolve_inputs(str(paths["train_valid"].parent), str(config), None)
    params = TrainParams(**{**variant["train"], "model": model_name, "model_parameters": model_parameters(model_name, variant),
                            "split_time": VALID_START.astype(str), "seed": seed})
    layout, vocabularies = read_vocab_artifact(vocab_dir)
    options = InputOptions(batch_size=params.batch_size, shuffle_rows=params.shuffle_rows, seed=seed)
    streams = split_streams(inputs.dataset, inputs.schema, _split(params), options)
    seed_everything(seed)
    encoder = FieldEncoder(FeaturePreprocessing(layout, vocabularies), _embedding(layout, params))
    model = build_ctr_model(params.model, encoder, params.model_parameters, {})
    checkpoints = work / "checkpoints"
    shutil.rmtree(checkpoints, ignore_errors=True)
    started = time.perf_counter()
    result = train(model, *streams, checkpoints, TrainingOptions.from_params(params))
    seconds = time.perf_counter() - started

    specs = raw_feature_specs(inputs.schema, inputs.dataset.schema)
    test = pq.read_table(paths["test"])
    features, labels = to_feature_dict(test, {name: specs[name] for name in encoder.input_names}, "label")
    scores = model(features, training=False).numpy()[:, 0].astype(np.float64)
    probability = np.clip(1 / (1 + np.exp(-scores)), 1e-7, 1 - 1e-7)
    return {
        "test_auc": grouped_auc(np.zeros(len(labels)), labels, scores),
        "test_logloss": float(-np.mean(labels * np.log(probability) + (1 - labels) * np.log(1 - probability))),
        "val_auc": result.best_metrics["val_auc"], "best_epoch": result.best_epoch, "epochs": len(result.history),
        "seconds": seconds,
    }


def mean_sd(values: list[float]) -> tuple[float, float]:
    mean = sum(values) / len(values)
    return mean, (math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0)


def print_table(results: list[dict], names: list[str], models: list[str]) -> None:
    print(f"\n{'variant':42s} {'model':8s} {'seeds':>5s} {'test AUC':>16s} {'vs fuxictr':>10s} {'logloss':>7s} "
          f"{'val AUC':>7s} {'best ep':>7s} {'epochs':>6s}")
    for model in models:
        rows = {name: [r for r in results if r["variant"] == name and r["model"] == model] for name in names}
        reference = mean_sd([r["test_auc"] for r in rows.get("fuxictr", [])])[0] if rows.get("fuxictr") else float("nan")
        for name, group in rows.items():
            if not group:
                continue
            auc, sd = mean_sd([r["test_auc"] for r in group])
            print(f"{name:42s} {model:8s} {len(group):5d} {auc:9.4f} ±{sd:.4f} {auc - reference:+10.4f} "
                  f"{mean_sd([r['test_logloss'] for r in group])[0]:7.4f} {mean_sd([r['val_auc'] for r in group])[0]:7.4f} "
                  f"{mean_sd([r['best_epoch'] for r in group])[0]:7.1f} {mean_sd([r['epochs'] for r in group])[0]:6.1f}")


def main() -> None:
    table = variants()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=list(table), help=f"any of: {', '.join(table)}")
    parser.add_argument("--models", nargs="+", default=["dnn", "dcn"], choices=MODELS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--work", type=Path, default=REPO / ".bench" / "criteo_recipe")
    args = parser.parse_args()
    unknown = [name for name in args.variants if name not in table]
    if unknown:
        parser.error(f"--variants: unknown {unknown} (choose from {list(table)})")

    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    paths, _ = prepare_criteo(work, seed=0)
    log = work / "results.jsonl"
    results = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    done = {(r["variant"], r["model"], r["seed"]) for r in results}
    for name in args.variants:
        for model in args.models:
            for seed in args.seeds:
                if (name, model, seed) in done:
                    continue
                result = {"variant": name, "model": model, "seed": seed, **run_one(paths, work, model, table[name], seed)}
                results.append(result)
                with open(log, "a") as out:
                    out.write(json.dumps(result) + "\n")
                print(f"{name:42s} {model:8s} seed {seed}: test AUC {result['test_auc']:.4f}  logloss "
                      f"{result['test_logloss']:.4f}  best epoch {result['best_epoch']} of {result['epochs']}  "
                      f"({result['seconds']:.0f} s)", flush=True)
    print_table(results, args.variants, args.models)


if __name__ == "__main__":
    main()
