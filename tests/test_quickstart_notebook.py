"""notebooks/quickstart.ipynb runs top to bottom (nbclient), on a small dataset."""

import nbformat
from nbclient import NotebookClient

from tests.conftest import REPO


def test_quickstart_notebook_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("FEATUREPLEX_QUICKSTART_ROWS", "6000")
    monkeypatch.setenv("FEATUREPLEX_QUICKSTART_DIR", str(tmp_path / "work"))
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    notebook = nbformat.read(REPO / "notebooks" / "quickstart.ipynb", as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert sum(1 for o in outputs if "image/png" in o.get("data", {})) == 2
    assert (tmp_path / "work" / "train" / "saved_model" / "saved_model.pb").exists()
