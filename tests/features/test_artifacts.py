import json

import pytest

from features.artifacts import MANIFEST, Stopwatch, atomic_artifact_dir, write_json, write_manifest


def test_local_artifact_replaces_the_old_one_only_on_success(tmp_path):
    out = tmp_path / "artifact"
    with atomic_artifact_dir(out) as staging:
        (staging / "a.txt").write_text("first")
    with pytest.raises(RuntimeError):
        with atomic_artifact_dir(out) as staging:
            (staging / "a.txt").write_text("half")
            raise RuntimeError("crash")
    assert (out / "a.txt").read_text() == "first"
    with atomic_artifact_dir(out) as staging:
        (staging / "b.txt").write_text("second")
    assert sorted(p.name for p in out.iterdir()) == ["b.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["artifact"]  # no temporary siblings left


def test_uri_artifact_is_published_with_the_manifest_last(tmp_path):
    out = f"file://{tmp_path}/remote/artifact"
    stopwatch = Stopwatch()
    with stopwatch.time("work"), atomic_artifact_dir(out) as staging:
        (staging / "vocab").mkdir()
        (staging / "vocab" / "item.txt").write_text("a\nb\n")
        write_json(staging / "layout.json", {"b": 1, "a": 2})
        write_manifest(staging, stage="vocab", inputs={}, parameters={}, outputs=["layout.json"], timings=stopwatch.timings)
    published = tmp_path / "remote" / "artifact"
    assert (published / "vocab" / "item.txt").read_text() == "a\nb\n"
    assert (published / "layout.json").read_text() == '{\n  "a": 2,\n  "b": 1\n}\n'
    assert json.loads((published / MANIFEST).read_text())["stage"] == "vocab"
    with pytest.raises(RuntimeError):
        with atomic_artifact_dir(out) as staging:
            raise RuntimeError("crash before publishing")
    assert (published / MANIFEST).exists()


def test_staging_left_by_a_killed_writer_is_cleared(tmp_path):
    (tmp_path / ".artifact.tmp-deadbeef").mkdir()
    (tmp_path / ".artifact.tmp-deadbeef" / "half.txt").write_text("half")
    with atomic_artifact_dir(tmp_path / "artifact") as staging:
        (staging / "whole.txt").write_text("whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["artifact"]
