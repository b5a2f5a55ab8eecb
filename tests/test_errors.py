"""Bad input, interrupted work, reproducibility: nothing lost, every error clear.

One test per case a learner can meet (the README's troubleshooting section lists the messages). Each checks the
exception type, that the message names what is wrong and how to fix it, and that nothing already saved
is lost or half-written. Everything runs on small synthetic data in tmp_path: no test reads the real
names.txt, writes under the repository, or reaches the network.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import http.client
import importlib
import io
import math
import os
import re
import pickle
import signal
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import torch

import helpers
from helpers import (ROOT, CheckpointError, Config, DataError, TrainingDiverged, build_dataset, fetch_names,
                     init_params, itos, load_checkpoint, load_splits, load_words, make_generator,
                     manual_backward, save_checkpoint, setup_torch, split_words, train)

names_mod = importlib.import_module("helpers.names")
checkpoint_mod = importlib.import_module("helpers.checkpoint")

WORDS = ["emma", "olivia", "ava", "isabella", "sophia", "charlotte", "mia", "amelia", "harper", "evelyn",
         "abigail", "emily", "elizabeth", "mila", "ella", "avery", "sofia", "camila", "aria", "scarlett",
         "victoria", "madison", "luna", "grace", "chloe", "penelope", "layla", "riley", "zoey", "nora",
         "lily", "eleanor", "hannah", "lillian", "addison", "aubrey", "ellie", "stella", "natalie", "zoe"]
TINY = Config(n_embd=4, n_hidden=16, steps=40, batch_size=16)  # a model small enough for milliseconds a step
SHA = "5" * 64  # stands in for names.txt's SHA-256 in checkpoints


# ----------------------------------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True)
def _isolated(monkeypatch):
    """No test depends on the caller's MAKEMORE_NAMES (CI sets one), and none may reach the network."""
    monkeypatch.delenv("MAKEMORE_NAMES", raising=False)
    real_urlopen = urllib.request.urlopen

    def local_only(url, *args, **kwargs):
        if not str(url).startswith("file:"):
            raise AssertionError(f"a test tried to reach the network: {url}")
        return real_urlopen(url, *args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", local_only)


def write(path: Path, data: bytes | str) -> Path:
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def tiny_data() -> tuple[torch.Tensor, torch.Tensor]:
    return build_dataset(WORDS, TINY.block_size)


def fresh(cfg: Config = TINY) -> tuple[dict[str, torch.Tensor], torch.Generator]:
    g = make_generator(cfg)
    return init_params(cfg, g), g


def run(cfg: Config, steps: int, **kw):
    """A fresh, quiet run of `steps` steps: the reference that an interrupted or stopped run must equal."""
    params, g = fresh(cfg)
    Xtr, Ytr = tiny_data()
    result = train(params, Xtr, Ytr, cfg, g, steps=steps, progress=False, log_every=0, **kw)
    return params, result


def assert_same_params(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs"


def all_finite(params: dict[str, torch.Tensor]) -> bool:
    return all(bool(torch.isfinite(v).all()) for v in params.values())


def result_of(excinfo):
    """The TrainResult of a run that raised: TrainingDiverged carries it, with the step it stopped at."""
    result = excinfo.value.result
    assert result is not None and excinfo.value.step == result.steps_done == len(result.lossi)
    return result


class OnBatch:
    """A `backward=` that changes the gradients of one particular batch, whenever that batch comes.

    Keyed on the batch, not on a call count, so replaying the same steps meets the same fault again.
    """

    def __init__(self, batch: torch.Tensor, fault, limit: int = 10_000):
        self.batch, self.fault, self.limit, self.calls = batch, fault, limit, 0

    def __call__(self, params, cache):
        self.calls += 1
        if self.calls > self.limit:  # a guard: a test must fail, never hang
            raise RuntimeError(f"backward called {self.calls} times")
        grads = manual_backward(params, cache)
        if torch.equal(cache["Xb"], self.batch):
            grads = self.fault(grads)
        return grads


def batch_of_step(cfg: Config, k: int) -> torch.Tensor:
    """The batch that step k of a fresh run draws (checked to differ from every earlier one)."""
    seen = []

    def record(params, cache):
        seen.append(cache["Xb"].clone())
        return manual_backward(params, cache)

    run(cfg, k + 1, backward=record)
    assert not any(torch.equal(seen[k], b) for b in seen[:k])
    return seen[k]


@pytest.fixture
def ckpt(tmp_path) -> Path:
    """A good checkpoint of TINY, trained on the data of SHA."""
    params, _ = fresh()
    return save_checkpoint(params, TINY, itos, SHA, path=tmp_path / "model.pt")


# ============================================================================================ data


def test_data_missing_file(tmp_path):
    with pytest.raises(DataError, match="not found") as e:
        load_words(tmp_path / "nope.txt")
    assert "nope.txt" in str(e.value) and "check the path" in str(e.value)


def test_data_missing_names_txt_says_make_setup_and_shows_a_relative_path(monkeypatch):
    # the repository's own names.txt, moved out of the way without touching it: point NAMES_PATH elsewhere
    missing = ROOT / "no-such-names.txt"
    monkeypatch.setattr(names_mod, "NAMES_PATH", missing)
    with pytest.raises(DataError) as e:
        load_words(missing)
    msg = str(e.value)
    assert "no-such-names.txt not found" in msg and "make setup" in msg
    assert str(ROOT) not in msg  # no machine paths: the file is named relative to the repository


def test_data_path_is_a_folder(tmp_path):
    with pytest.raises(DataError, match="not a file"):
        load_words(tmp_path)


def test_data_checksum_mismatch_writes_nothing(tmp_path):
    source = write(tmp_path / "other.txt", "emma\nolivia\n")
    dest = tmp_path / "data" / "names.txt"
    with pytest.raises(DataError) as e:
        fetch_names(dest, source=str(source))
    msg = str(e.value)
    assert "SHA-256" in msg and helpers.NAMES_SHA256 in msg and "not the makemore data set" in msg
    assert "original names.txt" in msg
    assert files_in(dest.parent) == []  # no names.txt, no partial file


def test_data_checksum_mismatch_keeps_the_existing_file(tmp_path):
    good = b"emma\nolivia\nava\n"
    dest = write(tmp_path / "names.txt", b"an older names.txt\n")  # present, but not the expected file
    source = write(tmp_path / "bad.txt", b"emma\nolivia\n")  # cut short: one name missing
    with pytest.raises(DataError, match="cut short"):
        fetch_names(dest, source=str(source), sha256=sha(good))
    assert dest.read_bytes() == b"an older names.txt\n"
    assert files_in(tmp_path) == ["bad.txt", "names.txt"]


def test_data_good_existing_file_is_kept_as_is(tmp_path):
    good = b"emma\nolivia\nava\n"
    dest = write(tmp_path / "names.txt", good)
    before = dest.stat().st_mtime_ns
    # neither the (missing) source nor the network is consulted: the verified file is kept
    assert fetch_names(dest, source=str(tmp_path / "missing.txt"), sha256=sha(good)) == dest
    assert dest.read_bytes() == good and dest.stat().st_mtime_ns == before


def test_data_download_failure(tmp_path, monkeypatch):
    def offline(url, *args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    dest = write(tmp_path / "names.txt", b"an older names.txt\n")
    with pytest.raises(DataError) as e:
        fetch_names(dest, url="https://example.invalid/names.txt")
    msg = str(e.value)
    assert "Could not download" in msg and "network" in msg and "MAKEMORE_NAMES" in msg
    assert dest.read_bytes() == b"an older names.txt\n" and files_in(tmp_path) == ["names.txt"]


@pytest.mark.parametrize("broken", [ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"),
                                    http.client.IncompleteRead(b"", 1000), TimeoutError("timed out")])
def test_data_download_breaks_mid_stream(tmp_path, monkeypatch, broken):
    class Response(io.BytesIO):  # hands out some bytes, then the connection breaks
        def read(self, n=-1):
            if self.tell() > 0:
                raise broken
            return super().read(5)

    monkeypatch.setattr(urllib.request, "urlopen", lambda url, *a, **k: Response(b"emma\nolivia\n"))
    dest = write(tmp_path / "names.txt", b"an older names.txt\n")
    with pytest.raises(DataError) as e:
        fetch_names(dest, url="https://example.invalid/names.txt", sha256=sha(b"emma\nolivia\n"))
    assert "Could not download" in str(e.value) and type(broken).__name__ in str(e.value)
    assert dest.read_bytes() == b"an older names.txt\n" and files_in(tmp_path) == ["names.txt"]


def test_data_download_cut_short_fails_the_checksum(tmp_path, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, *a, **k: io.BytesIO(b"emma\noli"))
    dest = tmp_path / "names.txt"
    with pytest.raises(DataError) as e:
        fetch_names(dest, url="https://example.invalid/names.txt", sha256=sha(b"emma\nolivia\n"))
    assert "downloaded from" in str(e.value) and "cut short" in str(e.value) and "make setup" in str(e.value)
    assert files_in(tmp_path) == []


def test_data_download_of_a_verified_file_lands_in_place(tmp_path):
    # the good path of the download, without the network: a file:// URL
    data = "\n".join(WORDS).encode()
    source = write(tmp_path / "remote.txt", data)
    dest = tmp_path / "data" / "names.txt"
    assert fetch_names(dest, url=source.as_uri(), sha256=sha(data)) == dest
    assert dest.read_bytes() == data and files_in(dest.parent) == ["names.txt"]


def test_data_makemore_names_points_to_a_missing_file(tmp_path, monkeypatch):
    monkeypatch.setenv("MAKEMORE_NAMES", "../shared/no-such-names.txt")
    dest = tmp_path / "names.txt"
    with pytest.raises(DataError) as e:
        fetch_names(dest)
    msg = str(e.value)
    assert "MAKEMORE_NAMES" in msg and "../shared/no-such-names.txt" in msg and "not a file" in msg
    assert "unset MAKEMORE_NAMES" in msg and "relative path" in msg
    assert files_in(tmp_path) == []


def test_data_make_setup_reports_the_error_and_fails(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MAKEMORE_NAMES", str(tmp_path / "missing.txt"))
    assert names_mod.main([str(tmp_path / "names.txt")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "MAKEMORE_NAMES" in err
    assert files_in(tmp_path) == []


@pytest.mark.parametrize("text", ["", "\n\n  \n\t\n"], ids=["empty", "only-blank-lines"])
def test_data_empty_file(tmp_path, text):
    with pytest.raises(DataError, match="holds no words: put one word per line"):
        load_words(write(tmp_path / "words.txt", text))


def test_data_blank_lines_are_dropped(tmp_path):
    assert load_words(write(tmp_path / "w.txt", "\nemma\n\n   \nolivia\n\n")) == ["emma", "olivia"]


def test_data_windows_line_endings(tmp_path):
    assert load_words(write(tmp_path / "w.txt", "emma\r\nolivia\r\n\r\nava")) == ["emma", "olivia", "ava"]
    assert load_words(write(tmp_path / "mac.txt", "emma\rolivia\r")) == ["emma", "olivia"]  # old Mac files


def test_data_utf8_byte_order_mark(tmp_path):
    assert load_words(write(tmp_path / "w.txt", b"\xef\xbb\xbfemma\nolivia\n")) == ["emma", "olivia"]


def test_data_upper_case_is_lower_cased(tmp_path):
    # documented normalisation: A-Z become a-z, surrounding spaces go
    assert load_words(write(tmp_path / "w.txt", "Emma\n  OLIVIA \nAvA\n")) == ["emma", "olivia", "ava"]


@pytest.mark.parametrize("line, char, name", [
    ("emma2", "2", "DIGIT TWO"),
    ("zoé", "é", "LATIN SMALL LETTER E WITH ACUTE"),
    ("ZOÉ", "É", "LATIN CAPITAL LETTER E WITH ACUTE"),
    ("mary ann", " ", "SPACE"),
    ("st.john", ".", "FULL STOP"),
    ("anne-marie", "-", "HYPHEN-MINUS"),
    ("ann\tmarie", "\t", "U+0009"),
    ("ann\x85a", "\x85", "U+0085"),  # a line break to str.splitlines, but not to an editor
], ids=["digit", "accent", "upper-case-accent", "space", "dot", "hyphen", "tab", "next-line-control"])
def test_data_characters_outside_the_vocabulary(tmp_path, line, char, name):
    path = write(tmp_path / "w.txt", f"emma\nolivia\n\n{line}\nava\n")
    with pytest.raises(DataError) as e:
        load_words(path)
    msg = str(e.value)
    assert "line 4" in msg and repr(char) in msg and name in msg
    assert "only use the letters a-z" in msg and "Remove or replace it" in msg


def test_data_non_utf8_bytes(tmp_path):
    path = write(tmp_path / "w.txt", "emma\nolivia\nzo".encode() + "é\n".encode("latin-1"))
    with pytest.raises(DataError) as e:
        load_words(path)
    msg = str(e.value)
    assert "line 3" in msg and "0xe9" in msg and "not UTF-8" in msg and "save the file as UTF-8" in msg


def test_data_utf16_file(tmp_path):
    with pytest.raises(DataError, match="UTF-16.*save it as UTF-8"):
        load_words(write(tmp_path / "w.txt", "emma\nolivia\n".encode("utf-16")))


def test_data_too_few_words_to_split(tmp_path):
    words = load_words(write(tmp_path / "w.txt", "\n".join(WORDS[:5])))
    with pytest.raises(DataError) as e:
        split_words(words)
    msg = str(e.value)
    assert "5 words are too few" in msg and "80/10/10" in msg and "at least 6 words" in msg
    # and 6 are enough, as the message says
    assert all(split_words(WORDS[:6]))


def test_data_split_words_given_a_path_not_words(tmp_path):
    with pytest.raises(DataError, match=r"list of words.*load_words"):
        split_words(str(tmp_path / "names.txt"))


def test_data_word_list_passed_directly_is_checked(tmp_path):
    # a word list that did not come through load_words: '.' is the end marker, never part of a word
    tr, dev, te = split_words(WORDS[:9] + ["st.john"])
    with pytest.raises(DataError) as e:
        for part in (tr, dev, te):
            build_dataset(part, 3)
    assert "'st.john'" in str(e.value) and "'.'" in str(e.value) and "load_words" in str(e.value)


# ===================================================================================== configuration


@pytest.mark.parametrize("field, value, allowed", [
    ("batch_size", 1, "an integer >= 2"),
    ("batch_size", 0, "an integer >= 2"),
    ("block_size", 0, "an integer >= 1"),
    ("n_embd", 0, "an integer >= 1"),
    ("n_hidden", 0, "an integer >= 1"),
    ("n_hidden", -16, "an integer >= 1"),
    ("steps", -1, "an integer >= 0"),
    ("lr", 0.0, "a finite number > 0"),
    ("lr", -0.1, "a finite number > 0"),
    ("lr_final", 0, "a finite number > 0"),
    ("lr_decay_step", -1, "an integer >= 0"),
    ("threads", 0, "an integer >= 1"),
    ("seed", -1, "an integer in [0, 2**64)"),
])
def test_config_out_of_range(field, value, allowed):
    with pytest.raises(ValueError) as e:
        Config(**{field: value})
    assert f"Config.{field}={value!r} is not allowed" in str(e.value) and allowed in str(e.value)


@pytest.mark.parametrize("field, value", [("lr", math.nan), ("lr", math.inf), ("lr", -math.inf),
                                          ("lr_final", math.nan)])
def test_config_lr_not_finite(field, value):
    with pytest.raises(ValueError, match=rf"Config\.{field}=(nan|inf|-inf) is not allowed: {field} must be a "
                                         rf"finite number > 0"):
        Config(**{field: value})


@pytest.mark.parametrize("device", ["gpu", "GPU", "cuda0", "mps", "", "cpu:0"])
def test_config_unknown_device(device):
    with pytest.raises(ValueError, match=r"device must be 'cpu', 'cuda' or 'cuda:N'"):
        Config(device=device)


@pytest.mark.parametrize("device", ["cuda", "cuda:0"])
def test_config_cuda_without_a_gpu(monkeypatch, device):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match=r"device must be 'cpu' on this machine \(no CUDA GPU is available\)"):
        Config(device=device)


def test_config_cuda_index_beyond_the_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ValueError, match=r"Config.device='cuda:3'.*'cuda:0'..'cuda:0'"):
        Config(device="cuda:3")


@pytest.mark.parametrize("field, value, kind, allowed", [
    ("batch_size", 32.0, "float", "an integer >= 2"),
    ("batch_size", True, "bool", "an integer >= 2"),
    ("n_hidden", "200", "str", "an integer >= 1"),
    ("steps", 1e5, "float", "an integer >= 0"),
    ("lr", "0.1", "str", "a finite number > 0"),
    ("lr", True, "bool", "a finite number > 0"),
    ("seed", None, "NoneType", "an integer in [0, 2**64)"),
    ("device", None, "NoneType", "'cpu', 'cuda' or 'cuda:N'"),
])
def test_config_wrong_types(field, value, kind, allowed):
    with pytest.raises(ValueError) as e:
        Config(**{field: value})
    assert f"Config.{field}={value!r} is not allowed (a {kind}): {field} must be {allowed}" in str(e.value)


def test_config_is_checked_at_construction_and_cannot_be_changed_after():
    cfg = Config()
    with pytest.raises(ValueError, match="Config.batch_size=1"):
        dataclasses.replace(cfg, batch_size=1)  # a changed copy is checked too
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.lr = -1.0  # and a checked Config can't be broken afterwards


# ============================================================================================ training


def test_training_loss_becomes_non_finite():
    cfg = dataclasses.replace(TINY, lr=1e30)  # the first update is finite but absurd; the next loss is nan
    params, g = fresh(cfg)
    Xtr, Ytr = tiny_data()
    with pytest.raises(TrainingDiverged) as e:
        train(params, Xtr, Ytr, cfg, g, progress=False, log_every=0)
    msg = str(e.value)
    assert "training stopped at step 1" in msg and "smaller learning rate" in msg and "cfg.lr=1e+30" in msg
    assert all_finite(params)
    ref, ref_result = run(cfg, 1)
    assert_same_params(params, ref)
    assert result_of(e).lossi == ref_result.lossi and len(ref_result.lossi) == 1
    # the generator drew exactly the two batches of steps 0 and 1, as one draw per step would
    g2 = make_generator(cfg)
    init_params(cfg, g2)
    for _ in range(2):
        torch.randint(0, Xtr.shape[0], (cfg.batch_size,), generator=g2)
    assert torch.equal(g.get_state(), g2.get_state())


def test_training_update_overflows():
    # a finite gradient whose update overflows float32 at step 6: lr * 3e38 = -inf. With a snapshot
    # every 4 steps the loop goes back to step 4 and replays, checking each update before it lands
    cfg = dataclasses.replace(TINY, lr=10.0)
    k = 6
    fault = OnBatch(batch_of_step(cfg, k), lambda g: g | {"b2": torch.full_like(g["b2"], 3e38)})
    params, g = fresh(cfg)
    Xtr, Ytr = tiny_data()
    with pytest.raises(TrainingDiverged) as e:
        train(params, Xtr, Ytr, cfg, g, backward=fault, progress=False, log_every=0, snapshot_every=4)
    assert f"training stopped at step {k}" in str(e.value) and "not applied" in str(e.value)
    assert all_finite(params)
    ref, ref_result = run(cfg, k)
    assert_same_params(params, ref)
    assert result_of(e).lossi == ref_result.lossi and len(ref_result.lossi) == k


def test_training_gradient_becomes_nan():
    k = 9
    fault = OnBatch(batch_of_step(TINY, k), lambda g: g | {"b1": g["b1"].clone().fill_(math.nan)})
    params, g = fresh()
    Xtr, Ytr = tiny_data()
    with pytest.raises(TrainingDiverged) as e:
        train(params, Xtr, Ytr, TINY, g, backward=fault, progress=False, log_every=0, snapshot_every=4)
    assert f"training stopped at step {k}" in str(e.value) and "last finite values" in str(e.value)
    assert all_finite(params)
    ref, ref_result = run(TINY, k)
    assert_same_params(params, ref)
    assert result_of(e).lossi == ref_result.lossi


def test_training_gradient_becomes_nan_just_before_a_snapshot():
    k = 7  # the update of step 7 is the last one before the snapshot after 8 steps
    fault = OnBatch(batch_of_step(TINY, k), lambda g: g | {"b1": g["b1"].clone().fill_(math.nan)}, limit=500)
    params, g = fresh()
    Xtr, Ytr = tiny_data()
    with pytest.raises(TrainingDiverged) as e:
        train(params, Xtr, Ytr, TINY, g, backward=fault, progress=False, log_every=0, snapshot_every=4)
    assert all_finite(params) and f"training stopped at step {k}" in str(e.value)
    ref, ref_result = run(TINY, k)
    assert_same_params(params, ref)
    assert result_of(e).lossi == ref_result.lossi


def test_training_gradient_becomes_nan_in_the_last_step():
    k = 9
    fault = OnBatch(batch_of_step(TINY, k), lambda g: g | {"b1": g["b1"].clone().fill_(math.nan)})
    params, g = fresh()
    Xtr, Ytr = tiny_data()
    with pytest.raises(TrainingDiverged, match=f"step {k}"):
        train(params, Xtr, Ytr, TINY, g, steps=k + 1, backward=fault, progress=False, log_every=0)
    assert all_finite(params)


def test_training_diverged_carries_the_step_and_the_loss_history():
    cfg = dataclasses.replace(TINY, lr=1e30)
    params, g = fresh(cfg)
    Xtr, Ytr = tiny_data()
    with pytest.raises(TrainingDiverged) as e:
        train(params, Xtr, Ytr, cfg, g, progress=False, log_every=0)
    assert e.value.step == 1 and e.value.result is not None and len(e.value.result.lossi) == 1


def test_training_divergence_that_does_not_recur_still_stops():
    calls = 0

    def flaky(params, cache):  # a nan gradient in the 8th call only: a replay will not meet it again
        nonlocal calls
        calls += 1
        if calls > 200:
            raise RuntimeError("replay did not stop")
        grads = manual_backward(params, cache)
        return grads | {"b1": grads["b1"].clone().fill_(math.nan)} if calls == 8 else grads

    params, g = fresh()
    Xtr, Ytr = tiny_data()
    with pytest.raises(TrainingDiverged) as e:
        train(params, Xtr, Ytr, TINY, g, steps=20, backward=flaky, progress=False, log_every=0)
    assert all_finite(params) and len(result_of(e).lossi) == result_of(e).steps_done


def test_training_interrupt_stops_cleanly_between_steps(capsys):
    k = 5
    calls = 0

    def ctrl_c_at_k(params, cache):
        nonlocal calls
        calls += 1
        if calls == k:
            signal.raise_signal(signal.SIGINT)  # what Ctrl-C / 'interrupt kernel' does
        return manual_backward(params, cache)

    def outer(signum, frame):  # train's own handler must take the signal; this one only keeps pytest alive
        outer.called = True

    outer.called = False
    params, g = fresh()
    Xtr, Ytr = tiny_data()
    old = signal.signal(signal.SIGINT, outer)
    try:
        result = train(params, Xtr, Ytr, TINY, g, steps=30, backward=ctrl_c_at_k, progress=False, log_every=0)
    finally:
        signal.signal(signal.SIGINT, old)
    assert not outer.called
    assert result.interrupted and result.steps_done == k == len(result.lossi)
    ref, ref_result = run(TINY, k)
    assert_same_params(params, ref)
    assert result.lossi == ref_result.lossi
    assert "interrupted: stopped cleanly after 5 of 30 steps" in capsys.readouterr().out


def test_training_restores_the_sigint_handler():
    def mine(signum, frame):
        pass

    old = signal.signal(signal.SIGINT, mine)
    try:
        run(TINY, 3)
        assert signal.getsignal(signal.SIGINT) is mine
        # also when training stops with an error
        with pytest.raises(TrainingDiverged):
            run(dataclasses.replace(TINY, lr=1e30), 5)
        assert signal.getsignal(signal.SIGINT) is mine
    finally:
        signal.signal(signal.SIGINT, old)
    assert signal.getsignal(signal.SIGINT) is old


def test_training_bad_arguments():
    params, g = fresh()
    Xtr, Ytr = tiny_data()
    with pytest.raises(ValueError, match="steps must be an integer >= 0"):
        train(params, Xtr, Ytr, TINY, g, steps=-1, progress=False)
    with pytest.raises(ValueError, match="must be equal and > 0"):
        train(params, Xtr[:0], Ytr[:0], TINY, g, progress=False)


# ========================================================================================= checkpoints


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
    ckpt.write_bytes(data[:int(len(data) * keep)])
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(ckpt)
    msg = str(e.value)
    assert "is damaged" in msg and ("cut short" in msg or "empty" in msg)
    assert "Delete it and run" in msg and "03_manual_backprop_training" in msg


@pytest.mark.parametrize("junk", [torch.randint(0, 256, (5000,), generator=torch.Generator().manual_seed(0))
                                  .to(torch.uint8).numpy().tobytes(), b"\0" * 4096, b"PK\x03\x04" + b"x" * 200],
                         ids=["random-bytes", "zeros", "zip-header-then-garbage"])
def test_checkpoint_corrupted(tmp_path, junk):
    path = write(tmp_path / "model.pt", junk)
    with pytest.raises(CheckpointError, match=r"is damaged or is not a checkpoint of this series .*Delete it and "
                                              r"run notebooks/03_manual_backprop_training"):
        load_checkpoint(path)


@pytest.mark.parametrize("field, other", [("block_size", 4), ("n_hidden", 32), ("n_embd", 10)])
def test_checkpoint_made_with_another_config(ckpt, field, other):
    cfg = dataclasses.replace(TINY, **{field: other})
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(ckpt, cfg=cfg)
    msg = str(e.value)
    assert f"{field}: checkpoint {getattr(TINY, field)}, this notebook {other}" in msg
    assert "same Config as lesson 03" in msg and "03_manual_backprop_training" in msg


def test_checkpoint_config_fields_that_do_not_shape_the_model_may_differ(ckpt):
    # steps, lr, seeds: a lesson may load the model with its own schedule
    assert load_checkpoint(ckpt, cfg=dataclasses.replace(TINY, steps=7, lr=0.5, seed=1))["config"]["steps"] == 40


def test_checkpoint_trained_on_other_data(ckpt):
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(ckpt, data_sha256="6" * 64)
    msg = str(e.value)
    assert "trained on other data" in msg and "555555555555" in msg and "666666666666" in msg
    assert "03_manual_backprop_training" in msg


@pytest.mark.parametrize("content, why", [
    ([1, 2, 3], "it holds a list, not a dict"),
    ({"params": {}}, "missing bn, config, itos, data_sha256"),
    ("a string", "it holds a str"),
])
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


@pytest.mark.parametrize("change, why", [
    (lambda c: c["params"].pop("W2"), "'params' must hold the tensors"),
    (lambda c: c["params"].update(W1=torch.zeros(3, 3)), "W1 has shape (3, 3)"),
    (lambda c: c.update(format=99), "format 99, expected 1"),
    (lambda c: c.update(data_sha256=None), "'data_sha256' must be"),
    (lambda c: c["config"].pop("n_hidden"), "'config' must hold"),
    (lambda c: c.update(bn={"mean": torch.zeros(1, 3)}), "'bn' must be None or hold"),
], ids=["param-missing", "wrong-shape", "other-format", "no-data-sha", "config-field-missing", "bad-bn"])
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
    params, _ = fresh()
    bn = {"mean": torch.randn(1, TINY.n_hidden), "var": torch.rand(1, TINY.n_hidden)}
    path = save_checkpoint(params, TINY, itos, SHA, bn=bn, path=tmp_path / "model.pt")
    loaded = load_checkpoint(path, cfg=TINY, data_sha256=SHA, calibrated=True)
    assert_same_params(loaded["params"], params)
    assert_same_params(loaded["bn"], bn)
    assert loaded["itos"] == itos and loaded["config"]["n_hidden"] == TINY.n_hidden


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


@pytest.mark.parametrize("crash", [OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt()],
                         ids=["disk-full", "ctrl-c"])
def test_checkpoint_write_is_atomic(ckpt, monkeypatch, crash):
    before = ckpt.read_bytes()

    def half_a_save(obj, f, *args, **kwargs):
        f.write(before[: len(before) // 2])  # part of a file, then the crash
        raise crash

    monkeypatch.setattr(checkpoint_mod.torch, "save", half_a_save)
    params, _ = fresh(dataclasses.replace(TINY, seed=1))
    expected = CheckpointError if isinstance(crash, OSError) else KeyboardInterrupt
    with pytest.raises(expected) as e:
        save_checkpoint(params, TINY, itos, SHA, path=ckpt)
    if expected is CheckpointError:
        assert "Could not write" in str(e.value) and "No space left on device" in str(e.value)
        assert "previous checkpoint" in str(e.value) and "unchanged" in str(e.value)
    assert ckpt.read_bytes() == before and files_in(ckpt.parent) == ["model.pt"]
    monkeypatch.undo()
    load_checkpoint(ckpt, cfg=TINY, data_sha256=SHA)  # still loads


def test_checkpoint_save_without_all_parameters(tmp_path):
    params, _ = fresh()
    del params["bnbias"]
    with pytest.raises(CheckpointError, match="missing bnbias.*Nothing was written"):
        save_checkpoint(params, TINY, itos, SHA, path=tmp_path / "model.pt")
    assert files_in(tmp_path) == []


# ===================================================================================== reproducibility


def test_reproducibility_two_runs_are_bit_identical():
    cfg = Config(steps=300)  # the lecture's model, a few hundred steps
    a, ra = run(cfg, cfg.steps)
    b, rb = run(cfg, cfg.steps)
    assert_same_params(a, b)
    assert ra.lossi == rb.lossi and len(ra.lossi) == 300 and not ra.interrupted
    # and the numbers do come from the Config: another seed, other parameters
    c, _ = run(dataclasses.replace(cfg, seed=1), 1)
    assert not torch.equal(a["W1"], c["W1"])


def test_reproducibility_threads_and_seeds_live_in_config():
    names = {f.name for f in dataclasses.fields(Config)}
    assert {"seed", "shuffle_seed", "threads"} <= names
    before = torch.get_num_threads()
    try:
        for threads in (2, 1):
            setup_torch(Config(threads=threads))
            assert torch.get_num_threads() == threads
    finally:
        torch.set_num_threads(before)


def test_reproducibility_the_split_follows_the_config(tmp_path):
    path = write(tmp_path / "w.txt", "\n".join(WORDS))
    a, b = load_splits(TINY, path), load_splits(TINY, path)
    assert a.words == b.words and all(torch.equal(x, y) for x, y in zip(a, b))
    other = load_splits(dataclasses.replace(TINY, shuffle_seed=7), path)
    assert other.words != a.words and sorted(sum(other.words, [])) == sorted(WORDS)


@pytest.mark.parametrize("broken, message", [
    (lambda grads: {k: v for k, v in grads.items() if k != "W2"}, "one gradient per parameter"),
    (lambda grads: grads | {"bngain": grads["bngain"].sum(0)}, "returned dbngain of shape (16,)"),
], ids=["missing-gradient", "wrong-shape"])
def test_training_with_a_backward_that_returns_the_wrong_gradients(broken, message):
    params, g = fresh()
    before = {k: v.clone() for k, v in params.items()}
    Xtr, Ytr = tiny_data()
    with pytest.raises(ValueError, match=re.escape(message)):
        train(params, Xtr, Ytr, TINY, g, backward=lambda p, c: broken(manual_backward(p, c)), progress=False,
              log_every=0)
    assert_same_params(params, before)  # nothing was applied


def test_fetched_names_file_has_the_usual_permissions(tmp_path):
    src = tmp_path / "src.txt"
    src.write_bytes(b"emma\n")
    dest = fetch_names(tmp_path / "names.txt", source=str(src), sha256=hashlib.sha256(b"emma\n").hexdigest())
    umask = os.umask(0)
    os.umask(umask)
    assert dest.stat().st_mode & 0o777 == 0o666 & ~umask
