"""Errors a learner can meet, each with a message that says what is wrong and how to fix it.

Introduced in 01_data; every lesson raises them. The README's troubleshooting section lists them all.
Configuration mistakes are plain ValueErrors raised by `Config(...)`.
"""

from __future__ import annotations


class DataError(ValueError):
    """names.txt (or a word list you pass in) is missing, corrupted or has text the model can't use."""


class CheckpointError(RuntimeError):
    """The checkpoint under artifacts/ is missing, damaged, or was made with another config or data."""


class TrainingDiverged(FloatingPointError):
    """The loss or a gradient became inf/NaN; the parameters keep their last finite values.

    `step` is the step that could not be completed (so `step` steps were done) and `result` the
    TrainResult of the steps done (its loss history has `step` entries), when the raiser provides them.
    """

    def __init__(self, message: str = "", *, step: int | None = None, result=None):
        super().__init__(message)
        self.step = step
        self.result = result
