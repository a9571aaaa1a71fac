"""Every figure notebook runs end to end under the smoke profile and writes its CSV and plot."""

import subprocess
from pathlib import Path

import pandas as pd
import papermill
import pytest

from conftest import REPO

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


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
        str(notebook),
        str(tmp_path / notebook.name),
        cwd=str(notebook.parent),
        parameters={
            "profile": "smoke",
            "data_dir": str(smoke_data_dir),
            "results_dir": str(results),
            "figures_dir": str(figures),
            "device": "cpu",
        },
        progress_bar=False,
    )
    csvs = [p for p in (results / "smoke").glob("*.csv") if not p.stem.endswith("_curves")]
    assert len(csvs) == 1
    runs = pd.read_csv(csvs[0])
    assert len(runs) > 0 and runs["test_acc"].notna().all()
    if notebook.stem != "fig8_imagenet":  # CIFAR runs name the data they trained on
        assert (runs["data"].str.len() == 12).all() and runs["data_source"].notna().all()
    for column in ("git_commit", "profile", "device", "wall_s"):
        assert runs[column].notna().all()
    assert (runs["profile"] == "smoke").all()
    pngs = list((figures / "smoke").glob("*.png"))
    assert pngs and all(png.stat().st_size > 10_000 for png in pngs)
    if notebook.stem != "fig8_imagenet":  # CIFAR figures: a learning curve per run
        curves = pd.read_csv(csvs[0].with_name(f"{csvs[0].stem}_curves.csv"))
        assert set(curves["hash"]) == set(runs["hash"]) and curves["test_acc"].notna().all()
        assert (figures / "smoke" / f"{csvs[0].stem}_curves.png").exists() or any(
            png.stem.endswith("_curves") for png in pngs
        )
    assert all(png.with_suffix(".pdf").exists() for png in pngs)

    # Re-plotting from the CSV needs no training and finds the same rows.
    papermill.execute_notebook(
        str(notebook),
        str(tmp_path / f"replot-{notebook.name}"),
        cwd=str(notebook.parent),
        parameters={
            "profile": "smoke",
            "results_dir": str(results),
            "figures_dir": str(figures),
            "train": False,
        },
        progress_bar=False,
    )
    assert pd.read_csv(csvs[0]).equals(runs)


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"profile": "fast"}, "unknown profile 'fast'; valid: smoke, short, paper"),
        ({"seeds": [-1]}, "seeds must be a list of integers in [0, 4294967295]"),
        ({"device": "tpu"}, "valid: auto, cpu, cuda, cuda:N"),
        ({"data_dir": "/nonexistent/data"}, "does not exist"),
        ({"only": '{"model": ["conv5"]}'}, "model='conv5' is not in this figure's grid"),
        ({"only": '{"colour": ["red"]}'}, "only: unknown field 'colour'"),
        ({"only": "model=conv2"}, "only must be JSON"),
        ({"wait": "no"}, "wait must be True or False"),
        ({"stack": "4"}, "stack must be a whole number of runs >= 1"),
        ({"results_dir": ""}, "results_dir must be a directory path, got ''"),
        ({"figures_dir": ""}, "figures_dir must be a directory path, got ''"),
        ({"train": False, "only": "not json"}, "only must be JSON"),
        (
            {"train": False, "only": '{"model": ["conv5"]}'},
            "model='conv5' is not in this figure's grid",
        ),
    ],
)
def test_bad_parameters_stop_the_notebook_before_it_writes(bad, message, tiny_data_dir, tmp_path):
    results, figures = tmp_path / "results", tmp_path / "figures"
    notebook = REPO / "notebooks" / "fig3_vary_k.ipynb"
    parameters = {
        "profile": "smoke",
        "data_dir": str(tiny_data_dir),
        "results_dir": str(results),
        "figures_dir": str(figures),
        "device": "cpu",
        **bad,
    }
    with pytest.raises(papermill.PapermillExecutionError) as error:
        papermill.execute_notebook(
            str(notebook),
            str(tmp_path / notebook.name),
            cwd=str(notebook.parent),
            parameters=parameters,
            progress_bar=False,
        )
    assert message in str(error.value)
    assert not results.exists() and not figures.exists()
    assert not (notebook.parent / "runs").exists() and not (notebook.parent / "smoke").exists()


def test_the_imagenet_notebook_checks_its_output_directories_first(tmp_path):
    notebook = REPO / "notebooks" / "fig8_imagenet.ipynb"
    not_a_dir = tmp_path / "figures"
    not_a_dir.write_text("a file")
    with pytest.raises(papermill.PapermillExecutionError) as error:
        papermill.execute_notebook(
            str(notebook),
            str(tmp_path / notebook.name),
            cwd=str(notebook.parent),
            parameters={
                "profile": "smoke",
                "results_dir": str(tmp_path / "results"),
                "figures_dir": str(not_a_dir),
                "device": "cpu",
            },
            progress_bar=False,
        )
    assert f"figures_dir {not_a_dir} is a file, not a directory" in str(error.value)
    assert not (tmp_path / "results").exists()


def _fig3(tmp_path: Path, results: Path, data_dir: Path, **parameters) -> pd.DataFrame:
    notebook = REPO / "notebooks" / "fig3_vary_k.ipynb"
    papermill.execute_notebook(
        str(notebook),
        str(tmp_path / f"fig3-{len(list(tmp_path.glob('fig3-*')))}.ipynb"),
        cwd=str(notebook.parent),
        progress_bar=False,
        parameters={
            "profile": "smoke",
            "data_dir": str(data_dir),
            "results_dir": str(results),
            "figures_dir": str(tmp_path / "figures"),
            "device": "cpu",
            **parameters,
        },
    )
    return pd.read_csv(results / "smoke" / "fig3.csv")


ONE_RUN = '{"model": ["conv2"], "init": ["signed_constant"], "k": [0.9]}'


def test_only_trains_part_of_the_grid_and_the_figure_shows_all_of_it(
    smoke_data_dir, real_data_cache, tmp_path, monkeypatch
):
    """Catches an ``only`` that trains more than it selects, or a CSV that drops missing runs."""
    monkeypatch.setenv("SUPERMASK_CACHE", real_data_cache)
    runs = _fig3(tmp_path, tmp_path / "results", smoke_data_dir, only=ONE_RUN)
    assert len(list((tmp_path / "results" / "runs").iterdir())) == 1
    finished = runs[runs["status"] == "finished"]
    assert len(finished) == 1 and finished.iloc[0]["k"] == 0.9
    assert (runs["status"] == "missing").sum() == len(runs) - 1 and len(runs) == 12
    assert (tmp_path / "figures" / "smoke" / "fig3.png").exists()


def test_committed_run_is_not_retrained_on_a_fresh_clone(
    smoke_data_dir, real_data_cache, tmp_path, monkeypatch
):
    """A run's committed record (what .gitignore lets into git) counts as finished in a clone.

    Catches a .gitignore that leaves result.json out, a store that needs the checkpoint or
    model to recognise a finished run, and run names that depend on the machine.
    """
    monkeypatch.setenv("SUPERMASK_CACHE", real_data_cache)
    first = _fig3(tmp_path, tmp_path / "origin" / "results", smoke_data_dir, only=ONE_RUN)
    origin = tmp_path / "origin"
    (origin / ".gitignore").write_text((REPO / ".gitignore").read_text())
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]
    subprocess.run([*git, "init", "-q", str(origin)], check=True)
    subprocess.run([*git, "-C", str(origin), "add", "-A"], check=True)
    subprocess.run([*git, "-C", str(origin), "commit", "-qm", "one run"], check=True)
    committed = subprocess.run(
        ["git", "-C", str(origin), "ls-files", "results/runs"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert sorted(Path(p).name for p in committed) == ["config.json", "mask.npz", "result.json"]

    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(origin), str(clone)], check=True)
    again = _fig3(tmp_path, clone / "results", smoke_data_dir, only=ONE_RUN)
    run_dir = clone / Path(committed[0]).parent
    assert sorted(p.name for p in run_dir.iterdir()) == ["config.json", "mask.npz", "result.json"]
    keep = ["hash", "status", "test_acc", "wall_s", "git_commit"]
    assert again[keep].equals(first[keep])


def test_make_figures_without_train_redraws_and_trains_nothing(tmp_path):
    """On a fresh clone `make figures` must not start hundreds of CPU-hours of training: it
    redraws every figure and says what training would cost (catches a gate that trains)."""
    done = subprocess.run(
        [
            "make",
            "-s",
            "figures",
            "PROFILE=smoke",
            f"RESULTS={tmp_path / 'results'}",
            f"FIGURES_DIR={tmp_path / 'figures'}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert not (tmp_path / "results" / "runs").exists()
    assert "nothing trained. To train what is left: make figures TRAIN=1" in done.stdout
    assert "all figures (short): " in done.stdout
