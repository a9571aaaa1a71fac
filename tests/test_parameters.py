import pytest
import torch

from supermask.config import PROFILES
from supermask.data.cifar10 import DataNotFoundError
from supermask.runs.parameters import check_figure_parameters


def test_defaults_come_from_the_profile(tiny_data_dir):
    checked = check_figure_parameters("short", None, tiny_data_dir, "cpu", True)
    assert checked.profile is PROFILES["short"] and checked.seeds == (0,)
    assert check_figure_parameters("paper", [3, 4], tiny_data_dir, "auto", True).seeds == (3, 4)


@pytest.mark.parametrize(
    "args, message",
    [
        (("fast", None, "cpu", True), "unknown profile 'fast'"),
        (("smoke", "0", "cpu", True), "seeds must be a list of integers"),
        (("smoke", [0, 1.5], "cpu", True), "seeds must be a list of integers"),
        (("smoke", [], "cpu", True), "seeds must be a list of integers in"),
        (("smoke", None, "cpu", "yes"), "train must be True or False"),
        (("smoke", None, "tpu", True), "unknown device 'tpu'"),
        (("smoke", None, "meta", True), "unsupported device 'meta'"),
    ],
)
def test_bad_parameters_are_refused(args, message, tiny_data_dir):
    profile, seeds, device, train = args
    with pytest.raises(ValueError, match=message):
        check_figure_parameters(profile, seeds, tiny_data_dir, device, train)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_without_cuda_is_refused(tiny_data_dir):
    with pytest.raises(ValueError, match="CUDA is not available"):
        check_figure_parameters("smoke", None, tiny_data_dir, "cuda", True)


def test_data_is_checked_only_when_training(tmp_path):
    with pytest.raises(DataNotFoundError, match="does not exist"):
        check_figure_parameters("smoke", None, tmp_path / "missing", "cpu", True)
    assert check_figure_parameters("smoke", None, tmp_path / "missing", "cpu", False).seeds == (0,)


def test_wrong_class_folders_are_named(tmp_path):
    for split in ("train", "test"):
        for name in ("cat", "dog"):
            (tmp_path / "cifar10" / split / name).mkdir(parents=True)
    with pytest.raises(
        DataNotFoundError, match="exactly the 10 CIFAR-10 class folders.*found: cat, dog"
    ):
        check_figure_parameters("smoke", None, tmp_path, "cpu", True)
