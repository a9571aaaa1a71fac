"""The device feed: the batches of the batch-at-a-time path, bit for bit, and no host wait."""

import math

import pytest
import torch
from tqdm.auto import tqdm

from supermask.config import RunConfig
from supermask.data.cifar10 import ImageTensors, epoch_batches
from supermask.training.cifar10 import _epoch_generator, in_memory_feed
from supermask.training.feed import augmented_batches, channel_stats, draw_epoch
from supermask.training.loop import Processes, _epoch_steps, _start


def _data(n: int, seed: int = 0) -> ImageTensors:
    generator = torch.Generator().manual_seed(seed)
    return ImageTensors(
        torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=generator),
        torch.randint(0, 10, (n,), generator=generator),
    )


@pytest.mark.parametrize("n,batch_size", [(300, 128), (256, 128), (7, 3)])
def test_feed_batches_equal_the_batch_at_a_time_path(n, batch_size):
    data = _data(n)
    config = RunConfig(model="conv2", seed=5, batch_size=batch_size, epochs=2)
    feed = in_memory_feed(config, data, data)
    assert feed.steps_per_epoch == math.ceil(n / batch_size)
    for epoch in range(2):
        old = list(
            epoch_batches(data, batch_size, _epoch_generator(config.seed, epoch), augment=True)
        )
        new = [batch for (batch,) in feed.epoch(epoch)]
        assert len(old) == len(new) == feed.steps_per_epoch
        for (x_old, y_old), (x_new, y_new) in zip(old, new):
            assert torch.equal(x_old, x_new) and torch.equal(y_old, y_new)
            assert x_new.is_contiguous(memory_format=torch.channels_last)


def test_feed_without_augmentation_is_the_shuffled_images():
    data = _data(50)
    draws = draw_epoch(50, 16, torch.Generator().manual_seed(1), augment=False)
    old = list(epoch_batches(data, 16, torch.Generator().manual_seed(1)))
    new = list(
        augmented_batches(data, 16, draws, channel_stats(torch.device("cpu")), augment=False)
    )
    assert all(torch.equal(a, c) and torch.equal(b, d) for (a, b), (c, d) in zip(old, new))


@pytest.mark.skipif(
    not torch.cuda.is_available(),
    reason="needs CUDA: the host-wait check is a CUDA one (set_sync_debug_mode)",
)
def test_an_epoch_on_cuda_never_waits_for_the_device():
    device = torch.device("cuda")
    data = _data(512).to(device)
    for method in ("edge-popup", "dense"):
        config = RunConfig(model="conv2", method=method, width=0.25, batch_size=128, epochs=1)
        feed = in_memory_feed(config, data, data)
        run = _start(config, feed, device, None)
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            loss_sum, correct, seen = _epoch_steps(
                run, config, feed, 0, device, Processes(), tqdm(disable=True)
            )
        finally:
            torch.cuda.set_sync_debug_mode("default")
        assert seen == 512 and math.isfinite(loss_sum.item())
