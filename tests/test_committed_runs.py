"""The committed numbers are what the committed code computes: a few small committed runs are
rebuilt from their seeds and masks and measured again on the real CIFAR-10 test set."""

import json

import pytest
import torch

from supermask.cli import main
from supermask.provenance import cpu_kind

from conftest import REPO

# Small (Conv2), and one of each kind of mask: edge-popup's top-k and Zhou et al.'s sampled one
# (its deterministic mask).
SMALL_RUNS = [
    "conv2-edge-popup-48fca48162340b96-ae3bcfea9779",
    "conv2-zhou-0ed679de3269ab38-ae3bcfea9779",
]
# bf16 kernels of another CPU kind (AMX against AVX-512 BF16) sum in another order, which may
# flip a few borderline images; on the kind that trained a run, none may differ.
OTHER_KIND_TOLERANCE = 30  # images of 10,000


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the runs trained: oneDNN's sums follow the thread count
    yield
    torch.set_num_threads(threads)


def test_committed_conv2_subnetworks_give_their_recorded_accuracy(cifar_dir, one_thread, capsys):
    run_dirs = [REPO / "results" / "runs" / name for name in SMALL_RUNS]
    trained_on = {json.loads((d / "result.json").read_text())["device"] for d in run_dirs}
    same_kind = all(f"({cpu_kind()}, " in device for device in trained_on)
    tolerance = 0 if same_kind else OTHER_KIND_TOLERANCE
    argv = ["verify", *map(str, run_dirs), "--data-dir", str(cifar_dir), "--device", "cpu"]
    status = main([*argv, "--tolerance", str(tolerance)])
    out = capsys.readouterr().out
    print(out)  # the table, in CI's log
    assert status == 0, out
    rows = out.strip().splitlines()[1:]
    assert len(rows) == len(SMALL_RUNS) and all(row.split()[4] == "ok" for row in rows)
