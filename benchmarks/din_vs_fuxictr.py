"""Amazon Beauty DIN-style CTR rows: featureplex's DNN, DIN and HSTU vs FuxiCTR's DNN and DIN (PyTorch, CPU).

Data: shared/data/amazon_beauty/Beauty.txt (one line per user, items in time order) read by
`read_user_histories`, then the project's own builder `build_ctr_rows` (what `featureplex
ctr-rows` runs): for every event after a user's first, a positive row (the real item) and a
negative row (an item the user never touched, drawn uniformly), both with the user's last
`--max-length` items before the event as `history_item_ids`. Each user's last event is the test pair
(leave-one-out); the builder's training pairs are split at random (seeded, by pair, so an event's
positive and negative stay together) into train / valid = 90 / 10. Columns: label, user_id,
item_id, history_item_ids (Beauty.txt has no times: no timestamps, so no time bias in HSTU). The
same Parquet files go to both platforms; each fits its vocabularies on train, trains on train with
early stopping on valid AUC (best epoch kept) and is scored on test.

- featureplex (`run_featureplex` of benchmarks/train_vs_fuxictr.py, in a child process):
  `build_vocabulary` on train.parquet, then `train_ctr_model` for `dnn` (the history mean-pooled
  into one field), `din` (target attention of item_id over the history) and `hstu` (the candidate
  appended to the history in a 2-block HSTU stack); the history shares item_id's vocabulary
  (`shares_with: item_id`).
- FuxiCTR 2.3.10: benchmarks/fuxictr_driver.py (`dnn`, `din`; the pip package has no HSTU) in its
  own virtual environment (`--venv`, made on first use with `pip install torch==2.13.0 fuxictr`, CPU
  build): `history_item_ids` a `sequence` feature with `share_embedding: item_id`, mean-pooled for
  the DNN (FuxiCTR's default MaskedAveragePooling), unpooled into `DIN_Attention` for DIN.

Shared configuration: features user_id, item_id, history_item_ids; embedding dimension 16; DIN
attention MLP 64 with Dice on [q, k, q - k, q * k], unnormalised weights with padding masked (no
softmax: the paper's and both libraries' default); a DNN head 256-128 (ReLU) on every model; HSTU 2
blocks x 1 head; history length 50; batch size 1024; Adam 1e-3 constant (featureplex's per-epoch
decay 1, FuxiCTR's reduce-on-plateau off); 5 epochs, patience 2; minimum count 2; seed 0; one
compute thread each (`--threads 1`, OpenMP waiting passively). Each platform keeps its own embedding
scheme and initialisers. Examples/s: training rows / wall seconds, median over the epochs after the
first (which pays for tracing / warm-up), for the pass over the training rows (`train pass`) and
the whole epoch (with the validation pass and checkpoint).

Tables: (1) per model, featureplex vs FuxiCTR (AUC diff = featureplex - FuxiCTR, ratio = featureplex
/ FuxiCTR examples/s; `-` / nan where FuxiCTR has no such model); (2) featureplex's DIN and HSTU
against its own DNN on the same rows.

    .venv/bin/python benchmarks/din_vs_fuxictr.py                                  # all 22,363 users
    .venv/bin/python benchmarks/din_vs_fuxictr.py --limit-users 3000 --epochs 2    # a smoke run

Everything is written under `--work` (default .bench/din_vs_fuxictr): the Parquet splits once per
(max length, users, seed), and a folder per model and platform with its spec, log and result.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.train_vs_fuxictr import (  # noqa: E402
    SPLIT_START,
    VALID_START,
    ensure_venv,
    featureplex_config,
    featureplex_parameters,
    fuxictr_feature_cols,
    print_summary,
    run_platform,
    shared_data,
    shared_spec,
    steady,
)

MODELS = ("dnn", "din", "hstu")
FUXICTR_MODELS = ("dnn", "din")  # the pip package has no HSTU
SEQUENCE, CANDIDATE = "history_item_ids", "item_id"
FEATURES = {"categorical": ["user_id", CANDIDATE], "numeric": [], "sequence": {SEQUENCE: CANDIDATE}}


# ---------------------------------------------------------------- data

def prepare_beauty(work: Path, source: Path, max_length: int, limit_users: int | None, valid_share: float,
                   seed: int) -> dict[str, Path]:
    """train / valid / test Parquet of DIN-style rows, and train + valid with `split_at` for featureplex."""
    import polars as pl
    import pyarrow as pa
    import pyarrow.parquet as pq

    from featureplex.pipelines.datasets.ctr_rows import build_ctr_rows
    from featureplex.pipelines.datasets.user_histories import UserHistories, read_user_histories

    root = work / f"beauty-len{max_length}-users{limit_users or 'all'}-seed{seed}"
    paths = {name: root / f"{name}.parquet" for name in ("train", "valid", "test")}
    paths["train_valid"] = root / "train_valid" / "part-00000.parquet"
    if paths["train_valid"].exists():
        return paths
    if not source.exists():
        raise SystemExit(f"{source}: not found (pass --source, or set FEATUREPLEX_SHARED_DATA to the shared data folder)")
    histories = read_user_histories(source, format="user-lines")
    if limit_users:
        users = histories.events["user"].unique().sort()
        users = users.sample(min(limit_users, len(users)), seed=seed)
        histories = UserHistories(histories.events.filter(pl.col("user").is_in(users.implode())), histories.source)
    shutil.rmtree(root, ignore_errors=True)
    stats = build_ctr_rows(histories, root / "rows", max_length=max_length, seed=seed)
    print(f"CTR rows: {json.dumps(stats.__dict__)}", flush=True)

    rows = pq.read_table(root / "rows" / "train")
    # rows come in (positive, negative) pairs of one event: draw per pair
    valid = np.repeat(np.random.default_rng(seed).random(rows.num_rows // 2) < valid_share, 2)
    parts = {"train": (rows.filter(pa.array(~valid)), SPLIT_START), "valid": (rows.filter(pa.array(valid)), VALID_START),
             "test": (pq.read_table(root / "rows" / "test"), VALID_START)}
    for name, (part, start) in parts.items():
        part = part.append_column("split_at", pa.array(np.full(part.num_rows, start), pa.timestamp("s")))
        pq.write_table(part, paths[name], row_group_size=100_000)
    paths["train_valid"].parent.mkdir()
    pq.write_table(pa.concat_tables([pq.read_table(paths["train"]), pq.read_table(paths["valid"])]),
                   paths["train_valid"], row_group_size=100_000)
    return paths


# ---------------------------------------------------------------- the two platforms

def model_parameters(model: str, args) -> dict:
    """`model_parameters` of train_ctr_model for dnn / din / hstu (models/registry.py)."""
    head = featureplex_parameters("dnn", args)  # {"hidden_units": ...}
    if model == "din":
        return {**head, "activation": args.din_activation, "attention_units": args.attention_units,
                "attention_activation": args.attention_activation, "softmax": False, "max_length": args.max_length}
    if model == "hstu":
        return {**head, "max_length": args.max_length, "blocks": args.hstu_blocks, "heads": args.hstu_heads}
    return head


def fuxictr_spec(model: str, args) -> dict:
    """The driver's spec beyond the shared part: FuxiCTR feature columns and the DIN's sizes."""
    columns = fuxictr_feature_cols(FEATURES, args)
    for column in columns:
        if column["type"] == "sequence":
            column["max_len"] = args.max_length  # the builder's cap (fuxictr_feature_cols' 50 is synth's)
            if model == "din":
                column["feature_encoder"] = None  # embeddings unpooled, for DIN_Attention (the DNN: mean)
    return {"dataset_id": f"beauty_{model}", "feature_cols": columns, "label_col": {"name": "label", "dtype": "float"},
            "min_categr_count": args.min_count, "loader": "npz", "embedding_dim": args.embedding_dim,
            "hidden_units": args.hidden_units, "hidden_activation": args.din_activation,
            "attention_units": args.attention_units, "attention_activation": args.attention_activation,
            "threads": args.threads}


def run_model(model: str, platform: str, paths: dict[str, Path], args, fuxictr_python: Path | None) -> dict:
    run_dir = args.work.resolve() / "runs" / paths["test"].parent.name / model / platform
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    spec = shared_spec(model, paths, run_dir, args)
    if platform == "featureplex":
        spec.update(config=featureplex_config(FEATURES, args), parameters=model_parameters(model, args),
                    threads=args.threads)
    else:
        spec.update(fuxictr_spec(model, args))
    return run_platform(model, platform, spec, run_dir, fuxictr_python, args.threads)


# ---------------------------------------------------------------- tables

def print_against_dnn(rows: list[dict]) -> None:
    """featureplex's sequence models against its DNN: the AUC they add, at what cost in examples/s."""
    results = {row["model"]: row.get("featureplex") for row in rows}
    dnn = results.get("dnn")
    if not dnn:
        return
    dnn_rate = dnn["train_rows"] / steady(dnn["train_seconds"])
    print(f"\nfeatureplex sequence models vs its DNN (test AUC {dnn['test_auc']:.4f}, {dnn_rate:,.0f} train-pass ex/s)")
    header = f"{'model':6s} | {'test AUC':>8s} {'- DNN':>8s} {'beats DNN':>9s} | {'train-pass ex/s':>15s} {'/ DNN':>6s}"
    print(header + "\n" + "-" * len(header))
    for model, result in results.items():
        if model == "dnn" or not result:
            continue
        gain = result["test_auc"] - dnn["test_auc"]
        rate = result["train_rows"] / steady(result["train_seconds"])
        print(f"{model:6s} | {result['test_auc']:8.4f} {gain:+8.4f} {'yes' if gain > 0 else 'NO':>9s} | "
              f"{rate:15,.0f} {rate / dnn_rate:6.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=shared_data() / "amazon_beauty" / "Beauty.txt")
    parser.add_argument("--limit-users", type=int, default=None, help="a seeded sample of this many users (smoke runs)")
    parser.add_argument("--max-length", type=int, default=50, help="history length of the CTR rows and the models")
    parser.add_argument("--valid-share", type=float, default=0.1, help="share of the builder's training pairs validated on")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS, help="featureplex models")
    parser.add_argument("--platforms", nargs="+", default=["featureplex", "fuxictr"], choices=["featureplex", "fuxictr"])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--embedding-dim", type=int, default=16)
    parser.add_argument("--hidden-units", type=int, nargs="+", default=[256, 128], help="the DNN head of every model")
    parser.add_argument("--din-activation", choices=["relu", "dice"], default="relu", help="DIN's head (the others: ReLU)")
    parser.add_argument("--attention-units", type=int, nargs="+", default=[64], help="DIN's attention MLP")
    parser.add_argument("--attention-activation", choices=["relu", "dice"], default="dice")
    parser.add_argument("--hstu-blocks", type=int, default=2)
    parser.add_argument("--hstu-heads", type=int, default=1)
    parser.add_argument("--patience", type=int, default=2)
    parser.add_argument("--min-count", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="compute threads of each platform (TensorFlow intra/inter-op, torch); 0: their defaults")
    parser.add_argument("--work", type=Path, default=REPO / ".bench" / "din_vs_fuxictr")
    parser.add_argument("--venv", type=Path, default=REPO / ".bench" / "fuxictr-venv")
    parser.add_argument("--json", type=Path, default=None, help="also write every result as JSON")
    args = parser.parse_args()

    fuxictr_python = ensure_venv(args.venv.resolve()) if "fuxictr" in args.platforms else None
    paths = prepare_beauty(args.work.resolve(), args.source, args.max_length, args.limit_users, args.valid_share, args.seed)
    dataset = f"beauty-{args.limit_users or 'all'}u"
    rows = []
    for model in args.models:
        row = {"dataset": dataset, "model": model}
        for platform in args.platforms:
            if platform == "featureplex" or model in FUXICTR_MODELS:
                row[platform] = run_model(model, platform, paths, args, fuxictr_python)
        rows.append(row)
    print_summary(rows, args.platforms)
    print_against_dnn(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
