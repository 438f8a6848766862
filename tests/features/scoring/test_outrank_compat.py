"""outrank-compat against a slow, literal transcription of OutRank's MI-numba-randomized.

`slow_batch_score` follows ranking_mi_numba.py line by line (pandas category codes, per-class row
lists, the shift by the class count, the diagonal test, natural logs); the library computes the
same thing with bincounts. Matching the real package is benchmarks/outrank_compat_check.py's job.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from featureplex.features.data.config import RankParams
from featureplex.features.data.dataset import open_dataset
from featureplex.features.data.schema import resolve_schema
from featureplex.features.errors import InputError
from featureplex.features.scoring.outrank_compat import (
    MINIBATCH_ROWS,
    _reference_batches,
    batch_scores,
    category_codes,
    csv_text,
    outrank_compat_scores,
)

PARAMS = RankParams(heuristic="outrank-compat")


def pandas_codes(texts: list[str]) -> list[int]:
    """`astype('category').cat.codes`: position of the text among the sorted distinct texts."""
    order = {value: code for code, value in enumerate(sorted(set(texts)))}
    return [order[text] for text in texts]


def slow_batch_score(label_texts: list[str], feature_texts: list[str]) -> float:
    x = pandas_codes(label_texts)
    y = pandas_codes(feature_texts)
    n = len(x)

    def weighted_entropy(values: list[int], size: int, weight: float) -> float:
        total = 0.0
        for count in Counter(values).values():
            p = count / size
            total -= weight * p * math.log(p)
        return total

    within = shifted = 0.0
    for label_value, class_count in Counter(x).items():
        if class_count == 1:
            continue
        rows = [i for i in range(n) if x[i] == label_value]
        within += weighted_entropy([y[i] for i in rows], class_count, class_count / n)
        shifted += weighted_entropy([y[(i + class_count) % n] for i in rows], class_count, class_count / n)
    if sum(x) - sum(y) == 0:  # the reference's diagonal test: plain MI
        return weighted_entropy(y, n, 1.0) - within
    return shifted - within


def random_texts(rng: np.random.Generator, n: int, values: list[str]) -> list[str]:
    return [values[i] for i in rng.integers(0, len(values), n)]


@pytest.mark.parametrize("seed", range(6))
def test_batch_scores_match_the_literal_estimator(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 300))
    label = random_texts(rng, n, ["0", "1"])
    features = [
        random_texts(rng, n, ["a", "b", "10", "9", "", "é"]),
        [str(v) for v in rng.integers(0, n, n)],  # near-unique
        ["k"] * n,  # constant
        [("p" if t == "1" else "q") if rng.random() < 0.9 else "r" for t in label],  # predictive
        list(label),  # the label itself: diagonal branch
    ]
    codes = category_codes(pl.DataFrame({"label": label, **{f"f{i}": f for i, f in enumerate(features)}}))
    got = batch_scores(codes[0], codes[1:])
    want = [slow_batch_score(label, f) for f in features]
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_singleton_and_multiclass_labels_follow_the_reference():
    rng = np.random.default_rng(7)
    # label value "2" occurs once (skipped by the reference); "0" and "1" are ordinary classes
    label = random_texts(rng, 200, ["0", "1"]) + ["2"]
    feature = random_texts(rng, 201, ["a", "b", "c"])
    codes = category_codes(pl.DataFrame({"label": label, "f": feature}))
    assert batch_scores(codes[0], codes[1:])[0] == pytest.approx(slow_batch_score(label, feature), abs=1e-6)


def test_category_codes_and_text_follow_pandas_and_csv():
    frame = pl.DataFrame(
        {
            "s": ["b", "a", "10", "9", None, "é"],
            "i": [3, None, 10, 9, 3, 1],
            "l": [[1, 2], [], None, [3], [1, 2], [10]],
        }
    )
    text = csv_text(frame)
    assert text["s"].to_list() == ["b", "a", "10", "9", "", "é"]
    assert text["i"].to_list() == ["3", "", "10", "9", "3", "1"]
    assert text["l"].to_list() == ["1,2", "", "", "3", "1,2", "10"]
    codes = category_codes(text)
    for column, got in zip(text.columns, codes):
        assert got.tolist() == pandas_codes(text[column].to_list())


def make_table(rows: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    label = (rng.random(rows) < 0.3).astype(np.int8)
    flip = rng.random(rows) < 0.1
    return pa.table(
        {
            "label": pa.array(label),
            # predictive, coded opposite to the label so the diagonal branch is not taken
            "signal": pa.array(np.where(label ^ flip, "no", "yes")),
            "city": pa.array(random_texts(rng, rows, ["a", "b", "10", "9", "é"])),
            "item_id": pa.array(rng.integers(0, 60, rows)),
            "user_id": pa.array(rng.integers(0, 10**9, rows)),
            "price": pa.array(np.round(rng.normal(size=rows), 1)),
            "sparse": pa.array([None if m else int(v) for m, v in zip(rng.random(rows) < 0.5, rng.integers(0, 4, rows))], pa.int64()),
            "history_item_ids": pa.array([list(rng.integers(0, 3, k)) for k in rng.integers(0, 3, rows)], pa.list_(pa.int64())),
        }
    )


def python_texts(table: pa.Table, column: str) -> list[str]:
    """The CSV text of each value, written independently of the library (Python's own formatting)."""

    def text(value) -> str:
        if value is None:
            return ""
        if isinstance(value, list):
            return ",".join(str(v) for v in value)
        return str(value)

    return [text(v) for v in table.column(column).to_pylist()]


def write_dataset(tmp_path, table: pa.Table, files: int = 2, row_group_size: int = 5_000):
    directory = tmp_path / "data"
    directory.mkdir()
    bounds = np.linspace(0, table.num_rows, files + 1).astype(int)
    for index in range(files):
        part = table.slice(bounds[index], bounds[index + 1] - bounds[index])
        pq.write_table(part, directory / f"part-{index}.parquet", row_group_size=row_group_size)
    return open_dataset(directory)


def test_scores_are_medians_of_reference_batches_across_files_and_row_groups(tmp_path):
    rows = 2 * MINIBATCH_ROWS + 5_000  # two full batches and a scored remainder
    table = make_table(rows, seed=3)
    dataset = write_dataset(tmp_path, table)
    scores = outrank_compat_scores(dataset, resolve_schema(dataset), PARAMS)

    label = python_texts(table, "label")
    starts = [0, MINIBATCH_ROWS, 2 * MINIBATCH_ROWS]
    for name in table.column_names[1:]:
        values = python_texts(table, name)
        per_batch = [slow_batch_score(label[s : s + MINIBATCH_ROWS], values[s : s + MINIBATCH_ROWS]) for s in starts]
        assert scores[name] == pytest.approx(float(np.median(per_batch)), abs=1e-6), name


def test_predictive_feature_scores_highest(tmp_path):
    dataset = write_dataset(tmp_path, make_table(MINIBATCH_ROWS + 2_000, seed=5))
    scores = outrank_compat_scores(dataset, resolve_schema(dataset), PARAMS)
    assert max(scores, key=scores.get) == "signal"
    # one cyclic shift is a noisy chance baseline: noise lands within a few 1e-3 of zero, either side
    noise = [abs(score) for name, score in scores.items() if name != "signal"]
    assert scores["signal"] > 0.1 > 5 * max(noise)


def test_deterministic_and_independent_of_rank_params(tmp_path):
    dataset = write_dataset(tmp_path, make_table(MINIBATCH_ROWS + 3_000, seed=11))
    schema = resolve_schema(dataset)
    first = outrank_compat_scores(dataset, schema, PARAMS)
    again = outrank_compat_scores(dataset, schema, PARAMS)
    other = outrank_compat_scores(dataset, schema, RankParams(heuristic="outrank-compat", batch_rows=1_000, seed=9))
    assert first == again == other


@pytest.mark.parametrize(("remainder", "batches"), [(1_024, 1), (1_025, 2)])
def test_trailing_batch_is_scored_only_above_1024_rows(tmp_path, remainder, batches):
    dataset = write_dataset(tmp_path, make_table(MINIBATCH_ROWS + remainder, seed=1), files=3, row_group_size=3_000)
    heights = [frame.height for frame in _reference_batches(dataset, ["label", "city"])]
    assert heights == [MINIBATCH_ROWS, remainder][:batches]


def test_too_few_rows_is_an_input_error(tmp_path):
    dataset = write_dataset(tmp_path, make_table(1_024, seed=2), files=1)
    with pytest.raises(InputError, match="nothing would be scored"):
        outrank_compat_scores(dataset, resolve_schema(dataset), PARAMS)
