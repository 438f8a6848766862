"""A synthetic impression log with a known answer: which columns drive the label, and by how much.

Every column has a role (informative, interaction, redundant, sequence, noise, id-like, constant,
missing, drift, leakage) recorded in `ground_truth.json` together with the exact logit the label was
drawn from, so feature ranking, selection and the models can be checked against the truth:

    logit = intercept + sum of per-value effects (inf_cat_*, user_age_bucket, device, hour,
            item_category, item_id) + 0.8 * inf_num + 0.9 * (+1 if xor_a != xor_b else -1)
            + 12 * affinity
    label ~ Bernoulli(sigmoid(logit))

where affinity is the share of the row's history (`history_item_ids`, their categories in
`history_item_categories`, as in DIN's Amazon data) in the candidate item's category. Each user has
INTERESTS_PER_USER categories; nine tenths of the history and 20-80 % of the candidates (a share per
user) come from them.
Whether the candidate matches the history is then known from the history (which categories it holds,
not their average) and hardly from the user id, whose ~20 rows cannot reveal six interests: the
signal target attention (DIN, HSTU) exists for.

Rows are generated one row group at a time, each from its own RNG
(`SeedSequence([seed, chunk_index])`), so memory is bounded by a row group and the output is
byte-identical for the same (rows, seed, row_group_rows, files). The tables that must be shared by
all chunks (per-value effects, user interests, the intercept) come from the seed alone.

Example:
    truth = generate_synthetic("data/synth", rows=200_000, seed=7)
    truth["ctr"]  # about 0.25
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from featureplex.features.data.artifact_dir import MANIFEST, Manifest, Stopwatch, atomic_artifact_dir, write_json
from featureplex.features.errors import InputError

GROUND_TRUTH = "ground_truth.json"
STAGE = "synth"

START = np.datetime64("2026-01-01T00:00:00", "s")
SPAN_SECONDS = 30 * 24 * 3600
HISTORY_GAP_SECONDS = 3600.0
MAX_HISTORY = 50

N_CATEGORIES = 50
ITEMS_PER_CATEGORY = 200
N_ITEMS = N_CATEGORIES * ITEMS_PER_CATEGORY
ITEM_ZIPF_EXPONENT = 1.1
USER_ZIPF_EXPONENT = 1.0
INTERESTS_PER_USER = 6
# Per user, the share of their candidates drawn from their interests: users differ in how well they are
# targeted, so in CTR, which is what makes user_id informative on its own.
CANDIDATE_INTEREST_SHARES = (0.2, 0.8)
HISTORY_INTEREST_SHARE = 0.9

AGE_BUCKETS = ("18-24", "25-34", "35-44", "45-54", "55-64", "65+")
DEVICES = ("mobile", "desktop", "tablet")
DEVICE_SHARES = (0.6, 0.3, 0.1)
COPY_AGREEMENT = 0.95
LEAK_FLIP_RATE = 0.02
MISSING_SHARE = 0.8
MISSING_VALUES = 20
DRIFT_VALUES = 10
NOISE_ZIPF_EXPONENT = 1.5
ROW_ID_BITS = 48

INF_NUM_COEFFICIENT = 0.8
XOR_COEFFICIENT = 0.9
AFFINITY_COEFFICIENT = 12.0
TARGET_CTR = 0.25
CALIBRATION_ROWS = 20_000

# Per-value effects ~ N(0, sd): large enough that each inf_cat_* is clearly informative at 200k rows,
# small for the context columns (weakly informative, as in real logs).
EFFECT_SD = {
    "inf_cat_10": 0.6,
    "inf_cat_100": 0.7,
    "inf_cat_1000": 0.9,
    "user_age_bucket": 0.2,
    "device": 0.2,
    "hour": 0.2,
    "item_category": 0.3,
    "item_id": 0.3,
}
INF_CATEGORIES = {"inf_cat_10": 10, "inf_cat_100": 100, "inf_cat_1000": 1000}
NOISE_UNIFORM = {"noise_uniform_2": 2, "noise_uniform_100": 100, "noise_uniform_10k": 10_000, "noise_uniform_100k": 100_000}
# Each effect column's values as strings, in effect-table order (the keys of ground_truth.json's effects).
EFFECT_KEYS = {
    **{name: [f"v{k}" for k in range(size)] for name, size in INF_CATEGORIES.items()},
    "user_age_bucket": list(AGE_BUCKETS),
    "device": list(DEVICES),
    "hour": [str(hour) for hour in range(24)],
    "item_category": [str(category) for category in range(N_CATEGORIES)],
    "item_id": [str(item) for item in range(N_ITEMS)],
}

SCHEMA = pa.schema(
    [
        ("label", pa.int8()),
        ("timestamp", pa.timestamp("s")),
        ("user_id", pa.int64()),
        ("item_id", pa.int64()),
        ("item_category", pa.int64()),
        ("user_age_bucket", pa.string()),
        ("device", pa.string()),
        ("hour", pa.int64()),
        ("history_item_ids", pa.list_(pa.int64())),
        ("history_item_categories", pa.list_(pa.int64())),
        ("history_timestamps", pa.list_(pa.timestamp("s"))),
        ("inf_cat_10", pa.string()),
        ("inf_cat_100", pa.string()),
        ("inf_cat_1000", pa.string()),
        ("inf_num", pa.float64()),
        ("xor_a", pa.int64()),
        ("xor_b", pa.int64()),
        ("inf_cat_100_copy", pa.string()),
        ("noise_uniform_2", pa.int64()),
        ("noise_uniform_100", pa.int64()),
        ("noise_uniform_10k", pa.int64()),
        ("noise_uniform_100k", pa.int64()),
        ("noise_row_id", pa.string()),
        ("noise_zipf", pa.int64()),
        ("noise_float", pa.float64()),
        ("constant", pa.string()),
        ("missing_80", pa.string()),
        ("drift_noise", pa.string()),
        ("leak_label", pa.int64()),
    ]
)

# "v0", "v1", ...: the string values of every v-coded column, built once.
V_VALUES = pa.array([f"v{k}" for k in range(1000)])
HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def cdf_of(weights: np.ndarray) -> np.ndarray:
    """CDF of the distribution proportional to `weights` (along the last axis); sample with `sample_cdf`."""
    cdf = np.cumsum(weights, axis=-1, dtype=np.float64)
    cdf /= cdf[..., -1:]
    cdf[..., -1] = 1.0  # exactly, so a uniform draw never lands past the last value
    return cdf


def zipf_cdf(n: int, exponent: float) -> np.ndarray:
    """CDF of P(rank k) ~ 1 / (k + 1) ** exponent over n ranks."""
    return cdf_of(1.0 / np.arange(1, n + 1, dtype=np.float64) ** exponent)


def sample_cdf(rng: np.random.Generator, cdf: np.ndarray, size: int) -> np.ndarray:
    """`size` indices drawn from the distribution whose CDF is `cdf` (inverse-CDF sampling)."""
    return np.searchsorted(cdf, rng.random(size), side="right").astype(np.int64)


DEVICE_CDF = cdf_of(np.array(DEVICE_SHARES))
COPRIME_STRIDES = np.array([s for s in range(1, N_CATEGORIES) if np.gcd(s, N_CATEGORIES) == 1])
# drift_noise per third of the time span: skewed to the first values, flat, skewed to the last values.
_DRIFT_EARLY = 0.6 ** np.arange(DRIFT_VALUES)
DRIFT_CDFS = cdf_of(np.stack([_DRIFT_EARLY, np.ones(DRIFT_VALUES), _DRIFT_EARLY[::-1]]))


@dataclass(frozen=True)
class Tables:
    """What every chunk shares: per-value effects, the user population and the intercept."""

    effects: dict[str, np.ndarray]
    user_ids: np.ndarray
    user_cdf: np.ndarray
    user_interests: np.ndarray
    user_age: np.ndarray
    user_candidate_share: np.ndarray
    item_rank_cdf: np.ndarray
    intercept: float


def n_users_for(rows: int) -> int:
    return max(1000, rows // 20)


def build_tables(seed: int, rows: int) -> Tables:
    """The global tables, from the seed alone (effects do not even depend on `rows`)."""
    effects_seed, users_seed, calibration_seed = np.random.SeedSequence(seed).spawn(3)
    effects_rng = np.random.default_rng(effects_seed)
    # Rounded here, not only in the JSON, so ground_truth.json holds exactly the effects the labels used.
    effects = {name: np.round(effects_rng.normal(0.0, sd, len(EFFECT_KEYS[name])), 6) for name, sd in EFFECT_SD.items()}

    users_rng = np.random.default_rng(users_seed)
    n_users = n_users_for(rows)
    first = users_rng.integers(0, N_CATEGORIES, n_users)
    # Distinct interests without a [users, categories] draw: steps of a stride coprime with N_CATEGORIES.
    stride = users_rng.choice(COPRIME_STRIDES, n_users)
    interests = (first[:, None] + stride[:, None] * np.arange(INTERESTS_PER_USER)) % N_CATEGORIES
    tables = Tables(
        effects=effects,
        # Ids are shuffled so that activity rank and id are unrelated.
        user_ids=users_rng.permutation(n_users).astype(np.int64),
        user_cdf=zipf_cdf(n_users, USER_ZIPF_EXPONENT),
        user_interests=interests,
        user_age=users_rng.integers(0, len(AGE_BUCKETS), n_users),
        user_candidate_share=users_rng.uniform(*CANDIDATE_INTEREST_SHARES, n_users),
        item_rank_cdf=zipf_cdf(ITEMS_PER_CATEGORY, ITEM_ZIPF_EXPONENT),
        intercept=0.0,
    )
    return with_calibrated_intercept(tables, np.random.default_rng(calibration_seed))


def with_calibrated_intercept(tables: Tables, rng: np.random.Generator) -> Tables:
    """Pick the intercept that gives TARGET_CTR on a calibration sample (bisection; the mean is monotone)."""
    _, logit = draw_features(rng, tables, CALIBRATION_ROWS, 0.0, float(SPAN_SECONDS))
    low, high = -20.0, 20.0
    for _ in range(60):
        middle = (low + high) / 2
        if np.mean(sigmoid(middle + logit)) < TARGET_CTR:
            low = middle
        else:
            high = middle
    return replace(tables, intercept=round((low + high) / 2, 6))


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def v_strings(indices: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """Indices -> "v{index}" strings (null where mask is True), without a Python loop over rows."""
    return pc.take(V_VALUES, pa.array(indices, mask=mask))


def hex_strings(values: np.ndarray, bits: int) -> pa.Array:
    """Fixed-width lowercase hex of non-negative ints, built as one byte buffer (no per-row formatting)."""
    width = bits // 4
    shifts = np.arange(4 * (width - 1), -1, -4, dtype=np.int64)
    digits = HEX_DIGITS[(values[:, None] >> shifts) & 0xF]
    offsets = np.arange(0, width * (len(values) + 1), width, dtype=np.int32)
    return pa.StringArray.from_buffers(len(values), pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(digits)))


def draw_items(rng: np.random.Generator, categories: np.ndarray, rank_cdf: np.ndarray) -> np.ndarray:
    """item_id = category + N_CATEGORIES * rank, with a Zipf rank inside the category."""
    return categories + N_CATEGORIES * sample_cdf(rng, rank_cdf, len(categories))


def choose_categories(rng: np.random.Generator, interests: np.ndarray, interest_share: float | np.ndarray) -> np.ndarray:
    """Per row, one of its user's interests with probability `interest_share` (per row or one for all), else any category."""
    n = len(interests)
    own = interests[np.arange(n), rng.integers(0, INTERESTS_PER_USER, n)]
    return np.where(rng.random(n) < interest_share, own, rng.integers(0, N_CATEGORIES, n))


def category_affinity(category: np.ndarray, history_category: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """Per row, the share of its history elements (flat, element k of row `owner[k]`) in the row's category; 0 if none."""
    matches = np.bincount(owner, weights=history_category == category[owner], minlength=len(category))
    return matches / np.maximum(np.bincount(owner, minlength=len(category)), 1)


def draw_features(
    rng: np.random.Generator, tables: Tables, n: int, time_low: float, time_high: float
) -> tuple[dict[str, pa.Array | np.ndarray], np.ndarray]:
    """Every column except the label and its leak for `n` rows in [time_low, time_high) seconds after START.

    Returns the columns and the logit without the intercept.
    """
    effects = tables.effects
    # Sorting the chunk's times and giving each chunk its own slice keeps the whole log in time order.
    seconds = np.floor(np.sort(time_low + rng.random(n) * (time_high - time_low))).astype(np.int64)
    timestamp = START + seconds
    hour = (seconds // 3600) % 24

    users = sample_cdf(rng, tables.user_cdf, n)
    interests = tables.user_interests[users]
    age = tables.user_age[users]
    device = sample_cdf(rng, DEVICE_CDF, n)
    category = choose_categories(rng, interests, tables.user_candidate_share[users])
    item = draw_items(rng, category, tables.item_rank_cdf)

    # History: flat values with offsets; element k belongs to row `owner[k]`, most recent last.
    lengths = rng.integers(0, MAX_HISTORY + 1, n)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    owner = np.repeat(np.arange(n), lengths)
    history_category = choose_categories(rng, interests[owner], HISTORY_INTEREST_SHARE)
    history_item = draw_items(rng, history_category, tables.item_rank_cdf)
    # Whole-second gaps of at least 1 s keep history times strictly increasing and before the row's time:
    # element k sits at the row time minus the sum of the gaps from k to the row's last element.
    gaps = 1 + np.floor(rng.exponential(HISTORY_GAP_SECONDS, len(owner))).astype(np.int64)
    gaps_before = np.concatenate([[0], np.cumsum(gaps)])
    history_seconds = seconds[owner] - (gaps_before[offsets[1:]][owner] - gaps_before[:-1])
    affinity = category_affinity(category, history_category, owner)

    inf = {name: rng.integers(0, size, n) for name, size in INF_CATEGORIES.items()}
    inf_num = rng.normal(size=n)
    xor_a = rng.integers(0, 2, n)
    xor_b = rng.integers(0, 2, n)
    copy = np.where(rng.random(n) < COPY_AGREEMENT, inf["inf_cat_100"], rng.integers(0, 100, n))

    logit = (
        sum(effects[name][values] for name, values in inf.items())
        + effects["user_age_bucket"][age]
        + effects["device"][device]
        + effects["hour"][hour]
        + effects["item_category"][category]
        + effects["item_id"][item]
        + INF_NUM_COEFFICIENT * inf_num
        + XOR_COEFFICIENT * np.where(xor_a != xor_b, 1.0, -1.0)
        + AFFINITY_COEFFICIENT * affinity
    )

    phase = np.minimum(3 * seconds // SPAN_SECONDS, 2)
    drift = (rng.random(n)[:, None] >= DRIFT_CDFS[phase]).sum(axis=1)
    list_offsets = pa.array(offsets.astype(np.int32))
    columns = {
        "timestamp": pa.array(timestamp),
        "user_id": tables.user_ids[users],
        "item_id": item,
        "item_category": category,
        "user_age_bucket": pc.take(pa.array(AGE_BUCKETS), pa.array(age)),
        "device": pc.take(pa.array(DEVICES), pa.array(device)),
        "hour": hour,
        "history_item_ids": pa.ListArray.from_arrays(list_offsets, pa.array(history_item)),
        "history_item_categories": pa.ListArray.from_arrays(list_offsets, pa.array(history_category)),
        "history_timestamps": pa.ListArray.from_arrays(list_offsets, pa.array(START + history_seconds)),
        **{name: v_strings(values) for name, values in inf.items()},
        "inf_num": inf_num,
        "xor_a": xor_a,
        "xor_b": xor_b,
        "inf_cat_100_copy": v_strings(copy),
        **{name: rng.integers(0, size, n) for name, size in NOISE_UNIFORM.items()},
        "noise_row_id": hex_strings(rng.integers(0, 1 << ROW_ID_BITS, n), ROW_ID_BITS),
        "noise_zipf": rng.zipf(NOISE_ZIPF_EXPONENT, n).astype(np.int64),
        "noise_float": rng.normal(size=n),
        "constant": pa.repeat(pa.scalar("c"), n),
        "missing_80": v_strings(rng.integers(0, MISSING_VALUES, n), mask=rng.random(n) < MISSING_SHARE),
        "drift_noise": v_strings(drift),
    }
    return columns, logit


def draw_chunk(rng: np.random.Generator, tables: Tables, n: int, time_low: float, time_high: float) -> pa.Table:
    """One row group: the features, the label drawn from the full logit, and the label's noisy copy."""
    columns, logit = draw_features(rng, tables, n, time_low, time_high)
    label = (rng.random(n) < sigmoid(tables.intercept + logit)).astype(np.int8)
    columns["label"] = label
    columns["leak_label"] = (label ^ (rng.random(n) < LEAK_FLIP_RATE)).astype(np.int64)
    arrays = [as_arrow(columns[field.name], field.type) for field in SCHEMA]
    return pa.Table.from_arrays(arrays, schema=SCHEMA)


def as_arrow(values: pa.Array | np.ndarray, arrow_type: pa.DataType) -> pa.Array:
    return values if isinstance(values, pa.Array) else pa.array(values, arrow_type)


def column_truth(n_users: int) -> dict[str, dict]:
    """Role, kind and cardinality (number of possible values; null when unbounded or continuous) of every column."""

    def entry(role: str, kind: str, cardinality: int | None, **extra) -> dict:
        return {"role": role, "kind": kind, "cardinality": cardinality, **extra}

    return {
        "label": entry("label", "label", 2),
        "timestamp": entry("timestamp", "timestamp", None),
        "user_id": entry("informative", "categorical", n_users),
        "item_id": entry("informative", "categorical", N_ITEMS),
        "item_category": entry("informative", "categorical", N_CATEGORIES),
        "user_age_bucket": entry("informative", "categorical", len(AGE_BUCKETS)),
        "device": entry("informative", "categorical", len(DEVICES)),
        "hour": entry("informative", "categorical", 24),
        "history_item_ids": entry(
            "sequence", "sequence", N_ITEMS, shares_vocabulary_with="item_id", timestamps="history_timestamps"
        ),
        "history_item_categories": entry(
            "sequence", "sequence", N_CATEGORIES, shares_vocabulary_with="item_category", timestamps="history_timestamps"
        ),
        "history_timestamps": entry("sequence", "sequence", None),
        **{name: entry("informative", "categorical", size) for name, size in INF_CATEGORIES.items()},
        "inf_num": entry("informative", "numeric", None),
        "xor_a": entry("interaction", "categorical", 2, pair="xor_b"),
        "xor_b": entry("interaction", "categorical", 2, pair="xor_a"),
        "inf_cat_100_copy": entry("redundant", "categorical", 100, redundant_with="inf_cat_100"),
        **{name: entry("noise", "categorical", size) for name, size in NOISE_UNIFORM.items()},
        "noise_row_id": entry("id_like", "categorical", 1 << ROW_ID_BITS),
        "noise_zipf": entry("noise", "categorical", None),
        "noise_float": entry("noise", "numeric", None),
        "constant": entry("constant", "categorical", 1),
        "missing_80": entry("missing", "categorical", MISSING_VALUES),
        "drift_noise": entry("drift", "categorical", DRIFT_VALUES),
        "leak_label": entry("leakage", "categorical", 2),
    }


def logit_truth(tables: Tables) -> dict:
    """The label model as ground_truth.json records it: intercept, coefficients and per-value effects."""
    return {
        "intercept": tables.intercept,
        "coefficients": {
            "inf_num": INF_NUM_COEFFICIENT,
            "xor": XOR_COEFFICIENT,
            "sequence_affinity": AFFINITY_COEFFICIENT,
        },
        "effects": {name: dict(zip(EFFECT_KEYS[name], values.tolist())) for name, values in tables.effects.items()},
    }


def check_arguments(out: str | os.PathLike, rows: int, seed: int, row_group_rows: int, files: int) -> None:
    """Reject bad arguments before anything is written; messages name the CLI option."""
    for option, value in (("--rows", rows), ("--row-group-rows", row_group_rows), ("--files", files)):
        if value < 1:
            raise InputError(f"{option}: expected an integer >= 1, got {value}")
    if seed < 0:
        raise InputError(f"--seed: expected an integer >= 0, got {seed}")
    if files > rows:
        raise InputError(f"--files: {files} files for {rows} rows would leave a file empty; use at most {rows}")
    target = Path(out)
    # The output directory is replaced whole, so refuse to replace anything but an earlier synth dataset.
    if target.exists() and (
        not target.is_dir() or (any(target.iterdir()) and not (target / GROUND_TRUTH).exists())
    ):
        raise InputError(f"--out: {target} exists and is not a synthetic dataset; give a new or empty directory")


def file_row_counts(rows: int, files: int) -> list[int]:
    """Rows per file, as even as possible (the first files take the remainder)."""
    base, extra = divmod(rows, files)
    return [base + (index < extra) for index in range(files)]


def generate_synthetic(
    out: str | os.PathLike,
    rows: int,
    seed: int = 0,
    row_group_rows: int = 100_000,
    files: int = 1,
    on_progress: Callable[[int], None] | None = None,
) -> dict:
    """Write `files` Parquet files, `ground_truth.json` and `manifest.json` to `out` (atomically).

    `on_progress(rows_written_so_far)` is called after each row group. Returns the ground truth.
    Raises InputError for bad arguments, before anything is written.
    """
    check_arguments(out, rows, seed, row_group_rows, files)
    stopwatch = Stopwatch()
    names = [f"part-{index:05d}.parquet" for index in range(files)]
    with atomic_artifact_dir(out) as staging:
        with stopwatch.time("tables"):
            tables = build_tables(seed, rows)
        written = positives = chunk_index = 0
        with stopwatch.time("generate"):
            for name, file_rows in zip(names, file_row_counts(rows, files)):
                with pq.ParquetWriter(str(staging / name), SCHEMA) as writer:
                    for start in range(written, written + file_rows, row_group_rows):
                        stop = min(start + row_group_rows, written + file_rows)
                        rng = np.random.default_rng(np.random.SeedSequence([seed, chunk_index]))
                        chunk = draw_chunk(
                            rng, tables, stop - start, start * SPAN_SECONDS / rows, stop * SPAN_SECONDS / rows
                        )
                        writer.write_table(chunk, row_group_size=row_group_rows)
                        positives += int(np.count_nonzero(chunk.column("label").to_numpy()))
                        chunk_index += 1
                        if on_progress is not None:
                            on_progress(stop)
                written += file_rows
        truth = {
            "seed": seed,
            "rows": rows,
            "files": files,
            "row_group_rows": row_group_rows,
            "label": "label",
            "timestamp": "timestamp",
            "ctr": positives / rows,
            "columns": column_truth(n_users_for(rows)),
            "logit": logit_truth(tables),
        }
        write_json(staging / GROUND_TRUTH, truth)
        Manifest(STAGE, parameters={"rows": rows, "seed": seed, "row_group_rows": row_group_rows, "files": files},
                 outputs=(*names, GROUND_TRUTH, MANIFEST), timings=stopwatch.timings).write(staging)
    return truth
