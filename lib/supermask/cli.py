"""``python -m supermask train|imagenet|bench|export``: a CIFAR-10 run, an ImageNet run, the
benchmark, or a found subnetwork."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from .config import OPTIMIZERS, RunConfig
from .data import DataNotFoundError, find_cifar10
from .init import DISTRIBUTIONS
from .methods import METHODS
from .ddp import IMAGENET_METHODS
from .models import DATASET_OF
from .sweep import default_data_dir, default_results_dir, run
from .train import resolve_device

__all__ = ["main"]

_CIFAR_MODELS = [m for m, d in DATASET_OF.items() if d == "cifar10"]
_SUMMARY_KEYS = ("test_acc", "train_acc", "kept", "total", "wall_s", "run_dir", "status")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m supermask",
                                     description="Supermasks in randomly weighted networks.")
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser(
        "train", help="run (or find in the run store) one training run",
        description="Run one config, or print its stored result if it already finished. "
                    "An unfinished run resumes from its last checkpoint. Hyperparameters left "
                    "unset follow the reference protocol of the method and optimiser.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", default="conv4", choices=_CIFAR_MODELS, help="architecture")
    p.add_argument("--method", default="edge-popup", choices=list(METHODS), help="what is learned")
    p.add_argument("--k", type=float, default=None,
                   help="fraction of weights KEPT per layer, in (0, 1]; default 0.5 for "
                        "edge-popup, 1 for dense; unset for zhou (its kept fraction is learned)")
    p.add_argument("--init", default=None, choices=list(DISTRIBUTIONS),
                   help="weight distribution; default signed_constant for edge-popup, "
                        "kaiming_normal for dense")
    p.add_argument("--width", type=float, default=1.0, help="width multiplier of hidden layers")
    p.add_argument("--seed", type=int, default=0, help="seed of weights, scores, order, augmentation")
    p.add_argument("--epochs", type=int, default=100, help="training epochs")
    p.add_argument("--train-subset", type=int, default=None,
                   help="train on a class-balanced subset of this many images (default: all 50,000)")
    p.add_argument("--test-subset", type=int, default=None,
                   help="evaluate on a class-balanced subset of this many images (default: all 10,000)")
    p.add_argument("--optimizer", default=None, choices=OPTIMIZERS, help="default sgd")
    p.add_argument("--lr", type=float, default=None,
                   help="learning rate; default 0.1 (edge-popup SGD), 0.01 (dense SGD), "
                        "2e-4/3e-4 (Adam, Conv2/others), 200/800 (zhou, Conv2-6/Conv8)")
    p.add_argument("--momentum", type=float, default=None, help="SGD momentum; default 0.9")
    p.add_argument("--weight-decay", type=float, default=None,
                   help="default 1e-4 (SGD; applies to the scores too), 0 (Adam, zhou)")
    p.add_argument("--batch-size", type=int, default=None, help="default 128 (SGD), 60 (Adam)")
    p.add_argument("--eval-samples", type=int, default=None,
                   help="sampled masks averaged for the test accuracy (zhou only; default 10)")
    p.add_argument("--data-dir", default=None,
                   help=f"directory holding CIFAR-10 (default: $DATA_DIR or {default_data_dir()})")
    p.add_argument("--download", action="store_true",
                   help="download CIFAR-10 with torchvision if the data directory lacks it")
    p.add_argument("--results", default=None,
                   help=f"results directory; runs go to RESULTS/runs/ "
                        f"(default: $RESULTS_DIR or {default_results_dir()})")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--json", action="store_true",
                   help="print the result as one JSON line on stdout")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    b = commands.add_parser(
        "bench", help="time training steps, the machine's peak and the data pipeline",
        description="Training-step time of dense, edge-popup, full-sort edge-popup and Zhou et "
                    "al.'s sampled mask, side by side in one process (median after warm-up), "
                    "achieved GFLOP/s against a large fp32 matmul, and the data pipeline's rate. "
                    "Writes OUT/<host>.json.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    b.add_argument("--models", nargs="+", default=["conv4"], choices=list(DATASET_OF))
    b.add_argument("--batch-size", type=int, default=128, help="CIFAR-10 models' batch")
    b.add_argument("--imagenet-batch-size", type=int, default=16,
                   help="ImageNet models' batch (224x224 images)")
    b.add_argument("--repeats", type=int, default=15, help="timed steps per variant")
    b.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    b.add_argument("--out", default="results/bench", help="directory of the JSON report")
    b.add_argument("--json", action="store_true", help="print the report as one JSON line")

    i = commands.add_parser(
        "imagenet", help="train one ImageNet run (under torchrun for several GPUs or nodes)",
        description="ImageNet with NVIDIA's ResNet-50 recipe (lr 0.256 per 256 images, "
                    "momentum 0.875, wd 3.05e-5, label smoothing 0.1, 5 warm-up epochs, cosine). "
                    "Run it with `torchrun --nproc_per_node=N -m supermask imagenet ...`; "
                    "without torchrun it is one process. A finished run is found, an "
                    "interrupted one resumes from its last epoch.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    i.add_argument("--model", default="resnet50",
                   choices=[m for m, d in DATASET_OF.items() if d == "imagenet"])
    i.add_argument("--method", default="edge-popup", choices=list(IMAGENET_METHODS))
    i.add_argument("--k", type=float, default=None, help="fraction of weights KEPT; default 0.5")
    i.add_argument("--init", default=None, choices=list(DISTRIBUTIONS),
                   help="weight distribution; default signed_constant (dense: kaiming_normal)")
    i.add_argument("--seed", type=int, default=0)
    i.add_argument("--epochs", type=int, default=100)
    i.add_argument("--batch-size", type=int, default=256,
                   help="global batch over all processes; lr scales with it (0.256 per 256)")
    i.add_argument("--lr", type=float, default=None, help="default 0.256 * batch / 256")
    i.add_argument("--imagenet-dir", required=True, help="root holding train/ and val/")
    i.add_argument("--results", default=None, help="results directory (default: $RESULTS_DIR "
                                                   f"or {default_results_dir()})")
    i.add_argument("--workers", type=int, default=8, help="DataLoader workers per process")
    i.add_argument("--accumulate", type=int, default=1,
                   help="micro-batches per step and process: P processes x A train like P*A")
    i.add_argument("--device", default="auto", help="auto, cpu or cuda (one GPU per process)")
    i.add_argument("--json", action="store_true", help="print the result as one JSON line")
    i.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    e = commands.add_parser(
        "export", help="write a finished run's subnetwork as a plain PyTorch state dict",
        description="Fold every mask into its weight and write the state dict of the unmasked "
                    "architecture (plus the config and kept count) to OUT; it loads with "
                    "torch.load(OUT, weights_only=True) without this package.")
    e.add_argument("run_dir", help="the run's directory, results/runs/<model>-<method>-<hash>")
    e.add_argument("out", help="file to write, e.g. subnetwork.pt")
    return parser


def _export(parser: argparse.ArgumentParser, args) -> int:
    from .export import ExportError, export_run

    try:
        summary = export_run(args.run_dir, args.out)
    except ExportError as error:
        parser.error(str(error))
    print(f"{args.out}: {summary['architecture']['model']} width {summary['architecture']['width']}"
          f", {summary['kept']}/{summary['total']} weights kept, test accuracy "
          f"{summary['test_acc']:.4f}")
    return 0


def _imagenet(parser: argparse.ArgumentParser, args) -> int:
    from .ddp import train_imagenet
    from .imagenet import find_imagenet

    try:
        config = RunConfig(model=args.model, method=args.method, k=args.k, init=args.init,
                           seed=args.seed, epochs=args.epochs, batch_size=args.batch_size,
                           lr=args.lr, dataset="imagenet")
        resolve_device(args.device)
        find_imagenet(args.imagenet_dir)
        if args.workers < 0 or args.accumulate < 1:
            raise ValueError("--workers must be >= 0 and --accumulate >= 1")
    except (ValueError, DataNotFoundError) as error:
        parser.error(str(error))
    logging.basicConfig(level=logging.WARNING if args.json else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    result = train_imagenet(config, args.imagenet_dir,
                            args.results if args.results is not None else default_results_dir(),
                            device=args.device, workers=args.workers,
                            accumulate=args.accumulate, progress=not args.no_progress)
    if result is not None:
        if args.json:
            print(json.dumps({key: result.get(key) for key in _SUMMARY_KEYS}
                             | {"hash": result["hash"], "config": result["config"]}))
        else:
            print(f"{config.name}: {result['status']}, top-1 {result['test_acc']}, kept "
                  f"{result['kept']}/{result['total']}, {result['wall_s']:.1f} s")
    return 0


def _bench(args) -> int:
    from .bench import format_report, run_benchmark

    report = run_benchmark(models=tuple(args.models), batch_size=args.batch_size,
                           imagenet_batch_size=args.imagenet_batch_size,
                           repeats=args.repeats, device=args.device, out_dir=args.out)
    print(json.dumps(report) if args.json else format_report(report))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "bench":
        return _bench(args)
    if args.command == "export":
        return _export(parser, args)
    if args.command == "imagenet":
        return _imagenet(parser, args)
    logging.basicConfig(level=logging.INFO if not args.json else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        config = RunConfig(model=args.model, method=args.method, k=args.k, init=args.init,
                           width=args.width, seed=args.seed, epochs=args.epochs,
                           train_subset=args.train_subset, test_subset=args.test_subset,
                           optimizer=args.optimizer, lr=args.lr, momentum=args.momentum,
                           weight_decay=args.weight_decay, batch_size=args.batch_size,
                           eval_samples=args.eval_samples)
        resolve_device(args.device)
    except ValueError as error:
        parser.error(str(error))
    data_dir = args.data_dir if args.data_dir is not None else default_data_dir()
    if not args.download:
        try:
            find_cifar10(data_dir)
        except DataNotFoundError as error:
            parser.error(str(error))

    result = run(config, results_dir=args.results, data_dir=data_dir, device=args.device,
                 progress=not args.no_progress, download=args.download)
    if args.json:
        print(json.dumps({key: result.get(key) for key in _SUMMARY_KEYS}
                         | {"hash": result["hash"], "config": result["config"]}))
    else:
        acc = result["test_acc"]
        print(f"{config.name}: {result['status']}, test accuracy "
              f"{'n/a' if acc is None else f'{acc:.4f}'}, kept {result['kept']}/{result['total']}, "
              f"{result['wall_s']:.1f} s, {result['run_dir']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
