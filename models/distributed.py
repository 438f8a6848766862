"""Training on several workers with `tf.distribute.MultiWorkerMirroredStrategy` (the cluster from TF_CONFIG).

Every worker holds a full copy of the model (the embedding table included: a budgeted layout fits
every worker, which is what its parameter budget is for) and trains on its own shard of the data:
the Parquet row groups `rank, rank + size, rank + 2 size, ...` in file order
(`ParquetDataset.shard`), at `batch / size` rows per step, so a step consumes the configured global
batch. The strategy all-reduces the gradients every step (each replica's loss is its rows' summed
loss / the global batch rows, so the sum is the global batch's mean), and the metrics' variables
when they are read: every worker sees the same validation AUC and takes the same early-stopping and
learning-rate decisions, which it must (a worker leaving the loop alone would leave the others
waiting in a collective).

Steps are counted ahead, per worker, and the common count is the largest (one small all-reduce per
epoch): a worker whose shard runs out first steps on empty batches (the distributed iterator's own
padding) until the others end, so every row of every shard is trained on once per epoch.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import numpy as np
import tensorflow as tf

from featureplex.models import quiet_stderr
from featureplex.models.input import EpochStream


class Workers:
    """This process's place in the cluster and the strategy its model is built under."""

    def __init__(self, rank: int, size: int):
        """Worker `rank` of `size`, as TF_CONFIG names them (pipelines.cluster), which the strategy reads itself.
        Created before any other TensorFlow op: the collectives are configured when the context starts."""
        with quiet_stderr():
            self.strategy = tf.distribute.MultiWorkerMirroredStrategy()
            tf.constant(0)
        self.rank, self.size = rank, size

    @property
    def is_chief(self) -> bool:
        return self.rank == 0

    def sum(self, values) -> np.ndarray:
        """The element-wise sum of every worker's `values` (float64), the same array on every worker; a
        collective: every worker calls it at the same point of its program."""
        local = tf.constant(np.asarray(values, dtype=np.float64))
        per_replica = self.strategy.run(lambda: tf.identity(local))
        return self.strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None).numpy()

    def gathered(self, value: float) -> np.ndarray:
        """Every worker's `value`, by rank."""
        values = np.zeros(self.size)
        values[self.rank] = value
        return self.sum(values)


def workers_scope(workers: Workers | None):
    """The strategy's scope, where the model and its optimizer are built (nothing without workers)."""
    return workers.strategy.scope() if workers is not None else contextlib.nullcontext()


class DistributedStream:
    """An EpochStream on this worker's shard, read through the strategy: `EpochStream`'s interface with the
    steps and rows of the whole cluster.

    `steps(k)` is the largest shard's number of batches of epoch k and `batch_rows(k)` the rows every
    worker together trains on at each of those steps (the throughput is the cluster's). Each epoch is a
    pass of its own (`EpochStream.dataset`) so that the iterator ends where the shard ends and pads.
    """

    def __init__(self, stream: EpochStream, workers: Workers):
        self._stream, self._workers = stream, workers
        self._plans: dict[int, np.ndarray] = {}

    def batch_rows(self, epoch: int) -> np.ndarray:
        if epoch not in self._plans:
            local = self._stream.batch_rows(epoch)
            steps = int(self._workers.gathered(len(local)).max())
            padded = np.zeros(steps)
            padded[:len(local)] = local
            self._plans = {epoch: self._workers.sum(padded).astype(np.int64)}
        return self._plans[epoch]

    def steps(self, epoch: int) -> int:
        return len(self.batch_rows(epoch))

    def epoch(self, epoch: int) -> Iterator:
        dataset = self._stream.dataset(epoch)
        return iter(self._workers.strategy.distribute_datasets_from_function(lambda context: dataset))

    def finished(self, epoch: int) -> None:
        """Nothing to keep: the next epoch gets an iterator of its own."""
