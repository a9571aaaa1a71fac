"""Run one figure notebook from the terminal (what ``make fig3`` calls), as a person wants it.

papermill alone shows only "Executing: 36%" while a figure trains for hours, turns a bad
parameter into some 60 lines of traceback, and answers Ctrl-C with a ZMQError. Here the
notebook's own lines (what the sweep will cost, one line per finished run) reach the terminal
as they are printed; a notebook that stops on an error prints that error in one line and exits 2
(a bad parameter: nothing was trained or written) or 1 (anything else: the executed notebook
holds the traceback); Ctrl-C stops with one line on how to resume and exits 130.

Usage: ``python -m supermask.notebooks.run NAME NOTEBOOK EXECUTED [-p PARAMETER VALUE]...``
(values typed as papermill's ``-p`` types them: True, False, None, numbers, else text).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

# Errors a notebook's parameter checks raise before any run or file is written.
BAD_INPUT = {"ValueError", "FileNotFoundError", "NotADirectoryError", "DataNotFoundError",
             "StoreError"}
USAGE = ("usage: python -m supermask.notebooks.run NAME NOTEBOOK EXECUTED "
         "[-p PARAMETER VALUE]...")


def _typed(value: str):
    """A ``-p`` value as papermill's command line types it."""
    if value in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[value]
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def parse(argv: list[str]) -> tuple[str, Path, Path, dict]:
    if len(argv) < 3 or (len(argv) - 3) % 3:
        raise SystemExit(USAGE)
    name, notebook, executed, rest = argv[0], Path(argv[1]), Path(argv[2]), argv[3:]
    parameters = {}
    for flag, key, value in zip(rest[::3], rest[1::3], rest[2::3]):
        if flag != "-p":
            raise SystemExit(f"{name}: expected -p PARAMETER VALUE, got {flag!r}; {USAGE}")
        parameters[key] = _typed(value)
    return name, notebook, executed, parameters


def main(argv: list[str] | None = None) -> int:
    name, notebook, executed, parameters = parse(sys.argv[1:] if argv is None else argv)
    if not notebook.is_file():
        print(f"{name}: notebook {notebook} does not exist", file=sys.stderr)
        return 2
    import papermill

    logging.getLogger("papermill").setLevel(logging.ERROR)  # its "Executing" chatter
    executed.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.reconfigure(line_buffering=True)  # each run's line reaches a log as it is printed
    # The kernel inherits this process's stderr: its start-up warning and the tracebacks of its
    # shutdown after Ctrl-C go to a log beside the executed notebook, not to the terminal.
    kernel_log = executed.with_name(executed.stem + ".kernel.log")
    terminal = os.dup(2)
    error = None
    try:
        with open(kernel_log, "w") as log_file:
            os.dup2(log_file.fileno(), 2)
            papermill.execute_notebook(str(notebook), str(executed), parameters=parameters,
                                       cwd=str(notebook.parent), progress_bar=False,
                                       stdout_file=sys.stdout, stderr_file=None)
    except KeyboardInterrupt:
        error = "KeyboardInterrupt"
    except papermill.PapermillExecutionError as failed:
        error = failed
    finally:
        os.dup2(terminal, 2)
        os.close(terminal)
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
    print(f"\n{name}: stopped. Finished runs are kept in the store; `{again}` resumes, "
          f"the interrupted run from its last finished epoch.", file=sys.stderr)
    return 130


if __name__ == "__main__":
    sys.exit(main())
