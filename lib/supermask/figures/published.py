"""Numbers published in Ramanujan et al. (2020) and by the methods they compare with, for showing
beside measured ones (never mixed: every published value is labelled as such). Source:
PROTOCOL.md, "ImageNet"."""

from __future__ import annotations

import pandas as pd

__all__ = ["IMAGENET_TRAIN_IMAGES", "ZHOU_SUPERMASK", "table2"]

IMAGENET_TRAIN_IMAGES = 1_281_167

# CIFAR-10 test accuracy (%) of Zhou et al.'s (2019) learned supermask as they report it, with
# their own protocol; they give no kept fraction for these, so a plot shows them as levels.
ZHOU_SUPERMASK = {"conv2": 66.0, "conv4": 72.5, "conv6": 76.5}


def table2() -> pd.DataFrame:
    """Table 2: ImageNet top-1 (%) of edge-popup subnetworks at k = 30% and learned dense nets."""
    rows = [
        ("resnet50", "edge-popup", "kaiming_normal", 0.3, 61.71, 7.6e6),
        ("resnet50", "edge-popup", "signed_constant", 0.3, 68.6, 7.6e6),
        ("resnet101", "edge-popup", "kaiming_normal", 0.3, 66.15, 13e6),
        ("resnet101", "edge-popup", "signed_constant", 0.3, 72.3, 13e6),
        ("wide_resnet50_2", "edge-popup", "kaiming_normal", 0.3, 67.95, 20.6e6),
        ("wide_resnet50_2", "edge-popup", "signed_constant", 0.3, 73.3, 20.6e6),
        ("resnet34", "dense", "learned", 1.0, 73.3, 21.8e6),
        ("resnet50", "dense", "learned", 1.0, 76.1, 25e6),
        ("wide_resnet50_2", "dense", "learned", 1.0, 78.1, 69e6),
    ]
    return pd.DataFrame(rows, columns=["model", "method", "init", "k", "top1", "params"])
