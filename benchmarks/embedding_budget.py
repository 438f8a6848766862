"""The three embedding layouts (hybrid, hashing, separate) at equal parameter budgets: AUC per mode.

For each dataset (synthetic clicks from `featureplex synth`, and the Criteo 10k sample converted to
Parquet when it is present) the script
1. runs the vocab pipeline once with `min_count: 1` and no budget to count each feature's distinct
   values; the *full head* is the rows a collision-free table would need: padding, plus one row per
   distinct value, plus a missing row per feature that has missing values;
2. for each seed, each budget (default 1%, 5% and 20% of the full head, times the dimension, in
   parameters) and each mode, runs the vocab pipeline with `vocab.budget_parameters` set and trains
   the same DNN (same seed, epochs, batch size, learning rate; the same batches in the same order)
   on its layout. The seed sets the validation split, the initialisation, the batch order and the
   vocab salts; Criteo runs three seeds by default, its 2,000 validation rows making one AUC noisy;
3. prints one table: dataset, budget, mode, the layout's actual parameters, val AUC and val logloss
   (mean and standard deviation over seeds).

The model is what `featureplex train --model dnn` builds (FieldEncoder over the layout's
FeaturePreprocessing and MultiplexedEmbedding, numeric fields, DnnTower) trained by the project's
training loop (`models.training.train`, seeded, deterministic ops; the metrics are those of the epoch
with the best validation AUC, as `train` reports them). It skips `train_ctr_model`'s SavedModel export
and MLflow logging, which would cost about a minute per run and measure nothing here; the input
batches come from one `models.input.EpochStream` per dataset, whose epochs depend on (seed, epoch) alone,
so every run of a dataset sees exactly the same data.

Synthetic data: `leak_label` (a copy of the label) and `noise_row_id` (a unique id per row, which the
rank stage flags as ID-like) are ignored, and so is the `history_item_ids` sequence (its masked-mean
pooling is by far the slowest part of the model on CPU and the comparison is about categorical fields).
Criteo: label, I1..I13 as float numeric fields, C1..C26 as string categorical fields (empty is missing).

    .venv/bin/python benchmarks/embedding_budget.py                    # both datasets, ~10-15 min on 2 shared cores
    .venv/bin/python benchmarks/embedding_budget.py --rows 50000 --epochs 1 --skip-criteo   # a quick look
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

MODES = ("hybrid", "hashing", "separate")
CRITEO_FILE = Path("criteo_10k") / "train_examples.txt"
CRITEO_NUMERIC = [f"I{i}" for i in range(1, 14)]
CRITEO_CATEGORICAL = [f"C{i}" for i in range(1, 27)]
SYNTH_IGNORED = ("leak_label", "noise_row_id")
SYNTH_HISTORY = ("history_item_ids", "history_timestamps")


@dataclass(frozen=True)
class Dataset:
    name: str
    path: Path
    config: dict  # the featureplex config without its vocab section
    validation_fraction: float
    batch_size: int
    epochs: int
    seeds: tuple[int, ...]


@dataclass(frozen=True)
class Result:
    dataset: str
    seed: int
    fraction: float
    budget: int
    mode: str
    parameters: int
    head_rows: int
    tail_rows: int
    val_auc: float
    val_logloss: float
    best_epoch: int
    seconds: float


def shared_data_dir() -> Path:
    """`$FEATUREPLEX_SHARED_DATA`, else `../shared/data` beside the checkout."""
    return Path(os.environ.get("FEATUREPLEX_SHARED_DATA") or REPO.parent / "shared" / "data")


def criteo_to_parquet(source: Path, out: Path) -> Path:
    """The Criteo TSV (no header: label, I1..I13, C1..C26) as one Parquet file; empty fields are null."""
    import polars as pl

    names = ["label", *CRITEO_NUMERIC, *CRITEO_CATEGORICAL]
    schema = {"label": pl.Int64, **{name: pl.Float64 for name in CRITEO_NUMERIC},
              **{name: pl.String for name in CRITEO_CATEGORICAL}}
    frame = pl.read_csv(source, separator="\t", has_header=False, new_columns=names, schema=schema,
                        quote_char=None)
    frame = frame.with_columns(pl.col(CRITEO_CATEGORICAL).replace("", None), pl.col("label").cast(pl.Int8))
    out.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(out / "part-00000.parquet", row_group_size=frame.height)
    return out


def write_config(path: Path, config: dict) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(config, sort_keys=True))
    return path


def full_head_rows(dataset: Dataset, scratch: Path, dimension: int) -> tuple[int, dict[str, int]]:
    """Rows of a collision-free table for every value seen: padding + distinct values + missing rows."""
    from featureplex.pipelines.stages.vocab import build_vocabulary

    config = {**dataset.config, "vocab": {"mode": "hybrid", "dimension": dimension, "min_count": 1}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        layout = build_vocabulary(dataset.path, write_config(scratch / "count.yaml", config), scratch / "count-vocab")
    distinct = {name: spec.distinct + (1 if spec.missing else 0) for name, spec in layout.features.items()}
    return 1 + sum(distinct.values()), distinct


class Trainer:
    """Trains the DNN on one dataset under any layout, every run on the same epochs' batches."""

    def __init__(self, dataset: Dataset, config_path: Path, args: argparse.Namespace, seed: int):
        from featureplex.models.input import split_streams
        from featureplex.pipelines.inputs import resolve_inputs
        from featureplex.pipelines.training import data_split, numeric_moments

        self.args = args
        self.dataset = dataset
        self.inputs = resolve_inputs(str(dataset.path), str(config_path), None)
        self.params = self.inputs.config.train.model_copy(update={
            "model": "dnn", "model_parameters": {"hidden_units": args.hidden_units},
            "epochs": dataset.epochs, "batch_size": dataset.batch_size, "learning_rate": args.learning_rate,
            "validation_fraction": dataset.validation_fraction, "patience": dataset.epochs, "seed": seed,
        })
        split, options = data_split(self.params)
        self.moments = numeric_moments(self.inputs, split, options)
        self.epochs, self.validation = split_streams(self.inputs.dataset, self.inputs.schema, split, options)

    def train(self, vocab_dir: Path, checkpoints: Path) -> dict:
        from featureplex.features.embedding.vocab_artifact import VocabArtifact
        from featureplex.models.assembly import build_model
        from featureplex.models.training import seed_everything, train
        from featureplex.pipelines.training import numeric_fields, training_options

        vocab = VocabArtifact.read(vocab_dir)
        seed_everything(self.params.seed)
        model = build_model(vocab.layout, vocab.vocabularies, self.inputs.schema, self.params,
                            numeric_fields(self.moments, vocab.layout))
        result = train(model, self.epochs, self.validation, checkpoints, training_options(self.params))
        return {**result.best_metrics, "best_epoch": result.best_epoch}


def run_dataset(dataset: Dataset, scratch: Path, args: argparse.Namespace) -> list[Result]:
    """Every (seed, budget, mode) of one dataset; the seed sets the validation split, the model's
    initialisation, the batch order and the vocab salts."""
    from featureplex.pipelines.stages.vocab import build_vocabulary

    scratch.mkdir(parents=True, exist_ok=True)
    full, distinct = full_head_rows(dataset, scratch, args.dimension)
    print(f"\n[{dataset.name}] {len(distinct)} embedded features, full head {full:,} rows "
          f"= {full * args.dimension:,} parameters at dimension {args.dimension}; largest: "
          + ", ".join(f"{name} {count:,}" for name, count in sorted(distinct.items(), key=lambda kv: -kv[1])[:4]),
          flush=True)
    results = []
    for seed in dataset.seeds:
        trainer = Trainer(dataset, write_config(scratch / "train.yaml", dataset.config), args, seed)
        for fraction in args.fractions:
            budget = max(1, round(full * fraction)) * args.dimension
            for mode in args.modes:
                tag = f"{mode}-{fraction:g}-{seed}"
                config = {**dataset.config, "vocab": {"mode": mode, "dimension": args.dimension, "chunks": args.chunks,
                                                      "budget_parameters": budget, "seed": seed}}
                start = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    layout = build_vocabulary(dataset.path, write_config(scratch / f"{tag}.yaml", config),
                                              scratch / f"vocab-{tag}")
                metrics = trainer.train(scratch / f"vocab-{tag}", scratch / f"checkpoints-{tag}")
                result = Result(dataset.name, seed, fraction, budget, mode, layout.parameters, layout.head_rows,
                                layout.tail_rows, metrics["val_auc"], metrics["val_logloss"], metrics["best_epoch"],
                                time.perf_counter() - start)
                results.append(result)
                print(f"  seed {seed} {mode:8s} budget {budget:>10,}  params {layout.parameters:>10,}  "
                      f"head {layout.head_rows:>7,}  tail {layout.tail_rows:>7,}  AUC {result.val_auc:.4f}  "
                      f"logloss {result.val_logloss:.4f}  ({result.seconds:.0f} s)", flush=True)
        del trainer
    return results


def _mean_sd(values: list[float]) -> tuple[float, float]:
    mean = sum(values) / len(values)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return mean, sd


def print_table(results: list[Result]) -> None:
    """One row per (dataset, budget, mode): the mean over seeds, and its standard deviation when there are several."""
    header = (f"{'dataset':10s} {'budget':>11s} {'share':>6s} {'mode':9s} {'parameters':>11s} {'head rows':>10s} "
              f"{'tail rows':>10s} {'seeds':>5s} {'val AUC':>15s} {'val logloss':>15s}")
    print("\n" + header)
    print("-" * len(header))
    groups: dict[tuple, list[Result]] = {}
    for r in results:
        groups.setdefault((r.dataset, r.fraction, r.mode), []).append(r)
    summary = {}
    for (dataset, fraction, mode), group in groups.items():
        auc, auc_sd = _mean_sd([r.val_auc for r in group])
        loss, loss_sd = _mean_sd([r.val_logloss for r in group])
        summary[(dataset, fraction, mode)] = auc
        first = group[0]
        spread = lambda sd: f" ±{sd:.4f}" if len(group) > 1 else " " * 8  # noqa: E731
        print(f"{dataset:10s} {first.budget:>11,} {fraction:>6.0%} {mode:9s} {first.parameters:>11,} "
              f"{first.head_rows:>10,} {first.tail_rows:>10,} {len(group):>5d} {auc:>7.4f}{spread(auc_sd)} "
              f"{loss:>7.4f}{spread(loss_sd)}")
    print("\nmean val AUC per budget, best first:")
    for key in dict.fromkeys((dataset, fraction) for dataset, fraction, _ in summary):
        ranked = sorted(((mode, auc) for (d, f, mode), auc in summary.items() if (d, f) == key), key=lambda x: -x[1])
        print(f"  {key[0]:10s} {key[1]:>4.0%}: " + " > ".join(f"{mode} {auc:.4f}" for mode, auc in ranked))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="synthetic rows")
    parser.add_argument("--epochs", type=int, default=3, help="epochs on the synthetic data")
    parser.add_argument("--criteo-epochs", type=int, default=5, help="epochs on Criteo 10k (few rows: more epochs)")
    parser.add_argument("--fractions", type=lambda text: [float(x) for x in text.split(",")], default=[0.01, 0.05, 0.2],
                        help="budgets as shares of the full head (comma separated)")
    parser.add_argument("--modes", type=lambda text: text.split(","), default=list(MODES))
    parser.add_argument("--dimension", type=int, default=16)
    parser.add_argument("--chunks", type=int, default=2, help="chunks of hybrid and hashing (separate has one)")
    parser.add_argument("--hidden-units", type=lambda text: [int(x) for x in text.split(",")], default=[64, 32])
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--seeds", type=lambda text: [int(x) for x in text.split(",")], default=[0],
                        help="seeds on the synthetic data (comma separated)")
    parser.add_argument("--criteo-seeds", type=lambda text: [int(x) for x in text.split(",")], default=[0, 1, 2],
                        help="seeds on Criteo 10k: its 2,000 validation rows make one seed's AUC noisy")
    parser.add_argument("--history", action="store_true",
                        help="also embed the synthetic history_item_ids sequence (mean-pooled, sharing item_id's rows)")
    parser.add_argument("--skip-synth", action="store_true")
    parser.add_argument("--skip-criteo", action="store_true")
    parser.add_argument("--keep", type=Path, default=None, help="keep the data, vocabularies and checkpoints here")
    args = parser.parse_args()
    for mode in args.modes:
        if mode not in MODES:
            parser.error(f"--modes: unknown mode '{mode}' (choose from {', '.join(MODES)})")

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    started = time.perf_counter()
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="embedding-budget-") as temporary:
        scratch = args.keep or Path(temporary)
        if not args.skip_synth:
            from featureplex.pipelines.datasets.synth import generate_synthetic

            data = scratch / "synth" / "data"
            if not data.exists():
                generate_synthetic(data, rows=args.rows, seed=0)
            ignored = SYNTH_IGNORED + (() if args.history else SYNTH_HISTORY)
            config = {"label": "label", "features": {name: {"role": "ignore"} for name in ignored}}
            results += run_dataset(Dataset(f"synth{args.rows // 1000}k", data, config, 0.1, 1024, args.epochs, tuple(args.seeds)),
                                   scratch / "synth", args)
        if not args.skip_criteo:
            source = shared_data_dir() / CRITEO_FILE
            if not source.is_file():
                print(f"\n[criteo] skipped: {source} not found (set FEATUREPLEX_SHARED_DATA to the shared data folder)")
            else:
                data = criteo_to_parquet(source, scratch / "criteo" / "data")
                config = {"label": "label"}
                results += run_dataset(Dataset("criteo10k", data, config, 0.2, 256, args.criteo_epochs, tuple(args.criteo_seeds)),
                                       scratch / "criteo", args)
    if results:
        print_table(results)
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
