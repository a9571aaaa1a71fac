"""Every committed figure redrawn from the committed run store, as `make plots` does, with the
strict check on: no overlapping text, no two legend entries that look alike
(supermask.figures.plots); the redraw gives back the committed CSVs."""

import shutil
import subprocess
from pathlib import Path

import pandas as pd
import papermill
import pytest

from supermask import config, registry

from conftest import REPO

FIGURES = {f.target: f.notebook for f in registry.FIGURES.values()}
PROFILES = [
    p for p in (REPO / "results").iterdir() if p.is_dir() and p.name in config.PROFILES
]  # not runs/, bench/ or offload/
# Every figure with a committed CSV, and the ImageNet table (published values) at every profile.
COMMITTED = sorted(
    (figure, profile.name)
    for profile in PROFILES
    for figure in FIGURES
    if (profile / f"{figure}.csv").exists() or figure == "fig8"
)


def _committed_results(tmp_path: Path) -> Path:
    """A copy of the committed records and CSVs: a redraw rewrites the CSVs it derives from the
    store, and must not touch the checkout."""
    tracked = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "results"], capture_output=True, text=True, check=True
    ).stdout.split()
    for name in tracked:  # results/...
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, tmp_path / name)
    return tmp_path / "results"


@pytest.mark.parametrize("figure,profile", COMMITTED, ids=lambda v: v)
def test_committed_figure_redraws_without_problems(figure, profile, tmp_path, monkeypatch):
    """The committed store redraws every committed figure with the strict checks on, and gives
    back the committed CSVs byte for byte (catches a CSV or plot committed stale)."""
    monkeypatch.setenv("SUPERMASK_STRICT_FIGURES", "1")
    results = _committed_results(tmp_path)
    notebook = REPO / "notebooks" / f"{FIGURES[figure]}.ipynb"
    papermill.execute_notebook(
        str(notebook),
        str(tmp_path / notebook.name),
        cwd=str(notebook.parent),
        progress_bar=False,
        parameters={
            "profile": profile,
            "train": False,
            "results_dir": str(results),
            "figures_dir": str(tmp_path / "figures"),
            "device": "cpu",
        },
    )
    drawn = sorted(p.name for p in (tmp_path / "figures" / profile).glob("*.png"))
    committed = sorted(p.name for p in (REPO / "figures" / profile).glob("*.png"))
    assert drawn and set(drawn) <= set(committed), (drawn, committed)
    for csv in (REPO / "results" / profile).glob(f"{figure}*.csv"):
        assert (results / profile / csv.name).read_bytes() == csv.read_bytes(), csv.name


def test_redraws_keep_one_executed_notebook_per_figure_and_profile(tmp_path, monkeypatch):
    """Catches notebooks/executed/ growing by a notebook and a kernel log at every landing
    (named by the process that redrew, about 1.5 MB each), and two workers redrawing at once
    writing into one file: each writes its own, then takes the shared name whole."""
    from supermask.notebooks import redraw as redraw_module

    def execute(notebook, executed, parameters):
        executed.parent.mkdir(parents=True, exist_ok=True)
        executed.with_name(executed.stem + ".kernel.log").write_text("log")
        executed.write_text(f"{notebook.name} at {parameters['profile']}")

    monkeypatch.setattr(redraw_module, "execute", execute)
    for _ in range(2):
        path = redraw_module.redraw("fig6", "short", tmp_path, tmp_path, None, tmp_path / "x")
    assert path == tmp_path / "x" / "fig6_zhou-short-redraw.ipynb"
    assert sorted(p.name for p in (tmp_path / "x").iterdir()) == [
        "fig6_zhou-short-redraw.ipynb",
        "fig6_zhou-short-redraw.kernel.log",
    ]
    assert path.read_text() == "fig6_zhou.ipynb at short"


def test_redraw_rewrites_every_figure_that_holds_a_run_and_refuses_a_non_run(tmp_path):
    """``supermask redraw RUN_DIR`` (what ``make land`` runs on the runs it adds) finds the
    figures whose grids hold the run and redraws them from the store: here Figure 6 at short,
    the only figure holding Conv4 Zhou et al. with the signed Xavier constant, whose CSV then
    shows the run finished at its recorded accuracy. A folder that is not a run's is refused
    in one error line (after the usage line), exit 2, with nothing drawn."""
    from conftest import supermask

    committed = REPO / "results" / "runs" / "conv4-zhou-b335ed7c97e97c66-ae3bcfea9779"
    run = tmp_path / "results" / "runs" / committed.name
    run.mkdir(parents=True)
    for name in ("config.json", "result.json"):
        shutil.copy2(committed / name, run / name)
    figures = tmp_path / "figures"

    refused = supermask("redraw", tmp_path, "--results", tmp_path / "results", "--figures", figures)
    assert refused.returncode == 2 and not figures.exists()
    assert "is not a run directory" in refused.stderr.strip().splitlines()[-1]

    done = supermask("redraw", run, "--results", tmp_path / "results", "--figures", figures)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["redraw: fig6 at short redrawn"]
    frame = pd.read_csv(tmp_path / "results" / "short" / "fig6.csv")
    (row,) = frame[frame["hash"] == "b335ed7c97e97c66"].to_dict("records")
    assert row["status"] == "finished" and row["test_acc"] == pytest.approx(0.54835)
    assert (figures / "short" / "fig6.png").exists()
