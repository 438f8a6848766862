"""The embedding layouts (hybrid, hashing, separate, collisionless) at equal parameter budgets: test AUC on real data.

Data sets: every CTR-shaped real set in the shared data folder (`$FEATUREPLEX_SHARED_DATA`, else
`../shared/data` beside the checkout), each with a fixed train / validation / test split:
- criteo10k: the Criteo 10k sample (label, I1..I13 numeric, C1..C26 categorical, empty is missing),
  rows permuted once with seed 2026: the last 1,000 rows are the test file, the rest train, of which a
  fixed ninth (split seed 0, whatever the training seed) validates;
- beauty, videogames: DIN-style rows from the Amazon histories, built by the project's own builder
  (`featureplex ctr-rows`: history of the last `--max-length` items, the real next item with label 1
  and an unseen item with label 0, each user's last event the test pair) over a fixed sample of
  `--users` users (seed 2026), to keep the run within minutes; fields user_id, item_id and
  history_item_ids (mean-pooled, sharing item_id's rows); a fixed tenth of train validates.

For each data set the values are counted once on the training rows (`features.embedding.vocabulary`,
what the vocab stage's Beam pass runs), the *full head* being the rows a collision-free table needs
(padding, one row per distinct value, a missing row per feature with missing values). For each seed,
each budget (default 5%, 15% and 50% of the full head, times the dimension, in parameters) and each
budgeted mode, the layout is built (`build_layout`, salts seeded by the seed) and the same DNN trained
on it (`models.training.train`: seeded, deterministic ops, the same batches in the same order, early
stopping on validation AUC with the best weights restored); collisionless has no budget and is
trained once per seed at `--collisionless-min-count` (default 2, the config's default; its own parameter
count is printed). The test file is then
scored and its AUC (rank-sum, ties averaged) printed.

The table gives, per data set, budget and layout, the parameters, head and tail rows, and the test AUC
mean and sd over the seeds; then whether hybrid >= hashing - 0.001 at every budget.

    .venv/bin/python benchmarks/embedding_budget.py                      # all data sets, 3 seeds (~17 min, 2 shared cores)
    .venv/bin/python benchmarks/embedding_budget.py --datasets criteo10k --seeds 0   # a quick look
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

BUDGETED_MODES = ("hybrid", "hashing", "separate")
MODES = (*BUDGETED_MODES, "collisionless")
DATASETS = ("criteo10k", "beauty", "videogames")
CRITEO_FILE = Path("criteo_10k") / "train_examples.txt"
CRITEO_NUMERIC = [f"I{i}" for i in range(1, 14)]
CRITEO_CATEGORICAL = [f"C{i}" for i in range(1, 27)]
AMAZON_FILES = {"beauty": Path("amazon_beauty") / "Beauty.txt", "videogames": Path("amazon_videogames") / "Video.txt"}
SPLIT_SEED = 2026  # the test rows and the user sample: fixed whatever the training seed
VALIDATION_SEED = 0  # the validation rows: fixed too
TOLERANCE = 0.001  # the bar: hybrid >= hashing - 0.001 test AUC


@dataclass(frozen=True)
class Dataset:
    name: str
    train: Path
    test: Path
    config: dict  # the featureplex config (label, feature kinds)
    validation_fraction: float
    batch_size: int
    epochs: int


@dataclass(frozen=True)
class Result:
    dataset: str
    seed: int
    fraction: float | None  # None: collisionless (no budget)
    mode: str
    parameters: int
    head_rows: int
    tail_rows: int
    test_auc: float
    best_epoch: int
    seconds: float


def shared_data_dir() -> Path:
    """`$FEATUREPLEX_SHARED_DATA`, else `../shared/data` beside the checkout."""
    return Path(os.environ.get("FEATUREPLEX_SHARED_DATA") or REPO.parent / "shared" / "data")


def criteo(source: Path, out: Path) -> tuple[Path, Path]:
    """The Criteo TSV (no header: label, I1..I13, C1..C26; empty fields null) as train/ and test/ Parquet."""
    import numpy as np
    import polars as pl

    names = ["label", *CRITEO_NUMERIC, *CRITEO_CATEGORICAL]
    schema = {"label": pl.Int64, **{name: pl.Float64 for name in CRITEO_NUMERIC},
              **{name: pl.String for name in CRITEO_CATEGORICAL}}
    frame = pl.read_csv(source, separator="\t", has_header=False, new_columns=names, schema=schema, quote_char=None)
    frame = frame.with_columns(pl.col(CRITEO_CATEGORICAL).replace("", None), pl.col("label").cast(pl.Int8))
    frame = frame[np.random.default_rng(SPLIT_SEED).permutation(frame.height)]
    parts = {"train": frame.head(frame.height - 1000), "test": frame.tail(1000)}
    for name, part in parts.items():
        (out / name).mkdir(parents=True, exist_ok=True)
        part.write_parquet(out / name / "part-00000.parquet", row_group_size=part.height)
    return out / "train", out / "test"


def amazon_rows(source: Path, out: Path, users: int, max_length: int) -> tuple[Path, Path]:
    """DIN-style CTR rows (`featureplex ctr-rows`) over a fixed sample of `users` users."""
    import numpy as np
    import polars as pl

    from featureplex.pipelines.datasets.ctr_rows import build_ctr_rows
    from featureplex.pipelines.datasets.user_histories import UserHistories, read_user_histories

    histories = read_user_histories(source)
    everyone = histories.events["user"].unique().sort().to_numpy()
    chosen = np.random.default_rng(SPLIT_SEED).choice(everyone, min(users, len(everyone)), replace=False)
    sample = UserHistories(histories.events.filter(pl.col("user").is_in(chosen)), histories.source)
    build_ctr_rows(sample, out, max_length=max_length, seed=SPLIT_SEED)
    return out / "train", out / "test"


def datasets(scratch: Path, args: argparse.Namespace) -> list[Dataset]:
    found = []
    shared = shared_data_dir()
    for name in args.datasets:
        source = shared / (CRITEO_FILE if name == "criteo10k" else AMAZON_FILES[name])
        if not source.is_file():
            print(f"[{name}] skipped: {source} not found (set FEATUREPLEX_SHARED_DATA to the shared data folder)")
            continue
        if name == "criteo10k":
            train, test = criteo(source, scratch / name)
            found.append(Dataset(name, train, test, {"label": "label"}, 1 / 9, 256, args.criteo_epochs))
        else:
            train, test = amazon_rows(source, scratch / name, args.users, args.max_length)
            config = {"label": "label", "features": {"user_id": {"kind": "categorical"}, "item_id": {"kind": "categorical"},
                                                     "history_item_ids": {"kind": "sequence", "shares_with": "item_id"}}}
            found.append(Dataset(name, train, test, config, 0.1, 512, args.amazon_epochs))
    return found


class Bench:
    """One data set: its inputs, value counts, validation and test streams; trains a DNN under any layout."""

    def __init__(self, dataset: Dataset, scratch: Path, args: argparse.Namespace):
        from featureplex.features.data.config import FeatureplexConfig
        from featureplex.features.data.dataset import read_row_group
        from featureplex.models.input import EpochStream, InputOptions, Split
        from featureplex.pipelines.inputs import resolve_inputs
        from featureplex.pipelines.stages.vocab import vocabulary_columns
        from featureplex.pipelines.training import numeric_moments

        self.dataset, self.args, self.scratch = dataset, args, scratch
        config = FeatureplexConfig.model_validate(dataset.config)
        self.inputs = resolve_inputs(str(dataset.train), config, None)
        self.test_inputs = resolve_inputs(str(dataset.test), config, None)
        self.split = Split(dataset.validation_fraction, VALIDATION_SEED)
        counts = vocabulary_columns(self.inputs.schema)
        for ref in self.inputs.dataset.row_groups():  # training rows only: the validation rows are seen values too
            for _origin, batch in read_row_group(ref, counts.categorical + tuple(counts.sequences)):
                counts.add(batch)
        self.counts = counts
        self.moments = numeric_moments(self.inputs, self.split, InputOptions())
        self.test = EpochStream(self.test_inputs.dataset, self.test_inputs.schema, Split(1.0), "validation",
                                InputOptions(batch_size=4096), shuffle=False)

    def full_head(self) -> int:
        """Rows of a collision-free table for every value seen: padding + distinct values + missing rows."""
        return 1 + sum(self.counts.ranked(name).height + (1 if self.counts.missing(name) else 0)
                       for name in self.counts.features)

    def layout(self, mode: str, budget: int | None, seed: int):
        from featureplex.features.data.config import VocabParams
        from featureplex.features.embedding.layout import build_layout

        params = (VocabParams(mode=mode, dimension=self.args.dimension, min_count=self.args.collisionless_min_count,
                              seed=seed) if budget is None else
                  VocabParams(mode=mode, dimension=self.args.dimension, chunks=self.args.chunks,
                              budget_parameters=budget, seed=seed))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return build_layout(self.counts, params)

    def test_auc(self, layout, seed: int, tag: str) -> tuple[float, int]:
        """Train the DNN on `layout` with `seed`; the test AUC of the best validation epoch's weights."""
        import numpy as np

        from featureplex.features.embedding.layout import head_vocabularies
        from featureplex.models.assembly import build_model
        from featureplex.models.input import InputOptions, split_streams
        from featureplex.models.metrics import grouped_auc
        from featureplex.models.training import seed_everything, train
        from featureplex.pipelines.training import numeric_fields, training_options

        params = self.inputs.config.train.model_copy(update={
            "model": "dnn", "model_parameters": {"hidden_units": self.args.hidden_units},
            "epochs": self.dataset.epochs, "batch_size": self.dataset.batch_size,
            "learning_rate": self.args.learning_rate, "patience": 2, "seed": seed,
            "embedding_l2": self.args.embedding_l2,
        })
        options = InputOptions(batch_size=params.batch_size, shuffle_rows=params.shuffle_rows, seed=seed)
        epochs, validation = split_streams(self.inputs.dataset, self.inputs.schema, self.split, options)
        seed_everything(seed)
        model = build_model(layout, head_vocabularies(self.counts, layout), self.inputs.schema, params,
                            numeric_fields(self.moments, layout))
        result = train(model, epochs, validation, self.scratch / f"checkpoints-{tag}", training_options(params))
        labels, scores = [], []
        batches = self.test.epoch(0)
        for _ in range(self.test.steps(0)):
            features, label = next(batches)
            scores.append(model(features, training=False).numpy()[:, 0])
            labels.append(label.numpy())
        self.test.finished(0)
        labels, scores = np.concatenate(labels), np.concatenate(scores)
        return grouped_auc(np.zeros(len(labels)), labels, scores), result.best_epoch


def run_dataset(dataset: Dataset, scratch: Path, args: argparse.Namespace) -> list[Result]:
    bench = Bench(dataset, scratch, args)
    full = bench.full_head()
    print(f"\n[{dataset.name}] {bench.inputs.dataset.num_rows:,} train rows (a fixed share validates), "
          f"{bench.test_inputs.dataset.num_rows:,} test rows; {len(bench.counts.features)} embedded features, "
          f"full head {full:,} rows = {full * args.dimension:,} parameters at dimension {args.dimension}", flush=True)
    runs = [(fraction, mode) for fraction in args.fractions for mode in args.modes if mode in BUDGETED_MODES]
    if "collisionless" in args.modes:
        runs.append((None, "collisionless"))
    results = []
    for seed in args.seeds:
        for fraction, mode in runs:
            budget = None if fraction is None else max(1, round(full * fraction)) * args.dimension
            start = time.perf_counter()
            layout = bench.layout(mode, budget, seed)
            auc, best_epoch = bench.test_auc(layout, seed, f"{mode}-{fraction}-{seed}")
            result = Result(dataset.name, seed, fraction, mode, layout.parameters, layout.head_rows, layout.tail_rows,
                            auc, best_epoch, time.perf_counter() - start)
            results.append(result)
            print(f"  seed {seed} {mode:13s} budget {budget or 0:>9,}  params {layout.parameters:>9,}  "
                  f"head {layout.head_rows:>6,}  tail {layout.tail_rows:>6,}  test AUC {auc:.4f}  "
                  f"best epoch {best_epoch}  ({result.seconds:.0f} s)", flush=True)
    return results


def _mean_sd(values: list[float]) -> tuple[float, float]:
    mean = sum(values) / len(values)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return mean, sd


def print_table(results: list[Result]) -> None:
    """One row per (data set, budget, layout): test AUC mean and sd over seeds; then hybrid vs hashing per budget."""
    header = (f"{'dataset':11s} {'share':>6s} {'mode':13s} {'parameters':>11s} {'head rows':>10s} {'tail rows':>10s} "
              f"{'seeds':>5s} {'test AUC':>8s} {'sd':>7s}")
    print("\n" + header + "\n" + "-" * len(header))
    groups: dict[tuple, list[Result]] = {}
    for r in results:
        groups.setdefault((r.dataset, r.fraction, r.mode), []).append(r)
    mean = {}
    for (dataset, fraction, mode), group in groups.items():
        auc, sd = _mean_sd([r.test_auc for r in group])
        mean[(dataset, fraction, mode)] = auc
        share = "-" if fraction is None else f"{fraction:.0%}"
        print(f"{dataset:11s} {share:>6s} {mode:13s} {group[0].parameters:>11,} {group[0].head_rows:>10,} "
              f"{group[0].tail_rows:>10,} {len(group):>5d} {auc:>8.4f} {sd:>7.4f}")
    print(f"\nhybrid - hashing (mean test AUC; the bar is >= -{TOLERANCE}):")
    verdicts = []
    for dataset, fraction in dict.fromkeys((d, f) for d, f, m in mean if f is not None):
        if (dataset, fraction, "hybrid") in mean and (dataset, fraction, "hashing") in mean:
            gap = mean[(dataset, fraction, "hybrid")] - mean[(dataset, fraction, "hashing")]
            verdicts.append(gap >= -TOLERANCE)
            print(f"  {dataset:11s} {fraction:>4.0%}: {gap:+.4f}  {'ok' if gap >= -TOLERANCE else 'BELOW'}")
    if verdicts:
        print(f"hybrid >= hashing - {TOLERANCE} at every budget: {'yes' if all(verdicts) else 'no'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=lambda text: text.split(","), default=list(DATASETS))
    parser.add_argument("--fractions", type=lambda text: [float(x) for x in text.split(",")], default=[0.05, 0.15, 0.5],
                        help="budgets as shares of the full head (comma separated)")
    parser.add_argument("--modes", type=lambda text: text.split(","), default=list(MODES))
    parser.add_argument("--seeds", type=lambda text: [int(x) for x in text.split(",")], default=[0, 1, 2])
    parser.add_argument("--dimension", type=int, default=16)
    parser.add_argument("--chunks", type=int, default=2, help="chunks of hybrid and hashing (separate and collisionless have one)")
    parser.add_argument("--hidden-units", type=lambda text: [int(x) for x in text.split(",")], default=[64, 32])
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--embedding-l2", type=float, default=None,
                        help="train.embedding_l2 of every layout (default: featureplex's, 3e-3 on collisionless, 0 on the rest)")
    parser.add_argument("--criteo-epochs", type=int, default=6)
    parser.add_argument("--amazon-epochs", type=int, default=3)
    parser.add_argument("--collisionless-min-count", type=int, default=2)
    parser.add_argument("--users", type=int, default=5000, help="users sampled from each Amazon history file")
    parser.add_argument("--max-length", type=int, default=20, help="history length of the Amazon CTR rows")
    parser.add_argument("--keep", type=Path, default=None, help="keep the data and checkpoints here")
    args = parser.parse_args()
    for mode in args.modes:
        if mode not in MODES:
            parser.error(f"--modes: unknown mode '{mode}' (choose from {', '.join(MODES)})")
    for name in args.datasets:
        if name not in DATASETS:
            parser.error(f"--datasets: unknown data set '{name}' (choose from {', '.join(DATASETS)})")

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    started = time.perf_counter()
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="embedding-budget-") as temporary:
        scratch = args.keep or Path(temporary)
        for dataset in datasets(scratch, args):
            results += run_dataset(dataset, scratch / dataset.name, args)
    if results:
        print_table(results)
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
