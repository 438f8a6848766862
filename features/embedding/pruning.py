"""What an OptFS selection keeps, and the pruned layout the final model trains on (DESIGN.md section 5).

Pure functions of a layout, its head counts and one `FeatureMask` per feature (the gates kept:
one per head value, the missing row, the hashed tail), so the rank stage's recommendation and OptFS's
result can be compared without TensorFlow.

- `keep_ratios`: per feature, values kept / values (head values, the missing value when it occurs,
  and the tail's distinct values, all kept or dropped with the tail gate) and the share of training
  occurrences whose value is kept (from the head counts, `missing` and `occurrences`).
- `dropped_fields`: features with nothing kept.
- `prune_layout`: dropped head values removed from the head (their values then go where values
  outside the head go), a closed tail gate marked `tail_dropped` (values outside the head then get
  no embedding, as under the hard gate), dropped fields removed (and the sequences sharing their
  rows), the hybrid and collisionless blocks (a collisionless feature keeps its out-of-vocabulary row)
  and separate regions packed again; salts, chunks, tail size unchanged, so
  a kept value hashes to the same tail bucket as before (the tail is removed when no feature keeps it).

Example::

    masks = gate.feature_masks()
    ratios = keep_ratios(layout, head_counts(counts, layout), masks)
    layout2, vocabularies2 = prune_layout(layout, vocabularies, masks, head_counts(counts, layout))
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Mapping, Sequence

from featureplex.features.embedding.layout import PADDING_ROW, FeatureLayout, Layout
from featureplex.features.embedding.vocabulary import COUNT, ValueCounts
from featureplex.features.errors import InputError


@dataclass(frozen=True)
class FeatureMask:
    """What the gates keep of one feature: each head value (row order), its missing row (None: none), its tail."""

    head: tuple[bool, ...]
    missing: bool | None
    tail: bool

    @property
    def nothing_kept(self) -> bool:
        return not any(self.head) and not self.missing and not self.tail


@dataclass(frozen=True)
class KeepRatio:
    feature: str
    values: int
    values_kept: int
    value_ratio: float  # values kept / values
    row_ratio: float  # share of training occurrences whose value is kept
    head_kept: int
    head_rows: int
    missing_kept: bool | None
    tail_kept: bool


def head_counts(counts: ValueCounts, layout: Layout) -> dict[str, list[int]]:
    """Occurrences of each head value, in row order (the head is the first `head_rows` ranked values)."""
    return {name: counts.ranked(name).head(spec.head_rows)[COUNT].to_list() for name, spec in layout.features.items()}


def _check(layout: Layout, masks: Mapping[str, FeatureMask], counts: Mapping[str, Sequence[int]] | None = None) -> None:
    for name, spec in layout.features.items():
        if name not in masks:
            raise InputError(f"optfs: no gate mask for feature '{name}'")
        if len(masks[name].head) != spec.head_rows:
            raise InputError(f"optfs: feature '{name}': {len(masks[name].head)} head gates for {spec.head_rows} head rows")
        if counts is not None and len(counts.get(name, ())) != spec.head_rows:
            raise InputError(f"optfs: feature '{name}': {len(counts.get(name, ()))} head counts for {spec.head_rows} head rows")


def keep_ratios(layout: Layout, counts: Mapping[str, Sequence[int]], masks: Mapping[str, FeatureMask]) -> dict[str, KeepRatio]:
    """Per feature: values kept / values, and the share of training occurrences whose value is kept."""
    _check(layout, masks, counts)
    ratios = {}
    for name, spec in sorted(layout.features.items()):
        mask, head = masks[name], list(counts[name])
        tail_values = max(spec.distinct - spec.head_rows, 0)
        tail_occurrences = max(spec.occurrences - spec.missing - sum(head), 0)
        has_missing = spec.missing > 0
        missing_kept = mask.missing if spec.missing_row is not None else mask.tail  # elsewhere missing hashes
        values = spec.head_rows + tail_values + (1 if has_missing else 0)
        kept = sum(mask.head) + (tail_values if mask.tail else 0) + (1 if has_missing and missing_kept else 0)
        rows_kept = (sum(count for count, keep in zip(head, mask.head) if keep)
                     + (tail_occurrences if mask.tail else 0) + (spec.missing if missing_kept else 0))
        ratios[name] = KeepRatio(
            feature=name, values=values, values_kept=kept,
            value_ratio=round(kept / values, 6) if values else 0.0,
            row_ratio=round(rows_kept / spec.occurrences, 6) if spec.occurrences else 0.0,
            head_kept=sum(mask.head), head_rows=spec.head_rows, missing_kept=mask.missing, tail_kept=mask.tail,
        )
    return ratios


def dropped_fields(masks: Mapping[str, FeatureMask]) -> list[str]:
    return sorted(name for name, mask in masks.items() if mask.nothing_kept)


def prune_layout(
    layout: Layout,
    vocabularies: Mapping[str, Sequence[str]],
    masks: Mapping[str, FeatureMask],
    counts: Mapping[str, Sequence[int]] | None = None,
) -> tuple[Layout, dict[str, list[str]]]:
    """The layout and head vocabularies without the dropped values and fields (see the module docstring)."""
    _check(layout, masks, counts)
    dropped = set(dropped_fields(masks))
    if len(dropped) == len(layout.features):
        raise InputError("optfs: the gates dropped every feature; lower optfs.penalty")
    kept_names = [name for name in sorted(layout.features, key=lambda n: (layout.features[n].head_offset, n))
                  if name not in dropped]
    sequences = {seq: shared for seq, shared in layout.sequences.items() if shared not in dropped}
    features: dict[str, FeatureLayout] = {}
    new_vocabularies: dict[str, list[str]] = {}
    start = PADDING_ROW + 1
    if layout.mode == "hybrid":
        # the shared tail stays as it was (a kept value hashes to the same buckets), unless no kept
        # feature keeps its tail: then it is gone
        tail_rows = next(iter(layout.features.values())).tail_rows
        if not any(masks[name].tail for name in kept_names):
            tail_rows = 0
        blocks = {}
        for name in kept_names:
            spec, mask = layout.features[name], masks[name]
            tokens = [token for token, keep in zip(vocabularies[name], mask.head) if keep]
            new_vocabularies[name] = tokens
            blocks[name] = start
            start += (spec.missing_row is not None) + len(tokens)
        for name in kept_names:
            spec, mask = layout.features[name], masks[name]
            covered = spec.missing + (sum(c for c, keep in zip(counts[name], mask.head) if keep) if counts is not None else 0)
            coverage = round(covered / spec.occurrences, 6) if spec.occurrences and counts is not None else spec.coverage
            features[name] = dataclasses.replace(
                spec, missing_row=blocks[name] if spec.missing_row is not None else None,
                head_offset=blocks[name] + (spec.missing_row is not None), head_rows=len(new_vocabularies[name]),
                tail_offset=start, tail_rows=tail_rows, coverage=coverage, tail_dropped=not mask.tail)
        rows = start + tail_rows
    elif layout.mode == "collisionless":  # each kept block packed again: [missing row, kept values..., OOV row]
        for name in kept_names:
            spec, mask = layout.features[name], masks[name]
            new_vocabularies[name] = [token for token, keep in zip(vocabularies[name], mask.head) if keep]
            head_offset = start + (spec.missing_row is not None)
            covered = spec.missing if spec.missing_row is not None else 0
            covered += sum(c for c, keep in zip(counts[name], mask.head) if keep) if counts is not None else 0
            coverage = round(covered / spec.occurrences, 6) if spec.occurrences and counts is not None else spec.coverage
            features[name] = dataclasses.replace(
                spec, missing_row=start if spec.missing_row is not None else None, head_offset=head_offset,
                head_rows=len(new_vocabularies[name]), tail_offset=head_offset + len(new_vocabularies[name]),
                coverage=coverage, tail_dropped=not mask.tail)
            start = features[name].tail_offset + 1
        rows = start
    elif layout.mode == "hashing":
        features = {name: layout.features[name] for name in kept_names}
        new_vocabularies = {name: [] for name in kept_names}
        rows = layout.rows
    else:  # separate: pack the kept regions
        for name in kept_names:
            spec = layout.features[name]
            features[name] = dataclasses.replace(spec, head_offset=start, tail_offset=start)
            new_vocabularies[name] = []
            start += spec.tail_rows
        rows = start
    return Layout(layout.mode, layout.dimension, rows, layout.seed, features, sequences), new_vocabularies
