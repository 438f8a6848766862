"""Re-execute quickstart.ipynb at its committed size and store its outputs (`make notebook`).

The test suite checks the committed text outputs equal a fresh run's (tests/test_quickstart_notebook.py):
run this after changing what the notebook shows. It runs in a temporary folder, recorded in the
notebook's metadata so that the test can set the folder's name aside.
"""

import os
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).with_name("quickstart.ipynb")

if __name__ == "__main__":
    folder = tempfile.mkdtemp(prefix="quickstart-")
    os.environ["FEATUREPLEX_QUICKSTART_DIR"] = "quickstart-work"
    os.environ.pop("FEATUREPLEX_QUICKSTART_ROWS", None)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    NotebookClient(notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": folder}}).execute()
    notebook.metadata["featureplex"] = {"executed_in": folder}
    nbformat.write(notebook, NOTEBOOK)
    print(f"{NOTEBOOK}: outputs stored (executed in {folder})")
