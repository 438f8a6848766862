"""The layout of the multiplexed embedding table: which (feature, value) gets which row.

One table of `rows x dimension` parameters holds every categorical feature (DESIGN.md section 4).
Row 0 is padding (masked sequence positions). The modes differ in how the other rows are used:

- `hybrid`: each feature owns a block `[missing row, head rows...]` (the missing row where missing
  occurs in the data; elsewhere a missing value hashes into the tail), the head being its most frequent
  values (at least `min_count`, at most `top_k`); the head rows of all features are awarded to the most
  frequent (feature, value) pairs across features first, ties by feature then token, until the row
  budget less the tail is spent. The tail (the rest of the rows, at least `tail_share` of them) is
  shared: every other value, and every value unseen at build time, hashes into it once per chunk with
  the key `[salt(feature), chunk]`.
- `hashing` (Unified Embedding): no head and no missing row; every value of every feature hashes into
  the whole table (less padding) once per chunk with the key `[salt(feature), chunk]`. With the same
  salts and bucket count the bucket ids are those of TFRS's `UnifiedEmbedding` (whose `Hashing` layers
  use the key `[feature index, chunk]` and `num_bins = buckets_per_table`). TFRS puts the chunks in
  `num_tables` tables of `[buckets, dim_per_table]`, round-robin; here chunk j reads column slice j of
  the one table, i.e. `chunks` such tables side by side.
- `collisionless` (FuxiCTR's vocabulary): each feature owns a block `[missing row, value rows..., OOV row]`:
  a row for every value seen at least `min_count` times (within `top_k`), the missing row when missing
  is seen that often, and one out-of-vocabulary row that every other value, and every value unseen at
  build time, maps to (a tail of one row, one chunk). No budget: the table is as large as the data.
- `separate` (the classic baseline): each feature hashes, with one chunk, into its own region of
  rows. Regions are sized as one sizes per-feature tables by hand: equal shares, except that a feature
  never gets more rows than it has distinct values (missing included), what the small features leave
  going to the larger ones. Disjoint regions of one variable are separate tables.

A budget (`vocab.budget_parameters` or `vocab.budget_rows`) fixes `rows` for hashing and separate and
bounds it for hybrid, so the modes compare at equal parameter counts; hybrid splits its rows between head
and tail by `tail_share` when the config sets it, else by the split that serves the most occurrences
(`features.embedding.head_budget`), which leaves out the rows that would serve no head candidate (when
every candidate has a head row, the values below `min_count` share one tail row). Without a budget,
`rows` is what hybrid needs to give every eligible value a head row with `tail_share` of the rows left
for the tail (no tail without `tail_share`: collisionless's count), and the other modes get as many.
Hybrid with neither a budget nor `tail_share` (the default) has nothing to share rows for and is laid
out `collisionless`: every eligible value its row, the rest on one out-of-vocabulary row per feature. Hashing the rare values over a tail instead gives each a
row trained by a few examples (near-private, or shared with values it has nothing in common with), and
unseen values rows other values trained; one row per feature learns what "rare or unseen" means, which
on the real data sets measured was worth +0.002 to +0.015 test AUC (benchmarks/README.md, ctr_parity.py).

Chunks: a feature with `c` chunks looks up `c` rows; chunk `j` contributes columns
`[start_j, start_j + width_j)` of its row, the widths being `dimension // c`, the first
`dimension % c` of them one wider, so the concatenation is exactly `dimension` wide. A head value looks
up its own row in every chunk, which gives the whole row.

Salts are `sha256("<seed>:<feature>")` truncated to 31 bits: stable across processes and runs, unlike
Python's `hash()`.

Example::

    layout = build_layout(counts, VocabParams(mode="hybrid", dimension=16, budget_parameters=160_000))
    layout.rows, layout.features["item_id"].head_rows, layout.features["item_id"].coverage
    VocabArtifact.from_counts(counts, layout, Manifest("vocab")).write("artifacts/vocab")   # vocab_artifact.py
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping

import polars as pl

from featureplex.features.data.config import FeatureConfig, VocabParams
from featureplex.features.embedding.head_budget import head_and_tail
from featureplex.features.embedding.vocabulary import COUNT, TOKEN, ValueCounts
from featureplex.features.errors import InputError

VOCAB_DIR = "vocab"  # the vocab artifact's folder of vocabulary files, which layout.json names
LAYOUT_FORMAT_VERSION = 1
PADDING_ROW = 0


class EmptyVocabularyWarning(UserWarning):
    """No value of a feature reaches its min_count (or top_k is 0): the whole feature hashes into the tail."""


def feature_salt(feature: str, seed: int) -> int:
    """A feature's hashing salt: a stable 31-bit hash of the seed and the feature name."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{feature}".encode()).digest()[:4], "big") & 0x7FFF_FFFF


def chunk_widths(dimension: int, chunks: int) -> tuple[int, ...]:
    """Columns of each chunk: `dimension // chunks`, the first `dimension % chunks` one wider."""
    return tuple(dimension // chunks + (1 if chunk < dimension % chunks else 0) for chunk in range(chunks))


@dataclass(frozen=True)
class FeatureLayout:
    """The rows of one feature, and how its training occurrences fall on them."""

    chunks: int
    salt: int
    missing_row: int | None  # hybrid when missing occurs, collisionless when it reaches min_count; else it hashes
    head_offset: int  # row of the first vocabulary token; token i of vocab/<feature>.txt is row head_offset + i
    head_rows: int
    tail_offset: int
    tail_rows: int  # hash buckets per chunk
    min_count: int
    top_k: int | None
    occurrences: int
    missing: int
    unrepresentable: int
    distinct: int
    eligible: int  # values reaching min_count within top_k: the head candidates
    coverage: float  # share of occurrences on a collision-free row (head or missing row)
    # an OptFS-pruned layout whose tail gate closed: values outside the head get no embedding (the
    # padding row, zero), as under the hard gate the selection was learned with
    tail_dropped: bool = False

    def hash_keys(self) -> list[list[int]]:
        """The SipHash key of each chunk: `[salt, chunk]`, the form TFRS's UnifiedEmbedding uses."""
        return [[self.salt, chunk] for chunk in range(self.chunks)]


@dataclass(frozen=True)
class Layout:
    """The whole table: mode, size, and each feature's rows; sequences use the rows of the feature they share."""

    mode: str
    dimension: int
    rows: int
    seed: int
    features: Mapping[str, FeatureLayout]
    sequences: Mapping[str, str] = field(default_factory=dict)

    @property
    def parameters(self) -> int:
        return self.rows * self.dimension

    @property
    def head_rows(self) -> int:
        return sum(feature.head_rows for feature in self.features.values())

    @property
    def tail_rows(self) -> int:
        """Hashed rows: the shared tail once, or the sum of the per-feature regions in separate mode."""
        regions = {(feature.tail_offset, feature.tail_rows) for feature in self.features.values()}
        return sum(rows for _, rows in regions)

    def chunk_widths(self, feature: str) -> tuple[int, ...]:
        return chunk_widths(self.dimension, self.features[feature].chunks)

    def empty_vocabularies(self) -> list[str]:
        """Hybrid and collisionless features without a single head candidate: all their values go to the tail."""
        return [name for name, feature in self.features.items()
                if self.mode in ("hybrid", "collisionless") and feature.eligible == 0]

    def empty_vocabulary_message(self, feature: str) -> str:
        spec = self.features[feature]
        tail = "out-of-vocabulary row" if self.mode == "collisionless" else "hashed tail"
        return (f"feature '{feature}': no value reaches min_count {spec.min_count} within top_k {spec.top_k}; "
                f"all its values go to the {tail}")

    @staticmethod
    def vocabulary_file(feature: str) -> str:
        if feature in ("", ".", "..") or any(char in feature for char in "/\\\0"):
            raise InputError(f"feature '{feature}': the name cannot be a vocabulary file name ({VOCAB_DIR}/<feature>.txt)")
        return f"{VOCAB_DIR}/{feature}.txt"

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": LAYOUT_FORMAT_VERSION,
            "mode": self.mode,
            "dimension": self.dimension,
            "rows": self.rows,
            "parameters": self.parameters,
            "padding_row": PADDING_ROW,
            "head_rows": self.head_rows,
            "tail_rows": self.tail_rows,
            "seed": self.seed,
            "features": {
                name: {
                    **dataclasses.asdict(feature),
                    "chunk_widths": list(self.chunk_widths(name)),
                    "vocabulary": self.vocabulary_file(name),
                }
                for name, feature in sorted(self.features.items())
            },
            "sequences": dict(sorted(self.sequences.items())),
        }

    def to_json(self) -> str:
        """Stable text: sorted keys, fixed indent, so equal layouts are equal bytes."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any]) -> Layout:
        if payload.get("format_version") != LAYOUT_FORMAT_VERSION:
            raise InputError(f"layout: format_version {payload.get('format_version')!r} is not {LAYOUT_FORMAT_VERSION}")
        names = [item.name for item in dataclasses.fields(FeatureLayout)]
        return cls(
            mode=payload["mode"],
            dimension=payload["dimension"],
            rows=payload["rows"],
            seed=payload["seed"],
            features={name: FeatureLayout(**{key: spec[key] for key in names if key in spec})
                      for name, spec in payload["features"].items()},
            sequences=dict(payload.get("sequences", {})),
        )

    @classmethod
    def from_json(cls, text: str) -> Layout:
        return cls.from_dict(json.loads(text))


@dataclass(frozen=True)
class _Options:
    min_count: int
    top_k: int | None
    chunks: int


def _resolve_options(counts: ValueCounts, params: VocabParams, overrides: Mapping[str, FeatureConfig]) -> dict[str, _Options]:
    for name, override in overrides.items():
        if name not in counts.features and (override.min_count, override.top_k, override.chunks) != (None, None, None):
            raise InputError(
                f"features.{name}: min_count/top_k/chunks are set, but '{name}' has no vocabulary of its own "
                f"(vocabularies: {', '.join(counts.features)})"
            )
    options = {}
    for name in counts.features:
        override = overrides.get(name) or FeatureConfig()
        chunks = 1 if params.mode in ("separate", "collisionless") else (override.chunks or params.chunks)
        if chunks > params.dimension:
            key = f"features.{name}.chunks" if override.chunks else "vocab.chunks"
            raise InputError(f"{key}: {chunks} chunks do not fit in vocab.dimension {params.dimension} (each chunk needs a column)")
        options[name] = _Options(
            min_count=override.min_count or params.min_count,
            top_k=override.top_k if override.top_k is not None else params.top_k,
            chunks=chunks,
        )
    return options


def _eligible(counts: ValueCounts, feature: str, options: _Options) -> pl.DataFrame:
    """The head candidates of a feature: a prefix of its ranked values."""
    ranked = counts.ranked(feature).filter(pl.col(COUNT) >= options.min_count)
    return ranked if options.top_k is None else ranked.head(options.top_k)


def _minimum_rows(mode: str, features: int) -> int:
    """Padding, plus one missing row per feature and one tail row (hybrid), one region row per feature (separate)."""
    return {"hybrid": 2 + features, "hashing": 2, "separate": 1 + features}[mode]


def _budget_rows(params: VocabParams, features: int, head_candidates: int) -> int:
    if params.budget_rows is not None and params.budget_parameters is not None:
        raise InputError("vocab: budget_rows and budget_parameters are both set; give one budget")
    if params.mode == "collisionless":
        if params.budget_rows is not None or params.budget_parameters is not None:
            key = "vocab.budget_rows" if params.budget_rows is not None else "vocab.budget_parameters"
            raise InputError(f"{key}: mode 'collisionless' takes no budget (a row per value reaching min_count, "
                             "one out-of-vocabulary row per feature); remove it or choose another mode")
        return 0  # sized by its values in build_layout
    if params.budget_parameters is not None:
        key, budget, rows = "vocab.budget_parameters", params.budget_parameters, params.budget_parameters // params.dimension
    elif params.budget_rows is not None:
        key, budget, rows = "vocab.budget_rows", params.budget_rows, params.budget_rows
    else:  # hybrid's rows with tail_share (without it build_layout lays hybrid out collisionless: no tail)
        share = params.tail_share or 0.0
        tail = math.ceil(head_candidates * share / (1 - share)) if share else 0
        return max(1 + features + head_candidates + tail, _minimum_rows(params.mode, features))
    minimum = _minimum_rows(params.mode, features)
    if rows < minimum:
        raise InputError(
            f"{key}: {budget} gives {rows} rows of dimension {params.dimension}; mode '{params.mode}' needs at least "
            f"{minimum} rows ({minimum * params.dimension} parameters) for {features} features"
        )
    return rows


def _candidates(eligible: Mapping[str, pl.DataFrame]) -> pl.DataFrame:
    """(feature, token, count) of every head candidate in promotion order: most frequent first, ties by feature then token."""
    candidates = pl.concat(
        [frame.select(pl.lit(name).alias("feature"), TOKEN, COUNT) for name, frame in eligible.items()]
    )
    return candidates.sort([COUNT, "feature", TOKEN], descending=[True, False, False])


def _head(candidates: pl.DataFrame, capacity: int) -> pl.DataFrame:
    """(feature, head rows, head occurrences) of the first `capacity` candidates."""
    return candidates.head(capacity).group_by("feature").agg(pl.len().alias("rows"), pl.col(COUNT).sum().alias("occurrences"))


def _head_and_tail(counts: ValueCounts, params: VocabParams, options: Mapping[str, _Options],
                   candidates: pl.DataFrame, free_rows: int) -> tuple[int, int]:
    """Hybrid (head rows, tail rows) out of `free_rows`: `tail_share` of them to the tail when the config sets
    it, else (under a budget) the split that serves the most occurrences (`head_budget.head_and_tail`)
    given every value outside the candidates (ranked after them in each feature)."""
    if params.tail_share is not None:
        share = params.tail_share
        head = min(free_rows - max(1, math.floor(free_rows * share)), candidates.height)
        return head, free_rows - head  # head rows no candidate needs go to the tail
    chunks = {name: option.chunks for name, option in options.items()}
    eligible = candidates.group_by("feature").agg(pl.len().alias("eligible"))
    rest = (counts.frame().join(eligible, on="feature", how="left")
            .filter(pl.int_range(pl.len()).over("feature") >= pl.col("eligible").fill_null(0)))
    return head_and_tail(candidates[COUNT].to_numpy(), candidates["feature"].replace_strict(chunks, return_dtype=pl.Int64).to_numpy(),
                     rest[COUNT].to_numpy(), rest["feature"].replace_strict(chunks, return_dtype=pl.Int64).to_numpy(), free_rows)


def _largest_remainder(weights: Mapping[str, int], rows: int) -> dict[str, int]:
    """Split `rows` in proportion to the weights (largest remainder, ties by name)."""
    if not sum(weights.values()):  # no data at all: equal parts
        weights = dict.fromkeys(weights, 1)
    total = sum(weights.values())
    shares = {name: rows * weight // total for name, weight in weights.items()}
    by_remainder = sorted(weights, key=lambda name: (-(rows * weights[name] % total), name))
    for name in by_remainder[: rows - sum(shares.values())]:
        shares[name] += 1
    return shares


def _region_rows(distinct: Mapping[str, int], rows: int) -> dict[str, int]:
    """Separate mode's regions: equal shares, but no feature gets more rows than it has values (at least one).

    Max-min fair, as one sizes per-feature tables by hand: small features get a row per value and what
    they leave goes to the larger ones in equal parts; rows beyond every feature's values are spread
    in proportion to the values (fewer collisions for the largest).
    """
    shares, left = {}, rows
    smallest_first = sorted(distinct, key=lambda name: (distinct[name], name))
    for index, name in enumerate(smallest_first):
        shares[name] = max(1, min(distinct[name], left // (len(smallest_first) - index)))
        left -= shares[name]
    if left:
        for name, extra in _largest_remainder(distinct, left).items():
            shares[name] += extra
    return {name: shares[name] for name in distinct}


def _coverage(covered: int, occurrences: int) -> float:
    return round(covered / occurrences, 6) if occurrences else 0.0


def build_layout(
    counts: ValueCounts, params: VocabParams, overrides: Mapping[str, FeatureConfig] | None = None
) -> Layout:
    """Lay out the table from merged counts under the budget of `params` (see the module docstring)."""
    if not counts.features:
        raise InputError("vocab: no categorical or sequence feature to build a vocabulary for")
    if params.mode == "hybrid" and params.tail_share is None and params.budget_rows is None and params.budget_parameters is None:
        params = params.model_copy(update={"mode": "collisionless"})  # no budget to share rows under (module docstring)
    options = _resolve_options(counts, params, overrides or {})
    eligible = {name: _eligible(counts, name, options[name]) for name in counts.features}
    rows = _budget_rows(params, len(counts.features), sum(frame.height for frame in eligible.values()))
    stats = {
        name: dict(
            min_count=options[name].min_count,
            top_k=options[name].top_k,
            occurrences=counts.occurrences(name),
            missing=counts.missing(name),
            unrepresentable=counts.unrepresentable(name),
            distinct=counts.ranked(name).height,
            eligible=eligible[name].height,
        )
        for name in counts.features
    }
    salts = {name: feature_salt(name, params.seed) for name in counts.features}
    features: dict[str, FeatureLayout] = {}
    if params.mode == "hybrid":
        candidates = _candidates(eligible)
        has_missing = {name: stats[name]["missing"] > 0 for name in counts.features}  # a missing row where it occurs
        free_rows = rows - 1 - sum(has_missing.values())
        capacity, tail_rows = _head_and_tail(counts, params, options, candidates, free_rows)
        head = {row["feature"]: row for row in _head(candidates, capacity).iter_rows(named=True)}
        start = PADDING_ROW + 1
        blocks = {}
        for name in counts.features:
            head_rows = head[name]["rows"] if name in head else 0
            blocks[name] = (start, head_rows)
            start += has_missing[name] + head_rows
        for name, (block, head_rows) in blocks.items():
            covered = (head[name]["occurrences"] if name in head else 0) + stats[name]["missing"]
            features[name] = FeatureLayout(
                chunks=options[name].chunks, salt=salts[name], missing_row=block if has_missing[name] else None,
                head_offset=block + has_missing[name],
                head_rows=head_rows, tail_offset=start, tail_rows=tail_rows,
                coverage=_coverage(covered, stats[name]["occurrences"]), **stats[name],
            )
        rows = start + tail_rows  # within the budget: the rule may leave rows that would serve no candidate
    elif params.mode == "collisionless":
        features = _collisionless(stats, eligible, options, salts)
        rows = 1 + sum(feature.head_rows + (feature.missing_row is not None) + 1 for feature in features.values())
    elif params.mode == "hashing":
        for name in counts.features:
            features[name] = FeatureLayout(
                chunks=options[name].chunks, salt=salts[name], missing_row=None, head_offset=1, head_rows=0,
                tail_offset=1, tail_rows=rows - 1, coverage=0.0, **stats[name],
            )
    else:
        weights = {name: stats[name]["distinct"] + (1 if stats[name]["missing"] else 0) for name in counts.features}
        start = PADDING_ROW + 1
        for name, region in _region_rows(weights, rows - 1).items():
            features[name] = FeatureLayout(
                chunks=1, salt=salts[name], missing_row=None, head_offset=start, head_rows=0,
                tail_offset=start, tail_rows=region, coverage=0.0, **stats[name],
            )
            start += region
    layout = Layout(params.mode, params.dimension, rows, params.seed, features, dict(counts.sequences))
    for name in layout.empty_vocabularies():
        warnings.warn(layout.empty_vocabulary_message(name), EmptyVocabularyWarning, stacklevel=2)
    return layout


def _collisionless(stats: Mapping[str, dict], eligible: Mapping[str, pl.DataFrame], options: Mapping[str, _Options],
                   salts: Mapping[str, int]) -> dict[str, FeatureLayout]:
    """Each feature's block `[missing row, value rows..., OOV row]`, in name order after the padding row.

    The OOV row is the feature's tail: one bucket, one chunk, so every value outside the vocabulary
    (below min_count, past top_k, unrepresentable, unseen) maps to it. Missing gets its own row when it
    reaches min_count like a value, else it is out of vocabulary too.
    """
    features, start = {}, PADDING_ROW + 1
    for name in sorted(stats):
        spec = stats[name]
        missing_row = start if spec["missing"] >= options[name].min_count else None
        head_offset = start + (missing_row is not None)
        oov_row = head_offset + spec["eligible"]
        covered = int(eligible[name][COUNT].sum()) + (spec["missing"] if missing_row is not None else 0)
        features[name] = FeatureLayout(
            chunks=1, salt=salts[name], missing_row=missing_row, head_offset=head_offset, head_rows=spec["eligible"],
            tail_offset=oov_row, tail_rows=1, coverage=_coverage(covered, spec["occurrences"]), **spec,
        )
        start = oov_row + 1
    return features


def head_tokens(counts: ValueCounts, layout: Layout, feature: str) -> pl.Series:
    """A feature's head tokens in row order: the first `head_rows` of its ranked values."""
    return counts.ranked(feature).head(layout.features[feature].head_rows)[TOKEN]


def head_vocabularies(counts: ValueCounts, layout: Layout) -> dict[str, list[str]]:
    """Each feature's head tokens in row order, as lists."""
    return {name: head_tokens(counts, layout, name).to_list() for name in layout.features}
