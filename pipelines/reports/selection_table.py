"""One row per feature: what the rank stage kept and what OptFS kept, side by side.

The two selections answer the same question in different units: the rank stage scores a whole
feature against the label before any model exists (and recommends a list), OptFS learns a gate per
feature value inside the model (and reports keep ratios and dropped fields). Reading them together
shows where they agree, and which features one keeps and the other drops (issue 7).

Example::

    ranking = rank("data/synth", config, "out/rank")
    outcome = select_optfs(inputs, "out/vocab", "out/optfs", params, config.optfs)
    layout = VocabArtifact.read("out/vocab").layout
    table = selection_table(ranking, RankArtifact.read("out/rank").recommended, outcome.keep_ratios, outcome.dropped,
                            sequences=layout.sequences)
"""

from __future__ import annotations

from typing import Mapping, Sequence

import polars as pl

from featureplex.features.embedding.pruning import KeepRatio

SELECTION_TABLE_SCHEMA = {
    "feature": pl.String,
    "rank_score": pl.Float64,
    "rank_position": pl.Int64,
    "value_keep_ratio": pl.Float64,
    "row_keep_ratio": pl.Float64,
    "kept_by_rank": pl.Boolean,
    "kept_by_optfs": pl.Boolean,
}


def selection_table(
    ranking: pl.DataFrame,
    recommended: Sequence[str],
    keep_ratios: Mapping[str, KeepRatio],
    dropped: Sequence[str],
    sequences: Mapping[str, str] | None = None,
) -> pl.DataFrame:
    """The columns of SELECTION_TABLE_SCHEMA for every feature named by any argument.

    `ranking` is the rank stage's frame (`feature`, `rank`, `score`); a feature it does not hold (a
    sequence, or one the rank stage never saw) has null score and position and sorts last, by name.
    A sequence (`sequences`: sequence -> the feature whose rows it shares, layout.json's `sequences`)
    is gated through that feature's rows, so it shows that feature's keep ratios and verdict.
    `kept_by_optfs`: false when OptFS dropped the whole field, null where it has no gate (a numeric
    feature: OptFS selects embedding values only).
    """
    shared = {name: keep_ratios[feature] for name, feature in (sequences or {}).items() if feature in keep_ratios}
    keep_ratios = {**keep_ratios, **shared}
    dropped = [*dropped, *(name for name, feature in (sequences or {}).items() if feature in dropped)]
    by_rank = pl.Series("feature", list(recommended), dtype=pl.String)
    fields_dropped = pl.Series("feature", list(dropped), dtype=pl.String)
    ranked = ranking.select("feature", pl.col("score").alias("rank_score"), pl.col("rank").alias("rank_position"))
    ratios = pl.DataFrame(
        {"feature": list(keep_ratios),
         "value_keep_ratio": [ratio.value_ratio for ratio in keep_ratios.values()],
         "row_keep_ratio": [ratio.row_ratio for ratio in keep_ratios.values()]},
        schema={name: SELECTION_TABLE_SCHEMA[name] for name in ("feature", "value_keep_ratio", "row_keep_ratio")},
    )
    names = pl.concat([ranked["feature"], ratios["feature"], by_rank, fields_dropped]).unique().to_frame()
    return (
        names.join(ranked, on="feature", how="left")
        .join(ratios, on="feature", how="left")
        .with_columns(
            kept_by_rank=pl.col("feature").is_in(by_rank.implode()),
            kept_by_optfs=pl.when(pl.col("value_keep_ratio").is_not_null())
            .then(~pl.col("feature").is_in(fields_dropped.implode())),
        )
        .select(list(SELECTION_TABLE_SCHEMA))
        .cast(SELECTION_TABLE_SCHEMA)
        .sort("rank_position", "feature", nulls_last=True)
    )
