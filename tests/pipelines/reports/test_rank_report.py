"""The rank report's pieces: numbers for reading, each feature's decision, sortable tables."""

import polars as pl
import pytest

from featureplex.features.data.artifact_dir import Manifest
from featureplex.features.scoring.selection import Choice
from featureplex.pipelines.artifacts.rank import RankArtifact
from featureplex.pipelines.reports.rank_report import decisions, html_table, readable_number


@pytest.mark.parametrize("value, shown", [
    (0.47658, "0.477"), (0.0232012, "0.0232"), (0.00128412, "0.00128"), (4.2863, "4.29"), (476.2, "476"),
    (999.7, "1,000"), (12345.6, "12,300"), (3.4599e-06, "3.46e-6"), (-4.10688e-05, "-4.11e-5"), (0.5, "0.500"),
    (0.0, "0"), (20000, "20,000"), (-3, "-3"), (float("nan"), "nan"),
])
def test_readable_number_keeps_three_significant_digits(value, shown):
    assert readable_number(value) == shown


def result_of(ranking: dict, anomalies: dict, selection: list[Choice]) -> RankArtifact:
    frame = pl.DataFrame(ranking)
    return RankArtifact(
        ranking=frame, interactions=pl.DataFrame(), redundancy=pl.DataFrame(), selection=selection,
        recommended=[c.feature for c in selection if c.selected], pool=[],
        anomalies={"label": {"entropy": 0.5}, "thresholds": {"leakage": 0.5},
                   "features": {name: {"anomalies": anomalies.get(name, {})} for name in ranking["feature"]}},
        rows=100, positives=20, heuristic="mi-chance", manifest=Manifest("rank"),
    )


def test_decisions_judge_leaks_on_the_corrected_mi():
    result = result_of(
        {"feature": ["leak", "row_id", "good", "copy", "odd", "noise"],
         "corrected_mi": [0.4, 0.0, 0.05, 0.04, 0.0, 0.0]},
        {"leak": {"label_leakage": "..."}, "row_id": {"id_like": "...", "label_leakage": "..."},
         "good": {"missing": "..."}, "odd": {"drift": "...", "constant": "..."}},
        [Choice("good", True, 1, 0.05, None), Choice("copy", False, None, None, "good")],
    )
    found = {name: (d.kind, d.text) for name, d in decisions(result).items()}
    assert found == {
        "leak": ("leak", "LABEL LEAK (corrected MI/H(y) 0.800)"),
        "row_id": ("anomaly", "ID-like"),  # MI = H(label) by chance: not a leak
        "good": ("selected", "selected #1; mostly missing"),
        "copy": ("redundant", "redundant with good"),
        "odd": ("anomaly", "drift, constant"),
        "noise": ("other", "not selected"),
    }


def test_tables_carry_exact_values_for_sorting_and_say_when_cut():
    frame = pl.DataFrame({"feature": ["a", "b", "c"], "mi": [3.4599e-06, 0.25, None], "id_like": [True, False, True]})
    table = html_table(frame, rows=2)
    assert table.startswith("<p>The first 2 of 3 rows.</p>")
    assert '<td class="num" data-value="3.4599e-06">3.46e-6</td>' in table
    assert '<td data-value="1">yes</td>' in table and '<table class="sortable"><thead>' in table
    assert "<th" in table and "id like</th>" in table


def test_a_ranking_without_features_says_so_instead_of_a_chart():
    from featureplex.pipelines.reports.rank_report import ranking_chart

    empty = pl.DataFrame(schema={"feature": pl.String, "mi": pl.Float64, "chance_mi": pl.Float64})
    assert ranking_chart(empty, {}) == "<p>No features were ranked.</p>"
