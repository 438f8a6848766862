"""No selection vs the rank stage's selection vs OptFS, on `featureplex synth` data, one model (issue 7).

    .venv/bin/python -m benchmarks.select_compare --rows 100000 --seeds 0 --model dnn --epochs 4 \\
        --search-epochs 4 --final-tau 50 --penalty 1e-5 --gate-lr 0.01 --rewind-epoch 1

For each seed: synthetic data (leak_label, a copy of the label, ignored), then three models trained by
`train_ctr_model` with the same parameters and seed:
- none: every feature, one vocab artifact on them;
- rank: `rank` on the data, the features `featureplex run` keeps (`select_features`, `restricted_config`),
  a vocab artifact on that config;
- optfs: `select_optfs` on the vocab artifact of `none` (search, rewound retrain, the final model on the
  pruned layout).
Prints one line per selection: features the model trained on, embedding parameters (layout.json),
validation AUC and logloss, seconds (its selection, vocab and training; optfs reuses the vocab of none);
then `selection_table` (with each column's role from ground_truth.json).

Everything is written under `--out` (default: a temporary directory), MLflow included. A later
invocation with the same `--out` reuses the data of a (seed, rows) and writes the rest to a new `run-<ns>`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.optfs_synth import add_optfs_arguments, benchmark_config  # noqa: E402


def features_trained_on(train_out: Path) -> int:
    card = json.loads((train_out / "model_card.json").read_text())
    return sum(len(names) for names in card["features"].values())


def embedding_parameters(vocab_dir: Path) -> int:
    return json.loads((vocab_dir / "layout.json").read_text())["parameters"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--model", default="dnn")
    parser.add_argument("--out", default=None, help="work directory (default: a temporary one)")
    add_optfs_arguments(parser, epochs=4, search_epochs=4, final_tau=50.0, penalty=1e-5)
    args = parser.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="select-compare-")).resolve()
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{out}/mlflow.db")

    import polars as pl

    from featureplex.pipelines.artifacts.rank import RankArtifact
    from featureplex.pipelines.datasets.synth import generate_synthetic
    from featureplex.pipelines.guard import chosen_by_rank
    from featureplex.pipelines.inputs import resolve_inputs
    from featureplex.pipelines.reports.selection_table import selection_table
    from featureplex.pipelines.stages.rank import rank
    from featureplex.pipelines.stages.select import FINAL, select_optfs
    from featureplex.pipelines.stages.train import train_ctr_model
    from featureplex.pipelines.stages.vocab import build_vocabulary

    print(f"work directory: {out}")
    for seed in args.seeds:
        root = out / f"seed{seed}-rows{args.rows}"
        if not (root / "data").exists():
            generate_synthetic(root / "data", rows=args.rows, seed=seed, row_group_rows=25_000)
        work = root / f"run-{time.time_ns()}"
        work.mkdir()
        (work / "config.yaml").write_text(benchmark_config(args, args.model))
        truth = json.loads((root / "data" / "ground_truth.json").read_text())
        roles = {name: entry["role"] for name, entry in truth.get("columns", truth).items() if isinstance(entry, dict)}
        inputs = resolve_inputs(str(root / "data"), str(work / "config.yaml"), None)
        params = inputs.config.train.model_copy(update={"seed": seed})
        results = []  # (selection, features, embedding parameters, metrics, seconds)

        started = time.perf_counter()
        build_vocabulary(root / "data", inputs.config, work / "vocab")
        base = train_ctr_model(inputs, str(work / "vocab"), work / "train-none", params)
        results.append(("none", features_trained_on(work / "train-none"), embedding_parameters(work / "vocab"), base.metrics,
                        time.perf_counter() - started))

        started = time.perf_counter()
        ranking = rank(root / "data", inputs.config, work / "rank")
        restricted_inputs, kept = chosen_by_rank(inputs, RankArtifact.read(work / "rank"))
        build_vocabulary(root / "data", restricted_inputs.config, work / "vocab-rank")
        ranked = train_ctr_model(restricted_inputs, str(work / "vocab-rank"), work / "train-rank", params,
                                 ranking_dir=str(work / "rank"))
        results.append(("rank", features_trained_on(work / "train-rank"), embedding_parameters(work / "vocab-rank"),
                        ranked.metrics, time.perf_counter() - started))

        started = time.perf_counter()
        selected = select_optfs(inputs, str(work / "vocab"), work / "optfs", params, inputs.config.optfs)
        results.append(("optfs", features_trained_on(work / "optfs" / FINAL), selected.parameters_after,
                        selected.final.metrics, time.perf_counter() - started))

        print(f"\n=== seed {seed}, {args.rows} rows, model {args.model} ===")
        print(f"{'selection':<10}{'features':>9}{'embedding params':>18}{'val_auc':>9}{'val_logloss':>13}{'seconds':>9}")
        for name, features, parameters, metrics, seconds in results:
            print(f"{name:<10}{features:>9}{parameters:>18,}{metrics['val_auc']:>9.4f}"
                  f"{metrics['val_logloss']:>13.4f}{seconds:>9.0f}")
        print(f"rank keeps: {kept}")
        print(f"optfs drops: {selected.dropped}")
        sequences = json.loads((work / "vocab" / "layout.json").read_text())["sequences"]
        table = selection_table(ranking, kept, selected.keep_ratios, selected.dropped, sequences)
        role = pl.col("feature").replace_strict(roles, default="?", return_dtype=pl.String).alias("role")
        with pl.Config(tbl_rows=-1, tbl_cols=-1, tbl_width_chars=200, tbl_hide_dataframe_shape=True,
                       tbl_hide_column_data_types=True, float_precision=4):
            print(table.select("feature", role, pl.exclude("feature")))


if __name__ == "__main__":
    main()
