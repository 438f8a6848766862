import json
import subprocess
import sys

import pytest

from featureplex.features.data.artifact_dir import MANIFEST, Manifest, Stopwatch, atomic_artifact_dir, write_json
from featureplex.features.errors import InputError


def test_local_artifact_replaces_the_old_one_only_on_success(tmp_path):
    out = tmp_path / "artifact"
    with atomic_artifact_dir(out) as staging:
        (staging / "a.txt").write_text("first")
        Manifest("test").write(staging)
    with pytest.raises(RuntimeError):
        with atomic_artifact_dir(out) as staging:
            (staging / "a.txt").write_text("half")
            raise RuntimeError("crash")
    assert (out / "a.txt").read_text() == "first"
    with atomic_artifact_dir(out) as staging:
        (staging / "b.txt").write_text("second")
    assert sorted(p.name for p in out.iterdir()) == ["b.txt"]
    with pytest.raises(InputError, match="holds files featureplex did not write"):  # no manifest: not ours to replace
        with atomic_artifact_dir(out) as staging:
            (staging / "c.txt").write_text("third")
    assert sorted(p.name for p in out.iterdir()) == ["b.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["artifact"]  # no temporary siblings left


def test_uri_artifact_is_published_with_the_manifest_last(tmp_path):
    out = f"file://{tmp_path}/remote/artifact"
    stopwatch = Stopwatch()
    with stopwatch.time("work"), atomic_artifact_dir(out) as staging:
        (staging / "vocab").mkdir()
        (staging / "vocab" / "item.txt").write_text("a\nb\n")
        write_json(staging / "layout.json", {"b": 1, "a": 2})
        Manifest("vocab", outputs=("layout.json",), timings=stopwatch.timings).write(staging)
    published = tmp_path / "remote" / "artifact"
    assert (published / "vocab" / "item.txt").read_text() == "a\nb\n"
    assert (published / "layout.json").read_text() == '{\n  "a": 2,\n  "b": 1\n}\n'
    assert json.loads((published / MANIFEST).read_text())["stage"] == "vocab"
    with pytest.raises(RuntimeError):
        with atomic_artifact_dir(out) as staging:
            raise RuntimeError("crash before publishing")
    assert (published / MANIFEST).exists()


def test_staging_left_by_a_killed_writer_is_cleared(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".artifact.tmp-{dead.stdout.strip()}-deadbeef"  # its writer's process is gone
    stale.mkdir()
    (stale / "half.txt").write_text("half")
    with atomic_artifact_dir(tmp_path / "artifact") as staging:
        (staging / "whole.txt").write_text("whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["artifact"]


def test_a_second_writer_of_the_same_artifact_is_told_who_holds_it(tmp_path):
    out = tmp_path / "artifact"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom featureplex.features.data.artifact_dir import artifact_lock\n"
         f"with artifact_lock({str(out)!r}):\n    print('held', flush=True)\n    time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(InputError, match=f"another featureplex process \\(pid {holder.pid}\\) is writing it"):
            with atomic_artifact_dir(out) as staging:
                (staging / "a.txt").write_text("mine")
        live = tmp_path / f".artifact.tmp-{holder.pid}-cafe0000"  # a live writer's staging is not stale
        live.mkdir()
    finally:
        holder.kill()
        holder.wait()
    with atomic_artifact_dir(out) as staging:  # the lock died with its holder
        (staging / "a.txt").write_text("mine")
    assert (out / "a.txt").read_text() == "mine" and not live.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["artifact"]


def test_a_symlinked_output_is_written_where_it_points(tmp_path):
    target = tmp_path / "target"
    with atomic_artifact_dir(target) as staging:
        Manifest("test").write(staging)
    (tmp_path / "link").symlink_to(target)
    with atomic_artifact_dir(tmp_path / "link") as staging:
        (staging / "new.txt").write_text("new")
    assert (tmp_path / "link").is_symlink() and (target / "new.txt").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "target"]
