"""Run one figure notebook from the terminal (what ``make fig3`` calls), as a person wants it.

papermill alone shows only "Executing: 36%" while a figure trains for hours, turns a bad
parameter into some 60 lines of traceback, and answers Ctrl-C with a ZMQError. Here the
notebook's own lines (what the sweep will cost, one line per finished run) reach the terminal
as they are printed; a notebook that stops on an error prints that error in one line and exits 2
(a bad parameter: nothing was trained or written) or 1 (anything else: the executed notebook
holds the traceback); Ctrl-C stops with one line on how to resume and exits 130.

Usage: ``python -m supermask.notebooks.run NAME NOTEBOOK EXECUTED [-p PARAMETER VALUE]...``
Every parameter must be one of the notebook's parameters cell (papermill would only warn, and
hide the warning, about a misspelt one, and the notebook would run its default). Values are
typed by what the parameter holds: a parameter whose default is text, or a ``*_dir`` path,
takes the value as text (``-p data_dir 5`` is the folder ``5``); any other takes True, False,
None, a number, a JSON list (``-p seeds '[0, 1]'``), else text.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

from ..boundary import entry_point

# Errors a notebook's parameter checks raise before any run or file is written.
BAD_INPUT = {
    "ValueError",
    "FileNotFoundError",
    "NotADirectoryError",
    "DataNotFoundError",
    "StoreError",
}
USAGE = "usage: python -m supermask.notebooks.run NAME NOTEBOOK EXECUTED [-p PARAMETER VALUE]..."


def _typed(value: str, default: str | None = None, name: str = ""):
    """A ``-p`` value typed by what its parameter holds (``default``: the source text of the
    parameter's default in the notebook): text for a text or path parameter, else True, False,
    None, a number or a JSON list, else text."""
    if name.endswith("_dir") or (default is not None and default[:1] in ("'", '"')):
        return value
    if value.lstrip().startswith("["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    if value in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[value]
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def declared_parameters(notebook: Path) -> dict[str, str]:
    """The notebook's parameters and the source text of each default (its parameters cell)."""
    import papermill

    return {
        name: spec["default"] for name, spec in papermill.inspect_notebook(str(notebook)).items()
    }


def parse(argv: list[str], declared: dict[str, str] | None = None) -> tuple[str, Path, Path, dict]:
    """(name, notebook, executed, parameters); given the notebook's ``declared`` parameters, an
    unknown one is a ``ValueError`` naming the valid ones, and values are typed by them."""
    if len(argv) < 3 or (len(argv) - 3) % 3:
        raise SystemExit(USAGE)
    name, notebook, executed, rest = argv[0], Path(argv[1]), Path(argv[2]), argv[3:]
    parameters = {}
    for flag, key, value in zip(rest[::3], rest[1::3], rest[2::3]):
        if flag != "-p":
            raise SystemExit(f"{name}: expected -p PARAMETER VALUE, got {flag!r}; {USAGE}")
        if declared is not None and key not in declared:
            raise ValueError(
                f"unknown parameter {key!r} of {notebook.name}; valid: {', '.join(declared)}"
            )
        parameters[key] = _typed(value, None if declared is None else declared[key], key)
    return name, notebook, executed, parameters


def execute(notebook: Path, executed: Path, parameters: dict, stdout_file=None) -> None:
    """papermill's run of ``notebook`` from its own folder into ``executed``, the notebook's
    printed lines to ``stdout_file``. The kernel inherits this process's stderr: its start-up
    warning and the tracebacks of its shutdown after Ctrl-C go to a log beside the executed
    notebook, not to the terminal. Raises as papermill does."""
    import papermill

    executed.parent.mkdir(parents=True, exist_ok=True)
    terminal = os.dup(2)
    try:
        with open(executed.with_name(executed.stem + ".kernel.log"), "w") as log_file:
            os.dup2(log_file.fileno(), 2)
            papermill.execute_notebook(
                str(notebook),
                str(executed),
                parameters=parameters,
                cwd=str(notebook.parent),
                progress_bar=False,
                stdout_file=stdout_file,
                stderr_file=None,
            )
    finally:
        os.dup2(terminal, 2)
        os.close(terminal)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) < 3:
        raise SystemExit(USAGE)
    return entry_point(argv[0])(_main)(argv)


def _main(argv: list[str]) -> int:
    name, notebook = argv[0], Path(argv[1])
    if not notebook.is_file():
        print(f"{name}: notebook {notebook} does not exist", file=sys.stderr)
        return 2
    name, notebook, executed, parameters = parse(argv, declared_parameters(notebook))
    import papermill

    logging.getLogger("papermill").setLevel(logging.ERROR)  # its "Executing" chatter
    sys.stdout.reconfigure(line_buffering=True)  # each run's line reaches a log as it is printed
    error = None
    try:
        execute(notebook, executed, parameters, sys.stdout)
    except KeyboardInterrupt:
        error = "KeyboardInterrupt"
    except papermill.PapermillExecutionError as failed:
        error = failed
    if error is None:
        return 0
    if error == "KeyboardInterrupt" or error.ename == "KeyboardInterrupt":  # kernel got it too
        return _stopped(name, parameters)
    bad_input = error.ename in BAD_INPUT
    where = "" if bad_input else f" (traceback in {executed})"
    print(f"{name}: {error.ename}: {error.evalue}{where}", file=sys.stderr)
    return 2 if bad_input else 1


def _stopped(name: str, parameters: dict) -> int:
    # The cell papermill was waiting on ends with the kernel: asyncio would report that at exit.
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    profile = parameters.get("profile")
    again = f"make {name}" + (f" PROFILE={profile}" if profile else "")
    print(
        f"\n{name}: stopped. Finished runs are kept in the store; `{again}` resumes, "
        f"the interrupted run from its last finished epoch.",
        file=sys.stderr,
    )
    return 130


if __name__ == "__main__":
    sys.exit(main())
