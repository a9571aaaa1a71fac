"""Each method and each figure is declared once (lib/supermask/registry.py); these catch a
declaration without its code, or code without its declaration."""

import json
import subprocess
import sys

from supermask import registry
from supermask.figures import claims, style
from supermask.training.methods import METHODS

from conftest import REPO


def test_every_declared_method_has_its_training_code_and_back():
    assert list(METHODS) == list(registry.METHODS)


def test_every_method_looks_different_in_a_plot():
    looks = {(str(m.line), m.marker) for m in registry.METHODS.values()}
    assert len(looks) == len(registry.METHODS)
    row = {"method": "zhou", "init": "kaiming_normal"}
    assert (style.series_style(row).linestyle, style.series_style(row).marker) == ("--", "s")


def test_every_figure_has_its_notebook_with_a_parameters_cell():
    for figure in registry.FIGURES.values():
        notebook = json.loads((REPO / "notebooks" / f"{figure.notebook}.ipynb").read_text())
        tags = [tag for cell in notebook["cells"] for tag in cell["metadata"].get("tags", [])]
        assert "parameters" in tags, figure.notebook


def test_each_figure_s_claims_are_judged_by_its_notebook_through_the_registry():
    """A notebook that judged its claims by its own code could drift from REPORT.md."""
    assert set(claims.FIGURE_CLAIMS) <= set(registry.FIGURES)
    for target in claims.FIGURE_CLAIMS:
        notebook = (REPO / "notebooks" / f"{registry.FIGURES[target].notebook}.ipynb").read_text()
        assert f'claims.figure_claims(\\"{target}\\", runs)' in notebook, target


def test_the_makefile_lists_the_figures_drawn_at_a_profile_without_the_venv():
    def listed(*profile):
        done = subprocess.run(
            [sys.executable, "-S", "-m", "supermask.registry", *profile],
            capture_output=True,
            text=True,
            cwd=REPO,
            env={"PYTHONPATH": str(REPO / "lib")},
        )
        assert done.returncode == 0, done.stderr
        return [pair.split("=")[0] for pair in done.stdout.split()]

    assert listed() == list(registry.FIGURES)
    assert "budget" in listed("paper") and "budget" not in listed("short")
    bad = subprocess.run(
        [sys.executable, "-m", "supermask.registry", "a", "b"],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(REPO / "lib")},
    )
    assert bad.returncode == 2 and "usage" in bad.stderr
