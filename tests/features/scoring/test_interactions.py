"""Pair tables find XOR (useless alone, strong together) and the near-copy (redundant)."""

import pickle

import numpy as np
import pytest

import featureplex.features.scoring.interactions as interactions_module
from featureplex.features.scoring.interactions import (
    PairCountsAccumulator,
    PairPlan,
    all_pairs,
    interaction_pool,
    pair_frames,
)
from tests.features.rank_fixtures import batches, impressions, pass_one, run_accumulator


@pytest.mark.parametrize("shuffles", [0, 8])  # chance in closed form (the label inside the joint code), or estimated
def test_xor_gain_and_copy_redundancy(shuffles):
    table = impressions()
    _, scored = pass_one(table, shuffles)
    pool = interaction_pool(scored, k=6, pair_cardinality_cap=100, significance_z=3.0, excluded={"leak"})
    # informative features first; the remaining slots go to the smallest uninformative ones (xor_a, xor_b)
    assert pool[:3] == sorted(pool[:3], key=lambda f: -scored[f].corrected_mi)
    assert {"xor_a", "xor_b", "signal", "signal_copy"} <= set(pool)
    assert "row_id" not in pool and "constant" not in pool and "leak" not in pool
    plan = PairPlan({f: scored[f].codebook for f in pool}, all_pairs(pool), "label", shuffles, 0)
    tables = run_accumulator(PairCountsAccumulator(plan), table)
    filled = PairCountsAccumulator(plan)
    for origin, record_batch in batches(table):
        filled.add_batch(origin, record_batch)
    # tables travel narrowed between workers and come back int64
    shipped = pickle.loads(pickle.dumps(PairCountsAccumulator(plan).merge([pickle.loads(pickle.dumps(filled))]))).result()
    assert tables.keys() == shipped.keys()
    assert all(np.array_equal(tables[p][i], shipped[p][i]) and shipped[p][i].dtype == np.int64 for p in tables for i in (0, 1))
    interactions, redundancy = pair_frames(tables, scored, redundancy_threshold=0.5)
    top = interactions.row(0, named=True)
    assert {top["feature_a"], top["feature_b"]} == {"xor_a", "xor_b"} and top["interaction_gain"] > 0.01
    most = redundancy.row(0, named=True)
    assert {most["feature_a"], most["feature_b"]} == {"signal", "signal_copy"} and most["redundant"]
    assert redundancy["redundant"].sum() == 1


@pytest.mark.parametrize("dense_cells", [0, interactions_module.DENSE_PAIR_CELLS])  # sparse per batch, or dense
def test_label_only_pair_tables_equal_the_packed_ones(dense_cells, monkeypatch):
    monkeypatch.setattr(interactions_module, "DENSE_PAIR_CELLS", dense_cells)
    table = impressions(10_000)
    _, scored = pass_one(table)
    pool = ["signal", "amount", "xor_a", "xor_b", "missing"]
    books = {f: scored[f].codebook for f in pool}
    filled = PairCountsAccumulator(PairPlan(books, all_pairs(pool), "label", 0, 0))
    for origin, record_batch in batches(table):
        filled.add_batch(origin, record_batch)
    alone = pickle.loads(pickle.dumps(filled)).result()
    with_shuffles = run_accumulator(PairCountsAccumulator(PairPlan(books, all_pairs(pool), "label", 2, 0)), table)
    for pair, (keys, counts) in alone.items():
        assert np.array_equal(keys, with_shuffles[pair][0]) and np.array_equal(counts, with_shuffles[pair][1][:, :2]), pair
