"""Every committed figure redrawn from the committed CSVs, as `make plots` does, with the strict
check on: no overlapping text, no two legend entries that look alike (supermask.figures.plots)."""

import papermill
import pytest

from supermask import config

from conftest import REPO

FIGURES = dict(line.split("=") for line in (REPO / "notebooks" / "figures.txt").read_text().split())
PROFILES = [p for p in (REPO / "results").iterdir() if p.is_dir() and p.name in
            config.PROFILES]  # not runs/, bench/ or offload/
# Every figure with a committed CSV, and the ImageNet table (published values) at every profile.
COMMITTED = sorted((figure, profile.name) for profile in PROFILES for figure in FIGURES
                   if (profile / f"{figure}.csv").exists() or figure == "fig8")


@pytest.mark.parametrize("figure,profile", COMMITTED, ids=lambda v: v)
def test_committed_figure_redraws_without_problems(figure, profile, tmp_path, monkeypatch):
    monkeypatch.setenv("SUPERMASK_STRICT_FIGURES", "1")
    notebook = REPO / "notebooks" / f"{FIGURES[figure]}.ipynb"
    papermill.execute_notebook(
        str(notebook), str(tmp_path / notebook.name), cwd=str(notebook.parent),
        progress_bar=False,
        parameters={"profile": profile, "train": False, "results_dir": str(REPO / "results"),
                    "figures_dir": str(tmp_path / "figures"), "device": "cpu"})
    drawn = sorted(p.name for p in (tmp_path / "figures" / profile).glob("*.png"))
    committed = sorted(p.name for p in (REPO / "figures" / profile).glob("*.png"))
    assert drawn and set(drawn) <= set(committed), (drawn, committed)
