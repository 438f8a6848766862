"""The safe path for `vocab` and `train` run on their own: no column that looks like a label leak, a row
id or a constant goes into a model unless the user says so.

With a rank artifact (`--rank DIR`) the features are the rank stage's recommendation, exactly as
`featureplex run` takes it (features.scoring.selection.recommended_features: the greedy selection and
the top interaction pairs, no leak, constant or ID-like column), plus every sequence. Without one, the columns are checked cheaply from the data (features.data.suspect_columns)
and a suspect stops the command with the two ways on.
"""

from __future__ import annotations

from featureplex.features.data.schema import Kind
from featureplex.features.data.suspect_columns import leaking_columns, read_sample, suspect_columns
from featureplex.features.errors import InputError
from featureplex.pipelines.artifacts.rank import RankArtifact
from featureplex.pipelines.inputs import StageInputs


def chosen_by_rank(inputs: StageInputs, rank: RankArtifact) -> tuple[StageInputs, list[str]]:
    """The inputs restricted to the features a rank artifact chooses (or `run.features` when the config
    lists them), with the rank artifact at hand; and those features, in the order they were chosen."""
    if inputs.config.run.features is not None:
        kept = list(inputs.config.run.features)
    else:  # the rank stage cannot score a history: every sequence is kept, with the feature whose rows it shares
        sequences = [spec for spec in inputs.schema.features if spec.kind == Kind.SEQUENCE]
        shared = [spec.shares_with for spec in sequences if spec.shares_with]
        kept = list(dict.fromkeys([*rank.recommended, *shared, *(spec.name for spec in sequences)]))
    if not kept:
        raise InputError(f"{rank.manifest.inputs.get('dataset', 'the rank artifact')}: no feature was selected "
                         "(set `run.features` in the config)")
    return inputs.restricted(kept).with_artifacts(rank=rank), kept


def check_suspect_columns(inputs: StageInputs) -> None:
    """InputError naming the first feature that looks like a leak, a row id or a constant, with the ways on."""
    params, schema = inputs.config.rank, inputs.schema
    scalar = [spec.name for spec in schema.features if spec.kind != Kind.SEQUENCE]
    sample = read_sample(inputs.dataset, [schema.label, *scalar])  # one read for both checks
    found = suspect_columns(inputs.dataset, schema, params.id_like_ratio, sample=sample)
    found.update(leaking_columns(inputs.dataset, schema, params.leakage_threshold, set(found), sample=sample))
    if found:
        first = sorted(found.values(), key=lambda suspect: (suspect.check != "label_leakage", suspect.name))[0]
        others = f" (and {len(found) - 1} more: {', '.join(sorted(set(found) - {first.name}))})" if len(found) > 1 else ""
        raise InputError(
            f"feature '{first.name}': {first.reason}{others}; train on the features a rank artifact chooses "
            f"(--rank DIR, from `featureplex rank`), or give it `role: ignore` in the config, or pass "
            "--allow-suspect-columns"
        )
