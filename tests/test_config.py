"""Config: its rules, one table; a bad field is refused at construction, naming the field."""

from __future__ import annotations

import dataclasses
import math
import re

import pytest
import torch

from helpers import Config, make_generator
from helpers.config import RULES


@pytest.mark.parametrize(
    "field, value, allowed",
    [
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
    ],
)
def test_config_out_of_range(field, value, allowed):
    with pytest.raises(ValueError) as e:
        Config(**{field: value})
    assert f"Config.{field}={value!r} is not allowed" in str(e.value) and allowed in str(e.value)


@pytest.mark.parametrize(
    "field, value", [("lr", math.nan), ("lr", math.inf), ("lr", -math.inf), ("lr_final", math.nan)]
)
def test_config_lr_not_finite(field, value):
    with pytest.raises(
        ValueError,
        match=rf"Config\.{field}=(nan|inf|-inf) is not allowed: {field} must be a "
        rf"finite number > 0",
    ):
        Config(**{field: value})


@pytest.mark.parametrize("device", ["gpu", "GPU", "cuda0", "mps", "", "cpu:0", None])
def test_config_unknown_device(device):
    with pytest.raises(ValueError, match=r"Config\.device=.* device must be 'cpu', or 'cuda'"):
        Config(device=device)


@pytest.mark.parametrize("device", ["cuda", "cuda:0"])
def test_config_cuda_without_a_gpu(monkeypatch, device):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match=rf"Config\.device='{device}'.*a CUDA GPU of this machine"):
        Config(device=device)


def test_config_cuda_index_beyond_the_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    Config(device="cuda:0")
    with pytest.raises(ValueError, match=r"Config\.device='cuda:3'"):
        Config(device="cuda:3")


@pytest.mark.parametrize(
    "field, value",
    [
        ("batch_size", 32.0),
        ("batch_size", True),
        ("n_hidden", "200"),
        ("steps", 1e5),
        ("lr", "0.1"),
        ("lr", True),
        ("seed", None),
    ],
)
def test_config_wrong_types(field, value):
    with pytest.raises(
        ValueError, match=rf"Config\.{field}=.* is not allowed: {field} must be {re.escape(RULES[field][1])}"
    ):
        Config(**{field: value})


def test_make_generator_is_a_cpu_generator_whatever_the_device(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # so Config(device="cuda") can be built here
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    g = make_generator(Config(device="cuda"))
    assert g.device == torch.device("cpu") and g.initial_seed() == Config().seed


def test_config_is_checked_at_construction_and_cannot_be_changed_after():
    cfg = Config()
    with pytest.raises(ValueError, match="Config.batch_size=1"):
        dataclasses.replace(cfg, batch_size=1)  # a changed copy is checked too
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.lr = -1.0  # and a checked Config can't be broken afterwards
