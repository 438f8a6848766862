"""OptFS on `featureplex synth` data: keep ratios by ground-truth role, AUC and embedding parameters vs no selection.

    python -m benchmarks.optfs_synth --rows 100000 --seeds 0 1 --out /tmp/optfs-bench

For each seed: synthetic data, a vocab artifact, the unpruned model (`train_ctr_model`), then
`select_optfs` (search, rewound retrain with hard gates, the final model on the pruned layout).
Prints per-feature keep ratios with each column's role from ground_truth.json, and one line per
model: validation AUC and embedding parameters.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

CONFIG = """user: user_id
features:
  leak_label: {{role: ignore}}
vocab: {{dimension: 8}}
train: {{model: {model}, epochs: {epochs}, batch_size: 1024, patience: 2, learning_rate: 0.002, embedding_l2: {l2:g}}}
optfs: {{penalty: {penalty:g}, search_epochs: {search}, final_tau: {tau:g}, rewind_epoch: {rewind}, gate_learning_rate: {gate_lr:g}}}
"""


def add_optfs_arguments(parser: argparse.ArgumentParser, epochs: int, search_epochs: int, final_tau: float,
                        penalty: float) -> None:
    """The training and OptFS options of the OptFS benchmarks (this one and select_compare.py), with their defaults."""
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--search-epochs", type=int, default=search_epochs)
    parser.add_argument("--final-tau", type=float, default=final_tau)
    parser.add_argument("--penalty", type=float, default=penalty)
    parser.add_argument("--rewind-epoch", type=int, default=1)
    parser.add_argument("--gate-lr", type=float, default=1e-2)
    parser.add_argument("--embedding-l2", type=float, default=1e-3, help="train.embedding_l2 of every model")


def benchmark_config(args: argparse.Namespace, model: str = "dnn") -> str:
    """The config both OptFS benchmarks train with: synthetic data less its leaked label, the options above."""
    return CONFIG.format(model=model, epochs=args.epochs, penalty=args.penalty, search=args.search_epochs,
                         tau=args.final_tau, rewind=args.rewind_epoch, gate_lr=args.gate_lr,
                         l2=args.embedding_l2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--out", default="/tmp/optfs-bench")
    add_optfs_arguments(parser, epochs=5, search_epochs=5, final_tau=200.0, penalty=1e-4)
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{Path(args.out).resolve()}/mlflow.db")
    Path(args.out).mkdir(parents=True, exist_ok=True)

    from featureplex.pipelines.datasets.synth import generate_synthetic
    from featureplex.pipelines.inputs import resolve_inputs
    from featureplex.pipelines.stages.select import select_optfs
    from featureplex.pipelines.stages.train import train_ctr_model
    from featureplex.pipelines.stages.vocab import build_vocabulary

    for seed in args.seeds:
        root = Path(args.out) / f"seed{seed}"
        if not (root / "data").exists():
            generate_synthetic(root / "data", rows=args.rows, seed=seed, row_group_rows=25_000)
        (root / "config.yaml").write_text(benchmark_config(args))
        if not (root / "vocab").exists():
            build_vocabulary(root / "data", root / "config.yaml", root / "vocab")
        truth = json.loads((root / "data" / "ground_truth.json").read_text())
        roles = {name: entry["role"] for name, entry in truth.get("columns", truth).items() if isinstance(entry, dict)}
        inputs = resolve_inputs(str(root / "data"), str(root / "config.yaml"), None)
        params = inputs.config.train.model_copy(update={"seed": seed})
        started = time.perf_counter()
        base = train_ctr_model(inputs, str(root / "vocab"), root / f"base-{time.time_ns()}", params)
        base_time = time.perf_counter() - started
        started = time.perf_counter()
        selected = select_optfs(inputs, str(root / "vocab"), root / f"optfs-{time.time_ns()}", params, inputs.config.optfs)
        optfs_time = time.perf_counter() - started
        print(f"\n=== seed {seed}, {args.rows} rows ===")
        print(f"{'feature':<18}{'role':<13}{'values':>8}{'kept':>8}{'value_ratio':>12}{'row_ratio':>10}  tail")
        for name, ratio in sorted(selected.keep_ratios.items(), key=lambda item: (roles.get(item[0], "?"), item[0])):
            print(f"{name:<18}{roles.get(name, '?'):<13}{ratio.values:>8}{ratio.values_kept:>8}{ratio.value_ratio:>12.3f}"
                  f"{ratio.row_ratio:>10.3f}  {ratio.tail_kept}")
        print(f"dropped fields: {selected.dropped}")
        final = selected.final.metrics
        print(f"unpruned  val_auc {base.metrics['val_auc']:.4f}  embedding params {selected.parameters_before}  ({base_time:.0f}s)")
        print(f"search    val_auc {selected.selection.summary['search'].get('val_auc', float('nan')):.4f}")
        print(f"retrain   val_auc {selected.retrain_metrics.get('val_auc', float('nan')):.4f}  (hard gates, rewound, "
              f"unpruned layout)")
        print(f"pruned    val_auc {final['val_auc']:.4f}  embedding params {selected.parameters_after}  "
              f"(optfs total {optfs_time:.0f}s)")


if __name__ == "__main__":
    main()
