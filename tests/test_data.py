import pytest
import torch

from supermask.data.cifar10 import (
    DataNotFoundError,
    ImageTensors,
    balanced_subset,
    cifar10_identity,
    epoch_batches,
    find_cifar10,
    fingerprint,
    load_cifar10,
    random_crop_flip,
)

from conftest import make_image_folder


def test_image_folder_found_and_cached(tiny_data_dir, tmp_path):
    kind, root = find_cifar10(tiny_data_dir)
    assert kind == "imagefolder" and root == tiny_data_dir / "cifar10"
    train, test = load_cifar10(tiny_data_dir, cache_dir=tmp_path / "c")
    assert train.images.shape == (120, 3, 32, 32) and train.images.dtype == torch.uint8
    assert test.images.shape == (40, 3, 32, 32)
    assert torch.equal(train.labels.bincount(), torch.full((10,), 12))
    assert len(list((tmp_path / "c").glob("cifar10-*.pt"))) == 1


def test_cache_is_read_instead_of_decoding(tmp_path, monkeypatch):
    data_dir = make_image_folder(tmp_path / "d" / "cifar10", 2, 1).parent
    first, _ = load_cifar10(data_dir, cache_dir=tmp_path / "c")
    identity = cifar10_identity(data_dir, cache_dir=tmp_path / "c")
    # A second process (fresh memory) must be served by the cache file, not decode again.
    from supermask.data import cifar10

    cifar10._IN_MEMORY.clear()
    monkeypatch.setattr(cifar10, "_decode_image_folder", lambda *a: pytest.fail("decoded again"))
    again, _ = load_cifar10(data_dir, cache_dir=tmp_path / "c")
    assert torch.equal(first.images, again.images)
    assert cifar10_identity(data_dir, cache_dir=tmp_path / "c") == identity


def test_changed_tree_is_decoded_again(tmp_path):
    """Catches a cache keyed by path: a grown tree must not keep serving the old images."""
    data_dir = make_image_folder(tmp_path / "d" / "cifar10", 2, 1).parent
    small, _ = load_cifar10(data_dir, cache_dir=tmp_path / "c")
    before = cifar10_identity(data_dir, cache_dir=tmp_path / "c")
    import shutil

    shutil.rmtree(data_dir / "cifar10")
    make_image_folder(data_dir / "cifar10", 3, 1)
    grown, _ = load_cifar10(data_dir, cache_dir=tmp_path / "c")
    assert len(small) == 20 and len(grown) == 30
    assert cifar10_identity(data_dir, cache_dir=tmp_path / "c").fingerprint != before.fingerprint


def test_fingerprint_is_of_the_decoded_data_not_its_path(tmp_path):
    """Two copies of the same images agree; one changed pixel does not."""
    one = make_image_folder(tmp_path / "a" / "cifar10", 2, 1).parent
    two = make_image_folder(tmp_path / "b" / "cifar10", 2, 1).parent
    a = cifar10_identity(one, cache_dir=tmp_path / "c")
    b = cifar10_identity(two, cache_dir=tmp_path / "c")
    assert a == b and a.source == "imagefolder" and len(a.short) == 12
    train, test = load_cifar10(one, cache_dir=tmp_path / "c")
    changed = train.images.clone()
    changed[0, 0, 0, 0] ^= 1
    assert fingerprint(ImageTensors(changed, train.labels), test) != a.fingerprint


def test_damaged_cache_is_rebuilt(tmp_path):
    data_dir = make_image_folder(tmp_path / "d" / "cifar10", 2, 1).parent
    from supermask.data import cifar10

    first, _ = load_cifar10(data_dir, cache_dir=tmp_path / "c")
    cifar10._IN_MEMORY.clear()
    for path in (tmp_path / "c").glob("*.pt"):
        path.write_bytes(path.read_bytes()[:100])
    again, _ = load_cifar10(data_dir, cache_dir=tmp_path / "c")
    assert torch.equal(first.images, again.images)


def test_missing_data_says_how_to_supply_it(tmp_path):
    with pytest.raises(DataNotFoundError, match="does not exist"):
        find_cifar10(tmp_path / "nowhere")
    with pytest.raises(DataNotFoundError, match="--download"):
        find_cifar10(tmp_path)
    with pytest.raises(DataNotFoundError, match="DATA_DIR"):
        load_cifar10(tmp_path)


def test_wrong_class_folders_refused(tmp_path):
    for split in ("train", "test"):
        (tmp_path / split / "cats").mkdir(parents=True)
    with pytest.raises(DataNotFoundError, match="exactly the 10 CIFAR-10 class folders"):
        find_cifar10(tmp_path)


def test_balanced_subset():
    labels = torch.arange(10).repeat_interleave(100)
    index = balanced_subset(labels, 250)
    assert len(index) == 250 and len(index.unique()) == 250
    counts = labels[index].bincount()
    assert counts.max() - counts.min() <= 1
    assert torch.equal(index, balanced_subset(labels, 250))  # same images every time
    assert not torch.equal(index, balanced_subset(labels, 250, seed=1))


def test_crop_flip_is_a_crop_of_the_padded_image():
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8)
    out = random_crop_flip(images, generator)
    padded = torch.nn.functional.pad(images, (4, 4, 4, 4))
    flips = 0
    for i in range(len(images)):
        matches = []
        for dy in range(9):
            for dx in range(9):
                crop = padded[i, :, dy : dy + 32, dx : dx + 32]
                matches += [("plain", dy, dx)] if torch.equal(out[i], crop) else []
                matches += [("flip", dy, dx)] if torch.equal(out[i], crop.flip(2)) else []
        assert matches, f"image {i} is no crop of its padded input"
        flips += matches[0][0] == "flip"
    assert 16 < flips < 48
    shifted = sum(not torch.equal(out[i], images[i]) for i in range(len(images)))
    assert shifted > 50


def test_batches_cover_the_data_once_normalised(tiny_data_dir):
    train, _ = load_cifar10(tiny_data_dir)
    generator = torch.Generator().manual_seed(0)
    batches = list(epoch_batches(train, 32, generator, augment=True))
    assert [len(y) for _, y in batches] == [32, 32, 32, 24]
    assert torch.equal(torch.cat([y for _, y in batches]).bincount(), train.labels.bincount())
    x = torch.cat([x for x, _ in batches])
    assert x.dtype == torch.float32 and x.is_contiguous(memory_format=torch.channels_last)


def test_normalisation_uses_the_reference_statistics():
    """A pixel at the CIFAR-10 mean maps to 0, one a std above it to 1, channel by channel."""
    from supermask.data.cifar10 import CIFAR10_MEAN, CIFAR10_STD, normalize

    mean = torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR10_STD).view(1, 3, 1, 1)
    assert CIFAR10_MEAN == (0.491, 0.482, 0.447) and CIFAR10_STD == (0.247, 0.243, 0.262)
    images = torch.stack([torch.zeros(3, 2, 2), torch.full((3, 2, 2), 255.0)]).to(torch.uint8)
    expected = (images.float() / 255 - mean) / std
    assert torch.allclose(normalize(images), expected, atol=1e-5)


def test_a_cache_whose_fingerprint_was_copied_beside_other_tensors_is_rebuilt(tmp_path, caplog):
    """The fingerprint is recomputed from the cached tensors, never read on trust: random images
    with the real copy's fingerprint must not pass as that copy."""
    data_dir = make_image_folder(tmp_path / "d" / "cifar10", 2, 1).parent
    from supermask.data import cifar10

    first, _ = load_cifar10(data_dir, cache_dir=tmp_path / "c")
    identity = cifar10_identity(data_dir, cache_dir=tmp_path / "c")
    cifar10._IN_MEMORY.clear()
    (path,) = (tmp_path / "c").glob("*.pt")
    blob = torch.load(path, weights_only=True)
    blob["train_images"] = torch.randint(0, 256, blob["train_images"].shape, dtype=torch.uint8)
    torch.save(blob, path)
    again, _ = load_cifar10(data_dir, cache_dir=tmp_path / "c")
    assert torch.equal(again.images, first.images)
    assert cifar10_identity(data_dir, cache_dir=tmp_path / "c") == identity
    assert "its fingerprint is not that of the tensors it holds" in caplog.text


@pytest.mark.parametrize(
    "change, reason",
    [
        (lambda b: b.update(train_labels=b["train_labels"] + 10), "labels are not 0-9"),
        (lambda b: b.update(test_images=b["test_images"][:, :, :16]), "not CIFAR-10's shapes"),
        (lambda b: b.update(source="torchvision"), "decoded from a 'torchvision' copy"),
    ],
)
def test_a_cache_that_is_not_cifar10_decoded_from_this_kind_of_copy_is_rebuilt(
    tmp_path, caplog, change, reason
):
    data_dir = make_image_folder(tmp_path / "d" / "cifar10", 2, 1).parent
    from supermask.data import cifar10

    first, _ = load_cifar10(data_dir, cache_dir=tmp_path / "c")
    cifar10._IN_MEMORY.clear()
    (path,) = (tmp_path / "c").glob("*.pt")
    blob = torch.load(path, weights_only=True)
    change(blob)
    torch.save(blob, path)
    again, _ = load_cifar10(data_dir, cache_dir=tmp_path / "c")
    assert torch.equal(again.images, first.images) and reason in caplog.text


def test_a_symlinked_class_folder_is_part_of_the_cache_key(tmp_path):
    """ImageFolder follows a symlinked class folder; the cache key must too, or changing the
    images behind the link keeps serving the old ones."""
    import os
    import shutil

    data_dir = make_image_folder(tmp_path / "d" / "cifar10", 2, 1).parent
    elsewhere = tmp_path / "elsewhere"
    shutil.move(str(data_dir / "cifar10" / "train" / "cat"), elsewhere)
    os.symlink(elsewhere, data_dir / "cifar10" / "train" / "cat")
    before = cifar10_identity(data_dir, cache_dir=tmp_path / "c")
    from PIL import Image

    Image.new("RGB", (32, 32), (1, 2, 3)).save(elsewhere / "extra.png")
    train, _ = load_cifar10(data_dir, cache_dir=tmp_path / "c")
    assert len(train) == 21
    assert cifar10_identity(data_dir, cache_dir=tmp_path / "c") != before


def test_a_symlink_loop_inside_the_tree_does_not_hang_the_cache_key(tmp_path):
    import os

    data_dir = make_image_folder(tmp_path / "d" / "cifar10", 2, 1).parent
    from supermask.data.cifar10 import _tree_key

    key = _tree_key("imagefolder", data_dir / "cifar10")
    os.symlink(data_dir / "cifar10", data_dir / "cifar10" / "test" / "cat" / "loop")
    assert _tree_key("imagefolder", data_dir / "cifar10") == key  # each real folder once


def test_a_cache_that_cannot_be_written_costs_a_decode_not_the_run(tmp_path, caplog):
    data_dir = make_image_folder(tmp_path / "d" / "cifar10", 2, 1).parent
    (tmp_path / "file").write_text("not a directory")
    train, _ = load_cifar10(data_dir, cache_dir=tmp_path / "file" / "cache")
    assert len(train) == 20 and "could not cache the decoded data" in caplog.text
    assert (tmp_path / "file").read_text() == "not a directory"
