"""`outrank-compat`: OutRank 0.97.5's `MI-numba-randomized` estimator, reproduced on Parquet data.

This heuristic exists so featureplex scores can be checked against the reference package on the same
rows (DESIGN.md section 3); it is for verification, not scale, and reads the data in file order on
one process. Everything below is kept from the reference on purpose, including its quirks.

What the reference does with `--data_source csv-raw --subsampling 1` (outrank/core_ranking.py,
outrank/algorithms/importance_estimator.py, outrank/algorithms/feature_ranking/ranking_mi_numba.py):

- Rows: `data.csv` is read line by line, each line split by `csv.reader`, so every value is text.
  Batches are 16,384 consecutive lines in file order; a trailing partial batch is scored only when
  it has more than 1,024 rows (and is dropped otherwise).
- Encoding: per batch, every column (label included) becomes a pandas categorical, whose categories
  are the sorted distinct texts; a value's code is the rank of its text in that order. Numbers are
  raw categories: "1.0" and "1" are different values, no binning. (OutRank hashes values with
  xxhash only for cardinality sketches and feature combinations, never for this score.)
- Estimator, per batch of n rows, for feature codes y and label codes x, natural logs: for every
  label value l with count c_l > 1 (p_l = c_l / n), with R_l the rows where x = l,

      score = sum_l p_l * [ H(y[(r + c_l) mod n] for r in R_l)  -  H(y[r] for r in R_l) ]

  i.e. the entropy of the feature read c_l rows further on (cyclically in the batch; the chance
  baseline) minus the entropy of the feature within class l. If sum(x) == sum(y) (the reference's
  test for "feature is the label itself"), the correction is switched off and the score is plain
  MI, H(y) - sum_l p_l H(y | x = l). Each class term p_l * H is rounded to float32 (p_l too) and
  the score is returned as float32, as the numba kernels do.
- Result: the median over batches of each feature's score (pandas groupby median).

Values are compared by their text, as the reference sees them in `data.csv`; `csv_text` defines that
text (null -> "", lists -> elements joined by ","), and a CSV written from `csv_text` output is read
by the reference as exactly these values. A CSV produced by another writer may print floats
differently (so may split or merge values differently) and is not covered.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Iterator, Sequence

import numpy as np
import polars as pl

from featureplex.features.data.config import RankParams
from featureplex.features.data.dataset import ParquetDataset, iter_record_batches
from featureplex.features.data.schema import DatasetSchema
from featureplex.features.errors import InputError

MINIBATCH_ROWS = 16_384  # OutRank's --minibatch_size default (2**14)
MIN_REMAINDER_ROWS = 1_024  # OutRank scores the trailing partial batch only above this many rows
LIST_SEPARATOR = ","


def csv_text(frame: pl.DataFrame) -> pl.DataFrame:
    """Every column as the text OutRank reads from `data.csv`: null -> "", lists joined by ","."""

    def text(name: str, dtype: pl.DataType) -> pl.Expr:
        column = pl.col(name)
        if isinstance(dtype, pl.List):
            column = column.list.eval(pl.element().cast(pl.String).fill_null("")).list.join(LIST_SEPARATOR)
        return column.cast(pl.String).fill_null("")

    return frame.select([text(name, dtype) for name, dtype in frame.schema.items()])


def _reference_batches(dataset: ParquetDataset, columns: Sequence[str]) -> Iterator[pl.DataFrame]:
    """The reference's batches as text frames: 16,384 consecutive rows across row groups and files,
    then the remainder if it has more than 1,024 rows."""
    pending: list[pl.DataFrame] = []
    held = 0
    for batch in iter_record_batches(dataset, columns=columns, batch_rows=MINIBATCH_ROWS):
        # Text first: it is what the reference compares, and string frames concatenate cleanly
        # (dictionary columns of different row groups need not share a dictionary).
        pending.append(csv_text(pl.from_arrow(batch)))
        held += batch.num_rows
        while held >= MINIBATCH_ROWS:
            frame = pl.concat(pending, rechunk=True)
            yield frame.slice(0, MINIBATCH_ROWS)
            rest = frame.slice(MINIBATCH_ROWS)
            pending, held = ([rest] if rest.height else []), rest.height
    if held > MIN_REMAINDER_ROWS:
        yield pl.concat(pending, rechunk=True)


def category_codes(text: pl.DataFrame) -> list[np.ndarray]:
    """pandas `astype('category').cat.codes` of each text column: the rank of the text among the
    batch's sorted distinct texts (byte order, which is code-point order for UTF-8)."""
    ranked = text.select(pl.all().rank("dense").cast(pl.Int64) - 1)
    return [ranked.to_series(index).to_numpy() for index in range(ranked.width)]


@lru_cache(maxsize=4)
def _xlogx(n: int) -> np.ndarray:
    """t * log(t) for t = 0..n (0 at t = 0), so an entropy is a table lookup per count."""
    counts = np.arange(n + 1, dtype=np.float64)
    table = np.zeros(n + 1)
    table[1:] = counts[1:] * np.log(counts[1:])
    return table


def _class_entropies(label_codes: np.ndarray, codes: np.ndarray, classes: int, class_counts: np.ndarray) -> np.ndarray:
    """H(codes | label = l) for every label code l, from one bincount of the joint (label, value) code.

    H_l = log c_l - sum_v t_lv log t_lv / c_l, with t_lv the rows of class l holding value v."""
    values = int(codes.max()) + 1
    joint = np.bincount(label_codes * values + codes, minlength=classes * values).reshape(classes, values)
    sizes = np.maximum(class_counts, 1)  # absent label codes (count 0) are masked out by the caller
    return np.log(sizes) - _xlogx(len(codes))[joint].sum(axis=1) / sizes


def batch_scores(label_codes: np.ndarray, feature_codes: Sequence[np.ndarray]) -> np.ndarray:
    """The reference's per-batch score of each feature (float32), from category codes of one batch.

    The shifted rows depend only on the label, so they are computed once and shared by all features;
    each feature then costs two bincounts."""
    label_codes = np.asarray(label_codes, dtype=np.int64)
    rows = len(label_codes)
    class_counts = np.bincount(label_codes)
    classes = len(class_counts)
    scored = class_counts > 1  # the reference skips classes seen once (and absent codes have none)
    weights = (class_counts / rows).astype(np.float32).astype(np.float64)  # its p_l is a float32 argument
    shifted_rows = (np.arange(rows) + class_counts[label_codes]) % rows
    label_sum = int(label_codes.sum())

    def class_terms(entropies: np.ndarray) -> float:
        # float32 per class (compute_conditional_entropy returns float32), summed in float64
        return float((weights * entropies)[scored].astype(np.float32).astype(np.float64).sum())

    scores = np.empty(len(feature_codes), dtype=np.float32)
    for index, codes in enumerate(feature_codes):
        codes = np.asarray(codes, dtype=np.int64)
        within = class_terms(_class_entropies(label_codes, codes, classes, class_counts))
        if int(codes.sum()) == label_sum:
            # the reference's "diagonal" test, np.sum(X - Y) == 0: plain MI, no chance baseline
            value_counts = np.bincount(codes)
            total = np.log(rows) - _xlogx(rows)[value_counts].sum() / rows
            scores[index] = total - within
        else:
            shifted = class_terms(_class_entropies(label_codes, codes[shifted_rows], classes, class_counts))
            scores[index] = shifted - within
    return scores


def outrank_compat_scores(dataset: ParquetDataset, schema: DatasetSchema, params: RankParams) -> dict[str, float]:
    """Each feature's OutRank `MI-numba-randomized` score: the median over the reference's 16,384-row
    batches (file order) of the per-batch estimator described in the module docstring.

    `params` selects this heuristic; none of its fields changes the result (batch size, seed and
    binning are the reference's, so the numbers stay comparable). Raises InputError when the data
    has no batch the reference would score (at most 1,024 rows)."""
    names = schema.names()
    per_batch = []
    for text in _reference_batches(dataset, [schema.label, *names]):
        label_codes, *feature_codes = category_codes(text)
        per_batch.append(batch_scores(label_codes, feature_codes))
    if not per_batch:
        raise InputError(
            f"outrank-compat: {dataset.num_rows} rows; the reference scores batches of {MINIBATCH_ROWS} rows "
            f"and a trailing batch only above {MIN_REMAINDER_ROWS} rows, so nothing would be scored"
        )
    medians = np.median(np.stack(per_batch).astype(np.float64), axis=0)
    return {name: float(value) for name, value in zip(names, medians)}
