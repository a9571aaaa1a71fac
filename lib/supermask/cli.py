"""``python -m supermask train|imagenet|bench|export|verify|masks|status``: a CIFAR-10 run, an
ImageNet run, the benchmark, a found subnetwork, a committed mask checked or written, or how far
the runs of a results directory got."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
from pathlib import Path

from .boundary import entry_point
from .config import FLOAT_FIELDS, INT_FIELDS, PROFILES, RunConfig, get_profile
from .data.cifar10 import DataNotFoundError, load_cifar10
from .files import WriteError, atomic_write_bytes, check_writable_dir
from .models import DATASET_OF
from .protocol import PROTOCOL
from .runs.store import StoreError
from .runs.sweep import default_data_dir, default_results_dir, run, store_for
from .training.cifar10 import check_data_fits
from .training.device import resolve_device
from .training.methods import METHODS

__all__ = ["main"]

_CIFAR_MODELS = [m for m, d in DATASET_OF.items() if d == "cifar10"]
_IMAGENET_MODELS = [m for m, d in DATASET_OF.items() if d == "imagenet"]
_SUMMARY_KEYS = ("test_acc", "train_acc", "kept", "total", "wall_s", "run_dir", "status")


# Options whose values are limited to a list (the protocol's choices, the registries' names);
# the others take any value of their type, and RunConfig checks their range.
_CHOICES = {
    "method": list(METHODS),
    **{name: list(h.valid) for name, h in PROTOCOL.items() if isinstance(h.valid, tuple)},
}
_IMAGENET_ONLY = ("dataset", "warmup_epochs", "label_smoothing")
# The RunConfig fields the `imagenet` command takes as options; --config gives all of them.
_IMAGENET_OPTIONS = (
    "model",
    "method",
    "k",
    "init",
    "seed",
    "epochs",
    "batch_size",
    "lr",
    "precision",
)
_TRAIN_OPTIONS = tuple(
    field.name for field in dataclasses.fields(RunConfig) if field.name not in _IMAGENET_ONLY
)


def _results_dir(args) -> str | os.PathLike:
    """``--results``, or where results go by default ($RESULTS_DIR or ./results)."""
    return args.results if args.results is not None else default_results_dir()


def _add_results_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--results",
        default=None,
        help=f"results directory; runs go to RESULTS/runs/ (default: "
        f"$RESULTS_DIR or {default_results_dir()})",
    )


def _add_data_dir_option(parser: argparse.ArgumentParser, use: str = "") -> None:
    """``--data-dir``; ``use`` says what the command reads it for, where that is not plain."""
    parser.add_argument(
        "--data-dir",
        default=None,
        help=f"directory holding CIFAR-10{use} (default: $DATA_DIR or {default_data_dir()})",
    )


def _add_campaign_options(parser: argparse.ArgumentParser, example: str) -> None:
    parser.add_argument("file", help=f"campaign file, e.g. {example}")
    parser.add_argument(
        "--profile",
        default=None,
        choices=list(PROFILES),
        help="the campaign's profile (default: its file's 'profile' line, else short)",
    )


def _add_config_options(
    parser: argparse.ArgumentParser, names: tuple[str, ...], models: list[str] = _CIFAR_MODELS
) -> None:
    """One option per RunConfig field of ``names`` (``--train-subset`` for ``train_subset``),
    with the field's default and help text: a field added to RunConfig is on the command line
    at once. The model's default is the first of ``models``."""
    for field in dataclasses.fields(RunConfig):
        if field.name not in names:
            continue
        kind = int if field.name in INT_FIELDS else float if field.name in FLOAT_FIELDS else str
        default = (
            models[0] if field.name == "model" and field.default not in models else field.default
        )
        shown = "" if default is None else f" (default: {default})"
        parser.add_argument(
            f"--{field.name.replace('_', '-')}",
            type=kind,
            default=default,
            choices=models if field.name == "model" else _CHOICES.get(field.name),
            help=field.metadata["help"] + shown,
        )


def _config_from(args: argparse.Namespace, names: tuple[str, ...], **fixed) -> RunConfig:
    """The RunConfig of the parsed options ``names`` (and the ``fixed`` fields)."""
    return RunConfig(**{name: getattr(args, name) for name in names}, **fixed)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m supermask", description="Supermasks in randomly weighted networks."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = commands.add_parser(
        "train",
        help="run (or find in the run store) one training run",
        description="Run one config, or print its stored result if it already finished. "
        "An unfinished run resumes from its last checkpoint. Hyperparameters left "
        "unset follow the reference protocol of the method and optimiser.",
    )
    _add_config_options(p, _TRAIN_OPTIONS)
    _add_data_dir_option(p)
    p.add_argument(
        "--download",
        action="store_true",
        help="download CIFAR-10 with torchvision if the data directory lacks it",
    )
    _add_results_option(p)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    p.add_argument(
        "--json", action="store_true", help="print the result as one JSON line on stdout"
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    b = commands.add_parser(
        "bench",
        help="time training steps, the machine's peak and the data pipeline",
        description="Training-step time of dense, edge-popup, full-sort edge-popup and Zhou et "
        "al.'s sampled mask, side by side in one process (median after warm-up), "
        "achieved GFLOP/s against a large fp32 matmul, and the data pipeline's rate. "
        "Writes OUT/<host>-<kind>.json (kind: cuda, avx512-bf16, avx2, ...).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    b.add_argument("--models", nargs="+", default=["conv4"], choices=list(DATASET_OF))
    b.add_argument("--batch-size", type=int, default=128, help="CIFAR-10 models' batch")
    b.add_argument(
        "--imagenet-batch-size",
        type=int,
        default=16,
        help="ImageNet models' batch (224x224 images)",
    )
    b.add_argument("--repeats", type=int, default=15, help="timed steps per variant")
    b.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    b.add_argument("--out", default="results/bench", help="directory of the JSON report")
    b.add_argument("--json", action="store_true", help="print the report as one JSON line")

    i = commands.add_parser(
        "imagenet",
        help="train one ImageNet run (under torchrun for several GPUs or nodes)",
        description="ImageNet with NVIDIA's ResNet-50 recipe (lr 0.256 per 256 images, "
        "momentum 0.875, wd 3.05e-5, label smoothing 0.1, 5 warm-up epochs, cosine). "
        "Run it with `torchrun --nproc_per_node=N -m supermask imagenet ...`; "
        "without torchrun it is one process. A finished run is found, an "
        "interrupted one resumes from its last epoch. The batch is global, over "
        "all processes; the learning rate scales with it (0.256 per 256).",
    )
    _add_config_options(i, _IMAGENET_OPTIONS, models=_IMAGENET_MODELS)
    i.add_argument(
        "--config",
        default=None,
        help="the whole RunConfig as JSON (RunConfig.to_dict()); replaces "
        + ", ".join(f"--{name.replace('_', '-')}" for name in _IMAGENET_OPTIONS),
    )
    i.add_argument("--imagenet-dir", required=True, help="root holding train/ and val/")
    _add_results_option(i)
    i.add_argument(
        "--workers", type=int, default=8, help="DataLoader workers per process (default: 8)"
    )
    i.add_argument(
        "--accumulate",
        type=int,
        default=1,
        help="micro-batches per step and process: P processes x A train like P*A (default: 1)",
    )
    i.add_argument(
        "--device", default="auto", help="auto, cpu or cuda (one GPU per process; default: auto)"
    )
    i.add_argument("--json", action="store_true", help="print the result as one JSON line")
    i.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    s = commands.add_parser(
        "status",
        help="show every run of a results directory: finished, or how far it got",
        description="One line per run directory: finished runs with their test accuracy, "
        "unfinished ones with the epoch of their last checkpoint, its test "
        "accuracy, the time left at their mean seconds per epoch so far, and the "
        "worker training them now (host:pid). Reads only.",
    )
    _add_results_option(s)
    s.add_argument("--only-unfinished", action="store_true", help="hide finished runs")

    c = commands.add_parser(
        "campaign",
        help="print the table of a campaign's finished runs (markdown)",
        description="One row per line of a campaign file (campaigns/*.txt), in its order: final "
        "test accuracy, test accuracy after epochs 2, 10, 25, 50 and 100 (those "
        "within the profile), wall time and device, read from the figures' CSVs "
        "under RESULTS/PROFILE/. Runs not finished yet have no numbers. Then, on "
        "stderr, what the runs left cost one worker here, at the speed this machine "
        "measured (resumed runs at their own latest epochs). Reads only.",
    )
    _add_campaign_options(c, "campaigns/conv2-paper.txt")
    _add_results_option(c)
    _add_data_dir_option(c, ", to find the runs' checkpoints for the time estimate")
    c.add_argument(
        "--threads",
        type=int,
        default=1,
        help="threads of the worker the estimate is for (default: 1, as make campaign)",
    )
    c.add_argument(
        "--runs-file",
        default=None,
        help="also write the runs this store has not finished as a runs file for a lent GPU "
        "('<profile> <fields JSON>' lines; make offload CAMPAIGN=... packs them)",
    )

    w = commands.add_parser(
        "worker",
        help="train a campaign's lines in order (make campaign starts one detached)",
        description="Train each line '<figure> <only JSON>' of a campaign file through its "
        "figure's notebook, leaving runs another worker holds to that worker, so "
        "that any number of workers (here, a Slurm array, Dask) share one campaign. "
        "A line whose runs train in bf16 is skipped where bf16 is not native. With "
        "--detach: check the campaign, restore the stash and start the worker in "
        "the background from a frozen copy of HEAD (.campaign/<commit>), logging to "
        "logs/. See docs/WORKERS.md.",
    )
    _add_campaign_options(w, "campaigns/fig6-short.txt")
    _add_results_option(w)
    w.add_argument("--figures", default="figures", help="where plots go (default: ./figures)")
    _add_data_dir_option(w)
    w.add_argument(
        "--detach",
        action="store_true",
        help="start it in the background from a frozen copy of the code",
    )
    w.add_argument(
        "--threads", type=int, default=1, help="threads of a detached worker (default: 1)"
    )

    e = commands.add_parser(
        "export",
        help="write a finished run's subnetwork as a plain PyTorch state dict",
        description="Fold every mask into its weight and write the state dict of the unmasked "
        "architecture (plus the config and kept count) to OUT; it loads with "
        "torch.load(OUT, weights_only=True) without this package.",
    )
    e.add_argument(
        "run_dir", help="the run's directory, results/runs/<model>-<method>-<hash>-<data>"
    )
    e.add_argument("out", help="file to write, e.g. subnetwork.pt (outside results/runs/)")
    e.add_argument("--force", action="store_true", help="replace OUT if it exists")

    v = commands.add_parser(
        "verify",
        help="recompute a run's test accuracy from its committed mask, no training",
        description="Rebuild each run's network from its config and seed, apply its committed "
        "mask.npz, evaluate the test set in the run's precision, and print the "
        "recorded and recomputed accuracy with the number of test images that "
        "differ (the change in the correct count). Exit 1 when a run differs by more "
        "than --tolerance images or its mask keeps another count than its record; "
        "exit 2, before evaluating anything, when a mask does not fit its run.",
    )
    v.add_argument(
        "run_dirs",
        nargs="+",
        metavar="RUN_DIR",
        help="run directories, results/runs/<model>-<method>-<hash>-<data>",
    )
    _add_data_dir_option(v)
    v.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    v.add_argument(
        "--tolerance",
        type=int,
        default=0,
        help="test images a run may differ by (default: 0, the machine kind that trained it)",
    )

    r = commands.add_parser(
        "redraw",
        help="redraw every figure whose grid holds these runs, training nothing",
        description="Find every figure, at profiles short and paper, whose grid holds one of "
        "the runs, and run its notebook without training, so that its CSVs and plots match "
        "the store (a run can belong to several figures: make land calls this on the runs "
        "it adds). Exit 2 for a directory that is not a run's; exit 1 if a notebook fails.",
    )
    r.add_argument(
        "run_dirs",
        nargs="+",
        metavar="RUN_DIR",
        help="run directories, results/runs/<model>-<method>-<hash>-<data>",
    )
    _add_results_option(r)
    r.add_argument("--figures", default="figures", help="where plots go (default: ./figures)")
    _add_data_dir_option(r, ", whose fingerprint ends the runs' names (nothing trains)")

    m = commands.add_parser(
        "masks",
        help="write mask.npz for finished runs that have their model.pt",
        description="For every finished masked run with a model.pt (trained before runs wrote "
        "their masks), write its mask.npz beside result.json. Runs whose mask is "
        "already there are left as they are. With --retrain, a run without model.pt is trained "
        "again in a scratch store (training is deterministic) and its mask is written only when "
        "every epoch's loss and accuracies equal its record's.",
    )
    m.add_argument(
        "run_dirs",
        nargs="*",
        metavar="RUN_DIR",
        help="run directories (default: every run under RESULTS/runs)",
    )
    _add_results_option(m)
    m.add_argument(
        "--retrain",
        action="store_true",
        help="retrain the runs that lack model.pt (hours each on a CPU; resumable)",
    )
    m.add_argument(
        "--scratch",
        default=None,
        help="where retrained runs go (default: $SUPERMASK_CACHE/retrain)",
    )
    _add_data_dir_option(m, ", for --retrain")
    m.add_argument("--device", default="cpu", help="where --retrain trains (default: cpu)")
    m.add_argument(
        "--any-device",
        action="store_true",
        help="retrain a run here even if another kind of device trained it (its epochs then "
        "differ, from the first in bf16, and no mask is written: a measurement only)",
    )
    return parser


def _verify(parser: argparse.ArgumentParser, args) -> int:
    from .data.cifar10 import cifar10_identity
    from .runs.subnetwork import MASK, MaskError, mask_shapes, read_mask
    from .runs.verify import read_run, verify_run
    from .training.loop import build

    if args.tolerance < 0:
        parser.error(f"--tolerance must be >= 0 images, got {args.tolerance}")
    try:
        device = resolve_device(args.device)
        for run_dir in args.run_dirs:  # every mask checked before anything is evaluated
            config, result = read_run(run_dir)
            read_mask(
                Path(run_dir) / MASK, config, mask_shapes(build(config)), result.get("mask_sha256")
            )
        data_dir = args.data_dir if args.data_dir is not None else default_data_dir()
        _, test_data = load_cifar10(data_dir, progress=False)
        fingerprint = cifar10_identity(data_dir, progress=False).fingerprint
    except (MaskError, ValueError, DataNotFoundError) as error:
        parser.error(str(error))
    print(
        f"{'run':62} {'recorded':>9} {'recomputed':>10} {'differ':>6} {'kept':>9}  trained on "
        "-> verified on"
    )
    failed = 0
    for run_dir in args.run_dirs:
        try:
            check = verify_run(run_dir, test_data, device, fingerprint)
        except MaskError as error:
            parser.error(str(error))
        kept = (
            "ok"
            if check.kept_mask == check.kept_recorded
            else (f"{check.kept_mask - check.kept_recorded:+d}")
        )
        print(
            f"{check.run:62} {100 * check.recorded:8.2f}% {100 * check.recomputed:9.2f}% "
            f"{check.differ:6d} {kept:>9}  {check.trained_on} -> {check.device}"
        )
        failed += not check.passes(args.tolerance)
    if failed:
        print(
            f"{parser.prog} verify: {failed} of {len(args.run_dirs)} runs differ from their "
            f"record by more than {args.tolerance} images or in their kept count",
            file=sys.stderr,
        )
        return 1
    return 0


def _masks(parser: argparse.ArgumentParser, args) -> int:
    if args.retrain and not args.run_dirs:
        parser.error("--retrain needs the RUN_DIRs to train again (hours each on a CPU)")
    from .runs.records import MODEL, read_model
    from .runs.subnetwork import MASK, MaskError, mask_shapes, read_mask, write_run_mask
    from .runs.verify import read_run
    from .training.loop import build

    runs = args.run_dirs or sorted(
        p.parent for p in (Path(_results_dir(args)) / "runs").glob("*/result.json")
    )
    written = present = 0
    absent = []
    for run_dir in map(Path, runs):
        try:
            config, result = read_run(run_dir)
        except MaskError as error:
            if args.run_dirs:
                parser.error(str(error))
            continue  # a diverged run, or a damaged record: no subnetwork to write
        model = build(config)
        if not mask_shapes(model):
            continue  # dense: no mask
        try:
            read_mask(run_dir / MASK, config, mask_shapes(model), result.get("mask_sha256"))
            present += 1
            continue
        except MaskError:
            pass  # none yet, or not this run's: written anew from model.pt
        source, record = run_dir, result
        if not (run_dir / MODEL).is_file():
            if not args.retrain:
                absent.append(run_dir.name)
                continue
            retrained = _retrain(config, result, args)
            if retrained is None:
                absent.append(run_dir.name)
                continue
            source, record = retrained
        try:
            model.load_state_dict(read_model(source / MODEL, record))
        except Exception as error:  # truncated, or not this run's
            parser.error(f"{source}/{MODEL} does not load into its run ({error})")
        if write_run_mask(run_dir, model, config) is not None:
            written += 1
            print(f"{run_dir / MASK}: {(run_dir / MASK).stat().st_size / 1024:.0f} KiB")
    print(
        f"{written} masks written, {present} already there, {len(absent)} masked runs "
        f"without model.pt" + ("" if args.retrain else " (--retrain gets their masks)"),
        file=sys.stderr,
    )
    return 0


def _history(result: dict) -> list[tuple]:
    keys = ("epoch", "loss", "train_acc", "test_acc")
    return [tuple(entry.get(key) for key in keys) for entry in result.get("history", [])]


def _retrain(config, result: dict, args) -> tuple[Path, dict] | None:
    """Train ``config`` again in the scratch store; its run folder and record when every
    epoch equals the committed ``result``'s (the same subnetwork), else None (said why)."""
    from .data.cifar10 import default_cache_dir
    from .provenance import device_name
    from .runs import sweep

    here = device_name(resolve_device(args.device))
    if result.get("device") != here and not args.any_device:
        print(
            f"{config.name}: trained on {result.get('device')}, this is {here}: training does "
            "not repeat across devices, so it is left for one like the first (or give "
            "--any-device)",
            file=sys.stderr,
        )
        return None
    scratch = Path(args.scratch) if args.scratch else default_cache_dir() / "retrain"
    retrained = sweep.run(config, scratch, args.data_dir, args.device, progress=False)
    if retrained is None:
        return None
    retrained = json.loads(json.dumps(retrained))  # as the record stores it
    old, new = _history(result), _history(retrained)
    recorded, again = 100 * result["test_acc"], 100 * retrained["test_acc"]
    if old != new:
        first = next((a[0] for a, b in zip(old, new) if a != b), min(len(old), len(new)) + 1)
        print(
            f"{config.name}: retrained {again:.2f}% against the recorded {recorded:.2f}%, "
            f"epoch {first} differs ({retrained.get('device')} against {result.get('device')}): "
            "not the committed subnetwork, no mask written",
            file=sys.stderr,
        )
        return None
    print(
        f"{config.name}: retrained {again:.2f}% = recorded {recorded:.2f}%, all {len(new)} "
        f"epochs equal ({retrained.get('device')}; recorded on {result.get('device')})",
        file=sys.stderr,
    )
    return sweep.store_for(scratch, args.data_dir, progress=False).run_dir(config), retrained


def _export(parser: argparse.ArgumentParser, args) -> int:
    from .runs.export import ExportError, export_run

    try:
        summary = export_run(args.run_dir, args.out, force=args.force)
    except ExportError as error:
        parser.error(str(error))
    acc = summary["test_acc"]
    print(
        f"{args.out}: {summary['architecture']['model']} width {summary['architecture']['width']}"
        f", {summary['kept']}/{summary['total']} weights kept, test accuracy "
        f"{'not recorded' if acc is None else f'{acc:.4f}'}"
    )
    return 0


def _imagenet(parser: argparse.ArgumentParser, args) -> int:
    from .data.imagenet import find_imagenet
    from .runs.imagenet import train_imagenet

    try:
        if args.config is not None:
            try:
                config = RunConfig.from_dict(json.loads(args.config))
            except (json.JSONDecodeError, TypeError) as error:
                raise ValueError(f"--config must be a RunConfig as JSON ({error})") from None
            if config.dataset != "imagenet":
                raise ValueError(f"--config is a {config.dataset} run, not an imagenet one")
        else:
            config = _config_from(args, _IMAGENET_OPTIONS, dataset="imagenet")
        resolve_device(args.device)
        check_writable_dir(_results_dir(args), "--results")
        find_imagenet(args.imagenet_dir)
        if args.workers < 0 or args.accumulate < 1:
            raise ValueError("--workers must be >= 0 and --accumulate >= 1")
    except (ValueError, DataNotFoundError) as error:
        parser.error(str(error))
    logging.basicConfig(
        level=logging.WARNING if args.json else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        result = train_imagenet(
            config,
            args.imagenet_dir,
            _results_dir(args),
            device=args.device,
            workers=args.workers,
            accumulate=args.accumulate,
            progress=not args.no_progress,
        )
    except WriteError as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 1
    if result is not None:
        if args.json:
            print(
                json.dumps(
                    {key: result.get(key) for key in _SUMMARY_KEYS}
                    | {"hash": result["hash"], "config": result["config"]}
                )
            )
        else:
            print(
                f"{config.name}: {result['status']}, top-1 {result['test_acc']}, kept "
                f"{result['kept']}/{result['total']}, {result['wall_s']:.1f} s"
            )
    return 0


def _status(parser: argparse.ArgumentParser, args) -> int:
    from .runs.store import RunStore

    root = _results_dir(args)
    if not (Path(root) / "runs").is_dir():
        parser.error(f"--results {root} holds no runs/ directory")
    for row in RunStore(root).progress():
        if args.only_unfinished and row["state"] != "unfinished":
            continue
        acc = "" if row["test_acc"] is None else f"test {100 * row['test_acc']:.1f}%"
        done = f"epoch {row['epoch']}/{row['epochs'] or '?'}"
        left = ""
        per_epoch = row["seconds_per_epoch"]  # its latest epochs
        if row["state"] == "unfinished" and row["epochs"] and per_epoch:
            left = (
                f"~{(row['epochs'] - row['epoch']) * per_epoch / 3600:.1f} h left at "
                f"{per_epoch:.0f} s/epoch"
            )
        holder = f"trained now by {row['holder']}" if row["holder"] else row.get("note", "")
        print(f"{row['run']:60} {row['state']:10} {done:14} {acc:12} {left:30} {holder}".rstrip())
    return 0


def _campaign(parser: argparse.ArgumentParser, args) -> int:
    from . import worker
    from .runs.campaign import campaign_table, read_campaign, resolve_profile, to_markdown

    root = _results_dir(args)
    try:
        runs = read_campaign(args.file)
        args.profile = resolve_profile(args.file, args.profile)
    except ValueError as error:
        parser.error(str(error))
    if args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    profile = get_profile(args.profile)
    try:  # the store of the runs' data, where their checkpoints are
        store = store_for(root, args.data_dir, progress=False)
    except (DataNotFoundError, ValueError) as error:
        if args.data_dir is not None:
            parser.error(f"--data-dir {args.data_dir}: {str(error).splitlines()[0]}")
        store = None  # the table needs no data; only the estimate does
    try:
        lines = worker.campaign_lines(args.file, profile.name, root, args.data_dir)
        if args.runs_file is not None:
            check_writable_dir(Path(args.runs_file).parent, "--runs-file")
    except ValueError as error:
        parser.error(str(error))
    if args.runs_file is not None:
        configs = dict.fromkeys(c for _, configs in lines for c in configs)
        todo = [c for c in configs if store is None or store.result(c) is None]
        Path(args.runs_file).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(
            "".join(
                f"{profile.name} {json.dumps(c.to_dict(), sort_keys=True)}\n" for c in todo
            ).encode(),
            args.runs_file,
        )
        print(f"{len(todo)} unfinished runs written to {args.runs_file}", file=sys.stderr)
    print(to_markdown(campaign_table(runs, root, profile)))
    print(
        _campaign_cost(
            Path(args.file).stem,
            [c for _, configs in lines for c in configs],
            profile,
            store,
            args.threads,
        ),
        file=sys.stderr,
    )
    return 0


def _worker(parser: argparse.ArgumentParser, args) -> int:
    from . import worker
    from .runs.campaign import resolve_profile

    if args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    root = _results_dir(args)
    data_dir = args.data_dir if args.data_dir is not None else default_data_dir()
    try:
        args.profile = resolve_profile(args.file, args.profile)
    except ValueError as error:
        parser.error(str(error))
    if not args.detach:
        try:
            return worker.work(args.file, args.profile, root, args.figures, data_dir)
        except ValueError as error:
            parser.error(str(error))
    try:
        lines = worker.campaign_lines(args.file, args.profile, root, data_dir)
        check_writable_dir(root, "--results")
    except ValueError as error:
        parser.error(str(error))
    try:
        store = store_for(root, data_dir, progress=False)
    except (DataNotFoundError, ValueError) as error:
        parser.error(f"--data-dir {data_dir}: {str(error).splitlines()[0]}")
    commit, log, restored = worker.start(
        args.file, args.profile, root, args.figures, data_dir, args.threads
    )
    for name in restored:
        print(f"restored the checkpoint of {name} from the stash")
    print(
        _campaign_cost(
            Path(args.file).stem,
            [c for _, configs in lines for c in configs],
            get_profile(args.profile),
            store,
            args.threads,
        )
    )
    print(f"campaign worker started on code {commit}; follow it with: tail -f {log}")
    return 0


def _campaign_cost(name: str, configs, profile, store, threads: int) -> str:
    """One line: the campaign's runs in the store, those left and what they cost one worker of
    ``threads`` threads at the speed this machine measured."""
    from .provenance import device_name
    from .runs.progress import SweepProgress

    title = f"{name} ({profile.name})"
    if store is None:
        return f"{title}: {len(configs)} runs; no time estimate without the data (give --data-dir)"
    progress = SweepProgress(
        title,
        list(dict.fromkeys(configs)),
        store,
        device_name(resolve_device("auto"), threads),
        write=None,
        bar=False,
    )
    return progress.plan()


def _bench(parser: argparse.ArgumentParser, args) -> int:
    from .training.bench import format_report, run_benchmark

    for name in ("repeats", "batch_size", "imagenet_batch_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    try:
        resolve_device(args.device)
        check_writable_dir(args.out, "--out")
    except ValueError as error:
        parser.error(str(error))

    report = run_benchmark(
        models=tuple(args.models),
        batch_size=args.batch_size,
        imagenet_batch_size=args.imagenet_batch_size,
        repeats=args.repeats,
        device=args.device,
        out_dir=args.out,
    )
    print(json.dumps(report) if args.json else format_report(report))
    return 0


def _redraw(parser: argparse.ArgumentParser, args) -> int:
    from .notebooks.redraw import read_hashes, redraw_holding

    try:
        hashes = read_hashes(args.run_dirs)
    except ValueError as error:
        parser.error(str(error))
    done = redraw_holding(hashes, _results_dir(args), args.figures, args.data_dir)
    if not done:
        print("redraw: no figure's grid holds these runs; nothing redrawn")
    for figure, profile, error in done:
        print(f"redraw: {figure} at {profile} " + (f"failed: {error}" if error else "redrawn"))
    return 1 if any(error for *_, error in done) else 0


_SUBCOMMANDS = {
    "bench": _bench,
    "export": _export,
    "verify": _verify,
    "masks": _masks,
    "redraw": _redraw,
    "imagenet": _imagenet,
    "status": _status,
    "campaign": _campaign,
    "worker": _worker,
}  # "train" is main's own


@entry_point("python -m supermask")
def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    subcommand = _SUBCOMMANDS.get(args.command)
    if subcommand is not None:
        return subcommand(parser, args)
    logging.basicConfig(
        level=logging.INFO if not args.json else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        config = _config_from(args, _TRAIN_OPTIONS)
        resolve_device(args.device)
    except ValueError as error:
        parser.error(str(error))
    data_dir = args.data_dir if args.data_dir is not None else default_data_dir()
    try:  # everything checked before a run directory exists
        check_writable_dir(_results_dir(args), "--results")
        train_data, test_data = load_cifar10(
            data_dir, download=args.download, progress=not args.no_progress
        )
        check_data_fits(config, train_data, test_data)
    except (ValueError, DataNotFoundError) as error:
        parser.error(str(error))

    try:
        result = run(
            config,
            results_dir=args.results,
            data_dir=data_dir,
            device=args.device,
            progress=not args.no_progress,
            download=args.download,
        )
    except StoreError as error:
        parser.error(str(error))
    except WriteError as error:  # the disk filled up: one line; the last checkpoint is kept
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(
            json.dumps(
                {key: result.get(key) for key in _SUMMARY_KEYS}
                | {"hash": result["hash"], "config": result["config"]}
            )
        )
    else:
        acc = result["test_acc"]
        print(
            f"{config.name}: {result['status']}, test accuracy "
            f"{'n/a' if acc is None else f'{acc:.4f}'}, kept {result['kept']}/{result['total']}, "
            f"{result['wall_s']:.1f} s, {result['run_dir']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
