"""The vocab artifact: byte-identical files whatever the merge order, its read/write round trip."""

import polars as pl
import pyarrow as pa
import pytest

from featureplex.features.data.artifact_dir import Manifest
from featureplex.features.data.config import VocabParams
from featureplex.features.embedding.layout import build_layout, head_vocabularies
from featureplex.features.embedding.vocab_artifact import VocabArtifact
from featureplex.features.embedding.vocabulary import ValueCounts
from featureplex.features.errors import InputError
from tests.features.embedding.test_layout import _artifact_bytes, counts_of


def test_artifact_is_byte_identical_whatever_the_merge_order(tmp_path):
    columns = {"item": [str(v % 13) for v in range(200)], "device": ["d\n1" if v % 9 == 0 else f"d{v % 4}" for v in range(200)]}
    whole = pa.record_batch({name: pa.array(values) for name, values in columns.items()})
    parts = [whole.slice(start, 50) for start in range(0, 200, 50)]
    forward = ValueCounts.merge_all([ValueCounts(["item", "device"]).add(part) for part in parts])
    backward = ValueCounts.merge_all([ValueCounts(["item", "device"]).add(part) for part in parts[::-1]])
    params = VocabParams(dimension=8, budget_parameters=160)
    for name, counts in (("forward", forward), ("backward", backward)):
        VocabArtifact.from_counts(counts, build_layout(counts, params), Manifest("vocab", {"data": "x"}, params.model_dump())).write(tmp_path / name)
    assert _artifact_bytes(tmp_path / "forward") == _artifact_bytes(tmp_path / "backward")

    again = VocabArtifact.read(tmp_path / "forward", with_counts=True)
    layout, vocabularies = again.layout, again.vocabularies
    assert again.counts.equals(forward.frame())
    assert layout == build_layout(forward, params)
    assert vocabularies == head_vocabularies(forward, layout)
    assert sorted(vocabularies["device"]) == ["d0", "d1", "d2", "d3"]  # "d\n1" is routed to the tail
    assert layout.features["device"].unrepresentable == 23
    assert {"layout.json", "counts.parquet", "manifest.json", "vocab/item.txt"} <= set(_artifact_bytes(tmp_path / "forward"))


def test_counts_file_bytes_do_not_depend_on_how_the_counts_are_chunked(tmp_path, monkeypatch):
    # large enough for several Parquet row groups, which a polars writer would cut at chunk boundaries
    counts = counts_of(item=[f"id{v}" for v in range(600_000)] + ["id7"] * 3)
    params = VocabParams(dimension=8, budget_parameters=8000)
    layout = build_layout(counts, params)
    VocabArtifact.from_counts(counts, layout, Manifest("vocab")).write(tmp_path / "one")
    whole = counts.frame()
    monkeypatch.setattr(counts, "frame", lambda: pl.concat([whole[:300_001], whole[300_001:]], rechunk=False))
    VocabArtifact.from_counts(counts, layout, Manifest("vocab")).write(tmp_path / "two")
    assert (tmp_path / "one" / "counts.parquet").read_bytes() == (tmp_path / "two" / "counts.parquet").read_bytes()


def test_nothing_is_written_when_a_feature_name_cannot_be_a_file(tmp_path):
    counts = counts_of(**{"a/b": ["x", "x"]})
    with pytest.raises(InputError, match="feature 'a/b': the name cannot be a vocabulary file name"):
        VocabArtifact.from_counts(counts, build_layout(counts, VocabParams()), Manifest("vocab")).write(tmp_path / "out")
    assert list(tmp_path.iterdir()) == []
