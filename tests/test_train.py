"""The training loop: it is the lecture's loop (bit for bit), and around it what a learner needs: a run that
knows what it is, a clean stop on Ctrl-C, a stop on a non-finite loss, the blow-up warning, a note on a slow
backward, and a backward in any form the exercise checks accept."""

import dataclasses
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import torch
from conftest import TINY, interrupt_at, quiet

from helpers import PARAM_NAMES, TrainingDiverged, forward, init_params, load_splits, make_generator, train
from helpers.backward import manual_backward
from helpers.config import ROOT

sys.path.insert(0, str(ROOT / "bench"))  # bench/ is a folder of scripts, not a package
from bench_step import lecture_step  # noqa: E402


def test_train_is_the_lecture_loop(words):
    cfg = dataclasses.replace(TINY, lr_decay_step=20)
    data, g = load_splits(cfg), make_generator(cfg)
    params, lossi = init_params(cfg, g), []
    with torch.no_grad():
        for i in range(cfg.steps):
            ix = torch.randint(0, data.Xtr.shape[0], (cfg.batch_size,), generator=g)
            loss, cache = forward(params, data.Xtr[ix], data.Ytr[ix])
            grads = manual_backward(params, cache)
            lr = 0.1 if i < 20 else 0.01
            for k, p in params.items():
                p.add_(grads[k], alpha=-lr)  # note: the lecture's p.data += -lr * grad, rounded once
            lossi.append(loss.log10().item())
    run = quiet(cfg)
    assert all(torch.equal(run.params[k], params[k]) for k in PARAM_NAMES)
    assert run.lossi == pytest.approx(lossi, abs=1e-6) and run.steps_done == 40
    assert (run.cfg, run.data.sha256, run.backward) == (cfg, data.sha256, "helpers.manual_backward")
    assert all(torch.equal(quiet(cfg).params[k], run.params[k]) for k in PARAM_NAMES)  # reruns are bit-identical


def test_the_lectures_forms_of_the_gradients_train_the_same(words):
    """A list in the lecture's order, and dbngain without keepdim (what exercise 4's check accepts)."""

    def backward(params, cache):
        g = manual_backward(params, cache)
        return [g[k].sum(0) if k == "bngain" else g[k] for k in PARAM_NAMES]

    run, ref = quiet(backward=backward), quiet()
    assert run.backward == "test_train.backward" and all(torch.equal(run.params[k], ref.params[k]) for k in PARAM_NAMES)


@pytest.mark.parametrize(
    "broken, fact",
    [
        (lambda g: {k: v for k, v in g.items() if k != "W2"}, "one gradient per parameter"),
        (lambda g: g | {"bngain": g["bngain"].T}, "dbngain of shape (16, 1)"),
        (lambda g: g | {"b1": g["b1"][None]}, "db1 of shape (1, 16)"),
        (lambda g: g | {"b2": g["b2"].numpy()}, "db2 of shape ndarray"),
        # issue 25: the lecture's list in another order is said to be one, with the order its shapes tell
        (lambda g: [g[k] for k in ("W1", "W2", "b1", "b2", "C", "bnbias", "bngain")],
         "another order: [dW1, dW2, db1, db2, dC, dbngain or dbnbias, dbngain or dbnbias]; the lecture's order is"),
    ],
)  # fmt: skip
def test_gradients_of_the_wrong_form_stop_before_any_update(words, broken, fact):
    with pytest.raises(ValueError, match=re.escape(fact)):
        quiet(backward=lambda p, c: broken(manual_backward(p, c)))


def test_a_non_finite_loss_stops_the_run_with_nothing_to_save(words):
    with pytest.raises(TrainingDiverged, match=r"step 1: the loss is nan.*cfg\.lr=1e\+30") as e:
        quiet(dataclasses.replace(TINY, lr=1e30))
    assert e.value.step == 1 and len(e.value.lossi) == 1


def test_ctrl_c_stops_between_two_steps_and_says_so(words, capsys):
    handler = signal.getsignal(signal.SIGINT)
    run = train(TINY, backward=interrupt_at(5), log_every=0)
    assert run.interrupted and run.steps_done == len(run.lossi) == 5 and signal.getsignal(signal.SIGINT) is handler
    ref = quiet(dataclasses.replace(TINY, steps=5))
    assert all(torch.equal(run.params[k], ref.params[k]) for k in PARAM_NAMES)
    assert "stopped cleanly after 5 of 40 steps" in capsys.readouterr().out


def test_a_run_that_blows_up_is_warned_about_and_marked(words):
    with pytest.warns(RuntimeWarning, match=r"step \d+: .* training is blowing up"):
        run = quiet(dataclasses.replace(TINY, lr=50.0, steps=1100))
    assert run.blew_up and run.steps_done == 1100


def lecture(params, cache):
    """The lecture's exercise 4 as the video writes it, its Python loop for dC included (bench/bench_step.py)."""
    return lecture_step([params[k] for k in PARAM_NAMES], cache["Xb"], cache["Yb"])[1]


def test_a_slow_backward_gets_a_note_up_front_decided_by_counting_not_timing(words, capsys, monkeypatch):
    """The lecture's Python loop for dC gets the note and manual_backward doesn't, whatever the machine's load: the
    note is decided by how often each pass calls torch on the first step, never by the clock (issue #24)."""
    monkeypatch.setattr(time, "perf_counter", lambda: 0.0)  # a clock that tells nothing: the decision can't use it
    long = dataclasses.replace(TINY, steps=200_000)
    quiet(long, backward=interrupt_at(2, lecture))
    out = capsys.readouterr().out
    assert "note: this backward pass calls torch" in out and "index_add_" in out
    quiet(long, backward=interrupt_at(2))
    assert "note:" not in capsys.readouterr().out
    quiet(dataclasses.replace(TINY, steps=1000), backward=lecture)  # a run this short needs no note
    assert "note:" not in capsys.readouterr().out


def test_a_script_trains_with_the_bar_on_stderr_and_never_loads_ipython(words, home):
    """Outside a notebook, train() draws tqdm's bar on stderr, the log on stdout, and never imports IPython."""
    code = (
        f"import sys\nfrom helpers import Config, train\ntrain({TINY!r}, log_every=20)\nprint('IPython' in sys.modules)"
    )
    run = subprocess.run([sys.executable, "-c", code], env=os.environ | {"NINJA_HOME": str(home)}, capture_output=True)
    out, err = run.stdout.decode(), run.stderr.decode()  # note: bytes, so that no '\r' becomes a newline
    assert run.returncode == 0 and [line[:12] for line in out.splitlines()] == ["      0/    ", "     20/    ", "False"]
    assert err.endswith("\n") and re.match(r"training: 100%\|.{10}\| 40/40 \[", err.rsplit("\r", 1)[-1]), err
