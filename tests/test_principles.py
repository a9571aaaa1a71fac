"""Every file proven to be what it claims before it is used, paths confined, one error boundary
per entry point: one table-driven section per principle, each case one way a file, a path or a
value can lie."""

import errno
import io
import json
import os
import socket
import subprocess
import sys
import tarfile

import pytest
import torch

from supermask.boundary import describe, exit_status
from supermask.config import RunConfig
from supermask.data.cifar10 import ImageTensors, _image_files, _tree_key, duplicates_across
from supermask.files import DigestError, atomic_write_json, check_digest, file_digest
from supermask.notebooks.run import parse
from supermask.runs import offload
from supermask.runs.export import ExportError, export_run
from supermask.runs.parameters import check_figure_parameters
from supermask.runs.records import check_record, parse_result, read_model
from supermask.runs.speeds import measured_speeds, one_thread_cpu_speeds
from supermask.runs.store import RunStore, StoreError
from supermask.training.checkpoint import Clock, restore_checkpoint, write_checkpoint
from supermask.training.loop import build
from supermask.training.methods import get_method

from conftest import REPO, make_image_folder, one_epoch, supermask

CONFIG = RunConfig(model="conv2", width=0.25, k=0.5, epochs=2, batch_size=32)
OTHER = RunConfig(model="conv2", width=0.25, k=0.5, epochs=2, batch_size=32, seed=1)
FP = "a" * 64


def _record(**overrides) -> dict:
    record = {
        "hash": CONFIG.hash,
        "config": CONFIG.to_dict(),
        "status": "finished",
        "test_acc": 0.5,
        "epochs_run": 2,
        "wall_s": 4.0,
        "epoch_s": [2.0, 2.0],
        "sittings": [{"from_epoch": 0, "device": "cpu: x"}],
        "data_fingerprint": FP,
    }
    for key, value in overrides.items():
        if value is _DROP:
            record.pop(key)
        else:
            record[key] = value
    return record


_DROP = object()

# ---- 1. Bind every artifact to its identity and check it on read ---------------------------

DAMAGED_RECORDS = {
    "status unknown": {"status": "done"},
    "status none": {"status": None},
    "status failed": {"status": "failed"},
    "config of another run": {"config": OTHER.to_dict()},
    "hash of another run": {"hash": OTHER.hash},
    "no config": {"config": _DROP},
    "config not a dict": {"config": "conv2"},
    "config with unknown field": {"config": {**CONFIG.to_dict(), "colour": 1}},
    "hash not text": {"hash": 5},
    "sittings of empty dicts": {"sittings": [{}]},
    "sittings not a list": {"sittings": "cpu"},
    "sitting without device": {"sittings": [{"from_epoch": 0}]},
    "sitting with text epoch": {"sittings": [{"from_epoch": "0", "device": None}]},
    "sitting with negative epoch": {"sittings": [{"from_epoch": -1, "device": None}]},
    "sitting with numeric device": {"sittings": [{"from_epoch": 0, "device": 3}]},
    "epoch_s text": {"epoch_s": "12"},
    "epoch_s of text": {"epoch_s": ["12"]},
    "test_acc text": {"test_acc": "0.5"},
    "test_acc bool": {"test_acc": True},
    "wall_s list": {"wall_s": [1]},
    "epochs_run text": {"epochs_run": "2"},
    "kept text": {"kept": "10"},
    "model digest short": {"model_sha256": "abc"},
    "model digest number": {"model_sha256": 5},
}


@pytest.mark.parametrize("damage", DAMAGED_RECORDS.values(), ids=DAMAGED_RECORDS.keys())
def test_a_record_that_is_not_what_it_claims_is_refused(damage):
    with pytest.raises(ValueError):
        parse_result(_record(**damage))


@pytest.mark.parametrize(
    "damage", list(DAMAGED_RECORDS.values())[:10], ids=list(DAMAGED_RECORDS)[:10]
)
def test_the_store_serves_no_damaged_record(tmp_path, damage):
    store = RunStore(tmp_path)
    run_dir = store.start(CONFIG)
    (run_dir / "result.json").write_text(json.dumps(_record(**damage, data_fingerprint=_DROP)))
    assert store.result(CONFIG) is None


def test_a_committed_record_without_digests_still_reads():
    record = _record()
    assert parse_result(record) is record  # no model_sha256: not recorded, not damage


@pytest.mark.parametrize(
    "name, fingerprint",
    [
        (f"{CONFIG.name}-bbbbbbbbbbbb", FP),  # trained on other data than its folder names
        (f"{CONFIG.name}-aaaaaaaaaaaa", "b" * 64),
        (f"{CONFIG.name}-aaaaaaaaaaaa", 5),
    ],
)
def test_a_record_in_a_folder_of_other_data_is_refused(name, fingerprint):
    with pytest.raises(ValueError, match="data"):
        check_record(name, CONFIG, _record(data_fingerprint=fingerprint))


def _model_file(tmp_path, obj, name="model.pt"):
    path = tmp_path / name
    torch.save(obj, path)
    return path


@pytest.mark.parametrize("kind", ["other digest", "link", "list", "dict of ints", "text"])
def test_a_model_file_that_is_not_the_runs_state_dict_is_refused(tmp_path, kind):
    state = build(CONFIG).state_dict()
    if kind == "other digest":
        path = _model_file(tmp_path, state)
        record = _record(model_sha256="0" * 64)
    elif kind == "link":
        real = _model_file(tmp_path, state, "elsewhere.pt")
        path = tmp_path / "model.pt"
        path.symlink_to(real)
        record = _record()
    else:
        path = _model_file(
            tmp_path, {"list": [1, 2], "dict of ints": {"a": 1}, "text": "weights"}[kind]
        )
        record = _record()
    with pytest.raises(ValueError):
        read_model(path, record)


def test_the_recorded_digest_passes_the_model_it_names(tmp_path):
    path = _model_file(tmp_path, build(CONFIG).state_dict())
    assert read_model(path, _record(model_sha256=file_digest(path)))


def _optimizers(model, config):
    return get_method(config.method).optimizers(model, config, 4, 0)


@pytest.mark.parametrize(
    "identity, data",
    [
        ({"hash": OTHER.hash, "data_fingerprint": FP}, FP),  # another seed's checkpoint planted
        ({"hash": CONFIG.hash, "data_fingerprint": "b" * 64}, FP),  # trained on other data
        ("conv2", FP),
    ],
)
def test_a_checkpoint_of_another_run_or_data_is_not_resumed(tmp_path, identity, data):
    model = build(CONFIG)
    optimizers = _optimizers(model, CONFIG)
    path = tmp_path / "checkpoint.pt"
    write_checkpoint(
        path, 1, model, optimizers, Clock(), [{"epoch": 1}], torch.device("cpu"), identity=identity
    )
    state = torch.load(path, weights_only=True)
    with pytest.raises(ValueError):
        restore_checkpoint(
            state,
            build(CONFIG),
            _optimizers(build(CONFIG), CONFIG),
            CONFIG,
            torch.device("cpu"),
            data,
        )


# ---- 2. Confine paths and file types --------------------------------------------------------


def _linked_run(tmp_path):
    store = RunStore(tmp_path)
    other = store.start(OTHER)
    (other / "model.pt").write_bytes(b"run A's model")
    store.runs.mkdir(exist_ok=True)
    store.run_dir(CONFIG).symlink_to(other)
    return store, other


@pytest.mark.parametrize("step", ["check_writable", "start", "claim", "save_result"])
def test_a_run_folder_that_is_a_link_is_refused(tmp_path, step):
    store, other = _linked_run(tmp_path)
    with pytest.raises(StoreError, match="symbolic link"):
        if step == "claim":
            with store.claim(CONFIG):
                pass
        elif step == "save_result":
            store.save_result(CONFIG, _record())
        else:
            getattr(store, step)(CONFIG)
    assert (other / "model.pt").read_bytes() == b"run A's model"
    assert not (other / "result.json").exists()


def test_a_linked_run_folder_serves_no_result(tmp_path):
    store, other = _linked_run(tmp_path)
    (other / "result.json").write_text(json.dumps(_record(data_fingerprint=_DROP)))
    assert store.result(CONFIG) is None


def test_results_given_as_an_empty_path_are_refused(tmp_path):
    with pytest.raises(StoreError, match="empty"):
        RunStore("")


def _finished_run(tmp_path) -> "os.PathLike":
    store = RunStore(tmp_path / "store")
    run_dir = store.start(CONFIG)
    torch.save(build(CONFIG).state_dict(), run_dir / "model.pt")
    (run_dir / "result.json").write_text(
        json.dumps(_record(data_fingerprint=_DROP, model_sha256=file_digest(run_dir / "model.pt")))
    )
    return run_dir


@pytest.mark.parametrize("target", ["fifo", "other store", "run folder", "linked run"])
def test_export_writes_nowhere_it_should_not(tmp_path, target):
    run_dir = _finished_run(tmp_path)
    if target == "fifo":
        out = tmp_path / "pipe"
        os.mkfifo(out)
    elif target == "other store":
        other = RunStore(tmp_path / "other").start(OTHER)
        out = other.parent / "subnetwork.pt"
    elif target == "run folder":
        out = RunStore(tmp_path / "other").start(OTHER) / "sub" / "x.pt"
    else:
        (tmp_path / "linked").symlink_to(run_dir)
        run_dir, out = tmp_path / "linked", tmp_path / "x.pt"
    with pytest.raises(ExportError):
        export_run(run_dir, out)


def test_export_refuses_a_replaced_model(tmp_path):
    run_dir = _finished_run(tmp_path)
    torch.save(build(OTHER).state_dict(), run_dir / "model.pt")  # same shapes, other run
    with pytest.raises(ExportError, match="not the file its record names"):
        export_run(run_dir, tmp_path / "x.pt")
    assert not (tmp_path / "x.pt").exists()


def _bundle(tmp_path, index, blob=b"0123456789"):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "cifar10-index.json").write_text(json.dumps(index))
    (bundle / "cifar10.bin").write_bytes(blob)
    return bundle


@pytest.mark.parametrize(
    "index",
    [
        [["/tmp/escaped", 10]],
        [["../escaped", 10]],
        [["train/../../escaped", 10]],
        [["elsewhere/x.png", 10]],
        [["train/cat/x.png", "10"]],
        [["train/cat/x.png", True]],
        [["train/cat/x.png", -1], ["train/cat/y.png", 11]],
        [["train/cat/x.png", 4]],  # the sizes do not add up to the blob
        [["train/cat/x.png"]],
        {"train/cat/x.png": 10},
    ],
)
def test_an_index_path_outside_the_data_folder_writes_nothing(tmp_path, index):
    bundle = _bundle(tmp_path, index)
    root = tmp_path / "work" / "data"
    with pytest.raises(offload.OffloadError):
        offload._unpack_data(bundle, root)
    assert not root.exists() and not (tmp_path / "escaped").exists()


def _archive(tmp_path, members: dict[str, bytes], links=()):
    path = tmp_path / "runs.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in links:
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return path


def _whole(config=CONFIG, fingerprint=FP):
    name = f"{config.name}-{fingerprint[:12]}"
    record = {
        **_record(),
        "hash": config.hash,
        "config": config.to_dict(),
        "data_fingerprint": fingerprint,
    }
    return name, {
        f"{name}/config.json": json.dumps(
            {"hash": config.hash, "config": config.to_dict()}
        ).encode(),
        f"{name}/result.json": json.dumps(record).encode(),
    }


@pytest.mark.parametrize(
    "extra",
    [
        {"../evil/config.json": b"{}"},
        {"/abs/config.json": b"{}"},
        {"NAME/model.pt": b"weights"},
        {"NAME/../config.json": b"{}"},
        {"NAME/sub/result.json": b"{}"},
    ],
)
def test_land_refuses_members_that_are_no_run_record(tmp_path, extra):
    name, members = _whole()
    members.update({key.replace("NAME", name): value for key, value in extra.items()})
    with pytest.raises(offload.OffloadError, match="nothing landed"):
        offload.land(_archive(tmp_path, members), tmp_path / "home")
    assert not (tmp_path / "home").exists()


def test_land_refuses_a_link_member(tmp_path):
    name, members = _whole()
    archive = _archive(tmp_path, members, links=[(f"{name}/model.pt", "/etc/passwd")])
    with pytest.raises(offload.OffloadError, match="nothing landed"):
        offload.land(archive, tmp_path / "home")


def _class_tree(tmp_path):
    root = make_image_folder(tmp_path / "cifar10", 2, 1)
    return root


@pytest.mark.parametrize(
    "plant",
    [
        "loop to class",
        "loop to split",
        "link to other class",
        "fifo",
        "link to a file of another class",
    ],
)
def test_the_data_walk_reads_each_image_once_and_regular_files_only(tmp_path, plant):
    root = _class_tree(tmp_path)
    before = _image_files(root / "train")
    cat = root / "train" / "cat"
    if plant == "loop to class":
        (cat / "loop").symlink_to("..")
    elif plant == "loop to split":
        (cat / "loop").symlink_to(root / "train")
    elif plant == "link to other class":
        (cat / "dogs").symlink_to(root / "train" / "dog")
    elif plant == "fifo":
        os.mkfifo(cat / "9999.png")
    else:
        (cat / "9998.png").symlink_to(root / "train" / "dog" / "0000.png")
    assert _image_files(root / "train") == before


# ---- 3. One error boundary per entry point --------------------------------------------------


class _CarriesErrno(Exception):  # as zmq.ZMQError does
    def __init__(self, number):
        super().__init__(os.strerror(number))
        self.errno = number


def _chained(inner):
    try:
        raise inner
    except BaseException as error:
        wrapped = RuntimeError("[enforce fail at inline_container.cc] PytorchStreamWriter failed")
        wrapped.__cause__ = error
        return wrapped


BOUNDARY = [
    (OSError(errno.ENOSPC, "No space left on device", "/r/x"), 1, "no space"),
    (OSError(errno.EROFS, "Read-only file system", "/r/x"), 1, "read-only"),
    (OSError(errno.EFBIG, "File too large", "/r/x"), 1, "file-size limit"),
    (OSError(errno.EMFILE, "Too many open files"), 1, "too many open files"),
    (OSError(errno.EDQUOT, "Disk quota exceeded", "/r/x"), 1, "quota"),
    (OSError(errno.EACCES, "Permission denied", "/r/x"), 1, "/r/x"),
    (OSError(errno.EIO, "Input/output error", "/r/x"), 1, "input/output"),
    (OSError(errno.ENAMETOOLONG, "File name too long", "/" + "a" * 5000), 2, "..."),
    (OSError(errno.ENOENT, "No such file or directory", "/r/x"), 2, "/r/x"),
    (OSError(errno.ENOTDIR, "Not a directory", "/r/x"), 2, "/r/x"),
    (OSError(errno.EISDIR, "Is a directory", "/r/x"), 2, "/r/x"),
    (OSError(errno.ELOOP, "Too many levels of symbolic links", "/r/x"), 2, "/r/x"),
    (MemoryError(), 1, "out of memory"),
    (RuntimeError("[enforce fail] DefaultCPUAllocator: can't allocate memory"), 1, "out of memory"),
    (_CarriesErrno(errno.EMFILE), 1, "too many open files"),
    (_chained(OSError(errno.EFBIG, "File too large")), 1, "file-size limit"),
    (_chained(OSError(errno.ENOSPC, "No space left on device")), 1, "no space"),
    (ValueError("k=1.5 is not in (0, 1]"), 2, "k=1.5"),
]


@pytest.mark.parametrize(
    "error, status, named",
    BOUNDARY,
    ids=[f"{type(e).__name__}-{getattr(e, 'errno', '')}" for e, _, _ in BOUNDARY],
)
def test_the_boundary_turns_each_failure_into_one_line_and_its_status(error, status, named):
    line = describe(error)
    assert exit_status(error) == status
    assert "\n" not in line and named in line.lower() if named.islower() else named in line


def _cli(*argv) -> subprocess.CompletedProcess:
    return supermask(*argv, cwd=REPO, timeout=120, env={"PYTHONPATH": REPO / "lib"})


@pytest.mark.parametrize(
    "argv, code, named",
    [
        (["status", "--results", "/" + "d" * 5000], 2, None),
        (["export", "/" + "d" * 5000, "x.pt"], 2, None),
        (["masks", "--results", "/" + "d" * 5000], 2, None),
    ],
)
def test_an_over_long_path_is_one_line(argv, code, named):
    done = _cli(*argv)
    assert done.returncode == code and "Traceback" not in done.stderr


def test_train_into_an_empty_results_path_is_refused(tmp_path, tiny_data_dir):
    done = supermask(
        *one_epoch(tiny_data_dir, "", "--width", 0.25),
        cwd=tmp_path,
        timeout=300,
        env={"PYTHONPATH": REPO / "lib"},
    )
    assert done.returncode == 2 and not (tmp_path / "runs").exists()


# ---- 4. Validate at the boundary with the consumer's own checks ----------------------------

DECLARED = {
    "profile": '"short"',
    "seeds": "None",
    "data_dir": "None",
    "train": "True",
    "only": "None",
    "results_dir": '"../results"',
}


@pytest.mark.parametrize(
    "key, value, typed",
    [
        ("data_dir", "5", "5"),
        ("data_dir", "", ""),
        ("seeds", "[0, 1]", [0, 1]),
        ("seeds", "[0]", [0]),
        ("profile", "5", "5"),
        ("results_dir", "True", "True"),
        ("train", "False", False),
    ],
)
def test_notebook_parameters_are_typed_by_the_notebook(key, value, typed):
    *_, parameters = parse(["fig3", "nb.ipynb", "out.ipynb", "-p", key, value], DECLARED)
    assert parameters == {key: typed}


@pytest.mark.parametrize("key", ["profiel", "seed", "datadir", "Profile"])
def test_an_unknown_notebook_parameter_is_refused(key):
    with pytest.raises(ValueError, match=f"unknown parameter '{key}'.*valid: profile"):
        parse(["fig3", "nb.ipynb", "out.ipynb", "-p", key, "smoke"], DECLARED)


@pytest.mark.parametrize(
    "fields",
    [
        {"data_dir": 5},
        {"data_dir": ""},
        {"data_dir": "  "},
        {"data_dir": True},
        {"profile": 5},
        {"device": True},
        {"device": ""},
    ],
)
def test_figure_parameters_of_the_wrong_type_are_refused(tmp_path, fields):
    given = {
        "profile": "smoke",
        "seeds": None,
        "data_dir": None,
        "device": "cpu",
        "train": False,
        **fields,
    }
    with pytest.raises(ValueError):
        check_figure_parameters(**given)


@pytest.mark.parametrize(
    "manifest",
    [
        {"runs": [{**CONFIG.to_dict(), "k": 1.5}]},
        {"runs": [{**CONFIG.to_dict(), "model": "conv99"}]},
        {"runs": [{**CONFIG.to_dict(), "colour": "red"}]},
        {"runs": ["conv2"]},
        {"runs": "conv2"},
        {"data_fingerprint": "abc"},
        {"commit": None},
        [],
    ],
)
def test_a_manifest_is_checked_before_anything_starts(tmp_path, manifest):
    whole = {"commit": "c0ffee", "data_fingerprint": FP, "runs": [CONFIG.to_dict()]}
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "manifest.json").write_text(
        json.dumps({**whole, **manifest} if isinstance(manifest, dict) else manifest)
    )
    with pytest.raises(offload.OffloadError):
        offload.train(
            bundle,
            tmp_path / "out",
            device="cpu",
            workers=1,
            deadline_s=5,
            work_dir=tmp_path / "work",
        )
    assert not (tmp_path / "work").exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "workers, deadline", [(1, float("nan")), (1, float("inf")), (1, 0), (1, -5), (0, 5), (True, 5)]
)
def test_offload_deadlines_and_workers_are_checked_first(tmp_path, workers, deadline):
    with pytest.raises(offload.OffloadError):
        offload.train(
            tmp_path / "none",
            tmp_path / "out",
            workers=workers,
            deadline_s=deadline,
            work_dir=tmp_path / "work",
        )
    assert not (tmp_path / "work").exists()


def test_offload_refuses_a_library_other_than_the_packed_one(tmp_path):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "manifest.json").write_text(
        json.dumps(
            {"commit": "c0ffee", "data_fingerprint": FP, "runs": [], "library_sha256": "0" * 64}
        )
    )
    with pytest.raises(offload.OffloadError, match="library"):
        offload.train(bundle, tmp_path / "out", workers=1, deadline_s=5, work_dir=tmp_path / "work")


# ---- 5. Whole-store scans tolerate damaged neighbours ---------------------------------------


@pytest.mark.parametrize("damage", list(DAMAGED_RECORDS.values()), ids=list(DAMAGED_RECORDS))
def test_a_damaged_neighbour_does_not_stop_a_scan(tmp_path, damage, caplog):
    store = RunStore(tmp_path)
    good = store.start(OTHER)
    (good / "result.json").write_text(
        json.dumps(
            {**_record(data_fingerprint=_DROP), "hash": OTHER.hash, "config": OTHER.to_dict()}
        )
    )
    bad = store.start(CONFIG)
    (bad / "result.json").write_text(json.dumps(_record(**damage, data_fingerprint=_DROP)))
    assert [r["hash"] for r in store.finished()] == [OTHER.hash]
    assert measured_speeds(store, "cpu: x")
    one_thread_cpu_speeds(store)  # the status table's scan
    states = {row["run"]: row["state"] for row in store.progress()}
    assert states[bad.name] == "damaged"


def test_a_linked_run_folder_is_skipped_by_scans(tmp_path):
    store, other = _linked_run(tmp_path)
    (other / "result.json").write_text(
        json.dumps(
            {**_record(data_fingerprint=_DROP), "hash": OTHER.hash, "config": OTHER.to_dict()}
        )
    )
    assert len(store.finished()) == 1 and len(store.progress()) == 1


# ---- 6. Crash consistency includes cleanup and ordering -------------------------------------


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.mark.parametrize(
    "writer, removed",
    [
        (lambda: f"{socket.gethostname().replace('.', '_')}-{_dead_pid()}", True),
        (lambda: f"{socket.gethostname().replace('.', '_')}-{os.getpid()}", False),
        (lambda: "another_host-1", False),
    ],
)
def test_the_next_writer_removes_a_dead_writers_temporary(tmp_path, writer, removed):
    left = tmp_path / f".cifar10-abc.pt.{writer()}.x1y2.tmp"
    left.write_bytes(b"half a data set")
    atomic_write_json({"a": 1}, tmp_path / "cifar10-abc.pt")
    assert left.exists() is not removed


def test_a_finished_runs_leftover_checkpoint_goes(tmp_path):
    store = RunStore(tmp_path)
    run_dir = store.start(CONFIG)
    (run_dir / "result.json").write_text(json.dumps(_record(data_fingerprint=_DROP)))
    (run_dir / "checkpoint.pt").write_bytes(b"51 MB")
    store.remove_leftover_checkpoint(CONFIG)
    assert not (run_dir / "checkpoint.pt").exists()


@pytest.mark.parametrize("blocker", ["link", "held"])
def test_land_lands_all_or_nothing(tmp_path, blocker):
    first, members = _whole(CONFIG)
    second, more = _whole(OTHER)
    members.update(more)
    runs = tmp_path / "home" / "runs"
    runs.mkdir(parents=True)
    if blocker == "link":
        (tmp_path / "elsewhere").mkdir()
        (runs / second).symlink_to(tmp_path / "elsewhere")
        with pytest.raises(offload.OffloadError, match="nothing landed"):
            offload.land(_archive(tmp_path, members), tmp_path / "home")
    else:
        store = RunStore(tmp_path / "home")
        (runs / second).mkdir()
        import fcntl

        fd = os.open(runs / second / "claim", os.O_RDWR | os.O_CREAT)
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, b"host:1\n")
        try:
            with pytest.raises(offload.OffloadError, match="trained now"):
                offload.land(_archive(tmp_path, members), store.root)
        finally:
            os.close(fd)
    assert not (runs / first).exists()


def test_land_refuses_a_record_of_other_data(tmp_path):
    _, members = _whole(CONFIG, "b" * 64)
    with pytest.raises(offload.OffloadError, match="other|not this store"):
        offload.land(_archive(tmp_path, members), tmp_path / "home", FP)


# ---- 7. Cheap data hygiene ------------------------------------------------------------------


def test_test_images_copied_into_train_are_counted():
    images = torch.randint(
        0, 256, (4, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )
    train = ImageTensors(images[:3], torch.zeros(3, dtype=torch.int64))
    test = ImageTensors(torch.cat([images[1:2], images[3:]]), torch.zeros(2, dtype=torch.int64))
    assert duplicates_across(train, test) == 1


def test_two_images_swapped_with_their_mtimes_kept_change_the_cache_key(tmp_path):
    root = make_image_folder(tmp_path / "cifar10", 2, 1)
    a, b = root / "train" / "cat" / "0000.png", root / "train" / "cat" / "0001.png"
    before = _tree_key("imagefolder", root)
    times = [(p.stat().st_atime_ns, p.stat().st_mtime_ns) for p in (a, b)]
    a.rename(tmp_path / "swap")
    b.rename(a)
    (tmp_path / "swap").rename(b)
    os.utime(a, ns=times[0])
    os.utime(b, ns=times[1])
    assert _tree_key("imagefolder", root) != before


def test_a_huge_image_is_refused_from_its_header(tmp_path, monkeypatch):
    from PIL import Image

    from supermask.data import cifar10

    root = make_image_folder(tmp_path / "cifar10", 1, 1)
    Image.new("RGB", (4000, 3000)).save(root / "train" / "cat" / "huge.png")
    decoded = []
    monkeypatch.setattr(
        cifar10,
        "_rgb",
        lambda image, np: decoded.append(image.size) or np.zeros((32, 32, 3), dtype="uint8"),
    )
    with pytest.raises(cifar10.DataNotFoundError, match="4000x3000"):
        cifar10._decode_image_folder(root, "train", progress=False)
    assert (4000, 3000) not in decoded


def test_a_file_is_checked_against_its_digest(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"one")
    digest = file_digest(path)
    path.write_bytes(b"two")
    with pytest.raises(DigestError):
        check_digest(path, digest)
