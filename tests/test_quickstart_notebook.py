"""notebooks/quickstart.ipynb runs top to bottom (nbclient) at the size it is committed at, and its
committed outputs are current: every code cell's text output equals a fresh run's, once what changes
from run to run (log lines with a time, the working folder) is set aside."""

import re

import nbformat
from nbclient import NotebookClient

from tests.conftest import REPO

NOTEBOOK = REPO / "notebooks" / "quickstart.ipynb"
WORK = "quickstart-work"  # FEATUREPLEX_QUICKSTART_DIR, relative to where the notebook runs
TIMED_LINE = re.compile(r"^(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d |WARNING:|\[IPKernelApp\]).*$\n?", re.M)
# A warning's "file:line:" and the source line under it depend on where the checkout is and its code.
WARNING_SOURCE = re.compile(r"^\S+\.py:\d+: (\w*Warning: .*\n)(  .*\n)?", re.M)


def text_outputs(notebook, folder: str) -> list[str]:
    """Each code cell's text outputs (streams and plain-text results), timed log lines and warnings'
    source locations dropped, and the folder it ran in written as <dir>."""
    texts = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        parts = [output.get("text", "") if output.output_type == "stream" else output.get("data", {}).get("text/plain", "")
                 for output in cell.outputs]
        texts.append(WARNING_SOURCE.sub(r"\1", TIMED_LINE.sub("", "".join(parts))).replace(folder, "<dir>"))
    return texts


def execute(folder, monkeypatch) -> nbformat.NotebookNode:
    monkeypatch.setenv("FEATUREPLEX_QUICKSTART_DIR", WORK)
    monkeypatch.delenv("FEATUREPLEX_QUICKSTART_ROWS", raising=False)  # the committed size
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute()
    return notebook


def test_quickstart_notebook_runs_and_its_committed_outputs_are_current(tmp_path, monkeypatch):
    fresh = execute(tmp_path, monkeypatch)
    outputs = [output for cell in fresh.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert sum(1 for o in outputs if "image/png" in o.get("data", {})) == 3  # ranking, validation AUC, reliability
    assert (tmp_path / WORK / "train" / "saved_model" / "saved_model.pb").exists()
    committed = nbformat.read(NOTEBOOK, as_version=4)
    folder = committed.metadata.get("featureplex", {}).get("executed_in", "")
    assert folder, "the committed notebook says where it was executed (refresh it with `make notebook`)"
    assert text_outputs(committed, folder) == text_outputs(fresh, str(tmp_path))
