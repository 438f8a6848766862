"""Bad input, table-driven: each case is a command line over prepared files, the exit code it must give
(2: usage or data error; never 1, the internal-error code) and what its one error line must name.
Run in process (`cli.run_command`: the console entry point less the signal handler and sys.exit), so
the whole table takes seconds; tests/pipelines/cli/test_cli.py runs the same contract as a subprocess."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from featureplex.pipelines.cli import run_command
from tests.conftest import small_table


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    """Every input the table refers to, written once."""
    root = tmp_path_factory.mktemp("bad")
    pq.write_table(small_table(400), root / "good.parquet")  # 40 item ids in 400 rows: not ID-like
    leaky = small_table(400)
    pq.write_table(leaky.append_column("clicked_again", leaky.column("label")), root / "leak.parquet")
    pq.write_table(small_table(400).append_column("row_id", pa.array(np.arange(400))), root / "row_id.parquet")
    pq.write_table(small_table(400).append_column("site", pa.array(["s"] * 400)), root / "constant.parquet")
    (root / "clicks.parquet").write_text("label,x\n1,2\n")
    (root / "empty").mkdir()
    (root / "mixed").mkdir()
    pq.write_table(small_table(40), root / "mixed" / "a.parquet")
    pq.write_table(small_table(40).drop_columns(["price"]), root / "mixed" / "b.parquet")
    pq.write_table(small_table(60).set_column(0, "label", pa.array([0, 1, 2] * 20, pa.int64())), root / "three.parquet")
    pq.write_table(small_table(60).set_column(0, "label", pa.array([1] * 60, pa.int8())), root / "one_class.parquet")
    pq.write_table(small_table(60).slice(0, 0), root / "no_rows.parquet")
    pq.write_table(small_table(60).drop_columns(["price"]), root / "no_price.parquet")
    pq.write_table(small_table(60).set_column(2, "city", pa.array(np.arange(60))), root / "city_int.parquet")
    pq.write_table(small_table(400).append_column("../../x", pa.array(["a", "b"] * 200)), root / "bad_name.parquet")
    pq.write_table(pa.table({"label": pa.array(np.arange(10) % 2, pa.int8()), "price": pa.array(np.arange(10.0))}),
                   root / "numeric_only.parquet")
    configs = {
        "unknown_key": "rank: {shufles: 3}\n",
        "missing_column": "features: {no_such_column: {kind: numeric}}\n",
        "sequence_on_scalar": "features: {city: {kind: sequence, shares_with: item_id}}\n",
        "not_yaml": "rank: [unclosed\n",
        "not_mapping": "- just\n- a list\n",
        "dimension_zero": "vocab: {dimension: 0}\n",
        "epochs_zero": "train: {epochs: 0}\n",
        "heuristic": "rank: {heuristic: entropy}\n",
        "budget": "vocab: {budget_parameters: 3}\n",
        "unknown_model_key": "train: {model: dnn, model_parameters: {no_such_parameter: 1}}\n",
        "fraction_zero": "train: {validation_fraction: 0}\n",
    }
    for name, text in configs.items():
        (root / f"{name}.yaml").write_text(text)
    (root / "user_dir").mkdir()
    (root / "user_dir" / "notes.txt").write_text("mine")
    (root / "a_file").write_text("x")
    (root / "rows.jsonl").write_text('{"city": "c1"}\nnot json\n')
    (root / "not_a_model").mkdir()
    assert run_command(["vocab", str(root / "good.parquet"), "--out", str(root / "vocab")]) == 0
    return root


# (case, command line with {root} for the files folder, expected exit code, fragments of the error line)
CASES = [
    ("data: absent path", "rank {root}/absent --out {root}/o", 2, ["absent", "no such file or directory"]),
    ("data: not Parquet", "rank {root}/clicks.parquet --out {root}/o", 2, ["clicks.parquet", "not a Parquet file"]),
    ("data: empty folder", "profile {root}/empty --out {root}/o", 2, ["empty", "no Parquet files found"]),
    ("data: files disagree", "rank {root}/mixed --out {root}/o", 2, ["b.parquet", "column 'price' is missing"]),
    ("data: label not 0/1", "rank {root}/three.parquet --out {root}/o", 2, ["label 'label'", "expected 0/1"]),
    ("data: one class", "rank {root}/one_class.parquet --out {root}/o", 2, ["label 'label'", "both 0 and 1"]),
    ("data: vocab on labels not 0/1", "vocab {root}/three.parquet --out {root}/o", 2, ["label 'label'", "expected 0/1"]),
    ("data: vocab on no rows", "vocab {root}/no_rows.parquet --out {root}/o", 2, ["label 'label'", "no rows"]),
    ("data: profile on no rows", "profile {root}/no_rows.parquet --out {root}/o", 2, ["no rows"]),
    ("data: schema on labels not 0/1", "schema {root}/three.parquet", 2, ["expected 0/1"]),
    ("data: train on no rows", "train {root}/no_rows.parquet --vocab {root}/vocab --out {root}/o", 2, ["no rows"]),
    ("data: the vocab's feature is not in the data", "train {root}/numeric_only.parquet --vocab {root}/vocab --out {root}/o", 2,
     ["layout.json", "not a categorical column of the data"]),
    ("data: a column that cannot be a file name", "vocab {root}/bad_name.parquet --out {root}/o", 2,
     ["feature '../../x'", "cannot be a vocabulary file name"]),
    ("data: nothing to embed", "vocab {root}/numeric_only.parquet --out {root}/o", 2, ["no categorical or sequence feature"]),
    ("guard: a label leak", "vocab {root}/leak.parquet --out {root}/o", 2,
     ["feature 'clicked_again'", "label leak", "--rank DIR", "role: ignore", "--allow-suspect-columns"]),
    ("guard: a row id", "vocab {root}/row_id.parquet --out {root}/o", 2, ["feature 'row_id'", "ID-like"]),
    ("guard: a constant", "train {root}/constant.parquet --vocab {root}/vocab --out {root}/o", 2,
     ["feature 'site'", "constant"]),
    ("data: no label column", "rank {root}/good.parquet --label nope --out {root}/o", 2, ["nope"]),
    ("data: no DATA at all", "rank --out {root}/o", 2, ["DATA"]),
    ("config: unknown key", "rank {root}/good.parquet --config {root}/unknown_key.yaml --out {root}/o", 2,
     ["unknown_key.yaml", "rank.shufles"]),
    ("config: column not in the data", "vocab {root}/good.parquet --config {root}/missing_column.yaml --out {root}/o", 2,
     ["features.no_such_column", "not in the data"]),
    ("config: sequence on a scalar", "schema {root}/good.parquet --config {root}/sequence_on_scalar.yaml", 2,
     ["features.city", "declared sequence"]),
    ("config: broken YAML", "schema {root}/good.parquet --config {root}/not_yaml.yaml", 2, ["not_yaml.yaml"]),
    ("config: YAML not a mapping", "schema {root}/good.parquet --config {root}/not_mapping.yaml", 2, ["not_mapping.yaml"]),
    ("config: absent file", "schema {root}/good.parquet --config {root}/absent.yaml", 2, ["absent.yaml"]),
    ("config: vocab.dimension 0", "vocab {root}/good.parquet --config {root}/dimension_zero.yaml --out {root}/o", 2,
     ["vocab.dimension"]),
    ("config: train.epochs 0", "schema {root}/good.parquet --config {root}/epochs_zero.yaml", 2, ["train.epochs"]),
    ("config: unknown heuristic", "rank {root}/good.parquet --config {root}/heuristic.yaml --out {root}/o", 2,
     ["rank.heuristic"]),
    ("config: budget too small", "vocab {root}/good.parquet --config {root}/budget.yaml --out {root}/o", 2, ["budget"]),
    ("held-out: validation file lacks a column",
     "train {root}/good.parquet --vocab {root}/vocab --out {root}/o --validation {root}/no_price.parquet", 2,
     ["no_price.parquet", "column 'price' is missing"]),
    ("held-out: test column of another type",
     "train {root}/good.parquet --vocab {root}/vocab --out {root}/o --test {root}/city_int.parquet", 2,
     ["city_int.parquet", "column 'city' has type int64", "expected text"]),
    ("held-out: test file of one class",
     "train {root}/good.parquet --vocab {root}/vocab --out {root}/o --test {root}/one_class.parquet", 2,
     ["one_class.parquet", "label 'label'", "a single class"]),
    ("held-out: validation labels not 0/1",
     "train {root}/good.parquet --vocab {root}/vocab --out {root}/o --validation {root}/three.parquet", 2,
     ["three.parquet", "expected 0/1"]),
    ("held-out: validation file absent",
     "train {root}/good.parquet --vocab {root}/vocab --out {root}/o --validation {root}/absent.parquet", 2,
     ["absent.parquet", "no such file"]),
    ("config: validation_fraction 0 without a validation file",
     "schema {root}/good.parquet --config {root}/fraction_zero.yaml", 2, ["train.validation_fraction", "train.validation"]),
    ("flag: --epochs 0", "train {root}/good.parquet --vocab {root}/vocab --out {root}/o --epochs 0", 2, ["--epochs"]),
    ("flag: --epochs -1", "train {root}/good.parquet --vocab {root}/vocab --out {root}/o --epochs -1", 2, ["--epochs"]),
    ("flag: --batch-size 0", "train {root}/good.parquet --vocab {root}/vocab --out {root}/o --batch-size 0", 2,
     ["--batch-size"]),
    ("flag: --learning-rate 0", "train {root}/good.parquet --vocab {root}/vocab --out {root}/o --learning-rate 0", 2,
     ["--learning-rate"]),
    ("flag: --model unknown", "train {root}/good.parquet --vocab {root}/vocab --out {root}/o --model gbdt", 2,
     ["gbdt"]),
    ("flag: --top-k -1", "rank {root}/good.parquet --out {root}/o --top-k -1", 2, ["--top-k"]),
    ("flag: rank typo", "rank {root}/good.parquet --out {root}/o --shufles 2", 2, ["--shufles", "did you mean --shuffles"]),
    ("flag: vocab typo", "vocab {root}/good.parquet --out {root}/o --dimention 8", 2,
     ["--dimention", "did you mean --dimension"]),
    ("flag: profile typo", "profile {root}/good.parquet --out {root}/o --direct_num_worker 2", 2,
     ["--direct_num_worker", "did you mean --direct_num_workers"]),
    ("flag: --dimension 0", "vocab {root}/good.parquet --out {root}/o --dimension 0", 2, ["--dimension"]),
    ("flag: --min-count 0", "vocab {root}/good.parquet --out {root}/o --min-count 0", 2, ["--min-count"]),
    ("flag: --mode unknown", "vocab {root}/good.parquet --out {root}/o --mode sparse", 2, ["--mode", "sparse"]),
    ("flag: --heuristic unknown", "rank {root}/good.parquet --out {root}/o --heuristic gini", 2, ["--heuristic"]),
    ("flag: predict --batch-size 0", "predict {root}/not_a_model --input {root}/rows.jsonl --batch-size 0", 2,
     ["--batch-size"]),
    ("flag: synth --rows 0", "synth --rows 0 --out {root}/s", 2, ["--rows"]),
    ("flag: synth --files > rows", "synth --rows 2 --files 3 --out {root}/s", 2, ["--files"]),
    ("flag: unknown command", "frobnicate", 2, ["No such command"]),
    ("flag: missing --out", "rank {root}/good.parquet", 2, ["--out"]),
    ("out: a user's folder", "profile {root}/good.parquet --out {root}/user_dir", 2,
     ["user_dir", "holds files featureplex did not write"]),
    ("out: a file", "profile {root}/good.parquet --out {root}/a_file", 2, ["a_file", "is a file"]),
    ("out: synth over a user's folder", "synth --rows 10 --out {root}/user_dir", 2, ["user_dir"]),
    ("model: not a SavedModel", "predict {root}/not_a_model --input {root}/rows.jsonl", 2,
     ["not_a_model", "not a SavedModel"]),
    ("model: unknown MLflow URI scheme", "serve ftp://x/model", 2, ["ftp://x/model"]),
    ("model: register a folder that is no SavedModel", "register {root}/not_a_model --name m", 2, ["not a SavedModel"]),
    ("vocab: not a vocab artifact", "train {root}/good.parquet --vocab {root}/empty --out {root}/o", 2,
     ["not a vocab artifact"]),
    ("sequence data: absent source", "ctr-rows {root}/absent --out {root}/c", 2, ["absent"]),
    ("sequence data: --format unknown", "next-item-sequences {root}/good.parquet --out {root}/c --format csv", 2,
     ["--format"]),
]


@pytest.mark.parametrize("case, command, code, fragments", CASES, ids=[case for case, *_ in CASES])
def test_bad_input_gives_one_clear_line(files, capsys, case, command, code, fragments):
    argv = command.format(root=files).split()
    assert run_command(argv) == code
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert lines and lines[-1].startswith("error: "), captured.err
    assert len([line for line in lines if not line.startswith(("warning:", "note:"))]) == 1, captured.err
    assert "Traceback" not in captured.err
    for fragment in fragments:
        assert fragment in lines[-1], lines[-1]
    assert sorted(p.name for p in files.iterdir() if p.name in ("o", "s", "c")) == []  # nothing half-written


def test_the_table_covers_the_ground():
    assert len(CASES) >= 45
