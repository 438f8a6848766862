"""Validation AUC / logloss of lr, dnn, dcn, autoint, autoint+, din and hstu on `featureplex synth` data.

For each seed: synthetic data (`--rows`, that seed), one vocab artifact, then every model trained by
`train_ctr_model` (the code `featureplex train` runs) with the same layout, embedding dimension,
epochs, batch size, learning rate and seed, each with its tower's default parameters (the docstrings
of models/*.py give them). The synthetic label has a known logit, so the script also prints the
oracle AUC on the same validation rows: the ceiling no model can pass.

It also prints each model's learned XOR effect: xor_a and xor_b are independent of every other term
of the logit, so half the difference between the model's mean logit on the unequal cells and on the
equal cells, (z01 + z10 - z00 - z11) / 2, is how much of the XOR term the model has learned. The
truth is 2 x 0.9 = 1.8; a model that cannot cross two fields (lr) shows ~0, and a model that has
learned the XOR shows the same value as any other that has (below 1.8: a model that sees only part
of the other terms predicts a flatter logit, for every feature alike).

Every model trains with `train.embedding_l2` = `--embedding-l2` (default 1e-3: without it every model
memorises the high-cardinality fields within one pass and is best after its first epoch; 0 gives
the unregularised comparison).

    .venv/bin/python benchmarks/model_comparison.py --rows 200000 --seeds 0 1

Everything is written under a temporary directory (or `--work`), MLflow included.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

MODELS = ("lr", "dnn", "dcn", "autoint", "autoint+", "din", "hstu")
CONFIG = """\
user: user_id
features:
  leak_label: {{role: ignore}}
  noise_row_id: {{role: ignore}}
vocab: {{dimension: {dimension}}}
"""


def effect_of(values: np.ndarray, effects: dict[str, float]) -> np.ndarray:
    """Each value's effect from ground_truth.json (keyed by the value's text), 0 for values without one."""
    keys = np.array(list(effects))
    table = np.array(list(effects.values()))
    order = np.argsort(keys)
    text = values.astype(str)
    where = np.minimum(np.searchsorted(keys[order], text), len(keys) - 1)
    return np.where(keys[order][where] == text, table[order][where], 0.0)


def validation_tables(inputs, seed: int) -> list:
    """The validation rows the models are scored on (the config's validation fraction), as Arrow tables."""
    from featureplex.models.input import InputOptions, Split, iter_split_tables

    split = Split(inputs.config.train.validation_fraction, seed)
    return list(iter_split_tables(inputs.dataset, inputs.schema, split, "validation", InputOptions(), epoch=None))


def oracle_auc(data: Path, tables: list) -> float:
    """AUC of the true logit (ground_truth.json) on the validation rows."""
    import pyarrow.compute as pc

    from featureplex.models.metrics import grouped_auc
    from featureplex.pipelines.datasets.synth import category_affinity

    truth = json.loads((data / "ground_truth.json").read_text())["logit"]
    coefficients = truth["coefficients"]
    labels, logits = [], []
    for table in tables:
        def column(name: str) -> np.ndarray:
            return table.column(name).to_numpy()

        history = table.column("history_item_categories").combine_chunks()
        affinity = category_affinity(column("item_category"), pc.list_flatten(history).to_numpy(),
                                     pc.list_parent_indices(history).to_numpy())
        logit = (truth["intercept"] + sum(effect_of(column(name), effects) for name, effects in truth["effects"].items())
                 + coefficients["inf_num"] * column("inf_num")
                 + coefficients["xor"] * np.where(column("xor_a") != column("xor_b"), 1.0, -1.0)
                 + coefficients["sequence_affinity"] * affinity)
        labels.append(column("label"))
        logits.append(logit)
    labels, logits = np.concatenate(labels), np.concatenate(logits)
    return grouped_auc(np.zeros(len(labels)), labels, logits)


def xor_effect(model, raw_specs: dict, label: str, tables: list, batch_size: int) -> float:
    """The XOR effect the model learned (module docstring): (z01 + z10 - z00 - z11) / 2 of mean logits."""
    from featureplex.models.input import to_feature_dict

    logits, first, second = [], [], []
    for table in tables:
        for start in range(0, table.num_rows, batch_size):
            piece = table.slice(start, batch_size)
            features, _ = to_feature_dict(piece, raw_specs, label)
            logits.append(model(features, training=False).numpy()[:, 0])
            first.append(piece.column("xor_a").to_numpy())
            second.append(piece.column("xor_b").to_numpy())
    logits, first, second = np.concatenate(logits), np.concatenate(first), np.concatenate(second)
    mean = {(a, b): logits[(first == a) & (second == b)].mean() for a in (0, 1) for b in (0, 1)}
    return float((mean[0, 1] + mean[1, 0] - mean[0, 0] - mean[1, 1]) / 2)


def run_seed(work: Path, seed: int, args) -> dict[str, dict]:
    from featureplex.pipelines.datasets.synth import generate_synthetic
    from featureplex.pipelines.inputs import resolve_inputs
    from featureplex.pipelines.stages.train import train_ctr_model
    from featureplex.pipelines.stages.vocab import build_vocabulary

    root = work / f"seed-{seed}"
    data, vocab, config = root / "data", root / "vocab", root / "config.yaml"
    root.mkdir(parents=True, exist_ok=True)
    config.write_text(CONFIG.format(dimension=args.dimension))
    if not (data / "ground_truth.json").exists():
        generate_synthetic(data, rows=args.rows, seed=seed)
    if not (vocab / "layout.json").exists():
        build_vocabulary(data, config, vocab)

    tables = validation_tables(resolve_inputs(str(data), str(config), None), seed)
    results = {}
    for name in args.models:
        inputs = resolve_inputs(str(data), str(config), None)
        params = inputs.config.train.model_copy(update={
            "model": name, "epochs": args.epochs, "batch_size": args.batch_size,
            "learning_rate": args.learning_rate, "embedding_l2": args.embedding_l2, "seed": seed,
        })
        # named by what changes between invocations sharing a --work (the data and vocab are reused)
        out = root / "models" / f"{name.replace('+', '_plus')}-epochs{args.epochs}-l2{args.embedding_l2:g}"
        started = time.perf_counter()
        outcome = train_ctr_model(inputs, str(vocab), out, params)
        results[name] = {
            "val_auc": outcome.metrics["val_auc"], "val_logloss": outcome.metrics["val_logloss"],
            "best_epoch": outcome.best_epoch, "seconds": time.perf_counter() - started,
            "xor_effect": xor_effect(outcome.model, outcome.raw_specs, inputs.schema.label, tables, args.batch_size),
        }
        print(f"seed {seed} {name:9s} val_auc {results[name]['val_auc']:.4f}  val_logloss "
              f"{results[name]['val_logloss']:.4f}  xor effect {results[name]['xor_effect']:.3f}  "
              f"best epoch {outcome.best_epoch}  ({results[name]['seconds']:.0f}s)", flush=True)
    truth = json.loads((data / "ground_truth.json").read_text())["logit"]["coefficients"]["xor"]
    results["oracle"] = {"val_auc": oracle_auc(data, tables), "xor_effect": 2 * truth}
    return results


def print_table(all_results: dict[int, dict[str, dict]], models: list[str]) -> None:
    seeds = sorted(all_results)
    header = (f"{'model':10s}" + "".join(f" | seed {s} AUC  logloss  XOR" for s in seeds)
              + " | mean AUC | vs dnn  | vs lr")
    print("\n" + header + "\n" + "-" * len(header))
    mean = {m: float(np.mean([all_results[s][m]["val_auc"] for s in seeds])) for m in [*models, "oracle"]}
    for name in [*models, "oracle"]:
        cells = ""
        for s in seeds:
            r = all_results[s][name]
            logloss = f"{r['val_logloss']:.4f}" if "val_logloss" in r else "   -  "
            cells += f" | {r['val_auc']:.4f}  {logloss}  {r['xor_effect']:.2f}"
        versus_dnn = f"{mean[name] - mean['dnn']:+.4f}" if "dnn" in mean and name != "oracle" else "   -   "
        versus_lr = f"{mean[name] - mean['lr']:+.4f}" if "lr" in mean and name != "oracle" else "   -   "
        print(f"{name:10s}{cells} | {mean[name]:.4f}   | {versus_dnn} | {versus_lr}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--dimension", type=int, default=16)
    parser.add_argument("--embedding-l2", type=float, default=1e-3, help="train.embedding_l2 of every model")
    parser.add_argument("--work", type=Path, default=None, help="keep data, vocab and models here (default: a temporary directory)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results as JSON")
    args = parser.parse_args()
    json_path = args.json.resolve() if args.json else None

    with tempfile.TemporaryDirectory(prefix="model-comparison-") as scratch:
        work = (args.work or Path(scratch)).resolve()
        work.mkdir(parents=True, exist_ok=True)
        os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{work}/mlflow.db")
        os.chdir(work)  # MLflow's artifact root (./mlruns) lands here, not in the repository
        all_results = {seed: run_seed(work, seed, args) for seed in args.seeds}
        print_table(all_results, args.models)
        if json_path:
            json_path.write_text(json.dumps({str(k): v for k, v in all_results.items()}, indent=2))


if __name__ == "__main__":
    main()
