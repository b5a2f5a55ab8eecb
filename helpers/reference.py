"""The reference run: the numbers `make run` printed with the default Config, and how close yours must be.

Introduced in 02_gradient_verification; 03-05 compare with it too. A float32 sum rounds in its last bit
differently on another CPU (or with another set of PyTorch kernels), and over 200,000 steps of SGD those
bits grow into the 4th decimal of a loss. So the lessons don't ask nbval to compare such digits
(notebooks/sanitize.cfg masks them); each one is checked here instead, against the reference run, with a
tolerance far above rounding and far below what a wrong gradient or a changed learning rate does.
"""

from __future__ import annotations

from .config import Config

# recorded by `make run` (Intel Xeon, PyTorch 2.13.0 CPU build, one thread); an AMD EPYC and PyTorch's plain
# kernels (ATEN_CPU_CAPABILITY=default) agree with every number within 1e-4
REFERENCE = {
    "init_loss": 3.9508,  # lesson 02/03: the loss of the first batch, before any step
    "loss_after_100": 2.6264,  # lesson 02: the 100-step check
    "loss_after_1000": 2.5948,  # lesson 03: 1,000 steps with your backward and with helpers'
    # lesson 03: the training log, the batch loss every 10,000 steps
    "log": {0: 3.9508, 10000: 2.3617, 20000: 2.2979, 30000: 2.2191, 40000: 2.5438, 50000: 2.1368,
            60000: 2.2738, 70000: 1.9722, 80000: 1.8332, 90000: 2.5329, 100000: 2.1994, 110000: 2.3767,
            120000: 2.3654, 130000: 2.4308, 140000: 2.3391, 150000: 2.1193, 160000: 2.0436, 170000: 2.0773,
            180000: 2.0449, 190000: 2.2390},
    # lesson 04: one dev example's p(correct) in batches of two and of 32, then with calibrated batch norm
    "p_correct": {"partner 1": 0.2809, "partner 2": 0.0119, "batch of 32 A": 0.1579, "batch of 32 B": 0.1732,
                  "calibrated": 0.1431},
    # lesson 04: dev and train loss three ways
    "bn_loss": {("train", "batches"): 2.0836, ("train", "big batch"): 2.0711, ("train", "calibrated"): 2.0711,
                ("dev", "batches"): 2.1248, ("dev", "big batch"): 2.1117, ("dev", "calibrated"): 2.1119},
    # lesson 05: the final losses, calibrated batch norm
    "split_loss": {"train": 2.0711, "val": 2.1119, "test": 2.1107},
}

# how far a number may be from the reference and still count as the same run, rounded differently:
# a batch loss along the way (the trajectories drift apart by ~1e-4), and a number of the trained model
TOLERANCE = {"step": 1e-3, "log": 1e-2, "trained": 2e-3}


def is_reference_config(cfg: Config) -> bool:
    """The reference numbers hold only for the default Config (the device does not change the math)."""
    return {k: v for k, v in cfg.to_dict().items() if k != "device"} == {
        k: v for k, v in Config().to_dict().items() if k != "device"}


def expect_close(what: str, value: float, ref: float, tol: float) -> None:
    """Raise an AssertionError that says what differs, by how much, and what that means."""
    if not abs(value - ref) <= tol:
        raise AssertionError(f"{what} is {value:.4f}; the reference run gave {ref:.4f}. Another CPU's rounding "
                             f"moves it by far less than the {tol:g} allowed, so the code, the data or the "
                             f"Config differs from the lesson's: rerun the lessons in order, from 01, with "
                             f"the default Config.")
