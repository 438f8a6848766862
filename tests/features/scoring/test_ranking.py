"""Scores from full-data counts: informative features above noise; plain MI favours the row ID."""

import numpy as np

from featureplex.features.scoring.ranking import RANKING_SCHEMA, heuristic_scores, ranking_frame
from tests.features.rank_fixtures import impressions, pass_one


def test_mi_chance_ranks_informative_above_noise_and_mi_favours_ids():
    table = impressions()
    counts, scored = pass_one(table)
    positives = counts.weight_totals["pos"]
    ranking = ranking_frame(scored, heuristic_scores(scored, "mi-chance", 3.0), counts.rows, positives)
    assert list(ranking.schema) == list(RANKING_SCHEMA)
    order = ranking["feature"].to_list()
    for informative in ("signal", "amount", "signal_copy"):
        for noise in ("noise", "row_id", "xor_a", "xor_b"):
            assert order.index(informative) < order.index(noise), (informative, noise)
    row_id = ranking.filter(ranking["feature"] == "row_id").row(0, named=True)
    assert row_id["id_like"] and row_id["score"] < 0 < row_id["mi"]
    plain = ranking_frame(scored, heuristic_scores(scored, "mi", 3.0), counts.rows, positives)
    assert plain["feature"].to_list().index("row_id") <= 2


def test_columns_are_consistent():
    counts, scored = pass_one(impressions(10_000))
    ranking = ranking_frame(scored, heuristic_scores(scored, "mi-chance", 3.0), counts.rows, counts.weight_totals["pos"])
    assert np.allclose(ranking["corrected_mi"], ranking["mi"] - ranking["chance_mi"])
    assert np.allclose(ranking["score"], ranking["corrected_mi"] - 3.0 * ranking["chance_mi_std"])
    assert ranking["rank"].to_list() == list(range(1, ranking.height + 1))
    missing = ranking.filter(ranking["feature"] == "missing")["missing_rate"][0]
    assert 0.75 < missing < 0.85
    amount = ranking.filter(ranking["feature"] == "amount").row(0, named=True)
    assert amount["bins"] == 16 and amount["cardinality"] > 16


def test_capped_cardinality_comes_with_the_distinct_estimate():
    counts, scored = pass_one(impressions())  # 40,000 rows; cap 10,000 distinct values, then 4,096 hash buckets
    ranking = ranking_frame(scored, heuristic_scores(scored, "mi-chance", 3.0), counts.rows, counts.weight_totals["pos"])
    rows = {row["feature"]: row for row in ranking.iter_rows(named=True)}
    row_id = rows["row_id"]
    assert row_id["cardinality_capped"] and row_id["cardinality"] <= 4096
    assert abs(row_id["distinct_estimate"] / 40_000 - 1) < 0.125  # the sketch's 4 standard errors
    assert not rows["signal"]["cardinality_capped"] and rows["signal"]["distinct_estimate"] == rows["signal"]["cardinality"] == 20
    assert not rows["amount"]["cardinality_capped"] and rows["amount"]["distinct_estimate"] is None
