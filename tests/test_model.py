"""Initialisation, training, calibration, sampling and checkpoints: determinism and round trips."""

import torch

from helpers import (
    PARAM_NAMES,
    Config,
    calibrate,
    forward,
    init_params,
    make_generator,
    sample_names,
    split_loss,
    train,
)

SMALL = Config(n_hidden=32, steps=200)


def _data(n=500, block_size=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 27, (n, block_size), generator=g), torch.randint(0, 27, (n,), generator=g)


def test_lesson_model_has_12297_parameters():
    params = init_params(Config(), make_generator(Config()))
    assert sum(p.nelement() for p in params.values()) == 12297
    assert list(params) == list(PARAM_NAMES)


def test_init_draws_everything_from_the_generator():
    # the lecture drew bngain/bnbias from the global RNG; ours must not depend on it
    cfg = Config()
    torch.manual_seed(1)
    a = init_params(cfg, make_generator(cfg))
    torch.manual_seed(2)
    b = init_params(cfg, make_generator(cfg))
    assert all(torch.equal(a[k], b[k]) for k in PARAM_NAMES)


def test_training_lowers_the_loss_and_moves_every_parameter():
    X, Y = _data()
    g = make_generator(SMALL)
    params = init_params(SMALL, g)
    before = {k: v.clone() for k, v in params.items()}
    lossi = train(params, X, Y, SMALL, g, steps=50, progress=False, log_every=0).lossi
    assert sum(lossi[-10:]) < sum(lossi[:10])
    # note: b1's gradient is zero up to rounding (batch norm subtracts the mean right after it)
    assert all(not torch.equal(before[k], params[k]) for k in PARAM_NAMES if k != "b1")


def test_training_is_bit_identical_when_rerun():
    X, Y = _data()
    runs = []
    for _ in range(2):
        g = make_generator(SMALL)
        params = init_params(SMALL, g)
        res = train(params, X, Y, SMALL, g, progress=False, log_every=0)
        runs.append((params, res.lossi))
    assert runs[0][1] == runs[1][1] and len(runs[0][1]) == SMALL.steps
    assert all(torch.equal(runs[0][0][k], runs[1][0][k]) for k in PARAM_NAMES)


def test_lr_schedule():
    cfg = Config(lr=0.1, lr_final=0.01, lr_decay_step=100_000)
    assert cfg.lr_at(0) == 0.1 and cfg.lr_at(99_999) == 0.1 and cfg.lr_at(100_000) == 0.01


def test_calibrated_batchnorm_equals_whole_set_batch():
    X, Y = _data()
    params = init_params(SMALL, make_generator(SMALL))
    bn = calibrate(params, X)
    assert bn["mean"].shape == bn["var"].shape == (1, SMALL.n_hidden)
    # note: using the whole set's statistics is the same as treating the set as one batch
    assert split_loss(params, X, Y, bn) == split_loss(params, X, Y)
    h = torch.addmm(params["b1"], params["C"][X].view(len(X), -1), params["W1"])
    assert torch.allclose(bn["var"], h.var(0, keepdim=True, unbiased=True))


def test_one_example_at_a_time_matches_the_batch_once_calibrated():
    X, Y = _data(40)
    params = init_params(SMALL, make_generator(SMALL))
    bn = calibrate(params, X)
    _, whole = forward(params, X, bn=bn)
    _, one = forward(params, X[7:8], bn=bn)
    assert torch.allclose(whole["logits"][7:8], one["logits"], atol=1e-5)


def test_sampling_is_deterministic_and_stops_at_dot():
    X, _ = _data()
    params = init_params(SMALL, make_generator(SMALL))
    bn = calibrate(params, X)
    a = sample_names(params, bn, 3, 10, torch.Generator().manual_seed(7))
    b = sample_names(params, bn, 3, 10, torch.Generator().manual_seed(7))
    c = sample_names(params, bn, 3, 10, torch.Generator().manual_seed(8))
    assert a == b and a != c and len(a) == 10
    assert all(set(name) <= set("abcdefghijklmnopqrstuvwxyz") for name in a)
