import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from supermask.data.cifar10 import CIFAR10_CLASSES

REPO = Path(__file__).resolve().parents[1]

if os.environ.get("PYTEST_XDIST_WORKER"):  # `make test` runs one test process per core
    # one thread here and in every process a test starts, so that a run trained in a subprocess
    # sums its floats in the order of its in-process twin
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)


def supermask(*args, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    """``python -m supermask ARGS`` in a process of its own, as a user runs it: its exit status
    and output (text) for a test to check; ``env`` adds to this process's environment."""
    extra = {key: str(value) for key, value in (env or {}).items()}
    return subprocess.run(
        [sys.executable, "-m", "supermask", *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, **extra},
        **kwargs,
    )


def whole_and_resumed(config, train_data, test_data, tmp_path, between=None):
    """``config`` trained on the CPU in one sitting and in two (stopped after epoch 1, then
    resumed from its checkpoint with the global RNG reseeded, as another process would find
    it): what a resumed run must equal. ``between`` is called between the sittings."""
    from supermask.training.cifar10 import train

    def sitting(name, **stop):
        checkpoint = tmp_path / name
        return train(
            config, train_data, test_data, "cpu", checkpoint=checkpoint, progress=False, **stop
        )

    whole = sitting("a.pt")
    assert sitting("b.pt", stop_after_epoch=1) is None
    if between is not None:
        between(tmp_path / "b.pt")
    torch.manual_seed(12345)  # whatever the process did in between must not matter
    return whole, sitting("b.pt")


def one_epoch(data_dir, results, *extra) -> list:
    """``train`` arguments of a one-epoch Conv2 run without a progress bar."""
    return [
        "train",
        "--model",
        "conv2",
        "--epochs",
        "1",
        "--no-progress",
        "--data-dir",
        data_dir,
        "--results",
        results,
        *extra,
    ]


def make_image_folder(root: Path, train_per_class: int = 12, test_per_class: int = 4) -> Path:
    """A tiny CIFAR-10-shaped ImageFolder whose classes differ in mean colour (learnable)."""
    generator = torch.Generator().manual_seed(0)
    for split, count in (("train", train_per_class), ("test", test_per_class)):
        for label, name in enumerate(CIFAR10_CLASSES):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                base = torch.tensor([label * 25, 255 - label * 25, (label * 80) % 256])
                noise = torch.randint(-40, 40, (3, 32, 32), generator=generator)
                image = (base.view(3, 1, 1) + noise).clamp(0, 255).to(torch.uint8)
                Image.fromarray(image.permute(1, 2, 0).numpy()).save(folder / f"{i:04d}.png")
    return root


_CACHE_OUTSIDE_TESTS = os.environ.get("SUPERMASK_CACHE")


@pytest.fixture(scope="session")
def real_data_cache(tmp_path_factory) -> str:
    """Where tests on the real CIFAR-10 cache it: the user's cache (decoding takes ~10 s).

    Every other test gets a cache of its own in a temporary directory.
    """
    return _CACHE_OUTSIDE_TESTS or str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SUPERMASK_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory) -> Path:
    return make_image_folder(tmp_path_factory.mktemp("tiny") / "cifar10").parent


@pytest.fixture(scope="session")
def smoke_data_dir(tmp_path_factory) -> Path:
    """The real CIFAR-10 when available, else a generated stand-in big enough for smoke."""
    for candidate in (os.environ.get("DATA_DIR"), REPO.parent / "shared" / "data"):
        if candidate and (Path(candidate) / "cifar10" / "train").is_dir():
            return Path(candidate).resolve()  # the notebooks run in notebooks/
    return make_image_folder(tmp_path_factory.mktemp("smoke") / "cifar10", 50, 50).parent


@pytest.fixture(scope="session")
def cifar_dir() -> Path:
    """The real CIFAR-10 (``$DATA_DIR``, else ../shared/data next to the checkout)."""
    candidates = [os.environ.get("DATA_DIR"), REPO.parent / "shared" / "data"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "cifar10" / "train").is_dir():
            return Path(candidate).resolve()
    pytest.skip("real CIFAR-10 not available: set DATA_DIR")
