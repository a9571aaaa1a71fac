"""Every figure notebook runs end to end under the smoke profile and writes its CSV and plot."""

import os
from pathlib import Path

import pandas as pd
import papermill
import pytest

from conftest import REPO, make_image_folder

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def smoke_data_dir(tmp_path_factory) -> Path:
    """The real CIFAR-10 when available, else a generated stand-in big enough for smoke."""
    for candidate in (os.environ.get("DATA_DIR"), REPO.parent / "shared" / "data"):
        if candidate and (Path(candidate) / "cifar10" / "train").is_dir():
            return Path(candidate).resolve()  # the notebooks run in notebooks/
    return make_image_folder(tmp_path_factory.mktemp("smoke") / "cifar10", 50, 50).parent


def test_notebooks_are_stored_without_outputs():
    import nbformat
    assert NOTEBOOKS
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, path.name
        tagged = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, f"{path.name} needs exactly one papermill parameters cell"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_smoke(notebook, smoke_data_dir, real_data_cache, tmp_path, monkeypatch):
    monkeypatch.setenv("SUPERMASK_CACHE", real_data_cache)
    results, figures = tmp_path / "results", tmp_path / "figures"
    papermill.execute_notebook(
        str(notebook), str(tmp_path / notebook.name), cwd=str(notebook.parent),
        parameters={"profile": "smoke", "data_dir": str(smoke_data_dir),
                    "results_dir": str(results), "figures_dir": str(figures), "device": "cpu"},
        progress_bar=False)
    csvs = list((results / "smoke").glob("*.csv"))
    assert len(csvs) == 1
    runs = pd.read_csv(csvs[0])
    assert len(runs) > 0 and runs["test_acc"].notna().all()
    for column in ("git_commit", "profile", "device", "wall_s"):
        assert runs[column].notna().all()
    assert (runs["profile"] == "smoke").all()
    pngs = list((figures / "smoke").glob("*.png"))
    assert pngs and all(png.stat().st_size > 10_000 for png in pngs)
    assert all(png.with_suffix(".pdf").exists() for png in pngs)

    # Re-plotting from the CSV needs no training and finds the same rows.
    papermill.execute_notebook(
        str(notebook), str(tmp_path / f"replot-{notebook.name}"), cwd=str(notebook.parent),
        parameters={"profile": "smoke", "results_dir": str(results), "figures_dir": str(figures),
                    "train": False},
        progress_bar=False)
    assert pd.read_csv(csvs[0]).equals(runs)


@pytest.mark.parametrize("bad, message", [
    ({"profile": "fast"}, "unknown profile 'fast'; valid: smoke, quick, paper"),
    ({"seeds": [-1]}, "seeds must be a list of integers >= 0"),
    ({"device": "tpu"}, "valid: auto, cpu, cuda, cuda:N"),
    ({"data_dir": "/nonexistent/data"}, "does not exist"),
])
def test_bad_parameters_stop_the_notebook_before_it_writes(bad, message, tiny_data_dir, tmp_path):
    results, figures = tmp_path / "results", tmp_path / "figures"
    notebook = REPO / "notebooks" / "fig3_vary_k.ipynb"
    parameters = {"profile": "smoke", "data_dir": str(tiny_data_dir), "results_dir": str(results),
                  "figures_dir": str(figures), "device": "cpu", **bad}
    with pytest.raises(papermill.PapermillExecutionError) as error:
        papermill.execute_notebook(str(notebook), str(tmp_path / notebook.name),
                                   cwd=str(notebook.parent), parameters=parameters,
                                   progress_bar=False)
    assert message in str(error.value)
    assert not results.exists() and not figures.exists()
