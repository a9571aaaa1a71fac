"""Notebooks stay as stored however JupyterLab opens and saves them, and `make figN` talks to a
person (supermask.notebooks.storage, supermask.notebooks.lab, supermask.notebooks.run)."""

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from supermask.notebooks import lab
from supermask.notebooks import storage as notebook_format

from conftest import REPO

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
FORMAT = REPO / "lib" / "supermask" / "notebooks" / "storage.py"


def as_jupyterlab_saves_it(text: str) -> str:
    """A stored notebook after JupyterLab ran and saved it: kernel version, outputs, counts,
    viewer metadata, and its own JSON layout."""
    notebook = json.loads(text)
    notebook["metadata"]["language_info"].update(
        version="3.12.1", mimetype="text/x-python", codemirror_mode={"name": "ipython"}
    )
    notebook["metadata"]["kernelspec"]["display_name"] = "Python 3 (ipykernel)"
    for i, cell in enumerate(notebook["cells"]):
        cell["metadata"]["scrolled"] = True
        if cell["cell_type"] == "code":
            cell["execution_count"] = i
            cell["outputs"] = [{"output_type": "stream", "name": "stderr", "text": ["x\n"]}]
    return json.dumps(notebook, indent=2)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_notebooks_are_in_their_stored_form(path):
    """Catches a filter that would rewrite a committed notebook (git would show it modified)."""
    text = path.read_text()
    assert notebook_format.stored_text(text) == text


def test_the_git_filter_gives_back_the_stored_notebook_whatever_was_saved():
    stored = NOTEBOOKS[0].read_text()
    saved = as_jupyterlab_saves_it(stored)
    assert saved != stored
    cleaned = subprocess.run(
        [sys.executable, str(FORMAT)],
        input=saved,
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": os.environ["PATH"]},
    ).stdout
    assert cleaned == stored
    cell = json.loads(as_jupyterlab_saves_it(stored))["cells"][1]
    assert notebook_format.stored_form({"cells": [cell]})["cells"][0]["metadata"] == {
        "tags": ["parameters"]
    }  # papermill's tag survives, the viewer's state does not


def test_text_that_is_not_a_notebook_passes_the_filter_unchanged():
    for text in ("", "{not json", "[1, 2]", '{"cells": 3}'):
        assert notebook_format.stored_text(text) == text


def test_jupyterlab_saves_a_figure_notebook_as_stored_after_run_all():
    """Run All then Ctrl+S must leave the file as committed (git status and the tests clean);
    an executed copy under notebooks/executed/ keeps its outputs."""
    stored = NOTEBOOKS[0].read_text()
    saved = json.loads(as_jupyterlab_saves_it(stored))
    notebook_format.pre_save(
        model={"type": "notebook", "content": saved},
        path="notebooks/fig3_vary_k.ipynb",
        contents_manager=None,
    )
    assert json.dumps(saved, indent=1, sort_keys=True, ensure_ascii=False) + "\n" == stored
    executed = json.loads(as_jupyterlab_saves_it(stored))
    notebook_format.pre_save(
        model={"type": "notebook", "content": executed},
        path="notebooks/executed/fig3_vary_k-short.ipynb",
    )
    assert executed["metadata"] == json.loads(stored)["metadata"]
    assert any(cell.get("outputs") for cell in executed["cells"])
    other = {"type": "file", "content": "text"}
    notebook_format.pre_save(model=other)
    assert other == {"type": "file", "content": "text"}


def test_git_diff_is_empty_after_a_save_that_only_added_outputs(tmp_path):
    """The whole mechanism as `make setup` installs it: .gitattributes plus the filter."""

    def git(*args):
        return subprocess.run(
            ["git", "-C", str(tmp_path), *args], capture_output=True, text=True, check=True
        ).stdout

    git("init", "-q")
    git("config", "user.email", "t@t")
    git("config", "user.name", "t")
    git("config", "filter.notebook.clean", f"{sys.executable} {FORMAT}")
    (tmp_path / ".gitattributes").write_text((REPO / ".gitattributes").read_text())
    notebook = tmp_path / "fig.ipynb"
    notebook.write_text(NOTEBOOKS[0].read_text())
    git("add", ".")
    git("commit", "-qm", "stored")
    notebook.write_text(as_jupyterlab_saves_it(notebook.read_text()))
    assert git("diff", "--stat") == ""
    git("add", ".")
    assert git("status", "--porcelain") == ""


def lab_config() -> dict:
    """The Jupyter config `make setup` writes into the venv (the one line that writes it)."""
    makefile = (REPO / "Makefile").read_text()
    line = next(line for line in makefile.splitlines() if "> $(JUPYTER_HOOK)" in line)
    return json.loads(line.split("'")[1])


def lab_contents_manager(root: Path):
    """The contents manager `make lab` serves notebooks with, as configured (the server's default
    when the config names none)."""
    from jupyter_server.serverapp import ServerApp
    from nbformat.sign import NotebookNotary
    from traitlets.config import Config
    from traitlets.utils.importstring import import_item

    config = lab_config()
    name = config.get("ServerApp", {}).get("contents_manager_class")
    manager_class = import_item(name) if name else ServerApp.contents_manager_class.default_value
    manager = manager_class(config=Config(config), root_dir=str(root))
    manager.notary = NotebookNotary(db_file=":memory:")  # trust signatures stay out of $HOME
    return manager


def test_make_setup_installs_both_hooks():
    makefile = (REPO / "Makefile").read_text()
    assert (
        "git config filter.notebook.clean 'python3 lib/supermask/notebooks/storage.py'" in makefile
    )
    manager = lab_contents_manager(REPO / "notebooks")
    assert isinstance(manager, lab.StoredFormContentsManager)
    assert manager.pre_save_hook is notebook_format.pre_save


def test_a_stored_notebook_opens_with_the_metadata_its_kernel_reports(tmp_path):
    """On connect JupyterLab writes the kernelspec and the kernel's language_info into the open
    notebook (NotebookPanel._updateSpec, _updateLanguage) and marks it modified unless both are
    equal to what it opened with: a real kernel's reply must match what the server served."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import start_new_kernel

    shutil.copy(NOTEBOOKS[0], tmp_path / "fig.ipynb")
    opened = asyncio.run(lab_contents_manager(tmp_path).get("fig.ipynb"))["content"]["metadata"]
    name = notebook_format.METADATA["kernelspec"]["name"]
    spec = KernelSpecManager().get_kernel_spec(name)
    kernel, client = start_new_kernel(kernel_name=name)
    try:
        reply = client.kernel_info(reply=True, timeout=60)["content"]
    finally:
        client.stop_channels()
        kernel.shutdown_kernel(now=True)
    assert opened == {
        "kernelspec": {"name": name, "display_name": spec.display_name, "language": spec.language},
        "language_info": reply["language_info"],
    }


def test_opening_then_saving_a_stored_notebook_leaves_the_file_as_stored(tmp_path):
    """What the server fills in on open, the pre-save hook takes out on save."""
    stored = NOTEBOOKS[0].read_text()
    (tmp_path / "fig.ipynb").write_text(stored)
    manager = lab_contents_manager(tmp_path)
    model = asyncio.run(manager.get("fig.ipynb"))
    assert model["content"]["metadata"] != notebook_format.METADATA
    asyncio.run(manager.save({"type": "notebook", "content": model["content"]}, "fig.ipynb"))
    assert (tmp_path / "fig.ipynb").read_text() == stored


def test_only_a_stored_notebook_run_by_ipykernel_on_this_python_is_filled_in(tmp_path):
    """Another kernel's language_info only that kernel knows; a notebook's own metadata stays."""
    own = json.loads(NOTEBOOKS[0].read_text())
    own["metadata"] = {"kernelspec": {"name": "ir", "display_name": "R", "language": "R"}}
    (tmp_path / "own.ipynb").write_text(json.dumps(own))
    opened = asyncio.run(lab_contents_manager(tmp_path).get("own.ipynb"))["content"]["metadata"]
    assert opened == own["metadata"]

    from jupyter_client.kernelspec import KernelSpec, NoSuchKernel

    class Specs:
        def __init__(self, *argv):
            self.argv = list(argv)

        def get_kernel_spec(self, name):
            if not self.argv:
                raise NoSuchKernel(name)
            return KernelSpec(argv=self.argv, display_name="Python 3", language="python")

    assert lab.kernel_metadata(Specs(), "python3") is None
    assert lab.kernel_metadata(Specs("/elsewhere/python", "-m", "ipykernel_launcher"), "p") is None
    assert lab.kernel_metadata(Specs("python", "-m", "other_kernel"), "p") is None
    filled = lab.kernel_metadata(Specs(sys.executable, "-m", "ipykernel_launcher", "-f", "c"), "p")
    assert filled["kernelspec"]["name"] == "p"
    filled["language_info"]["version"] = "changed"  # each caller gets its own copy
    again = lab.kernel_metadata(Specs("python", "-m", "ipykernel"), "p")
    assert again["language_info"]["version"] == sys.version.split()[0]


def run_figure(tmp_path: Path, data_dir: Path, *parameters: str, **popen):
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "supermask.notebooks.run",
            "fig3",
            str(REPO / "notebooks" / "fig3_vary_k.ipynb"),
            str(tmp_path / "executed.ipynb"),
            "-p",
            "profile",
            "smoke",
            "-p",
            "device",
            "cpu",
            "-p",
            "data_dir",
            str(data_dir),
            "-p",
            "results_dir",
            str(tmp_path / "results"),
            "-p",
            "figures_dir",
            str(tmp_path / "figures"),
            *parameters,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def test_a_bad_parameter_is_one_line_and_exit_2(tiny_data_dir, tmp_path):
    process = run_figure(tmp_path, tiny_data_dir, "-p", "profile", "nope")
    out, err = process.communicate(timeout=300)
    assert process.returncode == 2, err
    [line] = err.strip().splitlines()
    assert line.startswith("fig3: ValueError: ") and "'nope'" in line and "smoke" in line, line
    assert not (tmp_path / "results").exists()


def test_ctrl_c_stops_with_one_line_and_the_next_call_resumes(
    smoke_data_dir, real_data_cache, tmp_path, monkeypatch
):
    """Catches a ZMQError traceback or papermill's "Aborted!" reaching the terminal, and an
    interrupted figure that cannot be run again."""
    monkeypatch.setenv("SUPERMASK_CACHE", real_data_cache)
    # As from a terminal: a test suite run as a background job (`make test &`) ignores SIGINT,
    # and a child would inherit that and never see the Ctrl-C.
    process = run_figure(
        tmp_path,
        smoke_data_dir,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    lines = []
    for line in process.stdout:
        lines.append(line)
        if "[1/12]" in line:
            break
    assert lines and "12 to train" in lines[-2], lines
    os.killpg(process.pid, signal.SIGINT)  # as the terminal sends Ctrl-C to its process group
    out, err = process.communicate(timeout=300)
    assert process.returncode == 130, err
    assert err.strip().splitlines() == [
        "fig3: stopped. Finished runs are kept in the store; `make fig3 PROFILE=smoke` resumes, "
        "the interrupted run from its last finished epoch."
    ]
    again = run_figure(tmp_path, smoke_data_dir, "-p", "only", '{"model": ["conv2"]}')
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, err
    assert "fig3 (smoke): 1 of 6 runs in the store, 5 to train" in out, out
