"""The hybrid head/tail split from the counts: served occurrences, and the head size that maximises them."""

import numpy as np
import pytest

from featureplex.features.data.config import VocabParams
from featureplex.features.embedding.head_budget import head_and_tail, served
from featureplex.features.embedding.layout import build_layout, head_vocabularies
from tests.features.embedding.test_layout import counts_of


def split(counts, free_rows, chunks=2, min_count=2):
    counts = np.sort(np.asarray(counts))[::-1]
    candidates, rest = counts[counts >= min_count], counts[counts < min_count]
    return head_and_tail(candidates, np.full(len(candidates), chunks), rest, np.full(len(rest), chunks), free_rows)[0]


def test_served_is_the_expected_mass_of_values_owning_a_slot():
    # Monte Carlo: hash each tail value's chunks into T rows, a slot (chunk, row) owned by its heaviest value
    rng = np.random.default_rng(0)
    counts = np.sort(rng.integers(1, 50, 12))[::-1].astype(float)
    chunks, free_rows, size, trials = 2, 6, 2, 40_000
    tail = counts[size:]
    rows = rng.integers(0, free_rows - size, (trials, chunks, len(tail)))
    heavier_in_slot = (rows[:, :, :, None] == rows[:, :, None, :]) & np.tri(len(tail), k=-1, dtype=bool)[None, None]
    owns = (~heavier_in_slot.any(axis=3)).any(axis=1)  # [trials, values]: owns at least one of its slots
    simulated = counts[:size].sum() + (owns * tail).sum(axis=1).mean()
    exact = served(size, counts, np.full(len(counts), chunks), np.arange(len(counts)), free_rows)
    assert exact == pytest.approx(simulated, rel=0.01)


def test_flat_counts_with_far_more_values_than_rows_go_to_the_tail():
    assert split(np.full(10_000, 5), 1000) == 0


def test_when_every_candidate_fits_each_gets_a_head_row_and_the_rest_share_one_tail_row():
    counts = np.arange(2, 40)[::-1]
    singles = np.ones(5000, np.int64)  # below min_count: no candidates, they count for nothing
    assert head_and_tail(counts, np.full(len(counts), 2), singles, np.full(len(singles), 2), 100) == (len(counts), 1)
    assert served(len(counts), counts.astype(float), np.full(len(counts), 2.0), np.arange(len(counts)), 100) == counts.sum()


@pytest.mark.parametrize("heavy", [300, 600])
def test_skewed_counts_give_the_heavy_values_the_head_and_the_rest_to_the_tail(heavy):
    # heavy values colliding with each other in the tail lose slots there; the light ones share what is left
    counts = np.concatenate([10_000 - np.arange(heavy), np.full(20_000, 3)])
    assert heavy - 10 <= split(counts, 1000) <= heavy


def test_a_few_heavy_values_keep_their_slots_in_a_crowded_tail_and_zipf_counts_keep_most_rows_for_the_tail():
    # 50 heavy values own their slots in the tail as well as in the head: no more than them is promoted
    assert split(np.concatenate([np.full(50, 10_000), np.full(20_000, 3)]), 1000) <= 50
    zipf = np.floor(1e4 / np.arange(1, 5001)).astype(int) + 1
    assert 0 < split(zipf, 1400) < 1400 * 3 // 4  # less than tail_share 0.25 would promote


def test_more_chunks_favour_the_tail():
    counts = np.floor(1e4 / np.arange(1, 5001)).astype(int) + 1
    assert split(counts, 1400, chunks=1) > split(counts, 1400, chunks=2) >= split(counts, 1400, chunks=4)


@pytest.mark.parametrize("budget_rows", [6, 9, 12, 40])
def test_the_layout_stays_within_the_budget_and_is_deterministic(budget_rows):
    counts = counts_of(item=[str(i % 17) for i in range(200)] + ["x"] * 50 + [f"once{i}" for i in range(30)],
                       device=["ios"] * 120 + ["tv"] * 80 + [""] * 80)
    layouts = [build_layout(counts, VocabParams(dimension=4, budget_rows=budget_rows)) for _ in range(2)]
    layout = layouts[0]
    assert layouts[1] == layout and layout.rows <= budget_rows and layout.tail_rows >= 1
    assert layout.rows == 1 + 1 + layout.head_rows + layout.tail_rows  # padding, device's missing row (item has none)
    assert head_vocabularies(counts, layout)["device"][:1] == (["ios"] if layout.head_rows else [])
    if layout.head_rows < 20:  # 20 candidates (x, 0..16, ios, tv): the tail takes every row the head leaves
        assert layout.rows == budget_rows
    else:  # all candidates in the head: the 30 values seen once share one row, the table is smaller
        assert layout.tail_rows == 1 and budget_rows == 40 and layout.rows == 1 + 1 + 20 + 1


def test_tail_share_overrides_the_rule():
    counts = counts_of(item=[str(i % 400) for i in range(2000)], device=["ios", "tv"] * 1000)
    rule = build_layout(counts, VocabParams(dimension=4, budget_rows=103))
    fixed = build_layout(counts, VocabParams(dimension=4, budget_rows=103, tail_share=0.25))
    assert fixed.tail_rows == 25 and fixed.head_rows == 77  # 102 free rows (no missing rows), a quarter to the tail
    assert rule.head_rows < fixed.head_rows  # 402 flat values on 100 rows: mostly tail


def test_a_hybrid_layout_without_head_or_missing_values_hashes_every_value_as_hashing_does():
    # 400 flat values on 50 rows: no head; no missing value: no missing row, the whole table is the tail
    counts = counts_of(item=[str(i % 400) for i in range(2000)], ad=[str(i % 300) for i in range(2000)])
    hybrid = build_layout(counts, VocabParams(dimension=4, budget_rows=50))
    hashing = build_layout(counts, VocabParams(mode="hashing", dimension=4, budget_rows=50))
    assert hybrid.head_rows == 0 and all(spec.missing_row is None for spec in hybrid.features.values())
    fields = ("salt", "chunks", "head_offset", "head_rows", "tail_offset", "tail_rows")
    for name in counts.features:
        assert [getattr(hybrid.features[name], key) for key in fields] == [getattr(hashing.features[name], key) for key in fields]


def test_a_missing_row_only_where_missing_occurs():
    layout = build_layout(counts_of(full=["a", "b", "a"], gaps=["a", None, "a"]), VocabParams(dimension=4, budget_rows=8))
    assert layout.features["full"].missing_row is None and layout.features["gaps"].missing_row is not None
