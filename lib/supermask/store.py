"""The run store: one directory per run config, named by the config's hash (open_lth style).

``<root>/runs/<model>-<method>-<hash>/`` holds ``config.json`` (written when the run starts),
``checkpoint.pt`` (the latest finished epoch, while the run is unfinished), and, once finished,
``model.pt`` (the final state) and ``result.json``. A run with a readable ``result.json`` is
finished and never redone; anything else resumes from its checkpoint. Every file is written to a
temporary name and renamed, so a killed process never leaves a half-written file behind.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from .config import RunConfig

__all__ = ["RunStore", "atomic_torch_save", "atomic_write_bytes", "atomic_write_json"]

log = logging.getLogger(__name__)


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(data: bytes, path: str | os.PathLike) -> None:
    _atomic_write(Path(path), lambda f: f.write(data))


def atomic_write_json(obj: Any, path: str | os.PathLike) -> None:
    _atomic_write(Path(path), lambda f: f.write((json.dumps(obj, indent=2) + "\n").encode()))


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    _atomic_write(Path(path), lambda f: torch.save(obj, f))


class RunStore:
    """Run directories under ``<root>/runs``."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.runs = self.root / "runs"

    def run_dir(self, config: RunConfig) -> Path:
        return self.runs / config.name

    def checkpoint_path(self, config: RunConfig) -> Path:
        return self.run_dir(config) / "checkpoint.pt"

    def model_path(self, config: RunConfig) -> Path:
        return self.run_dir(config) / "model.pt"

    def start(self, config: RunConfig) -> Path:
        """Create the run directory and record the config it belongs to."""
        run_dir = self.run_dir(config)
        config_path = run_dir / "config.json"
        if not config_path.exists():
            atomic_write_json({"hash": config.hash, "config": config.to_dict()}, config_path)
        return run_dir

    def result(self, config: RunConfig) -> dict | None:
        """The finished run's result, or None if it has none (an unreadable one counts as none)."""
        path = self.run_dir(config) / "result.json"
        if not path.exists():
            return None
        try:
            result = json.loads(path.read_text())
            if result.get("hash") != config.hash:
                raise ValueError(f"it belongs to run {result.get('hash')}")
        except (ValueError, OSError) as error:
            log.warning("ignoring unreadable result %s (%s); the run will be redone", path, error)
            return None
        result["run_dir"] = str(path.parent)
        return result

    def save_result(self, config: RunConfig, result: dict) -> None:
        atomic_write_json(result, self.run_dir(config) / "result.json")

    def finished(self) -> list[dict]:
        """Every readable result under this store."""
        results = []
        for path in sorted(self.runs.glob("*/result.json")):
            try:
                result = json.loads(path.read_text())
            except (ValueError, OSError) as error:
                log.warning("skipping unreadable %s (%s)", path, error)
                continue
            result["run_dir"] = str(path.parent)
            results.append(result)
        return results
