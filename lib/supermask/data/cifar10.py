"""CIFAR-10 held in memory as uint8 tensors, augmented a whole batch at a time.

Images are decoded once (from torchvision's pickled batches or an ImageFolder tree of
``train/<class>/*`` and ``test/<class>/*``) and cached as a tensor file, so an epoch is pure tensor
work: no per-image Python, no PIL, no worker processes, on CPU and GPU alike.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from ..files import atomic_torch_save, check_name_lengths

__all__ = [
    "CIFAR10_CLASSES",
    "DataIdentity",
    "DataNotFoundError",
    "ImageTensors",
    "balanced_subset",
    "cifar10_identity",
    "default_cache_dir",
    "epoch_batches",
    "find_cifar10",
    "fingerprint",
    "load_cifar10",
    "random_crop_flip",
]

log = logging.getLogger(__name__)

CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
CIFAR10_MEAN = (0.491, 0.482, 0.447)
CIFAR10_STD = (0.247, 0.243, 0.262)


class DataNotFoundError(FileNotFoundError):
    """The data directory does not hold a usable copy of the data set."""


@dataclass(frozen=True)
class ImageTensors:
    """A labelled image set: ``images`` uint8 (N, C, H, W), ``labels`` int64 (N,)."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: torch.Tensor) -> ImageTensors:
        return ImageTensors(self.images[index], self.labels[index])

    def to(self, device: torch.device | str) -> ImageTensors:
        return ImageTensors(self.images.to(device), self.labels.to(device))


def default_cache_dir() -> Path:
    """``$SUPERMASK_CACHE``, else ``~/.cache/supermask``."""
    return Path(os.environ.get("SUPERMASK_CACHE", Path.home() / ".cache" / "supermask"))


def _how_to_supply(data_dir: Path) -> str:
    return (
        f"CIFAR-10 was not found under {data_dir}. Supply it in one of these ways:\n"
        f"  - an ImageFolder tree {data_dir}/cifar10/train/<class>/*.png|jpg and .../test/<class>/*"
        " (or train/ and test/ directly in the data directory);\n"
        f"  - torchvision's format, {data_dir}/cifar-10-batches-py/;\n"
        "  - with internet access, pass --download (download=True) to fetch it with torchvision.\n"
        "Point the project at the directory with --data-dir or the DATA_DIR environment variable."
    )


def _check_image_folder(root: Path) -> None:
    for split in ("train", "test"):
        classes = sorted(p.name for p in (root / split).iterdir() if p.is_dir())
        if tuple(classes) != tuple(sorted(CIFAR10_CLASSES)):
            raise DataNotFoundError(
                f"{root / split} must hold exactly the 10 CIFAR-10 class folders "
                f"({', '.join(CIFAR10_CLASSES)}); found: {', '.join(classes) or 'none'}"
            )
        empty = [name for name in classes if not any(
            p.is_file() for p in (root / split / name).iterdir())]
        if empty:
            raise DataNotFoundError(f"{root / split}: class folders without images: "
                                    f"{', '.join(empty)}; every class needs its images")


def find_cifar10(data_dir: str | os.PathLike) -> tuple[str, Path]:
    """Locate CIFAR-10 under ``data_dir``: ("imagefolder", root) or ("torchvision", dir)."""
    if not str(data_dir).strip():
        raise DataNotFoundError(f"data directory {str(data_dir)!r} is empty: give the path of "
                                "the directory that holds CIFAR-10")
    data_dir = Path(data_dir)
    try:
        check_name_lengths(data_dir, "data directory")
    except ValueError as error:
        raise DataNotFoundError(str(error)) from None
    if not data_dir.is_dir():
        if data_dir.is_symlink() and not data_dir.exists():
            raise DataNotFoundError(f"data directory {data_dir} is a symbolic link to nothing "
                                    f"(or a loop of links): {os.readlink(data_dir)}")
        if data_dir.exists():
            raise DataNotFoundError(f"data directory {data_dir} is not a directory (a file or "
                                    "a device); give the directory that holds CIFAR-10")
        raise DataNotFoundError(f"data directory {data_dir} does not exist.\n" + _how_to_supply(data_dir))
    for root in (data_dir / "cifar10", data_dir):
        if (root / "train").is_dir() and (root / "test").is_dir():
            _check_image_folder(root)
            return "imagefolder", root
        if (root / "cifar-10-batches-py").is_dir():
            return "torchvision", root
    raise DataNotFoundError(_how_to_supply(data_dir))


def _rgb(image, np):
    """An image's 8-bit RGB pixels. PIL's own conversion clips 16-bit grey (``I;16``, or ``I``
    holding 16-bit values) to 255 instead of scaling it, so those are scaled here; floating
    point images have no defined 8-bit scale and are refused by name."""
    if image.mode.startswith("I;16") or image.mode == "I":
        grey = np.asarray(image, dtype=np.int64)
        if grey.min() < 0 or grey.max() > 65535:
            raise DataNotFoundError(f"{image.filename}: {image.mode} image with values outside "
                                    "0-65535; give 8-bit or 16-bit images")
        if image.mode != "I" or grey.max() > 255:  # 16-bit: 0-65535 onto 0-255
            grey = (grey * 255 + 32767) // 65535
        return np.repeat(grey.astype(np.uint8)[..., None], 3, axis=2)
    if image.mode == "F":
        raise DataNotFoundError(f"{image.filename}: floating-point image (mode F) has no 8-bit "
                                "scale; give 8-bit or 16-bit images")
    return np.asarray(image.convert("RGB"))


_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def _inside(path: str, tree: str) -> bool:
    """Whether the real path ``path`` is ``tree``, inside it, or one of its ancestors (a link
    there would walk the tree again)."""
    return path == tree or path.startswith(tree + os.sep) or tree.startswith(path + os.sep)


def _image_files(split_root: Path) -> list[tuple[str, int]]:
    """(path, class index) of every image under ``split_root/<class>/``, in ImageFolder's order
    (classes sorted, ``os.walk`` sorted, names sorted, image extensions only), except that the
    walk follows no link back into the tree (a loop would repeat the class's images) and takes
    regular files only (a FIFO would block the decoder, a device would never end). A skipped
    entry is logged by name. ``FileNotFoundError`` when a class has no image."""
    tree = os.path.realpath(split_root)
    classes = sorted(entry.name for entry in os.scandir(split_root) if entry.is_dir())
    samples = []
    for index, name in enumerate(classes):
        class_dir = os.path.join(split_root, name)
        if os.path.islink(class_dir) and _inside(os.path.realpath(class_dir), tree):
            log.warning("skipping %s: a link back into %s", class_dir, split_root)
            continue
        seen: set[str] = set()
        walked = []
        for directory, subdirs, files in os.walk(class_dir, followlinks=True):
            real = os.path.realpath(directory)
            if real in seen:
                subdirs[:] = []
                continue
            seen.add(real)
            for subdir in list(subdirs):
                full = os.path.join(directory, subdir)
                if os.path.islink(full) and _inside(os.path.realpath(full), tree):
                    log.warning("skipping %s: a link back into %s", full, split_root)
                    subdirs.remove(subdir)
            walked.append((directory, files))
        found = 0
        for directory, files in sorted(walked):
            for file in sorted(files):
                path = os.path.join(directory, file)
                if not file.lower().endswith(_IMAGE_EXTENSIONS):
                    continue
                if os.path.islink(path) and _inside(os.path.realpath(path), tree):
                    log.warning("skipping %s: a link back into %s", path, split_root)
                    continue
                try:
                    regular = stat.S_ISREG(os.stat(path).st_mode)
                except OSError:
                    regular = False
                if not regular:
                    log.warning("skipping %s: not a regular file", path)
                    continue
                samples.append((path, index))
                found += 1
        if not found:
            raise FileNotFoundError(f"Found no valid file for the class {name}")
    return samples


def _decode_image_folder(root: Path, split: str, progress: bool) -> ImageTensors:
    import numpy as np
    from PIL import Image
    from tqdm.auto import tqdm

    def decode(path: str) -> np.ndarray:
        try:
            with Image.open(path) as image:
                if image.size != (32, 32):  # from the header, before a huge image is decoded
                    raise DataNotFoundError(f"{path}: image is {image.size[0]}x{image.size[1]}; "
                                            "CIFAR-10 images are 32x32")
                pixels = _rgb(image, np)
        except DataNotFoundError:
            raise
        except Exception as error:  # zero-byte, truncated, corrupted, not an image at all
            raise DataNotFoundError(f"{path}: not a readable image ({error})") from None
        if pixels.shape != (32, 32, 3):
            raise DataNotFoundError(f"{path}: image is {pixels.shape[1]}x{pixels.shape[0]}; "
                                    "CIFAR-10 images are 32x32")
        return pixels

    try:
        samples = _image_files(root / split)
    except (FileNotFoundError, OSError) as error:
        raise DataNotFoundError(f"{root / split}: {error}") from None
    images = np.stack([
        decode(path)
        for path, _ in tqdm(samples, desc=f"decoding CIFAR-10 {split}", leave=False,
                            disable=not progress)
    ])
    return ImageTensors(torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(),
                        torch.tensor([label for _, label in samples], dtype=torch.int64))


def duplicates_across(train: ImageTensors, test: ImageTensors) -> int:
    """How many test images are byte for byte a training image (a test set that leaked into
    training would inflate every accuracy measured on it)."""
    seen = {hashlib.sha1(image.numpy().tobytes()).digest() for image in train.images}
    return sum(hashlib.sha1(image.numpy().tobytes()).digest() in seen for image in test.images)


def _read_torchvision(root: Path, split: str, download: bool) -> ImageTensors:
    from torchvision.datasets import CIFAR10

    try:
        dataset = CIFAR10(str(root), train=split == "train", download=download)
    except Exception as error:  # junk pickles, a failed integrity check, no network
        action = "download" if download else "read"
        raise DataNotFoundError(f"could not {action} CIFAR-10 in torchvision's format at "
                                f"{root / 'cifar-10-batches-py'} ({error})") from None
    images = torch.from_numpy(dataset.data).permute(0, 3, 1, 2).contiguous()
    return ImageTensors(images, torch.tensor(dataset.targets, dtype=torch.int64))


@dataclass(frozen=True)
class DataIdentity:
    """Which data a run trained on: the source kind and a SHA-256 over the decoded tensors."""

    source: str  # "imagefolder" (an ImageFolder copy) or "torchvision" (the pickled batches)
    fingerprint: str

    @property
    def short(self) -> str:
        """The first 12 hex digits, as run directory names and CSV rows carry them."""
        return self.fingerprint[:12]


def fingerprint(train: ImageTensors, test: ImageTensors) -> str:
    """SHA-256 over the uint8 images and int64 labels of both splits, in order."""
    digest = hashlib.sha256()
    for tensor in (train.images, train.labels, test.images, test.labels):
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.contiguous().numpy().tobytes())
    return digest.hexdigest()


def _tree_key(kind: str, root: Path) -> str:
    """A digest of the source files' names, sizes, mtimes, ctimes and inodes: a changed tree is
    decoded again, also when files were swapped or rewritten with their mtimes kept (a rename
    or a write sets the ctime, which no one can set back). An ImageFolder is keyed over the
    files its decoder reads; torchvision's folder over its files, symlinked folders followed,
    each real folder once."""
    digest = hashlib.sha1(kind.encode())
    if kind == "imagefolder":
        for split in ("train", "test"):
            try:
                samples = _image_files(root / split)
            except OSError:  # decoding names it
                samples = []
            for path, label in samples:
                stat_ = os.stat(path)
                relative = os.path.relpath(path, root)
                digest.update(f"{relative}\0{label}\0{stat_.st_size}\0{stat_.st_mtime_ns}\0"
                              f"{stat_.st_ctime_ns}\0{stat_.st_ino}\n".encode())
        return digest.hexdigest()[:16]
    top = root / "cifar-10-batches-py"
    seen: set[str] = set()
    folders = []
    for directory, subdirs, files in os.walk(top, followlinks=True):
        real = os.path.realpath(directory)
        if real in seen:  # a symlink loop, or a folder linked twice
            subdirs[:] = []
            continue
        seen.add(real)
        folders.append((directory, files))
    for directory, files in sorted(folders):
        for name in sorted(files):
            stat_ = os.stat(os.path.join(directory, name))
            relative = os.path.relpath(os.path.join(directory, name), top)
            digest.update(f"{relative}\0{stat_.st_size}\0{stat_.st_mtime_ns}\0"
                          f"{stat_.st_ctime_ns}\0{stat_.st_ino}\n".encode())
    return digest.hexdigest()[:16]


def _cache_problem(train: ImageTensors, test: ImageTensors, blob: dict, kind: str) -> str | None:
    """Why a decoded-data cache is not this tree's decoded images (None if it is): the shapes,
    types and labels of CIFAR-10, its source, and its fingerprint recomputed from the tensors
    rather than read (a copied fingerprint beside other tensors must not pass)."""
    for name, data in (("train", train), ("test", test)):
        if (data.images.dtype != torch.uint8 or data.images.dim() != 4
                or tuple(data.images.shape[1:]) != (3, 32, 32) or data.labels.dtype != torch.int64
                or len(data.labels) != len(data.images)):
            return f"its {name} tensors are not CIFAR-10's shapes and types"
        if len(data.labels) and not 0 <= int(data.labels.min()) <= int(data.labels.max()) < 10:
            return f"its {name} labels are not 0-9"
    if blob.get("source") != kind:
        return f"it was decoded from a {blob.get('source')!r} copy, not {kind!r}"
    if blob.get("fingerprint") != fingerprint(train, test):
        return "its fingerprint is not that of the tensors it holds"
    return None


def _cached(kind: str, path: Path, decode) -> tuple[ImageTensors, ImageTensors, DataIdentity]:
    if path.exists():
        try:
            blob = torch.load(path, weights_only=True)
            train = ImageTensors(blob["train_images"], blob["train_labels"])
            test = ImageTensors(blob["test_images"], blob["test_labels"])
            problem = _cache_problem(train, test, blob, kind)
            if problem is None:
                return train, test, DataIdentity(blob["source"], blob["fingerprint"])
            log.warning("rebuilding cache %s: %s", path, problem)
        except Exception as error:  # a damaged cache is rebuilt, never trusted
            log.warning("rebuilding damaged cache %s (%s)", path, error)
    train, test = decode("train"), decode("test")
    identity = DataIdentity(kind, fingerprint(train, test))
    shared = duplicates_across(train, test)
    if shared:
        log.warning("%d test images of %s are byte for byte training images: accuracy on "
                    "them is not a test of generalisation", shared, path.name)
    try:
        atomic_torch_save({"train_images": train.images, "train_labels": train.labels,
                           "test_images": test.images, "test_labels": test.labels,
                           "source": identity.source, "fingerprint": identity.fingerprint}, path)
    except OSError as error:  # a full, read-only or misplaced cache only costs a decode
        log.warning("could not cache the decoded data at %s (%s); it will be decoded again "
                    "next time", path, error)
    return train, test, identity


# Decoded data already in memory, by cache file: a sweep decodes and reads the data set once.
_IN_MEMORY: dict[str, tuple[ImageTensors, ImageTensors, DataIdentity]] = {}


def _load(data_dir: str | os.PathLike, cache_dir: str | os.PathLike | None, download: bool,
          progress: bool) -> tuple[ImageTensors, ImageTensors, DataIdentity]:
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    try:
        kind, root = find_cifar10(data_dir)
    except DataNotFoundError:
        if not download:
            raise
        kind, root = "torchvision", Path(data_dir)
        _read_torchvision(root, "test", download=True)  # fetches both splits
    path = cache_dir.resolve() / f"cifar10-{_tree_key(kind, root)}.pt"
    key = str(path)
    if key not in _IN_MEMORY:
        if kind == "imagefolder":
            decode = lambda split: _decode_image_folder(root, split, progress)  # noqa: E731
        else:
            decode = lambda split: _read_torchvision(root, split, download)  # noqa: E731
        _IN_MEMORY[key] = _cached(kind, path, decode)
    return _IN_MEMORY[key]


def load_cifar10(
    data_dir: str | os.PathLike,
    cache_dir: str | os.PathLike | None = None,
    download: bool = False,
    progress: bool = True,
) -> tuple[ImageTensors, ImageTensors]:
    """(train, test) CIFAR-10 as uint8 tensors, decoded once and cached in ``cache_dir``."""
    train, test, _ = _load(data_dir, cache_dir, download, progress)
    return train, test


def cifar10_identity(
    data_dir: str | os.PathLike,
    cache_dir: str | os.PathLike | None = None,
    download: bool = False,
    progress: bool = True,
) -> DataIdentity:
    """The identity of the CIFAR-10 copy under ``data_dir`` (decoding it once if not cached)."""
    return _load(data_dir, cache_dir, download, progress)[2]


def balanced_subset(labels: torch.Tensor, size: int, seed: int = 0) -> torch.Tensor:
    """Indices of ``size`` images, as equal a number per class as possible, chosen by ``seed``.

    The subset depends on the data and the seed only, so every run of a figure sees the same images.
    """
    classes = labels.unique()
    if size > len(labels):
        raise ValueError(f"subset of {size} asked from {len(labels)} images")
    generator = torch.Generator().manual_seed(seed)
    per_class, extra = divmod(size, len(classes))
    chosen = []
    counts = [int((labels == cls).sum()) for cls in classes]
    for i, (cls, count) in enumerate(zip(classes, counts)):
        take = per_class + (1 if i < extra else 0)
        if take > count:  # the subset would hold fewer images than asked for and recorded
            raise ValueError(f"a balanced subset of {size} needs {take} images of class "
                             f"{int(cls)}, which has {count}; valid: at most "
                             f"{min(counts) * len(classes)}")
    for i, cls in enumerate(classes):
        members = (labels == cls).nonzero().flatten()
        take = per_class + (1 if i < extra else 0)
        chosen.append(members[torch.randperm(len(members), generator=generator)[:take]])
    return torch.cat(chosen).sort().values


def random_crop_flip(images: torch.Tensor, generator: torch.Generator, pad: int = 4) -> torch.Tensor:
    """RandomCrop(size, padding=pad) and a horizontal flip with probability 1/2, per image.

    One gather does both for the whole batch: each image gets its own row and column index
    vectors into the zero-padded batch (reversed columns for a flipped image).
    """
    n, channels, height, width = images.shape
    padded = torch.nn.functional.pad(images, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n, 1), generator=generator)
    dx = torch.randint(0, 2 * pad + 1, (n, 1), generator=generator)
    flip = torch.rand(n, 1, generator=generator) < 0.5
    cols = torch.arange(width).expand(n, width)
    cols = torch.where(flip, cols.flip(1), cols) + dx
    rows = torch.arange(height) + dy
    device = images.device
    batch = torch.arange(n, device=device).view(n, 1, 1, 1)
    chans = torch.arange(channels, device=device).view(1, channels, 1, 1)
    return padded[batch, chans, rows.to(device).view(n, 1, height, 1), cols.to(device).view(n, 1, 1, width)]


def normalize(images: torch.Tensor, memory_format=torch.channels_last) -> torch.Tensor:
    """uint8 images -> float32 standardised with the CIFAR-10 channel statistics."""
    mean = torch.tensor(CIFAR10_MEAN, device=images.device).view(1, -1, 1, 1) * 255
    std = torch.tensor(CIFAR10_STD, device=images.device).view(1, -1, 1, 1) * 255
    x = images.float().sub_(mean).div_(std)
    return x.contiguous(memory_format=memory_format)


def epoch_batches(
    data: ImageTensors,
    batch_size: int,
    generator: torch.Generator | None = None,
    augment: bool = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Normalised (x, y) batches over ``data``: shuffled and augmented when a generator is given."""
    n = len(data)
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    order = order.to(data.labels.device)
    for start in range(0, n, batch_size):
        index = order[start:start + batch_size]
        images = data.images[index]
        if augment:
            images = random_crop_flip(images, generator)
        yield normalize(images), data.labels[index]
