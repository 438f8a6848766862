"""The synthetic generator: columns and roles, determinism, and a ground truth that matches the data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from featureplex.features.errors import InputError
from featureplex.pipelines.datasets.synth import (
    GROUND_TRUTH,
    INTERESTS_PER_USER,
    N_CATEGORIES,
    N_ITEMS,
    SCHEMA,
    generate_synthetic,
)
from tests.conftest import run_cli

ROWS = 200_000
SEED = 11


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[Path, dict, pa.Table]:
    """One 200k-row dataset (2 files of 2 row groups) shared by the statistical tests."""
    out = tmp_path_factory.mktemp("synth") / "data"
    truth = generate_synthetic(out, rows=ROWS, seed=SEED, row_group_rows=50_000, files=2)
    table = pa.concat_tables(pq.read_table(path) for path in sorted(out.glob("part-*.parquet")))
    return out, truth, table


def column(table: pa.Table, name: str) -> np.ndarray:
    return table.column(name).to_numpy()


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def fit_logistic(features: np.ndarray, label: np.ndarray, iterations: int = 25) -> np.ndarray:
    """Maximum-likelihood logistic regression by Newton's method (IRLS)."""
    beta = np.zeros(features.shape[1])
    for _ in range(iterations):
        p = sigmoid(features @ beta)
        hessian = features.T @ (features * (p * (1 - p))[:, None])
        beta += np.linalg.solve(hessian, features.T @ (label - p))
    return beta


def one_hot(values: np.ndarray, keys: list[str]) -> np.ndarray:
    return (values[:, None] == np.array(keys, dtype=object)[None, :]).astype(np.float64)


def history_categories(table: pa.Table) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flat history item categories, the row each belongs to, and the history lengths."""
    history = table.column("history_item_ids").combine_chunks()
    categories = pc.list_flatten(history).to_numpy() % N_CATEGORIES
    owner = pc.list_parent_indices(history).to_numpy()
    return categories, owner, pc.list_value_length(history).to_numpy()


def affinity(table: pa.Table) -> np.ndarray:
    categories, owner, lengths = history_categories(table)
    matches = np.bincount(owner, weights=categories == column(table, "item_category")[owner], minlength=len(table))
    return matches / np.maximum(lengths, 1)


def test_columns_types_and_roles(generated):
    out, truth, table = generated
    assert table.column_names == SCHEMA.names
    for field in SCHEMA:
        found = table.schema.field(field.name).type
        if "timestamp" in field.name:
            # Parquet has no seconds unit: whole seconds come back as timestamp[ms].
            unit = found.value_type.unit if pa.types.is_list(found) else found.unit
            assert unit in ("s", "ms"), field.name
        else:
            assert found == field.type, field.name
    assert set(truth["columns"]) == set(SCHEMA.names)
    roles = {name: entry["role"] for name, entry in truth["columns"].items()}
    assert roles["label"] == "label" and roles["timestamp"] == "timestamp"
    assert {roles[name] for name in ("user_id", "item_id", "item_category", "user_age_bucket", "device", "hour")} == {"informative"}
    assert {roles[name] for name in ("inf_cat_10", "inf_cat_100", "inf_cat_1000", "inf_num")} == {"informative"}
    assert roles["xor_a"] == roles["xor_b"] == "interaction"
    assert truth["columns"]["xor_a"]["pair"] == "xor_b" and truth["columns"]["xor_b"]["pair"] == "xor_a"
    assert roles["inf_cat_100_copy"] == "redundant" and truth["columns"]["inf_cat_100_copy"]["redundant_with"] == "inf_cat_100"
    assert truth["columns"]["history_item_ids"] == {
        "role": "sequence", "kind": "sequence", "cardinality": N_ITEMS,
        "shares_vocabulary_with": "item_id", "timestamps": "history_timestamps",
    }
    assert truth["columns"]["history_timestamps"]["kind"] == "sequence"
    assert {roles[n] for n in SCHEMA.names if n.startswith("noise_") and n != "noise_row_id"} == {"noise"}
    assert (roles["noise_row_id"], roles["constant"], roles["missing_80"], roles["drift_noise"], roles["leak_label"]) == (
        "id_like", "constant", "missing", "drift", "leakage",
    )
    assert truth["rows"] == ROWS and truth["seed"] == SEED and truth["label"] == "label"
    assert truth["ctr"] == pytest.approx(column(table, "label").mean())
    assert 0.2 <= truth["ctr"] <= 0.3
    assert json.loads((out / GROUND_TRUTH).read_text()) == truth
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["stage"] == "synth" and manifest["parameters"]["rows"] == ROWS


def test_layout_row_groups_and_files(generated):
    out, _, _ = generated
    files = sorted(out.glob("part-*.parquet"))
    assert [path.name for path in files] == ["part-00000.parquet", "part-00001.parquet"]
    metadata = [pq.ParquetFile(path).metadata for path in files]
    assert [m.num_row_groups for m in metadata] == [2, 2]
    assert sum(m.num_rows for m in metadata) == ROWS


def test_timestamps_are_a_log(generated):
    _, _, table = generated
    seconds = table.column("timestamp").cast(pa.timestamp("s")).to_numpy().astype(np.int64)
    start = np.datetime64("2026-01-01", "s").astype(np.int64)
    assert np.all(np.diff(seconds) >= 0)
    assert seconds[0] >= start and seconds[-1] < start + 30 * 86400
    hour = column(table, "hour")
    assert np.array_equal(hour, (seconds // 3600) % 24)


def test_items_and_history(generated):
    _, _, table = generated
    item = column(table, "item_id")
    assert item.min() >= 0 and item.max() < N_ITEMS
    assert np.array_equal(column(table, "item_category"), item % N_CATEGORIES)
    # Zipf popularity within a category: the head rank is far more common than the tail.
    rank = item // N_CATEGORIES
    assert np.mean(rank == 0) > 20 * np.mean(rank == 199)

    history = table.column("history_item_ids").combine_chunks()
    stamps = table.column("history_timestamps").combine_chunks()
    lengths = pc.list_value_length(history).to_numpy()
    assert lengths.min() == 0 and lengths.max() == 50
    assert np.array_equal(lengths, pc.list_value_length(stamps).to_numpy())
    values = pc.list_flatten(history).to_numpy()
    assert values.min() >= 0 and values.max() < N_ITEMS

    flat_seconds = pc.list_flatten(stamps).cast(pa.timestamp("s")).to_numpy().astype(np.int64)
    owner = pc.list_parent_indices(stamps).to_numpy()
    row_seconds = table.column("timestamp").cast(pa.timestamp("s")).to_numpy().astype(np.int64)
    assert np.all(flat_seconds < row_seconds[owner])
    same_row = owner[1:] == owner[:-1]
    assert np.all(np.diff(flat_seconds)[same_row] > 0)
    mean_gap = np.mean(np.diff(flat_seconds)[same_row])
    assert 3000 < mean_gap < 4200

    # The categories list is the history's items' categories, element by element.
    categories, owner, _ = history_categories(table)
    listed = table.column("history_item_categories").combine_chunks()
    assert np.array_equal(pc.list_value_length(listed).to_numpy(), lengths)
    assert np.array_equal(pc.list_flatten(listed).to_numpy(), categories)

    # Each user's six interests hold ~91% of their history (0.9 + 0.1 * 6/50): the six most frequent
    # categories of the users with at least 300 history elements (enough to find them) hold about that.
    _, user = np.unique(column(table, "user_id"), return_inverse=True)
    counts = np.bincount(user[owner] * N_CATEGORIES + categories, minlength=(user.max() + 1) * N_CATEGORIES)
    per_user = np.sort(counts.reshape(-1, N_CATEGORIES), axis=1)
    active = per_user[per_user.sum(axis=1) >= 300]
    assert len(active) > 100
    assert 0.89 < active[:, -INTERESTS_PER_USER:].sum() / active.sum() < 0.93


def test_determinism(tmp_path):
    def run(name: str, seed: int) -> dict[str, bytes]:
        generate_synthetic(tmp_path / name, rows=3000, seed=seed, row_group_rows=1000, files=2)
        return {path.name: path.read_bytes() for path in (tmp_path / name).glob("*") if path.name != "manifest.json"}

    first, again, other = run("a", 5), run("b", 5), run("c", 6)
    assert sorted(first) == ["ground_truth.json", "part-00000.parquet", "part-00001.parquet"]
    assert first == again
    assert all(first[name] != other[name] for name in first)


def test_regression_recovers_ground_truth(generated):
    _, truth, table = generated
    label = column(table, "label").astype(np.float64)
    true_cat10 = truth["logit"]["effects"]["inf_cat_10"]
    keys = sorted(true_cat10)
    xor_sign = np.where(column(table, "xor_a") != column(table, "xor_b"), 1.0, -1.0)
    design = np.column_stack([one_hot(column(table, "inf_cat_10"), keys), column(table, "inf_num"), xor_sign,
                              affinity(table)])
    beta = fit_logistic(design, label)
    fitted = beta[: len(keys)]
    assert np.corrcoef(fitted, [true_cat10[key] for key in keys])[0, 1] > 0.9
    # Omitted terms attenuate logistic coefficients, so "near" allows for it.
    assert 0.55 < beta[len(keys)] < 0.9
    assert beta[len(keys) + 1] > 0.5
    assert 0.5 < beta[len(keys) + 2] / truth["logit"]["coefficients"]["sequence_affinity"] < 1.0


def test_full_ground_truth_logit_explains_the_label(generated):
    """The logit rebuilt from the columns and ground_truth.json is the one the label was drawn from."""
    _, truth, table = generated
    logit = truth["logit"]
    effects = logit["effects"]
    rebuilt = logit["coefficients"]["inf_num"] * column(table, "inf_num")
    rebuilt += logit["coefficients"]["xor"] * np.where(column(table, "xor_a") != column(table, "xor_b"), 1.0, -1.0)
    rebuilt += logit["coefficients"]["sequence_affinity"] * affinity(table)
    for name, by_value in effects.items():
        values = column(table, name).astype(str)
        keys = np.array(list(by_value))
        order = np.argsort(keys)
        rebuilt += np.array(list(by_value.values()))[order][np.searchsorted(keys[order], values)]
    intercept, slope = fit_logistic(np.column_stack([np.ones(len(table)), rebuilt]), column(table, "label").astype(np.float64))
    assert slope == pytest.approx(1.0, abs=0.05)
    assert intercept == pytest.approx(logit["intercept"], abs=0.1)


def test_column_behaviour(generated):
    _, _, table = generated
    label = column(table, "label")
    n = len(table)
    assert np.mean(column(table, "inf_cat_100_copy") == column(table, "inf_cat_100")) == pytest.approx(0.95, abs=0.005)
    assert np.mean(column(table, "leak_label") == label) == pytest.approx(0.98, abs=0.003)
    assert table.column("missing_80").null_count / n == pytest.approx(0.8, abs=0.005)
    assert pc.count_distinct(table.column("missing_80")).as_py() == 20
    assert pc.unique(table.column("constant")).to_pylist() == ["c"]
    assert pc.count_distinct(table.column("noise_row_id")).as_py() > 0.99 * n
    assert column(table, "noise_zipf").max() > 1000 * np.median(column(table, "noise_zipf"))

    # XOR: each column alone says nothing, the pair says a lot.
    xor_a, xor_b = column(table, "xor_a"), column(table, "xor_b")
    assert abs(label[xor_a == 0].mean() - label[xor_a == 1].mean()) < 0.01
    assert abs(label[xor_b == 0].mean() - label[xor_b == 1].mean()) < 0.01
    assert label[xor_a != xor_b].mean() - label[xor_a == xor_b].mean() > 0.15

    # Sequence: the CTR grows with the share of history in the candidate's category.
    bins = np.digitize(affinity(table), [1e-9, 0.2, 0.4])
    ctr_by_bin = [label[bins == b].mean() for b in range(4)]
    assert all(low < high for low, high in zip(ctr_by_bin, ctr_by_bin[1:]))
    assert ctr_by_bin[-1] - ctr_by_bin[0] > 0.1

    # Drift: the first third of time favours the first values, the last third the last values.
    drift = column(table, "drift_noise")
    third = n // 3
    early, late = drift[:third], drift[-third:]
    assert np.mean(early == "v0") > 0.3 > np.mean(late == "v0")
    assert np.mean(late == "v9") > 0.3 > np.mean(early == "v9")


def test_progress_reports_rows_written(tmp_path):
    seen: list[int] = []
    generate_synthetic(tmp_path / "d", rows=2500, row_group_rows=1000, files=2, on_progress=seen.append)
    assert seen == [1000, 1250, 2250, 2500]


@pytest.mark.parametrize(
    "arguments, option",
    [
        ({"rows": 0}, "--rows"),
        ({"rows": 10, "row_group_rows": 0}, "--row-group-rows"),
        ({"rows": 10, "files": 0}, "--files"),
        ({"rows": 3, "files": 4}, "--files"),
        ({"rows": 10, "seed": -1}, "--seed"),
    ],
)
def test_bad_arguments(tmp_path, arguments, option):
    with pytest.raises(InputError, match=option):
        generate_synthetic(tmp_path / "d", **arguments)
    assert not (tmp_path / "d").exists()


def test_refuses_to_replace_other_directories(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(InputError, match="--out"):
        generate_synthetic(tmp_path / "mine", rows=10)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    generate_synthetic(tmp_path / "again", rows=10)
    generate_synthetic(tmp_path / "again", rows=20)
    assert json.loads((tmp_path / "again" / GROUND_TRUTH).read_text())["rows"] == 20


def test_cli_writes_dataset(tmp_path):
    out = tmp_path / "data"
    result = run_cli("synth", "--rows", "2000", "--out", out, "--seed", "3", "--row-group-rows", "500", "--files", "2")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("synth: 2,000 rows in 2 file(s), CTR ") and str(out) in result.stdout
    assert [pq.ParquetFile(path).metadata.num_row_groups for path in sorted(out.glob("*.parquet"))] == [2, 2]
    assert json.loads((out / GROUND_TRUTH).read_text())["seed"] == 3


def test_cli_bad_rows(tmp_path):
    out = tmp_path / "data"
    result = run_cli("synth", "--rows", "0", "--out", out)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "--rows" in result.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_cli_help_describes_every_option():
    result = run_cli("synth", "--help")
    assert result.returncode == 0
    for option in ("--rows", "--out", "--seed", "--row-group-rows", "--files"):
        assert option in result.stdout
