"""Checkpoints: atomic writes, never unpickling arbitrary code, a clear CheckpointError for a damaged file."""

from __future__ import annotations

import dataclasses
import errno
import os
import pickle
from pathlib import Path

import pytest
import torch
from support import TINY, assert_same_params, config_mod, files_in, tiny_run, write

from helpers import CheckpointError, itos, load_checkpoint, save_calibration, save_checkpoint
from helpers.config import ROOT


def test_checkpoint_missing(tmp_path):
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(tmp_path / "model.pt")
    msg = str(e.value)
    assert "No checkpoint" in msg and "03_manual_backprop_training" in msg and "make run" in msg
    assert "04_" not in msg


def test_checkpoint_missing_when_a_calibrated_one_is_needed(tmp_path):
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(tmp_path / "model.pt", calibrated=True)
    msg = str(e.value)
    assert "03_manual_backprop_training" in msg and "04_batchnorm_calibration" in msg and "make run" in msg


def test_checkpoint_missing_is_named_relative_to_the_repository():
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(ROOT / "artifacts" / "no-such-model.pt")  # nothing is read or written there
    assert "artifacts/no-such-model.pt" in str(e.value) and str(ROOT) not in str(e.value)


@pytest.mark.parametrize("keep", [0.0, 0.01, 0.5, 0.99], ids=["empty", "1%", "half", "99%"])
def test_checkpoint_truncated(ckpt, keep):
    data = ckpt.read_bytes()
    ckpt.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(ckpt)
    msg = str(e.value)
    assert "is damaged" in msg
    assert "Delete it and run" in msg and "03_manual_backprop_training" in msg


@pytest.mark.parametrize(
    "junk",
    [
        torch.randint(0, 256, (5000,), generator=torch.Generator().manual_seed(0)).to(torch.uint8).numpy().tobytes(),
        b"\0" * 4096,
        b"PK\x03\x04" + b"x" * 200,
    ],
    ids=["random-bytes", "zeros", "zip-header-then-garbage"],
)
def test_checkpoint_corrupted(tmp_path, junk):
    path = write(tmp_path / "model.pt", junk)
    with pytest.raises(
        CheckpointError,
        match=r"is damaged or is not a checkpoint of this series .*Delete it and "
        r"run notebooks/03_manual_backprop_training",
    ):
        load_checkpoint(path)


@pytest.mark.parametrize(
    "content, why",
    [
        ([1, 2, 3], "format 'list', expected 2"),
        ({"format": 2, "params": {}}, "missing bn, config, itos, training, data"),
        ("a string", "format 'str', expected 2"),
    ],
)
def test_checkpoint_not_a_checkpoint(tmp_path, content, why):
    path = tmp_path / "model.pt"
    torch.save(content, path)
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(path)
    assert "is not a checkpoint of this series" in str(e.value) and why in str(e.value)
    assert "Delete it and run" in str(e.value)


def test_checkpoint_a_text_file(tmp_path):
    path = write(tmp_path / "model.pt", "this is not a model\n")
    with pytest.raises(CheckpointError, match="is damaged or is not a checkpoint of this series"):
        load_checkpoint(path)


@pytest.mark.parametrize(
    "change, why",
    [
        (lambda c: c["params"].pop("W2"), "'params' must hold W2"),
        (lambda c: c["params"].update(W1=torch.zeros(3, 3)), "'params' must hold W1 of shape (12, 16)"),
        (lambda c: c.update(format=1), "format 1, expected 2"),
        (lambda c: c.pop("training"), "missing training"),
        (lambda c: c["config"].pop("n_hidden"), "its config is not a Config"),
        (lambda c: c["config"].update(lr=-1.0), "its config is not a Config"),
        (lambda c: c.update(bn={"mean": torch.zeros(1, 3)}), "'bn' must be None or hold"),
    ],
    ids=["param-missing", "wrong-shape", "old-format", "no-training", "config-field-missing", "bad-config", "bad-bn"],
)
def test_checkpoint_with_a_wrong_layout(ckpt, change, why):
    content = torch.load(ckpt, weights_only=True)
    change(content)
    torch.save(content, ckpt)
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(ckpt)
    assert why in str(e.value) and "Delete it and run" in str(e.value)


def test_checkpoint_not_calibrated_yet(ckpt):
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(ckpt, calibrated=True)
    assert "no calibrated batch-norm statistics" in str(e.value) and "04_batchnorm_calibration" in str(e.value)


def test_checkpoint_round_trip(tmp_path):
    result, cfg, data = tiny_run(tmp_path)
    bn = {"mean": torch.randn(1, TINY.n_hidden), "var": torch.rand(1, TINY.n_hidden)}
    path = save_checkpoint(result, cfg, data, path=tmp_path / "model.pt")
    save_calibration(bn, path=path)
    loaded = load_checkpoint(path, calibrated=True)
    assert_same_params(loaded["params"], result.params)
    assert_same_params(loaded["bn"], bn)
    assert loaded["itos"] == itos and loaded["config"]["n_hidden"] == TINY.n_hidden
    assert loaded["training"] == {"steps": 5, "steps_done": 5, "interrupted": False}
    assert loaded["data"] == {"names": cfg.names, "sha256": data.sha256, "words": 40}
    # the format is plain torch: code outside this repository loads it with weights_only=True
    assert set(torch.load(path, weights_only=True)) == {"format", "params", "bn", "config", "itos", "training", "data"}


class Exploit:
    """A pickle that runs code when loaded: it creates a file."""

    def __init__(self, flag: Path):
        self.flag = str(flag)

    def __reduce__(self):
        return open, (self.flag, "w")


@pytest.mark.parametrize("how", ["pickle.dump", "torch.save"])
def test_checkpoint_never_unpickles_arbitrary_objects(tmp_path, how):
    flag = tmp_path / "code-ran"
    path = tmp_path / "model.pt"
    payload = {"format": 1, "params": Exploit(flag)}
    if how == "pickle.dump":
        path.write_bytes(pickle.dumps(payload, protocol=2))
    else:
        torch.save(payload, path)
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(path)
    assert not flag.exists(), "loading the checkpoint ran code"
    msg = str(e.value)
    assert "is not a checkpoint of this series" in msg and "Delete it and run" in msg
    assert "weights_only" not in msg  # no advice to load it unsafely
    # the payload is real: an unrestricted unpickler does run it
    unsafe = pickle.loads(path.read_bytes()) if how == "pickle.dump" else torch.load(path, weights_only=False)
    unsafe["params"].close()
    assert flag.exists()


@pytest.mark.parametrize(
    "crash", [OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt()], ids=["disk-full", "ctrl-c"]
)
def test_checkpoint_write_is_atomic(ckpt, monkeypatch, crash):
    before = ckpt.read_bytes()

    def crash_before_it_is_on_disk(fd):  # the new file is written (to its temporary name), then the crash
        raise crash

    result, cfg, data = tiny_run(ckpt.parent, dataclasses.replace(TINY, seed=1))
    monkeypatch.setattr(config_mod.os, "fsync", crash_before_it_is_on_disk)
    expected = CheckpointError if isinstance(crash, OSError) else KeyboardInterrupt
    with pytest.raises(expected) as e:
        save_checkpoint(result, cfg, data, path=ckpt)
    if expected is CheckpointError:
        assert "Could not write" in str(e.value) and "No space left on device" in str(e.value)
        assert "previous checkpoint" in str(e.value) and "unchanged" in str(e.value)
    assert ckpt.read_bytes() == before and files_in(ckpt.parent) == ["model.pt", "words.txt"]
    monkeypatch.undo()
    load_checkpoint(ckpt)  # still loads


def test_checkpoint_save_needs_the_result_of_train(tmp_path):
    result, cfg, data = tiny_run(tmp_path)
    with pytest.raises(CheckpointError, match="TrainResult.*Nothing was written"):
        save_checkpoint(result.params, cfg, data, path=tmp_path / "model.pt")
    assert files_in(tmp_path) == ["words.txt"]


def test_checkpoint_has_the_usual_permissions(ckpt):
    assert ckpt.stat().st_mode & 0o777 == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
