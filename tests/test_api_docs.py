"""The API reference (`make docs`: docs/build_api.py) builds without a pdoc warning, documents the
quickstart notebook's calls, and a warning does fail the build."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys

from tests.conftest import REPO

BUILD = REPO / "docs" / "build_api.py"


def test_the_reference_builds_clean_and_its_front_page_links_land(tmp_path):
    out = tmp_path / "api"
    result = subprocess.run([sys.executable, str(BUILD), str(out)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert not [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    front = (out / "index.html").read_text()
    links = re.findall(r'<a href="([^"#]+)#([^"]+)">', front.split('class="start-here"', 1)[1])
    assert len(links) == 9
    for page, anchor in links:
        assert f'id="{anchor}"' in (out / page).read_text(), f"{page}#{anchor}"
    rank_page = (out / "featureplex/pipelines/stages/rank.html").read_text()
    assert "Rank the features of a Parquet dataset" in rank_page
    assert (out / "featureplex/features/data/suspect_columns.html").exists()


def test_a_submodule_that_fails_to_import_fails_the_build(tmp_path, monkeypatch):
    package = tmp_path / "docs_probe"
    package.mkdir()
    (package / "__init__.py").write_text('"""A package with one broken module."""\n')
    (package / "broken.py").write_text('"""Fails on import."""\nraise RuntimeError("boom")\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = importlib.util.spec_from_file_location("build_api", BUILD)
    build_api = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build_api)
    problems = build_api.build(tmp_path / "api", ("docs_probe",))
    assert len(problems) == 1 and "docs_probe.broken" in problems[0] and "boom" in problems[0]
