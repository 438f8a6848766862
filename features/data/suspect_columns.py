"""Columns that look like they should not be features, judged cheaply before any pass over the data.

- constant: at most one distinct non-missing value in the whole dataset, read from the Parquet footers'
  min/max statistics (every row group of every file, no data read), or, for a column written without
  statistics, in the sample below;
- ID-like: a categorical column whose distinct values reach `id_like_ratio` of its non-missing rows,
  the rule the rank stage applies to the full-data counts (features.scoring.ranking.score_features).
  It is judged on a sample, the first `sample_rows` rows in file order. When the sample is the whole
  dataset the rule applies as it is. Otherwise a sample's distinct ratio says little (a 100k-row sample
  of an item id with 1M values in 100M rows is 95% distinct, yet each item repeats 100 times), so
  the distinct values of the whole dataset are projected from the sample's value counts: the
  bias-corrected Chao1 estimate of the number of values D = d + f1 (f1 - 1) / (2 (f2 + 1)) (d distinct,
  f1 values seen once, f2 seen twice), of which N rows draw D (1 - exp(-N / D)) distinct ones. Chao1
  is a lower bound on skewed data, so a real feature is not called an ID by accident; a true ID (every
  sampled value once) projects to about N.

- label leak: a column that alone removes at least `leakage_threshold` of the label's uncertainty in
  the sample, after the chance share a column of as many values gets: (MI - (d - 1) / 2n) / H(y) with
  MI = H(y) - H(y | x) in nats over the sample's n rows and the column's d values (the Miller-Madow
  bias of MI for a binary label), numeric columns in 32 equal-frequency bins. ID-like columns are left
  out (every value once explains every label, by chance).

`schema --write-config` marks constant and ID-like columns `role: ignore`; `vocab` and `train` stop on
any of the three (pipelines.guard). The rank stage's anomalies
(features.scoring.anomalies) are the exact checks, over every row.

Example::

    suspects = suspect_columns(open_dataset("data/clicks"), schema, id_like_ratio=0.5)
    suspects["noise_row_id"].reason   # 'ID-like: 20,000 distinct values in 20,000 non-missing rows'
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from featureplex.features.data.dataset import ParquetDataset, iter_record_batches
from featureplex.features.data.schema import DatasetSchema, Kind, column_ranges
from featureplex.features.scoring.information import entropy, xlogx

SAMPLE_ROWS = 100_000
_SHOWN_CHARS = 40  # a constant value quoted in a reason is cut to this length


@dataclass(frozen=True)
class SuspectColumn:
    """A column that looks constant or ID-like, and the evidence, in words."""

    name: str
    check: str  # "constant", "id_like" or "label_leakage"
    reason: str


def read_sample(dataset: ParquetDataset, names: list[str], sample_rows: int = SAMPLE_ROWS) -> pa.Table:
    """The first `sample_rows` rows of the named columns, read batch by batch: the sample both checks
    below judge on (read it once and pass it to both)."""
    batches, rows = [], 0
    for batch in iter_record_batches(dataset, columns=names, batch_rows=sample_rows):
        batches.append(batch.slice(0, sample_rows - rows))
        rows += batches[-1].num_rows
        if rows >= sample_rows:
            break
    return pa.Table.from_batches(batches, schema=pa.schema([dataset.schema.field(name) for name in names]))


def projected_distinct(counts: np.ndarray, rows: int) -> float:
    """Distinct values expected in `rows` rows, from the per-value counts of a smaller sample (module docstring)."""
    f1, f2 = int(np.count_nonzero(counts == 1)), int(np.count_nonzero(counts == 2))
    values = len(counts) + f1 * (f1 - 1) / (2 * (f2 + 1))
    return values * -np.expm1(-rows / values) if values else 0.0


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."


def suspect_columns(
    dataset: ParquetDataset, schema: DatasetSchema, id_like_ratio: float, sample_rows: int = SAMPLE_ROWS,
    sample: pa.Table | None = None,
) -> dict[str, SuspectColumn]:
    """The schema's categorical and numeric features that look constant or ID-like (module docstring),
    judged on `sample` (a read_sample holding them) or on the first `sample_rows` rows read here."""
    scalar = [spec.name for spec in schema.features if spec.kind != Kind.SEQUENCE]
    categorical = {spec.name for spec in schema.features if spec.kind == Kind.CATEGORICAL}
    ranges = column_ranges(dataset, scalar)
    suspects = {}
    for name, span in ranges.items():
        if span.minimum is None:
            suspects[name] = SuspectColumn(name, "constant", "constant: null in every row")
        elif span.minimum == span.maximum:
            suspects[name] = SuspectColumn(name, "constant", f"constant: every non-missing value is {_shown(span.minimum)}")
    sampled = [name for name in scalar if name not in suspects and (name in categorical or name not in ranges)]
    if not sampled:
        return suspects
    sample = sample if sample is not None else read_sample(dataset, sampled, sample_rows)
    whole = sample.num_rows == dataset.num_rows
    read = "" if whole else f" in the first {sample.num_rows:,} rows"
    for name in sampled:
        column = sample.column(name)
        present = len(column) - column.null_count
        counts = pc.value_counts(column.drop_null()).field("counts").to_numpy()
        if len(counts) <= 1 and name not in ranges:
            suspects[name] = SuspectColumn(name, "constant", f"constant: {len(counts)} distinct value(s){read}")
        elif name in categorical and len(counts) > 1:
            if whole:
                distinct, rows = len(counts), present
            else:  # projected to the whole dataset, missing values at the sample's rate
                rows = round(present / sample.num_rows * dataset.num_rows)
                distinct = projected_distinct(counts, rows)
            if distinct >= id_like_ratio * rows:
                found = (f"{len(counts):,} distinct values in {present:,} non-missing rows" if whole else
                         f"{len(counts):,} distinct values{read}; about {distinct:,.0f} expected in its {rows:,} non-missing rows")
                suspects[name] = SuspectColumn(name, "id_like", f"ID-like: {found}")
    return suspects


LEAK_BINS = 32


def leak_share(values: pa.ChunkedArray, labels: np.ndarray, numeric: bool) -> float:
    """(MI - (d - 1) / 2n) / H(y) of a column against 0/1 labels (module docstring); missing is a value."""
    if numeric:
        filled = pc.fill_null(pc.cast(values, pa.float64()), np.nan).to_numpy(zero_copy_only=False)
        ranks = np.argsort(np.argsort(filled, kind="stable"), kind="stable")
        codes = np.where(np.isnan(filled), LEAK_BINS, ranks * LEAK_BINS // max(len(filled), 1))
    else:
        codes = pc.dictionary_encode(values).combine_chunks().indices.to_numpy(zero_copy_only=False)
        codes = np.where(np.isnan(codes.astype(float)), -1, codes).astype(np.int64) + 1  # nulls: their own value
    distinct = int(codes.max()) + 1
    cells = np.bincount(codes * 2 + labels, minlength=2 * distinct).reshape(-1, 2)
    label_h = entropy(cells.sum(axis=0))
    if label_h == 0:
        return 0.0
    per_value, rows = cells.sum(axis=1), cells.sum()
    conditional = float((xlogx(per_value).sum() - xlogx(cells).sum()) / rows)  # H(y | x) from the cells
    return (label_h - conditional - (np.count_nonzero(per_value) - 1) / (2 * rows)) / label_h


def leaking_columns(dataset: ParquetDataset, schema: DatasetSchema, threshold: float, skip: set[str],
                    sample_rows: int = SAMPLE_ROWS, sample: pa.Table | None = None) -> dict[str, SuspectColumn]:
    """The scalar features outside `skip` whose leak share on the sample (`sample`, holding them and the
    label, or the first `sample_rows` rows read here) reaches `threshold`."""
    names = [spec.name for spec in schema.features if spec.kind != Kind.SEQUENCE and spec.name not in skip]
    if not names:
        return {}
    sample = sample if sample is not None else read_sample(dataset, [schema.label, *names], sample_rows)
    labels = pc.cast(sample.column(schema.label), pa.int64()).to_numpy(zero_copy_only=False)
    numeric = set(schema.names(Kind.NUMERIC))
    found = {}
    for name in names:
        share = leak_share(sample.column(name), labels, name in numeric)
        if share >= threshold:
            found[name] = SuspectColumn(name, "label_leakage", f"label leak: it alone removes {share:.0%} of the "
                                        f"label's uncertainty in the first {sample.num_rows:,} rows")
    return found
