"""The contents manager `make lab` runs JupyterLab with: a notebook in its stored form opens with
the metadata its kernel will report, so that connecting the kernel does not mark it modified.

When the kernel connects, JupyterLab writes the kernelspec ("Python 3 (ipykernel)") and the
kernel's language_info (this Python's version included) into the notebook, and marks it modified
unless both are already there, equal. The stored form (storage.METADATA) cannot hold them for
every Python, so the server fills them in as it reads a notebook and the pre-save hook
(storage.pre_save) takes them out again: the file stays as stored.
"""

from __future__ import annotations

import functools
import json
import sys
from typing import Any

from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager

from supermask.notebooks.storage import METADATA

# The interpreter names jupyter_client replaces with its own (sys.executable) to start a kernel.
THIS_PYTHON = {"python", f"python{sys.version_info[0]}", "python%i.%i" % sys.version_info[:2]}
IPYKERNEL = (["-m", "ipykernel_launcher"], ["-m", "ipykernel"])


@functools.cache
def ipykernel_language_info() -> str:
    """ipykernel's language_info on this Python, as JSON (callers get their own copy)."""
    from ipykernel.ipkernel import IPythonKernel

    return json.dumps(IPythonKernel.language_info)


def kernel_metadata(spec_manager: Any, name: str) -> dict | None:
    """The kernelspec and language_info JupyterLab writes once kernel ``name`` connects; None
    unless it is ipykernel on this Python (another kernel's language_info only it knows)."""
    try:
        spec = spec_manager.get_kernel_spec(name)
    except NoSuchKernel:
        return None
    python, *module = spec.argv[:3]
    if module not in IPYKERNEL or python not in THIS_PYTHON | {sys.executable}:
        return None
    return {
        # As JupyterLab's NotebookPanel composes it from the kernel and its spec.
        "kernelspec": {"name": name, "display_name": spec.display_name, "language": spec.language},
        "language_info": json.loads(ipykernel_language_info()),
    }


class StoredFormContentsManager(AsyncLargeFileManager):
    """Jupyter Server's default contents manager, filling in a stored notebook's metadata."""

    async def get(self, path, content=True, type=None, format=None, **kwargs):
        model = await super().get(path, content=content, type=type, format=format, **kwargs)
        notebook = model.get("content") if model.get("type") == "notebook" else None
        if isinstance(notebook, dict) and notebook.get("metadata") == METADATA:
            spec_manager = getattr(self.parent, "kernel_spec_manager", None) or KernelSpecManager()
            reported = kernel_metadata(spec_manager, METADATA["kernelspec"]["name"])
            if reported is not None:
                notebook["metadata"] = reported
        return model
