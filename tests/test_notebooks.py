"""The notebooks run top to bottom, headless, on a kernel of this interpreter: no error cell,
and every chart cell shows a PNG."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="nbformat is in the test extra")
nbclient = pytest.importorskip("nbclient", reason="nbclient is in the test extra")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CHARTS = ("waterfall(", "_chart(")

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def kernel_name(tmp_path_factory):
    """A kernelspec that starts this interpreter (the venv's), installed in a tmp prefix."""
    prefix = tmp_path_factory.mktemp("kernels")
    subprocess.run(
        [sys.executable, "-m", "ipykernel", "install", "--prefix", str(prefix),
         "--name", "langgraph-observe-test"],
        check=True, capture_output=True,
    )  # fmt: skip
    import os

    old = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = str(prefix / "share" / "jupyter")
    yield "langgraph-observe-test"
    if old is None:
        os.environ.pop("JUPYTER_PATH", None)
    else:
        os.environ["JUPYTER_PATH"] = old


def test_notebooks_are_generated_and_have_no_outputs():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_notebooks.py"), "--check"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout
    assert [p.name for p in NOTEBOOKS] == [
        "01_quickstart.ipynb", "02_explore_traces.ipynb", "03_budgets_and_gates.ipynb",
    ]  # fmt: skip
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, kernel_name, monkeypatch, tmp_path):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("LANGGRAPH_OBSERVE_STORE", str(tmp_path / "unused.db"))
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, kernel_name=kernel_name, timeout=180,
        resources={"metadata": {"path": str(path.parent)}},
    )  # fmt: skip
    client.execute()
    code = [c for c in nb.cells if c.cell_type == "code"]
    for cell in code:
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert not errors, f"{path.name}: {cell.source[:60]!r}: {errors[0]['evalue']}"
    charts = [c for c in code if any(marker in c.source for marker in CHARTS)]
    assert charts, f"{path.name} draws no chart"
    for cell in charts:
        images = [o for o in cell.outputs if "image/png" in o.get("data", {})]
        assert len(images) == 1, f"{path.name}: {cell.source!r} shows {len(images)} images"
        assert len(images[0]["data"]["image/png"]) > 2000  # a real picture, not an empty axes
    assert not (tmp_path / "unused.db").exists()  # each notebook used its own store
