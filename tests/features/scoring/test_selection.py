"""The greedy selection keeps one of a redundant pair and leaves noise and leakage out."""

import polars as pl

from featureplex.features.scoring.interactions import REDUNDANCY_SCHEMA
from featureplex.features.scoring.selection import select_features
from tests.features.rank_fixtures import impressions, pass_one


def test_greedy_selection_drops_the_copy():
    _, scored = pass_one(impressions())
    redundancy = pl.DataFrame(
        [{"feature_a": "signal", "feature_b": "signal_copy", "mutual_information": 2.0, "redundancy": 0.8, "redundant": True}],
        schema=REDUNDANCY_SCHEMA,
    )
    choices = select_features(scored, redundancy, 0.5, 3.0, excluded={"leak"}, max_selected=10)
    chosen = [c.feature for c in choices if c.selected]
    assert ("signal" in chosen) != ("signal_copy" in chosen)
    dropped = [c for c in choices if not c.selected]
    assert [c.feature for c in dropped] == [({"signal", "signal_copy"} - set(chosen)).pop()]
    assert dropped[0].redundant_with in chosen
    assert "amount" in chosen and not {"noise", "row_id", "leak", "constant"} & set(chosen)
    assert [c.order for c in choices if c.selected] == list(range(1, len(chosen) + 1))


def test_max_selected():
    _, scored = pass_one(impressions(10_000))
    empty = pl.DataFrame(schema=REDUNDANCY_SCHEMA)
    assert len(select_features(scored, empty, 0.5, 3.0, set(), max_selected=1)) == 1
