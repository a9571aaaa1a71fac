"""The form a notebook is stored in, and the two hooks that keep it so.

JupyterLab writes the kernel's language_info (Python version, lexer, ...) into a notebook the
moment it autosaves it, and outputs once cells run. Two hooks keep ``git status`` clean:

- JupyterLab's pre-save hook (``make setup`` installs it into the venv's Jupyter config) saves a
  figure notebook in its stored form: the metadata as stored and no outputs (they stay on the
  screen until the tab is closed), so Run All then Ctrl+S leaves the file, ``git status`` and the
  tests as they were, on any Python or JupyterLab version. Executed copies with their outputs
  live in ``notebooks/executed/`` (``make figN``), which the hook saves as they are, metadata
  aside.
- git's clean filter (``make setup`` names it in .git/config, ``.gitattributes`` applies it) gives
  git the stored form: no outputs, no execution counts, no viewer metadata, nbformat's layout.

JupyterLab also writes the kernelspec and language_info when a kernel connects, and marks the
notebook modified unless they are there already: ``make lab``'s contents manager fills them in
on opening (lab.py), and the pre-save hook takes them out again.

Standard library only, so git can run this file as a script with any Python 3: it reads a
notebook on stdin and writes its stored form to stdout (text that is not a notebook passes
through unchanged, so a damaged file is never made worse).
"""

from __future__ import annotations

import json
import sys

METADATA = {
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
    "language_info": {"name": "python"},
}
# Cell metadata that belongs to the notebook (papermill's parameters tag); the rest (collapsed,
# scrolled, execution timings) is the viewer's state.
CELL_METADATA = ("tags",)


def stored_form(notebook: dict) -> dict:
    """``notebook`` as the repository keeps it (changed in place and returned)."""
    for cell in notebook.get("cells", []):
        metadata = cell.get("metadata", {})
        cell["metadata"] = {key: metadata[key] for key in CELL_METADATA if key in metadata}
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    notebook["metadata"] = json.loads(json.dumps(METADATA))
    return notebook


def stored_text(text: str) -> str:
    """The stored form of a notebook's text, written as nbformat writes it."""
    try:
        notebook = json.loads(text)
    except ValueError:
        return text
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        return text
    return json.dumps(stored_form(notebook), indent=1, sort_keys=True, ensure_ascii=False) + "\n"


EXECUTED = "executed"  # notebooks/executed/: run copies, kept with their outputs


def pre_save(model: dict, path: str = "", **_) -> None:
    """Jupyter's pre_save_hook: a notebook in its stored form, outputs included, except an
    executed copy (under ``executed/``), which keeps its outputs."""
    if model.get("type") != "notebook" or not isinstance(model.get("content"), dict):
        return
    if EXECUTED in str(path).replace("\\", "/").split("/")[:-1]:
        model["content"]["metadata"] = json.loads(json.dumps(METADATA))
    else:
        stored_form(model["content"])


if __name__ == "__main__":
    sys.stdout.write(stored_text(sys.stdin.read()))
