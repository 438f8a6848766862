"""DIN-style CTR rows and next-item sequences from user histories: Amazon formats, synth output,
leave-one-out split, unseen negatives, truncation and empty histories counted, determinism, bad input."""

import json
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from featureplex.features.errors import InputError
from featureplex.pipelines.datasets.ctr_rows import build_ctr_rows, build_next_item_sequences
from featureplex.pipelines.datasets.synth import generate_synthetic
from featureplex.pipelines.datasets.user_histories import read_user_histories
from tests.conftest import REPO

SHARED_DATA = Path(os.environ.get("FEATUREPLEX_SHARED_DATA", REPO.parent / "shared" / "data"))
LINES = "1 1 2 3 4 5\n2 6 7 8\n3 9 9\n4 10\n"  # user 4 has one item: no target with a history
PAIRS = "".join(f"{user} {item}\n" for user, item in [(1, 1), (2, 6), (1, 2), (1, 3), (2, 7), (1, 4), (2, 8), (1, 5)])


def rows(path):
    return pq.read_table(path).to_pylist()


@pytest.fixture
def lines_file(tmp_path):
    path = tmp_path / "Beauty.txt"
    path.write_text(LINES)
    return path


def test_lines_and_pairs_give_the_same_histories(tmp_path, lines_file):
    pairs = tmp_path / "Video.txt"
    pairs.write_text(PAIRS)
    lines = read_user_histories(lines_file)
    assert lines.source == "user-lines" and not lines.has_time
    paired = read_user_histories(pairs)
    assert paired.source == "user-item-pairs"
    assert paired.events.to_dicts() == lines.events.filter(lines.events["user"] <= 2).to_dicts()
    assert lines.events.filter(lines.events["user"] == 1)["item"].to_list() == [1, 2, 3, 4, 5]


def test_ctr_rows_history_positive_unseen_negative_and_leave_one_out(tmp_path, lines_file):
    stats = build_ctr_rows(read_user_histories(lines_file), tmp_path / "out", max_length=2, seed=3)
    train, test = rows(tmp_path / "out/train/part-00000.parquet"), rows(tmp_path / "out/test/part-00000.parquet")
    user1 = [row for row in train if row["user_id"] == 1]
    assert [(r["label"], r["history_item_ids"]) for r in user1[:4]] == [(1, [1]), (0, [1]), (1, [1, 2]), (0, [1, 2])]
    assert [r["item_id"] for r in user1 if r["label"] == 1] == [2, 3, 4]
    assert [r for r in user1 if r["label"] == 1][-1]["history_item_ids"] == [2, 3]  # truncated to the most recent 2
    assert [(r["label"], r["item_id"], r["history_item_ids"]) for r in test if r["user_id"] == 1][0] == (1, 5, [3, 4])
    touched = {1: {1, 2, 3, 4, 5}, 2: {6, 7, 8}, 3: {9}}
    assert all(r["item_id"] not in touched[r["user_id"]] for r in train + test if r["label"] == 0)
    assert stats.truncated_histories == 2 and stats.users_without_rows == 1 and stats.empty_histories == 0
    assert (stats.train_rows, stats.test_rows) == (len(train), len(test)) == (8, 6)
    assert json.loads((tmp_path / "out/stats.json").read_text())["truncated_histories"] == 2


def test_deterministic_by_seed_and_empty_histories_counted(tmp_path, lines_file):
    histories = read_user_histories(lines_file)
    build_ctr_rows(histories, tmp_path / "a", seed=1, min_history=0)
    build_ctr_rows(histories, tmp_path / "b", seed=1, min_history=0)
    build_ctr_rows(histories, tmp_path / "c", seed=2, min_history=0)
    part = "train/part-00000.parquet"
    assert (tmp_path / "a" / part).read_bytes() == (tmp_path / "b" / part).read_bytes()
    assert rows(tmp_path / "a" / part) != rows(tmp_path / "c" / part)
    stats = build_ctr_rows(histories, tmp_path / "d", min_history=0)
    assert stats.empty_histories == 4 and stats.users_without_rows == 0
    assert rows(tmp_path / "d/test/part-00000.parquet")[-2]["history_item_ids"] == []  # user 4: an empty history


def test_from_synth_output_with_timestamps(tmp_path):
    generate_synthetic(tmp_path / "synth", rows=3000, seed=0)
    histories = read_user_histories(tmp_path / "synth")
    assert histories.source == "parquet" and histories.has_time
    build_ctr_rows(histories, tmp_path / "ctr", max_length=5)
    table = pq.read_table(tmp_path / "ctr/train")
    assert {"timestamp", "history_timestamps"} <= set(table.column_names)
    for row in table.slice(0, 200).to_pylist():
        assert len(row["history_timestamps"]) == len(row["history_item_ids"]) <= 5
        assert all(t <= row["timestamp"] for t in row["history_timestamps"])
        assert row["history_timestamps"] == sorted(row["history_timestamps"])
    synth = pq.read_table(tmp_path / "synth" / "part-00000.parquet", columns=["label"]).column("label").to_numpy()
    assert histories.events.height == int(synth.sum())


def test_next_item_sequences_hold_out_the_last_item(tmp_path, lines_file):
    stats = build_next_item_sequences(read_user_histories(lines_file), tmp_path / "seq", max_length=2)
    sequences = rows(tmp_path / "seq/part-00000.parquet")
    assert sequences == [
        {"user_id": 1, "history_item_ids": [2, 3, 4], "target_item_id": 5},
        {"user_id": 2, "history_item_ids": [6, 7], "target_item_id": 8},
        {"user_id": 3, "history_item_ids": [9], "target_item_id": 9},
    ]
    assert stats.truncated_histories == 1 and stats.users_without_rows == 1


def test_bad_inputs_name_the_problem(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("1 2 3\n2 x 4\n")
    with pytest.raises(InputError, match=r"bad.txt: 1 item ids are not integers \(first on line 2\)"):
        read_user_histories(bad)
    with pytest.raises(InputError, match=r"2 lines do not have two fields \(first: line 1\)"):
        read_user_histories(bad, "user-item-pairs")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(InputError, match="empty file"):
        read_user_histories(empty)
    generate_synthetic(tmp_path / "synth", rows=500, seed=0)
    with pytest.raises(InputError, match=r"no column 'clicker' \(--user-column\)"):
        read_user_histories(tmp_path / "synth", user="clicker")


def test_cli_on_amazon_beauty(cli, tmp_path):
    beauty = SHARED_DATA / "amazon_beauty" / "Beauty.txt"
    if not beauty.exists():
        pytest.skip(f"{beauty} not found (set FEATUREPLEX_SHARED_DATA)")
    result = cli("ctr-rows", beauty, "--out", tmp_path / "beauty", "--max-length", "20")
    assert result.returncode == 0, result.stderr
    stats = json.loads(result.stdout)
    assert (stats["users"], stats["items"], stats["events"]) == (22363, 12101, 198502)
    assert stats["test_rows"] == 2 * 22363 and stats["train_rows"] == 2 * (198502 - 2 * 22363)
    result = cli("next-item-sequences", SHARED_DATA / "amazon_videogames" / "Video.txt", "--out", tmp_path / "video")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["users"] == 31013
