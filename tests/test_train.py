"""The training loop: divergence, interruption, reproducibility, a backward that returns the wrong things."""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import re
import signal

import pytest
import torch
from support import (
    TINY,
    WORDS,
    OnBatch,
    all_finite,
    assert_same_params,
    batch_of_step,
    fetch_names,
    fresh,
    result_of,
    run,
    tiny_data,
    write,
)

from helpers import (
    Config,
    TrainingDiverged,
    init_params,
    load_splits,
    make_generator,
    manual_backward,
    setup_torch,
    train,
)


def test_training_loss_becomes_non_finite():
    cfg = dataclasses.replace(TINY, lr=1e30)  # the first update is finite but absurd; the next loss is nan
    params, g = fresh(cfg)
    Xtr, Ytr = tiny_data()
    with pytest.raises(TrainingDiverged) as e:
        train(params, Xtr, Ytr, cfg, g, progress=False, log_every=0)
    msg = str(e.value)
    assert "training stopped at step 1" in msg and "smaller learning rate" in msg and "cfg.lr=1e+30" in msg
    assert all_finite(params)
    ref, ref_result = run(cfg, 1, backward=None)  # the tuned step, as the run above
    assert_same_params(params, ref)
    assert result_of(e).lossi == ref_result.lossi and len(ref_result.lossi) == 1
    # the generator drew exactly the two batches of steps 0 and 1, as one draw per step would
    g2 = make_generator(cfg)
    init_params(cfg, g2)
    for _ in range(2):
        torch.randint(0, Xtr.shape[0], (cfg.batch_size,), generator=g2)
    assert torch.equal(g.get_state(), g2.get_state())


def test_training_update_overflows():
    # a finite gradient whose update overflows float32 at step 6: lr * 3e38 = -inf. Each update is checked
    # before it lands, so the parameters stay those after 6 steps
    cfg = dataclasses.replace(TINY, lr=10.0)
    k = 6
    fault = OnBatch(batch_of_step(cfg, k), lambda g: g | {"b2": torch.full_like(g["b2"], 3e38)})
    params, g = fresh(cfg)
    Xtr, Ytr = tiny_data()
    with pytest.raises(TrainingDiverged) as e:
        train(params, Xtr, Ytr, cfg, g, backward=fault, progress=False, log_every=0)
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
        train(params, Xtr, Ytr, TINY, g, backward=fault, progress=False, log_every=0)
    assert f"training stopped at step {k}" in str(e.value) and "last finite values" in str(e.value)
    assert all_finite(params)
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

    def flaky(params, cache):  # a nan gradient in the 8th call only, as a non-deterministic backward might give
        nonlocal calls
        calls += 1
        if calls > 200:
            raise RuntimeError("train did not stop")
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
    cfg = dataclasses.replace(TINY, names=str(path))
    a, b = load_splits(cfg), load_splits(cfg)
    assert a.words == b.words and all(torch.equal(x, y) for x, y in zip(a, b, strict=False))
    other = load_splits(dataclasses.replace(cfg, shuffle_seed=7))
    assert other.words != a.words and sorted(sum(other.words, [])) == sorted(WORDS)


@pytest.mark.parametrize(
    "broken, message",
    [
        (lambda grads: {k: v for k, v in grads.items() if k != "W2"}, "one gradient per parameter"),
        (lambda grads: grads | {"bngain": grads["bngain"].sum(0)}, "returned dbngain of shape (16,)"),
        (lambda grads: grads | {"b2": grads["b2"].numpy()}, "returned db2 of shape ndarray"),
    ],
    ids=["missing-gradient", "wrong-shape", "not-a-tensor"],
)
def test_training_with_a_backward_that_returns_the_wrong_gradients(broken, message):
    params, g = fresh()
    before = {k: v.clone() for k, v in params.items()}
    Xtr, Ytr = tiny_data()
    with pytest.raises(ValueError, match=re.escape(message)):
        train(
            params, Xtr, Ytr, TINY, g, backward=lambda p, c: broken(manual_backward(p, c)), progress=False, log_every=0
        )
    assert_same_params(params, before)  # nothing was applied


def test_fetched_names_file_has_the_usual_permissions(tmp_path):
    src = tmp_path / "src.txt"
    src.write_bytes(b"emma\n")
    dest = fetch_names(tmp_path / "names.txt", source=str(src), sha256=hashlib.sha256(b"emma\n").hexdigest())
    umask = os.umask(0)
    os.umask(umask)
    assert dest.stat().st_mode & 0o777 == 0o666 & ~umask
