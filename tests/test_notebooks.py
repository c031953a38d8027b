"""The sample notebooks: committed without outputs, and each runs top to
bottom in a fresh kernel in its fast setting (MRCNN_NOTEBOOK_FAST=1: tiny
models, a few steps, no download) and leaves at least one figure."""
import glob
import os
import time

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS = sorted(os.path.relpath(p, REPO_ROOT)
                   for p in glob.glob(os.path.join(REPO_ROOT, "samples", "**", "*.ipynb"),
                                      recursive=True)
                   if ".ipynb_checkpoints" not in p)

nbformat = pytest.importorskip("nbformat")


def test_the_notebooks_are_there():
    names = {os.path.basename(p) for p in NOTEBOOKS}
    assert {"demo.ipynb", "train_shapes.ipynb", "custom_dataset.ipynb", "inspect_data.ipynb",
            "inspect_model.ipynb", "export_and_serve.ipynb"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS)
def test_notebook_committed_without_outputs(path):
    nb = nbformat.read(os.path.join(REPO_ROOT, path), as_version=4)
    nbformat.validate(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], "{}: cell {} has outputs; strip them".format(path, i)
            assert cell.execution_count is None, "{}: cell {} has an execution count".format(
                path, i)
    first = nb.cells[0]
    assert first.cell_type == "markdown" and "MRCNN_NOTEBOOK_FAST" in first.source, (
        "{}: the first cell should say what the notebook does and how to run it fast".format(
            path))


def _images(nb):
    return sum(1 for cell in nb.cells if cell.cell_type == "code"
               for out in cell.get("outputs", []) if "image/png" in out.get("data", {}))


@pytest.mark.parametrize("path", NOTEBOOKS)
def test_notebook_runs_in_fast_mode(path, tmp_path, monkeypatch):
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    # The kernel inherits this environment.
    monkeypatch.setenv("MRCNN_NOTEBOOK_FAST", "1")
    monkeypatch.setenv("MRCNN_NOTEBOOK_OUTPUT", str(tmp_path))
    monkeypatch.setenv("MRCNN_HOME", str(tmp_path / "no-weights-here"))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend keeps figures
    nb = nbformat.read(os.path.join(REPO_ROOT, path), as_version=4)
    # Run where Jupyter would: in the notebook's folder.
    cwd = os.path.dirname(os.path.join(REPO_ROOT, path))
    start = time.time()
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": cwd}})
    client.execute()
    print("{}: {:.0f} s".format(path, time.time() - start))
    assert _images(nb) >= 1, "{} drew no figure".format(path)
