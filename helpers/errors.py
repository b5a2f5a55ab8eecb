"""Errors a learner can meet, each with a message that says what is wrong and how to fix it.

Introduced in 01_data; docs/troubleshooting.md lists those a learner is likely to meet. Configuration mistakes are plain
ValueErrors raised by `Config(...)`.
"""

from __future__ import annotations


class DataError(ValueError):
    """names.txt (or a word list of yours) is missing, corrupted or has text the model can't use."""


class RunError(RuntimeError):
    """A saved run under artifacts/runs/ is missing, damaged, or doesn't match the data it was trained on."""


class TrainingDiverged(FloatingPointError):
    """The loss became inf/nan at `step`: the run stopped there, and a run that stopped has nothing to save.

    `lossi` holds the log10 losses of the steps before it, to plot what happened.
    """

    def __init__(self, message: str, *, step: int, lossi: list[float]):
        super().__init__(message)
        self.step, self.lossi = step, lossi
