"""Next-item recommendation on Amazon Beauty, leave-one-out with full ranking: HSTU vs SASRec.

Protocol (the one of SASRec / ICLRec on Beauty): each user's last item is held out; the model
trains on the items before it (every position predicts the next item) and then ranks all items for
the history, with the items already in the history removed; HR@10, NDCG@10 and NDCG@50 of the held-out
item. Both encoders share the item embeddings (size --dimension), the sampled-softmax loss (--negatives
uniform negatives, temperature 0.05, L2-normalised vectors, accidental hits masked), the optimizer
and the number of epochs, so the difference is the encoder. External anchor: ICLRec reports HIT@10
0.0744 on this file with a validation item held out as well.

    .venv/bin/python benchmarks/next_item.py --epochs 20 --out next_item.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DEFAULT_DATA = REPO.parent / "shared" / "data" / "amazon_beauty" / "Beauty.txt"


def right_aligned(values: np.ndarray, offsets: np.ndarray, width: int) -> np.ndarray:
    """Lists (flat values + offsets) -> [rows, width], each list's last `width` items at the end, 0 before."""
    lengths = np.diff(offsets)
    rows = np.repeat(np.arange(len(lengths)), lengths)
    columns = width - lengths[rows] + (np.arange(len(values)) - offsets[rows])
    matrix = np.zeros((len(lengths), width), np.int64)
    keep = columns >= 0
    matrix[rows[keep], columns[keep]] = values[keep]
    return matrix


def load(path: Path, length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Training sequences [users, length + 1], evaluation histories [users, length], targets, item count."""
    import pyarrow.parquet as pq

    from featureplex.pipelines.datasets.ctr_rows import PART, build_next_item_sequences
    from featureplex.pipelines.datasets.user_histories import read_user_histories

    with tempfile.TemporaryDirectory() as scratch:
        build_next_item_sequences(read_user_histories(path), Path(scratch) / "sequences", max_length=length)
        table = pq.read_table(Path(scratch) / "sequences" / PART)
    history = table.column("history_item_ids").combine_chunks()
    offsets = history.offsets.to_numpy().astype(np.int64)
    flat = history.values.to_numpy()
    targets = table.column("target_item_id").to_numpy()
    catalogue = np.unique(np.concatenate([flat, targets]))  # ids -> 1..items
    flat, targets = np.searchsorted(catalogue, flat) + 1, np.searchsorted(catalogue, targets) + 1
    return right_aligned(flat, offsets, length + 1), right_aligned(flat, offsets, length), targets, len(catalogue)


def run(encoder: str, sequences, histories, targets, items: int, args) -> dict:
    import tensorflow as tf

    from featureplex.models.sequence.leave_one_out import evaluate_leave_one_out
    from featureplex.models.sequence.next_item import NextItemModel

    tf.keras.utils.set_random_seed(args.seed)
    parameters = {"blocks": args.blocks, "heads": 1, "dropout": args.dropout}
    model = NextItemModel(items, args.length, args.dimension, encoder, args.negatives, 0.05, parameters, args.seed)
    model.compile(tf.keras.optimizers.Adam(args.learning_rate))
    data = (tf.data.Dataset.from_tensor_slices(sequences).shuffle(len(sequences), seed=args.seed)
            .batch(args.batch_size).prefetch(2))
    started = time.perf_counter()
    history = model.fit(data, epochs=args.epochs, verbose=0)
    seconds = time.perf_counter() - started
    item_vectors = model.item_vectors(tf.range(items + 1, dtype=tf.int64)).numpy()
    user_vectors = tf.function(lambda ids: model.user_vectors(ids))
    metrics = evaluate_leave_one_out(lambda ids: user_vectors(tf.constant(ids)).numpy(), item_vectors, histories, targets)
    return {"encoder": encoder, **metrics, "final_loss": float(history.history["loss"][-1]),
            "train_seconds": round(seconds, 1), "sequences_per_second": round(args.epochs * len(sequences) / seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--encoders", default="hstu,sasrec")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--length", type=int, default=50)
    parser.add_argument("--dimension", type=int, default=64)
    parser.add_argument("--blocks", type=int, default=2)
    parser.add_argument("--dropout", type=float, default=0.2)
    parser.add_argument("--negatives", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if not args.data.exists():
        sys.exit(f"{args.data}: not found (pass --data)")
    sequences, histories, targets, items = load(args.data, args.length)
    print(f"{args.data.name}: {len(targets)} users, {items} items; {args.epochs} epochs, dim {args.dimension}")
    results = []
    for encoder in args.encoders.split(","):
        result = run(encoder, sequences, histories, targets, items, args)
        results.append(result)
        print(f"{encoder:7s} HR@10 {result['hr@10']:.4f}  NDCG@10 {result['ndcg@10']:.4f}  "
              f"NDCG@50 {result['ndcg@50']:.4f}  ({result['train_seconds']} s, {result['sequences_per_second']} seq/s)")
    if args.out:
        args.out.write_text(json.dumps({"parameters": vars(args) | {"data": str(args.data), "out": str(args.out)},
                                        "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
